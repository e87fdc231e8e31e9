import { Column, Entity, ForeignKey, Unique } from 'typeorm';
import { AddressPoolRow } from './address-pool.entity';
import { ResourceRow } from './base';
import { ProjectRow } from './project.entity';

/** A static external IP reserved by a project from a pool of its region. */
@Entity('addresses')
@Unique(['projectId', 'name'])
@Unique(['address'])
export class AddressRow extends ResourceRow {
  @Column('uuid')
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  projectId!: string;

  @Column('text')
  region!: string;

  @Column('inet')
  address!: string;

  @Column('uuid')
  @ForeignKey(() => AddressPoolRow)
  poolId!: string;

  /** Taken by an AUTO_ONLY gateway (not user-created); given back when no longer needed. */
  @Column('boolean', { default: false })
  autoAllocated!: boolean;
}
