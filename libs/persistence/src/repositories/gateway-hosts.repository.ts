import type { Db } from '../db';
import type { GatewayHostState } from '@natplane/planner';

/**
 * A gateway's hosts (gateway_hosts): what each host must apply for the gateway to be READY, the
 * fingerprint of the section it was sent, and which host a VM's old host waits on. Written only
 * by the reconciler's commit (ReconcileRepository.commitReconcile).
 */
export class GatewayHostsRepository {
  constructor(private readonly db: Db) {}

  async gatewayHosts(gatewayId: string): Promise<GatewayHostState[]> {
    const { rows } = await this.db.query<GatewayHostState>(
      `SELECT host_id AS "hostId", required_generation::float8 AS "requiredGeneration", fingerprint,
              wait_host_id AS "waitHostId", wait_generation::float8 AS "waitGeneration"
       FROM gateway_hosts WHERE gateway_id = $1`,
      [gatewayId],
    );
    return rows;
  }

  /** Gateways waiting for this host to apply a generation before they reprogram a VM's old host. */
  async gatewaysWaitingOn(hostId: string, applied: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      'SELECT DISTINCT gateway_id AS id FROM gateway_hosts WHERE wait_host_id = $1 AND wait_generation <= $2',
      [hostId, applied],
    );
    return rows.map((r) => r.id);
  }
}
