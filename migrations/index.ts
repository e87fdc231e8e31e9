import { Initial1764064800000 } from './1764064800000-initial';
import { EndpointChanges1764072000000 } from './1764072000000-endpoint-changes';
import { HotUpdateRoom1764075600000 } from './1764075600000-hot-update-room';
import { HostInterfaces1765000000000 } from './1765000000000-host-interfaces';
import { VacuumSettings1765010000000 } from './1765010000000-vacuum-settings';
import { HistoryPartitions1765020000000 } from './1765020000000-history-partitions';
import { IdempotencyWithoutSecrets1765100000000 } from './1765100000000-idempotency-without-secrets';
import { HostPushStatus1765100000001 } from './1765100000001-host-push-status';
import { Observability1765400000000 } from './1765400000000-observability';
import { DrainDeadlines1766200000000 } from './1766200000000-drain-deadlines';
import { SourceRules1767300000000 } from './1767300000000-source-rules';
import { SubnetPurpose1767300000001 } from './1767300000001-subnet-purpose';
import { GatewayHostsWaiting1767300000002 } from './1767300000002-gateway-hosts-waiting';

/** Every migration, in order. A new one is added here by hand after review. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const MIGRATIONS: Function[] = [
  Initial1764064800000,
  EndpointChanges1764072000000,
  HotUpdateRoom1764075600000,
  HostInterfaces1765000000000,
  VacuumSettings1765010000000,
  HistoryPartitions1765020000000,
  IdempotencyWithoutSecrets1765100000000,
  HostPushStatus1765100000001,
  Observability1765400000000,
  DrainDeadlines1766200000000,
  SourceRules1767300000000,
  SubnetPurpose1767300000001,
  GatewayHostsWaiting1767300000002,
];
