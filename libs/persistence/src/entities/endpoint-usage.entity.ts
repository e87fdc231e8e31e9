import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The latest ports-in-use report per endpoint and rule (drives dynamic port allocation). */
@Entity('endpoint_usage')
export class EndpointUsageRow {
  @PrimaryColumn('uuid')
  endpointId!: string;

  @PrimaryColumn('integer')
  ruleNumber!: number;

  @Column('integer')
  portsInUse!: number;

  @Column('timestamptz')
  reportedAt!: Date;
}
