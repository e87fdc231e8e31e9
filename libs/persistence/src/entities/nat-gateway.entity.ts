import { Column, Entity, ForeignKey, Index, Unique } from 'typeorm';
import type { NatGatewaySpec } from '@natplane/domain';
import { ResourceRow } from './base';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';

const bigint = { to: (v: number) => v, from: (v: string) => Number(v) };

export type GatewayState = 'PROVISIONING' | 'READY' | 'DEGRADED';

@Entity('nat_gateways')
@Unique(['projectId', 'name'])
export class NatGatewayRow extends ResourceRow {
  @Column('uuid')
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  projectId!: string;

  @Column('uuid')
  @ForeignKey(() => NetworkRow)
  @Index()
  networkId!: string;

  @Column('text')
  region!: string;

  /** The whole tenant-facing spec with defaults (references as bare names). */
  @Column('jsonb')
  spec!: NatGatewaySpec;

  /** Bumped by every committed change that alters what hosts must do. */
  @Column('bigint', { default: 1, transformer: bigint })
  generation!: number;

  /** The generation the reconciler last computed. */
  @Column('bigint', { default: 0, transformer: bigint })
  observedGeneration!: number;

  /**
   * Counts the reconciler's commits for this gateway: a worker that holds the result of commit N
   * in memory may build on it only while this is still N (no other worker wrote since).
   */
  @Column('bigint', { default: 0, transformer: bigint })
  reconcileSeq!: number;

  @Column('text', { default: 'PROVISIONING' })
  state!: GatewayState;

  @Column('text', { default: '' })
  statusMessage!: string;

  /** The allocator's status figures at observedGeneration (natStatus). */
  @Column('jsonb', { nullable: true })
  natStatus!: Record<string, unknown> | null;
}
