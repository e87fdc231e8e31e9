import { AddressPoolRow } from './address-pool.entity';
import { AddressRow } from './address.entity';
import { AllocationHistoryRetentionRow, AllocationHistoryRow } from './allocation-history.entity';
import { AllocationRow } from './allocation.entity';
import { EndpointUsageRow } from './endpoint-usage.entity';
import { EndpointRow } from './endpoint.entity';
import { GatewayEndpointChangeRow } from './gateway-endpoint-change.entity';
import { GatewayAddressRow } from './gateway-address.entity';
import { GatewayHostRow } from './gateway-host.entity';
import { GatewaySubnetRow } from './gateway-subnet.entity';
import { HostRow } from './host.entity';
import { IdempotencyKeyRow } from './idempotency-key.entity';
import { HostConvergenceRow, NatCounterStateRow, NatCounterTotalsRow, NatMetricSampleRow } from './nat-counters.entity';
import { NatGatewayRow } from './nat-gateway.entity';
import { NetworkRow } from './network.entity';
import { ProjectRow } from './project.entity';
import { SubnetRow } from './subnet.entity';
import { TokenRow } from './token.entity';

export * from './address-pool.entity';
export * from './address.entity';
export * from './allocation-history.entity';
export * from './allocation.entity';
export * from './base';
export * from './endpoint-usage.entity';
export * from './endpoint.entity';
export * from './gateway-endpoint-change.entity';
export * from './gateway-address.entity';
export * from './gateway-host.entity';
export * from './gateway-subnet.entity';
export * from './host.entity';
export * from './idempotency-key.entity';
export * from './nat-counters.entity';
export * from './nat-gateway.entity';
export * from './network.entity';
export * from './project.entity';
export * from './subnet.entity';
export * from './token.entity';

export const ENTITIES = [
  ProjectRow,
  TokenRow,
  HostRow,
  AddressPoolRow,
  AddressRow,
  NetworkRow,
  SubnetRow,
  EndpointRow,
  NatGatewayRow,
  GatewayAddressRow,
  GatewaySubnetRow,
  GatewayHostRow,
  GatewayEndpointChangeRow,
  AllocationRow,
  AllocationHistoryRow,
  AllocationHistoryRetentionRow,
  EndpointUsageRow,
  IdempotencyKeyRow,
  NatCounterStateRow,
  NatCounterTotalsRow,
  NatMetricSampleRow,
  HostConvergenceRow,
];
