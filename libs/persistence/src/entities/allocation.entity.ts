import { Column, Entity, Exclusion, Index, PrimaryColumn } from 'typeorm';

import type { BlockState } from '@natplane/domain';
export type { BlockState };

/**
 * The current port blocks of every gateway (active, draining, in quarantine). The exclusion
 * constraint is invariant 1 enforced by PostgreSQL itself: no (NAT IP, port) held twice, across
 * every gateway, rule and state. gateway_id and endpoint_id carry no foreign key on purpose:
 * blocks of a deleted gateway or endpoint stay here, in quarantine, until their cool-down ends.
 */
@Entity('allocations')
@Exclusion('allocations_no_overlap', `USING gist ("nat_ip" inet_ops WITH =, int4range("port_lo", "port_hi", '[]') WITH &&)`)
export class AllocationRow {
  @PrimaryColumn('inet')
  natIp!: string;

  @PrimaryColumn('integer')
  portLo!: number;

  @Column('integer')
  portHi!: number;

  @Column('uuid')
  @Index()
  gatewayId!: string;

  @Column('uuid')
  @Index()
  endpointId!: string;

  @Column('integer')
  ruleNumber!: number;

  @Column('text')
  state!: BlockState;

  @Column('timestamptz')
  since!: Date;

  /**
   * The gateway's quarantine length when the block was written (its longest idle timeout, at
   * least 120 s), so the blocks of a deleted gateway still get the right cool-down.
   */
  @Column('integer', { default: 120 })
  quarantineSec!: number;

  /** QUARANTINE: nobody else may get the block before this instant. */
  @Column('timestamptz', { nullable: true })
  until!: Date | null;

  /**
   * QUARANTINE: the holder's connections were cut (its drain reached the gateway's
   * maxDrainDurationSec), so hosts no longer keep the block as a drain block.
   */
  @Column('boolean', { default: false })
  cut!: boolean;
}
