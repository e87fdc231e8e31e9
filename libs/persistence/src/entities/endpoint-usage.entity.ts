import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Recent ports-in-use samples per endpoint and rule (drive dynamic port allocation: growth reads
 * the latest, shrinking needs several low ones over minutes). At most one sample a minute is kept
 * unless usage rises, and samples older than 15 minutes are pruned.
 */
@Entity('endpoint_usage')
export class EndpointUsageRow {
  @PrimaryColumn('uuid')
  endpointId!: string;

  @PrimaryColumn('integer')
  ruleNumber!: number;

  @Column('integer')
  portsInUse!: number;

  @PrimaryColumn('timestamptz')
  reportedAt!: Date;
}
