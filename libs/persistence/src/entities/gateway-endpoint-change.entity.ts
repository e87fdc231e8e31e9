import { Column, Entity, ForeignKey, PrimaryColumn } from 'typeorm';
import { NatGatewayRow } from './nat-gateway.entity';

const bigint = { to: (v: number) => v, from: (v: string) => Number(v) };

/**
 * One row per gateway generation that an endpoint write caused (create, update, delete of one
 * endpoint), written in the same transaction as the bump. When every generation between the one
 * a worker last computed and the current one has its row here, nothing but these endpoints
 * changed, and the reconciler may update its previous result for them alone instead of
 * recomputing the whole gateway. Any other change (the gateway, its addresses, subnets) bumps the
 * generation without a row, which asks for a full computation. No foreign key on the endpoint:
 * a deleted endpoint's row is what tells the reconciler to release its blocks.
 */
@Entity('gateway_endpoint_changes')
export class GatewayEndpointChangeRow {
  @PrimaryColumn('uuid')
  @ForeignKey(() => NatGatewayRow, { onDelete: 'CASCADE' })
  gatewayId!: string;

  @PrimaryColumn('bigint', { transformer: bigint })
  generation!: number;

  @Column('uuid')
  endpointId!: string;
}
