import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A stored response per (principal, Idempotency-Key), replayed for a retry with the same request. */
@Entity('idempotency_keys')
export class IdempotencyKeyRow {
  /** `admin` or `project:<uuid>`: keys of different principals never collide. */
  @PrimaryColumn('text')
  scope!: string;

  @PrimaryColumn('text')
  key!: string;

  /** SHA-256 of method, path and body. */
  @Column('text')
  requestHash!: string;

  @Column('integer')
  statusCode!: number;

  /** The response body exactly as first sent (text, so a replay is byte-identical). */
  @Column('text')
  responseBody!: string;

  @Column('jsonb', { default: {} })
  responseHeaders!: Record<string, string>;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
