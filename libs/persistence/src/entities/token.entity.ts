import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, Unique } from 'typeorm';
import { HostRow } from './host.entity';
import { ProjectRow } from './project.entity';

export type TokenKind = 'admin' | 'project' | 'host';

/** Bearer tokens, stored as SHA-256 hashes (tokens are 256-bit random, so no slow hash is needed). */
@Entity('api_tokens')
@Unique(['tokenHash'])
export class TokenRow {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text')
  kind!: TokenKind;

  @Column('uuid', { nullable: true })
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  @Index()
  projectId!: string | null;

  @Column('uuid', { nullable: true })
  @ForeignKey(() => HostRow, { onDelete: 'CASCADE' })
  @Index()
  hostId!: string | null;

  @Column('bytea')
  tokenHash!: Buffer;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
