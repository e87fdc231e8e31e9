import { Column, Entity, ForeignKey, Index, Unique } from 'typeorm';
import { ResourceRow } from './base';
import { HostRow } from './host.entity';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';
import { SubnetRow } from './subnet.entity';

export interface AliasIpRange {
  ipCidrRange: string;
  subnetworkRangeName: string;
}

/** A VM network interface. */
@Entity('endpoints')
@Unique(['projectId', 'name'])
@Unique(['networkId', 'networkIp'])
export class EndpointRow extends ResourceRow {
  @Column('uuid')
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  projectId!: string;

  @Column('uuid')
  @ForeignKey(() => SubnetRow)
  @Index()
  subnetId!: string;

  /** Denormalized from the subnet: networkIp is unique per network. */
  @Column('uuid')
  @ForeignKey(() => NetworkRow)
  networkId!: string;

  @Column('uuid')
  @ForeignKey(() => HostRow)
  @Index()
  hostId!: string;

  @Column('inet')
  networkIp!: string;

  @Column('jsonb', { default: [] })
  aliasIpRanges!: AliasIpRange[];
}
