import { Injectable } from '@nestjs/common';
import { AlreadyExistsError, cidr, cidrContains, cidrContainsCidr, ConflictError, NotFoundError, parseCidr, parseIpv4, type FieldError } from '@natplane/domain';
import { Db, EndpointsRepository, GatewaysRepository, HostsRepository, SubnetsRepository, type EndpointRecord, type Page, type SubnetRecord } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { type ListRequest, mergePatch } from '../common/crud';
import { checkIfMatch } from '../common/etag';
import { refName } from '../common/refs';
import { invalid } from '../common/validation';
import { EndpointInputDto } from './endpoints.dto';

interface Resolved {
  subnet: SubnetRecord;
  hostId: string;
  aliasIpRanges: { ipCidrRange: string; subnetworkRangeName: string }[];
}

@Injectable()
export class EndpointsService {
  constructor(
    private readonly db: Db,
    private readonly endpoints: EndpointsRepository,
    private readonly subnets: SubnetsRepository,
    private readonly hosts: HostsRepository,
    private readonly gateways: GatewaysRepository,
    private readonly changes: ChangeNotifier,
  ) {}

  async create(p: ProjectScope, input: EndpointInputDto): Promise<EndpointRecord> {
    return this.db.transaction(async () => {
      const r = await this.resolve(p, input);
      if (await this.endpoints.get(p.id, input.name)) throw new AlreadyExistsError('endpoint', input.name);
      await this.checkIpFree(p, r.subnet.networkId, input.networkIp, undefined);
      const id = await this.endpoints.insert(p.id, {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        subnetId: r.subnet.id,
        networkId: r.subnet.networkId,
        hostId: r.hostId,
        networkIp: input.networkIp,
        aliasIpRanges: r.aliasIpRanges,
      });
      await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(r.subnet.id));
      return (await this.endpoints.getById(id))!;
    });
  }

  async get(p: ProjectScope, name: string): Promise<EndpointRecord> {
    const r = await this.endpoints.get(p.id, name);
    if (!r) throw new NotFoundError('endpoint', name);
    return r;
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<EndpointRecord>> {
    return this.endpoints.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<EndpointRecord> {
    return this.db.transaction(async () => {
      const cur = await this.endpoints.getForUpdate(p.id, name);
      if (!cur) throw new NotFoundError('endpoint', name);
      checkIfMatch(ifMatch, cur.id, cur.version);
      const next = await mergePatch(inputOf(cur), patch, EndpointInputDto, ['name']);
      const r = await this.resolve(p, next);
      if (r.subnet.id !== cur.subnetId) throw invalid([{ field: 'subnet', message: 'is immutable' }]);
      if (next.networkIp !== cur.networkIp) await this.checkIpFree(p, cur.networkId, next.networkIp, cur.id);
      await this.endpoints.update(cur.id, {
        description: next.description ?? '',
        labels: next.labels ?? {},
        hostId: r.hostId,
        networkIp: next.networkIp,
        aliasIpRanges: r.aliasIpRanges,
      });
      const hostsMatter = r.hostId !== cur.hostId || next.networkIp !== cur.networkIp || JSON.stringify(r.aliasIpRanges) !== JSON.stringify(cur.aliasIpRanges);
      if (hostsMatter) await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(cur.subnetId));
      return (await this.endpoints.getById(cur.id))!;
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await this.endpoints.getForUpdate(p.id, name);
      if (!cur) throw new NotFoundError('endpoint', name);
      checkIfMatch(ifMatch, cur.id, cur.version);
      await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(cur.subnetId));
      await this.endpoints.delete(cur.id);
    });
  }

  /** References, the address in the primary range, alias ranges inside their secondary ranges. */
  private async resolve(p: ProjectScope, input: EndpointInputDto): Promise<Resolved> {
    const errors: FieldError[] = [];
    const subnetName = refName(input.subnet, { project: p.name, collection: 'subnets' }, 'subnet', errors);
    const hostName = refName(input.host, { collection: 'hosts' }, 'host', errors);
    const ip = parseIpv4(input.networkIp);
    if (!ip.ok) errors.push({ field: 'networkIp', message: ip.message });
    if (errors.length) throw invalid(errors);
    const [subnet, host] = await Promise.all([this.subnets.get(p.id, subnetName), this.hosts.get(undefined, hostName)]);
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
    return { subnet, hostId: host.id, aliasIpRanges };
  }

  private async checkIpFree(p: ProjectScope, networkId: string, ip: string, selfId: string | undefined): Promise<void> {
    const holder = await this.endpoints.holderOfIp(networkId, ip);
    if (holder !== undefined && holder !== selfId) {
      const name = (await this.endpoints.nameOf(holder)) ?? holder;
      throw new ConflictError(`networkIp ${ip} is already used by projects/${p.name}/endpoints/${name}`, [{ field: 'networkIp', message: 'is already used in the network' }]);
    }
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
