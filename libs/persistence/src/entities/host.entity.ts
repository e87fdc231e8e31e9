import { Column, Entity, Unique } from 'typeorm';
import { ResourceRow } from './base';

/** A hypervisor host and its programmer (agent). */
@Entity('hosts')
@Unique(['name'])
export class HostRow extends ResourceRow {
  @Column('text')
  region!: string;

  @Column('text')
  zone!: string;

  @Column('text')
  agentUrl!: string;

  /** HMAC key for pushes to the agent (returned once at creation). */
  @Column('text')
  pushSecret!: string;

  /** Generation of the host document the control plane wants applied. */
  @Column('bigint', { default: 1, transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  desiredGeneration!: number;

  /** Generation the agent acknowledged (push response or report). */
  @Column('bigint', { default: 0, transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  appliedGeneration!: number;

  @Column('timestamptz', { nullable: true })
  lastReportTime!: Date | null;

  @Column('timestamptz', { nullable: true })
  lastPushTime!: Date | null;

  @Column('text', { nullable: true })
  lastError!: string | null;

  /** Consecutive failed pushes; UNREACHABLE past a threshold when they got no answer. */
  @Column('integer', { default: 0 })
  pushFailures!: number;

  /** The HTTP status of the last failed push; null when it got no answer, or the last push succeeded. */
  @Column('integer', { nullable: true })
  lastPushStatus!: number | null;
}
