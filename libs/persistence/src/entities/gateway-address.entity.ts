import { Column, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { AddressRow } from './address.entity';
import { NatGatewayRow } from './nat-gateway.entity';

/**
 * Which gateway uses which address, where. The primary key on address_id makes "an address in
 * two gateways" or "in two places of one gateway" impossible in the database itself.
 */
@Entity('gateway_addresses')
export class GatewayAddressRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => AddressRow)
  addressId!: string;

  @Column('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  @Index()
  gatewayId!: string;

  /** -1: the gateway's default IPs; else a rule's ruleNumber. */
  @Column('integer')
  ruleNumber!: number;

  @Column('boolean')
  draining!: boolean;

  /** When the address entered its drain list (kept while it stays draining there); null when active. */
  @Column('timestamptz', { nullable: true })
  drainSince!: Date | null;
}
