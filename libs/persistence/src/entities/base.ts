import { Column, CreateDateColumn, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Columns every API resource has (../shared/API.md "Output fields on every resource"). */
export abstract class ResourceRow {
  @PrimaryColumn('uuid')
  id!: string;

  /** Byte-order collation: lists page by name through the (scope, name) unique index. */
  @Column({ type: 'text', collation: 'C' })
  name!: string;

  @Column('text', { default: '' })
  description!: string;

  @Column('jsonb', { default: {} })
  labels!: Record<string, string>;

  /** Bumped on every update; the etag derives from (id, version). */
  @Column('integer', { default: 1 })
  version!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
