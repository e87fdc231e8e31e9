import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import { cidr, cidrContains, cidrContainsCidr, ConflictError, parseCidr, parseIpv4, type FieldError } from '@natplane/domain';
import { Db, EndpointsRepository, type EndpointRecord, type Page, type SubnetRef } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { refName } from '../common/refs';
import { invalid } from '../common/validation';
import { EndpointInputDto } from './endpoints.dto';

interface Resolved {
  subnet: SubnetRef;
  hostId: string;
  aliasIpRanges: { ipCidrRange: string; subnetworkRangeName: string }[];
}

@Injectable()
export class EndpointsService {
  constructor(
    private readonly db: Db,
    private readonly endpoints: EndpointsRepository,
    private readonly changes: ChangeNotifier,
  ) {}

  /**
   * The hot path (hundreds per second), two round trips and no transaction of its own: one query
   * for the references (read without locks, as before), then one statement that inserts (the
   * unique constraints answer 409 for a taken name or address) and bumps the generation of the
   * gateways the endpoint concerns, which commit together. The gateway rows are locked only while
   * PostgreSQL runs and commits that statement, never across a round trip to the api. Inside an
   * Idempotency-Key transaction both run in it and the reconcile jobs wait for its commit.
   */
  async create(p: ProjectScope, input: EndpointInputDto): Promise<EndpointRecord> {
    try {
      const r = await this.resolve(p, input);
      const values = {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        subnetId: r.subnet.id,
        networkId: r.subnet.networkId,
        hostId: r.hostId,
        networkIp: input.networkIp,
        aliasIpRanges: r.aliasIpRanges,
      };
      const { bumped, ...created } = await this.endpoints.insertAndBumpGateways(p.id, values);
      this.changes.enqueueGateways(bumped);
      return { ...values, ...created, version: 1, scopeId: p.id, subnetName: r.subnet.name, hostName: r.hostName };
    } catch (e) {
      throw await this.explainConflict(p, e, input.networkIp);
    }
  }

  async get(p: ProjectScope, name: string): Promise<EndpointRecord> {
    return getOr404(this.endpoints, p.id, 'endpoint', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<EndpointRecord>> {
    return this.endpoints.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<EndpointRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.endpoints, p.id, 'endpoint', name, ifMatch);
      const next = await mergePatch(inputOf(cur), patch, EndpointInputDto, ['name']);
      const r = await this.resolve(p, next);
      if (r.subnet.id !== cur.subnetId) throw invalid([{ field: 'subnet', message: 'is immutable' }]);
      await this.endpoints.update(cur.id, {
        description: next.description ?? '',
        labels: next.labels ?? {},
        hostId: r.hostId,
        networkIp: next.networkIp,
        aliasIpRanges: r.aliasIpRanges,
      });
      const hostsMatter = r.hostId !== cur.hostId || next.networkIp !== cur.networkIp || !isDeepStrictEqual(r.aliasIpRanges, cur.aliasIpRanges);
      if (hostsMatter) await this.changes.endpointChanged(cur.subnetId, cur.id);
      return (await this.endpoints.getById(cur.id))!;
    }).catch(async (e: unknown) => {
      throw await this.explainConflict(p, e, (patch as { networkIp?: string } | null)?.networkIp);
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.endpoints, p.id, 'endpoint', name, ifMatch);
      await this.changes.endpointChanged(cur.subnetId, cur.id);
      await this.endpoints.delete(cur.id);
    });
  }

  /** References, the address in the primary range, alias ranges inside their secondary ranges. */
  private async resolve(p: ProjectScope, input: EndpointInputDto): Promise<Resolved & { hostName: string }> {
    const errors: FieldError[] = [];
    const subnetName = refName(input.subnet, { project: p.name, collection: 'subnets' }, 'subnet', errors);
    const hostName = refName(input.host, { collection: 'hosts' }, 'host', errors);
    const ip = parseIpv4(input.networkIp);
    if (!ip.ok) errors.push({ field: 'networkIp', message: ip.message });
    if (errors.length) throw invalid(errors);
    const { subnet, host } = await this.endpoints.refs(p.id, subnetName, hostName);
    if (!subnet) errors.push({ field: 'subnet', message: `subnet '${subnetName}' does not exist` });
    if (!host) errors.push({ field: 'host', message: `host '${hostName}' does not exist` });
    if (!subnet || !host) throw invalid(errors);
    if (host.region !== subnet.region) errors.push({ field: 'host', message: `host '${hostName}' is in region ${host.region}, the subnet in ${subnet.region}` });
    if (ip.ok && !cidrContains(cidr(subnet.ipCidrRange), ip.value)) errors.push({ field: 'networkIp', message: `is not in the subnet's primary range ${subnet.ipCidrRange}` });
    const aliasIpRanges = (input.aliasIpRanges ?? []).map((a, i) => {
      const rangeName = a.subnetworkRangeName ?? '';
      const c = parseCidr(a.ipCidrRange);
      if (!c.ok) errors.push({ field: `aliasIpRanges[${i}].ipCidrRange`, message: c.message });
      const parent = rangeName === '' ? subnet.ipCidrRange : subnet.secondaryIpRanges.find((s) => s.rangeName === rangeName)?.ipCidrRange;
      if (parent === undefined) errors.push({ field: `aliasIpRanges[${i}].subnetworkRangeName`, message: `the subnet has no secondary range '${rangeName}'` });
      else if (c.ok && !cidrContainsCidr(cidr(parent), c.value)) errors.push({ field: `aliasIpRanges[${i}].ipCidrRange`, message: `is not inside ${parent}` });
      return { ipCidrRange: a.ipCidrRange, subnetworkRangeName: rangeName };
    });
    if (errors.length) throw invalid(errors);
    return { subnet, hostId: host.id, hostName, aliasIpRanges };
  }

  /** A networkIp conflict names the endpoint holding the address (looked up after the rollback). */
  private async explainConflict(p: ProjectScope, e: unknown, networkIp: string | undefined): Promise<unknown> {
    if (!(e instanceof ConflictError) || e.errors[0]?.field !== 'networkIp' || networkIp === undefined) return e;
    const holder = await this.endpoints.holderNameInProject(p.id, networkIp);
    return new ConflictError(`networkIp ${networkIp} is already used${holder ? ` by projects/${p.name}/endpoints/${holder}` : ' in the network'}`, [
      { field: 'networkIp', message: 'is already used in the network' },
    ]);
  }
}

function inputOf(r: EndpointRecord): EndpointInputDto {
  return {
    name: r.name,
    description: r.description,
    labels: r.labels,
    subnet: r.subnetName,
    host: r.hostName,
    networkIp: r.networkIp,
    aliasIpRanges: r.aliasIpRanges,
  };
}
