import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Who holds which NAT IP port range now (RFC 7422 without per-connection logs): one open row per
 * held block, holder, host and source address. Names are copied in so that attribution still
 * answers after the project, gateway or endpoint is gone. When the holding ends the row moves to
 * `allocation_history_closed`, partitioned by day, made by migration 1765020000000 (TypeORM cannot
 * describe a partitioned table; see repositories/history.sql.ts and docs/attribution.md).
 */
@Entity('allocation_history_open')
@Index('allocation_history_open_lookup_idx', { synchronize: false })
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
}

/** Where closed history starts (older partitions were dropped when they aged out) and the retention in force. */
@Entity('allocation_history_retention')
export class AllocationHistoryRetentionRow {
  @Column('boolean', { primary: true, default: true })
  id!: boolean;

  @Column('timestamptz')
  keptFrom!: Date;

  @Column('integer')
  retentionDays!: number;
}
