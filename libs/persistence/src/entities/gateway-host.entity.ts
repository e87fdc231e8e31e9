import { Column, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { HostRow } from './host.entity';
import { NatGatewayRow } from './nat-gateway.entity';

/**
 * The hosts a gateway's current generation must reach: the reconciler writes, per affected host,
 * the host generation that carries this gateway's latest programming. The gateway is READY when
 * every such host has applied at least that generation.
 */
@Entity('gateway_hosts')
export class GatewayHostRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  gatewayId!: string;

  @PrimaryColumn('uuid')
  @ForeignKey(() => HostRow, { onDelete: 'CASCADE' })
  @Index()
  hostId!: string;

  @Column('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  requiredGeneration!: number;

  /** Hash of this gateway's section of the host's document when it was last bumped. */
  @Column('text', { default: '' })
  fingerprint!: string;

  /**
   * A VM moved away from this host: its removal here waits until the VM's new host applied this
   * generation (programmed on the new host before removed from the old one).
   */
  @Column('uuid', { nullable: true })
  @Index('gateway_hosts_wait_host_id_idx', { where: '"wait_host_id" IS NOT NULL' })
  waitHostId!: string | null;

  @Column('bigint', { nullable: true, transformer: { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) } })
  waitGeneration!: number | null;
}
