import { Check, Column, Entity, ForeignKey, Index, Unique } from 'typeorm';
import { ResourceRow } from './base';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';

export interface SecondaryRange {
  rangeName: string;
  ipCidrRange: string;
}

/** PRIVATE: holds endpoints; PRIVATE_NAT: supplies the NAT IPs of Private NAT gateways, holds no endpoint. */
export type SubnetPurpose = 'PRIVATE' | 'PRIVATE_NAT';

@Entity('subnets')
@Unique(['projectId', 'name'])
@Check('subnets_purpose_check', `"purpose" IN ('PRIVATE', 'PRIVATE_NAT')`)
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

  /** Immutable. */
  @Column('text', { default: 'PRIVATE' })
  purpose!: SubnetPurpose;
}
