import { Column, Entity, ForeignKey, Index, Unique } from 'typeorm';
import { ResourceRow } from './base';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';

export interface SecondaryRange {
  rangeName: string;
  ipCidrRange: string;
}

@Entity('subnets')
@Unique(['projectId', 'name'])
export class SubnetRow extends ResourceRow {
  @Column('uuid')
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  projectId!: string;

  @Column('uuid')
  @ForeignKey(() => NetworkRow)
  @Index()
  networkId!: string;

  @Column('text')
  region!: string;

  @Column('cidr')
  ipCidrRange!: string;

  @Column('jsonb', { default: [] })
  secondaryIpRanges!: SecondaryRange[];
}
