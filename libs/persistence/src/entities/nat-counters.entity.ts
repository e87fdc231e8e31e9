import { Column, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { EndpointRow } from './endpoint.entity';
import { HostRow } from './host.entity';
import { NatGatewayRow } from './nat-gateway.entity';

const bigintOrNull = { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/**
 * The data-plane counters a host last reported for one (endpoint, rule), as reported (cumulative
 * from `since`; open_connections a snapshot). The next report's deltas are computed against it
 * (docs/observability.md "From host counters to series"). NULL: the host's data plane does not
 * measure that figure.
 */
@Entity('nat_counter_state')
export class NatCounterStateRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => EndpointRow, { onDelete: 'CASCADE' })
  endpointId!: string;

  @PrimaryColumn('integer')
  ruleNumber!: number;

  @PrimaryColumn('uuid')
  @ForeignKey(() => HostRow, { onDelete: 'CASCADE' })
  @Index()
  hostId!: string;

  /** The gateway the pair was attributed to (its block's). */
  @Column('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  @Index()
  gatewayId!: string;

  @Column('timestamptz')
  since!: Date;

  @Column('timestamptz')
  readAt!: Date;

  @Column('timestamptz')
  reportedAt!: Date;

  /** When a report last brought dropped packets (of any reason) for the pair. */
  @Column('timestamptz', { nullable: true })
  lastDropAt!: Date | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  newConnections!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  openConnections!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedOutOfResources!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedEndpointIndependenceConflict!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableFragment!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableProtocol!: number | null;
}

/**
 * Cumulative totals per gateway and endpoint: the sums of every delta the hosts reported (never
 * decreasing, whatever hosts restart or VMs move), behind the Prometheus counters. endpoint_id has
 * no foreign key: a deleted endpoint's totals stay in its gateway's sums (the worker folds them into
 * the gateway's row, endpoint_id nil). NULL: never measured.
 */
@Entity('nat_counter_totals')
export class NatCounterTotalsRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  gatewayId!: string;

  @PrimaryColumn('uuid')
  endpointId!: string;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  newConnections!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedOutOfResources!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedEndpointIndependenceConflict!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableFragment!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableProtocol!: number | null;
}

/**
 * The time series (docs/observability.md "Time series"): one row per gateway, endpoint and bucket
 * of `resolution_sec` seconds (60, kept 6 hours; 3600, downsampled from them, kept 14 days).
 * endpoint_id nil: the gateway's own row (allocated ports and endpoints without a mapping,
 * sampled by the worker); the gateway's other figures are the sums of its endpoints' rows.
 * Gauges are the maximum seen in the bucket, counters the sum of the deltas reported in it.
 */
@Entity('nat_metric_samples')
@Index(['bucket'])
export class NatMetricSampleRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  gatewayId!: string;

  @PrimaryColumn('uuid')
  endpointId!: string;

  @PrimaryColumn('integer')
  resolutionSec!: number;

  @PrimaryColumn('timestamptz')
  bucket!: Date;

  @Column('integer', { nullable: true })
  allocatedPorts!: number | null;

  @Column('integer', { nullable: true })
  portsInUse!: number | null;

  @Column('integer', { nullable: true })
  endpointsWithoutMapping!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  openConnections!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  newConnections!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  sentBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedPackets!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  receivedBytes!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedOutOfResources!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedEndpointIndependenceConflict!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableFragment!: number | null;

  @Column('bigint', { nullable: true, transformer: bigintOrNull })
  droppedUntranslatableProtocol!: number | null;
}

/** Since when a host has been behind its desired generation (kept by the worker's metrics sampler). */
@Entity('host_convergence')
export class HostConvergenceRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => HostRow, { onDelete: 'CASCADE' })
  hostId!: string;

  @Column('timestamptz')
  behindSince!: Date;
}
