import { Check, Column, Entity, ForeignKey, Index, Unique } from 'typeorm';
import { ResourceRow } from './base';
import { HostRow } from './host.entity';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';
import { SubnetRow } from './subnet.entity';

export interface AliasIpRange {
  ipCidrRange: string;
  subnetworkRangeName: string;
}

/**
 * A VM network interface. On its host it is known by its device (hostInterface) and its address:
 * two endpoints of different networks may share an address on one host when both name their own
 * device. The trigger of migration 1765000000000 refuses any other sharing (under a per-host lock,
 * so two concurrent writes cannot both pass); a device is one endpoint's on its host.
 */
@Entity('endpoints')
@Unique(['projectId', 'name'])
@Unique(['networkId', 'networkIp'])
@Index('endpoints_host_id_host_interface_key', ['hostId', 'hostInterface'], { unique: true, where: '"host_interface" IS NOT NULL' })
@Index('endpoints_host_id_network_ip_idx', ['hostId', 'networkIp'])
@Index('endpoints_host_id_aliased_idx', ['hostId'], { where: `"alias_ip_ranges" <> '[]'::jsonb` })
// a Linux device name, as the API accepts it (libs/domain isHostInterfaceName)
@Check('endpoints_host_interface_check', `"host_interface" ~ '^[A-Za-z0-9_.@+-]{1,15}$' AND "host_interface" NOT IN ('.', '..')`)
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

  /** The host-side device of the NIC (tap, veth, OVS port); null when the platform did not name it. */
  @Column('text', { nullable: true })
  hostInterface!: string | null;

  @Column('inet')
  networkIp!: string;

  @Column('jsonb', { default: [] })
  aliasIpRanges!: AliasIpRange[];

  /** The VM may send packets from addresses that are not its own (GCE's canIpForward). */
  @Column('boolean', { default: false })
  canIpForward!: boolean;

  /** CIDRs the VM forwards traffic from (only with canIpForward): source-based rules may match them. */
  @Column('jsonb', { default: [] })
  forwardedIpRanges!: string[];
}
