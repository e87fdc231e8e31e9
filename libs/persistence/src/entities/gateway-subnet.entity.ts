import { Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { NatGatewayRow } from './nat-gateway.entity';
import { SubnetRow } from './subnet.entity';

/** Subnets named by a LIST_OF_SUBNETWORKS gateway (so deleting one names its users). */
@Entity('gateway_subnets')
export class GatewaySubnetRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  gatewayId!: string;

  @PrimaryColumn('uuid')
  @ForeignKey(() => SubnetRow)
  @Index()
  subnetId!: string;
}
