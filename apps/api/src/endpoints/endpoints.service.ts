import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import { cidr, cidrContains, cidrContainsCidr, ConflictError, forwardedRangeErrors, formatCidr, parseCidr, parseIpv4, type FieldError } from '@natplane/domain';
import { Db, EndpointsRepository, HostSourceConflict, SubnetsRepository, type EndpointRecord, type Page, type SubnetRef } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { refName } from '../common/refs';
import { invalid } from '../common/validation';
import { EndpointInputDto } from './endpoints.dto';

interface Refs {
  subnet: SubnetRef;
  host: { id: string; region: string };
}

interface Resolved {
  subnet: SubnetRef;
  hostId: string;
  aliasIpRanges: { ipCidrRange: string; subnetworkRangeName: string }[];
  canIpForward: boolean;
  forwardedIpRanges: string[];
}

/**
 * How long a create remembers the subnet and host a name stood for. The insert checks that they
 * are still exactly that (EndpointsRepository.insertAndBumpGateways), so an outdated entry costs
 * one more round trip, never a wrong write; the bound only keeps the map from holding names
 * nobody uses any more.
 */
const REFS_CACHE_MS = 10_000;
const REFS_CACHE_MAX = 10_000;

@Injectable()
export class EndpointsService {
  constructor(
    private readonly db: Db,
    private readonly endpoints: EndpointsRepository,
    private readonly changes: ChangeNotifier,
    private readonly subnets: SubnetsRepository,
  ) {}

  private readonly refsCache = new Map<string, { refs: Refs; until: number }>();

  /**
   * The hot path (hundreds per second): one statement, with no transaction of its own, that
   * inserts (the unique constraints answer 409 for a taken name or address) and bumps the
   * generation of the gateways the endpoint concerns, which commit together. The gateway rows are
   * locked only while PostgreSQL runs and commits it, never across a round trip to the api.
   * The subnet and host it was validated against come from the last create that named them; the
   * statement writes only if they are still the same, else they are read again (a 400 is only
   * ever answered from a fresh read). Inside an Idempotency-Key transaction everything runs in it
   * and the reconcile jobs wait for its commit.
   */
  async create(p: ProjectScope, input: EndpointInputDto): Promise<EndpointRecord> {
    try {
      const key = `${p.id}\n${input.subnet}\n${input.host}`;
      const now = Date.now();
      let known = this.refsCache.get(key);
      if (known && known.until <= now) known = undefined;
      this.refsCache.delete(key);
      for (let attempt = known ? 0 : 1; ; attempt++) {
        const fresh = attempt > 0;
        let r: Resolved & { hostName: string; refs: Refs };
        try {
          r = await this.resolve(p, input, fresh ? undefined : known!.refs);
        } catch (e) {
          if (fresh) throw e;
          continue; // an outdated subnet may have been the reason: check against the current one
        }
        const values = {
          name: input.name,
          description: input.description ?? '',
          labels: input.labels ?? {},
          subnetId: r.subnet.id,
          networkId: r.subnet.networkId,
          hostId: r.hostId,
          hostInterface: input.hostInterface ?? null,
          networkIp: input.networkIp,
          aliasIpRanges: r.aliasIpRanges,
          canIpForward: r.canIpForward,
          forwardedIpRanges: r.forwardedIpRanges,
        };
        const inserted = await this.endpoints.insertAndBumpGateways(p.id, values, r.refs);
        if (inserted) {
          if (this.refsCache.size >= REFS_CACHE_MAX) this.refsCache.clear();
          this.refsCache.set(key, { refs: r.refs, until: now + REFS_CACHE_MS });
          const { id, createdAt, updatedAt, bumped } = inserted;
          this.db.afterCommit(() => this.enqueueSoon(bumped));
          // Object.assign, not spreads: V8 copies a spread or a rest member through its slow path.
          return Object.assign(values, { id, createdAt, updatedAt, version: 1, scopeId: p.id, subnetName: r.subnet.name, hostName: r.hostName });
        }
        // The subnet or host changed since they were read: read them again (changed again between
        // a fresh read and the insert, twice: 409, retry).
        if (attempt >= 2) throw new ConflictError('the subnet or host changed while the endpoint was being created; retry the request');
      }
    } catch (e) {
      throw await this.explainConflict(p, e, input);
    }
  }

  /** Gateway id -> the latest generation committed, not yet enqueued. */
  private readonly toEnqueue = new Map<string, number>();

  /**
   * Reconcile jobs for committed creates, one enqueue per event-loop turn: the creates that commit
   * meanwhile (hundreds per second, mostly the same gateways) join the one already scheduled,
   * which is sent after all of them committed, so every change is still followed by a job that
   * sees it (the job reloads the gateway; jobs coalesce per gateway in BullMQ anyway).
   */
  private enqueueSoon(gateways: { id: string; generation: number }[]): void {
    if (gateways.length === 0) return;
    const idle = this.toEnqueue.size === 0;
    for (const g of gateways) this.toEnqueue.set(g.id, Math.max(g.generation, this.toEnqueue.get(g.id) ?? 0));
    if (!idle) return;
    setImmediate(() => {
      const batch = [...this.toEnqueue].map(([id, generation]) => ({ id, generation }));
      this.toEnqueue.clear();
      this.changes.enqueueGateways(batch);
    });
  }

