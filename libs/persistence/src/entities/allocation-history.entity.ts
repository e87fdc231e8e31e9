import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Who held which NAT IP port range when (RFC 7422 without per-connection logs). Names are copied
 * in so that attribution still answers after the project, gateway or endpoint is gone. A row
 * is open (valid_to NULL) while the holder keeps the block with the same source IP and host.
 */
@Entity('allocation_history')
@Index('allocation_history_lookup_idx', { synchronize: false })
export class AllocationHistoryRow {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column('inet')
  natIp!: string;

  @Column('integer')
  portLo!: number;

  @Column('integer')
  portHi!: number;

  @Column('uuid')
  projectId!: string;

  @Column('text')
  projectName!: string;

  @Column('uuid')
  @Index()
  gatewayId!: string;

  @Column('text')
  gatewayName!: string;

  @Column('uuid')
  @Index()
  endpointId!: string;

  @Column('text')
  endpointName!: string;

  @Column('text')
  hostName!: string;

  @Column('inet')
  sourceIp!: string;

  @Column('integer')
  ruleNumber!: number;

  /** ACTIVE or DRAIN while held. */
  @Column('text')
  state!: string;

  @Column('timestamptz')
  validFrom!: Date;

  @Column('timestamptz', { nullable: true })
  validTo!: Date | null;
}