  async get(p: ProjectScope, name: string): Promise<EndpointRecord> {
    return getOr404(this.endpoints, p.id, 'endpoint', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<EndpointRecord>> {
    return this.endpoints.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<EndpointRecord> {
    return this.db.transaction(async () => {
      // Its subnet first (the api's lock order; a narrowing of the subnet waits for this check).
      await this.subnets.shareOfEndpoint(p.id, name);
      const cur = await lockForWrite(this.endpoints, p.id, 'endpoint', name, ifMatch, 'update');
      const next = await mergePatch(inputOf(cur), patch, EndpointInputDto, ['name']);
      const r = await this.resolve(p, next);
      if (r.subnet.id !== cur.subnetId) throw invalid([{ field: 'subnet', message: 'is immutable' }]);
      const hostInterface = next.hostInterface ?? null;
      await this.endpoints.update(cur.id, {
        description: next.description ?? '',
        labels: next.labels ?? {},
        hostId: r.hostId,
        hostInterface,
        networkIp: next.networkIp,
        aliasIpRanges: r.aliasIpRanges,
        canIpForward: r.canIpForward,
        forwardedIpRanges: r.forwardedIpRanges,
      });
      const hostsMatter =
        r.hostId !== cur.hostId ||
        hostInterface !== cur.hostInterface ||
        next.networkIp !== cur.networkIp ||
        !isDeepStrictEqual(r.aliasIpRanges, cur.aliasIpRanges) ||
        !isDeepStrictEqual(r.forwardedIpRanges, cur.forwardedIpRanges);
      if (hostsMatter) await this.changes.endpointChanged(cur.subnetId, cur.id);
      return (await this.endpoints.getById(cur.id))!;
    }).catch(async (e: unknown) => {
      throw await this.explainConflict(p, e, (patch ?? {}));
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.endpoints, p.id, 'endpoint', name, ifMatch, 'delete');
      await this.changes.endpointChanged(cur.subnetId, cur.id);
      await this.endpoints.delete(cur.id);
    });
  }

  /** References, the address in the primary range, alias ranges inside their secondary ranges. */
  private async resolve(p: ProjectScope, input: EndpointInputDto, known?: Refs): Promise<Resolved & { hostName: string; refs: Refs }> {
    const errors: FieldError[] = [];
    const subnetName = refName(input.subnet, { project: p.name, collection: 'subnets' }, 'subnet', errors);
    const hostName = refName(input.host, { collection: 'hosts' }, 'host', errors);
    const ip = parseIpv4(input.networkIp);
    if (!ip.ok) errors.push({ field: 'networkIp', message: ip.message });
    if (errors.length) throw invalid(errors);
    const { subnet, host } = known ?? (await this.endpoints.refs(p.id, subnetName, hostName));
    if (!subnet) errors.push({ field: 'subnet', message: `subnet '${subnetName}' does not exist` });
    if (!host) errors.push({ field: 'host', message: `host '${hostName}' does not exist` });
    if (!subnet || !host) throw invalid(errors);
    if (subnet.purpose === 'PRIVATE_NAT') {
      errors.push({ field: 'subnet', message: `subnet '${subnetName}' has purpose PRIVATE_NAT: it supplies NAT IPs to Private NAT gateways and holds no endpoint` });
    }
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
    const canIpForward = input.canIpForward ?? false;
    const forwardedIpRanges = (input.forwardedIpRanges ?? []).map((text) => {
      const c = parseCidr(text);
      return c.ok ? formatCidr(c.value) : text;
    });
    errors.push(...forwardedRangeErrors(canIpForward, input.forwardedIpRanges ?? [], ip.ok ? ip.value : undefined, aliasIpRanges));
    if (errors.length) throw invalid(errors);
    return { subnet, hostId: host.id, hostName, aliasIpRanges, canIpForward, forwardedIpRanges, refs: { subnet, host } };
  }

  /**
   * A conflict on the address names the endpoint holding it: in the network (the unique constraint)
   * or on the host (sources that the host could not tell apart, HostSourceConflict). An endpoint of
   * another project is named by its network only as "another project's" (no existence leaks).
   */
  private async explainConflict(p: ProjectScope, e: unknown, input: Partial<EndpointInputDto>): Promise<unknown> {
    if (e instanceof HostSourceConflict) {
      const h = await this.endpoints.holder(e.holder);
      const who = !h
        ? 'another endpoint'
        : h.projectId === p.id
          ? `projects/${p.name}/endpoints/${h.endpoint} of network projects/${p.name}/networks/${h.network}`
          : "an endpoint of another project's network";
      const device = !h || h.projectId !== p.id ? '' : h.hostInterface ? ` (device ${h.hostInterface})` : ' (which names no device)';
      const detail = {
        hostInterface: `hostInterface ${input.hostInterface ?? ''} is already the device of ${who} on this host`,
        networkIp: `networkIp ${input.networkIp ?? ''} is already used on this host by ${who}${device}: two endpoints may share an address on one host only when each names its own hostInterface`,
        aliasIpRanges: `aliasIpRanges overlap the sources of ${who}${device} on this host: endpoints may share addresses on one host only when each names its own hostInterface`,
      }[e.field];
      return new ConflictError(detail, [{ field: e.field, message: e.field === 'hostInterface' ? 'is already used on this host' : 'collides on the host with another endpoint' }]);
    }
    const networkIp = input.networkIp;
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
    ...(r.hostInterface === null ? {} : { hostInterface: r.hostInterface }),
    networkIp: r.networkIp,
    aliasIpRanges: r.aliasIpRanges,
    canIpForward: r.canIpForward,
    forwardedIpRanges: r.forwardedIpRanges,
  };
}
