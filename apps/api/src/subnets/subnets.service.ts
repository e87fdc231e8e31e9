import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import { AlreadyExistsError, cidr, cidrsOverlap, ConflictError, InUseError, parseCidr, type FieldError } from '@natplane/domain';
import { Db, GatewaysRepository, NetworksRepository, SubnetsRepository, type Page, type SubnetRecord } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { refName } from '../common/refs';
import { invalid } from '../common/validation';
import { SubnetInputDto } from './subnets.dto';

@Injectable()
export class SubnetsService {
  constructor(
    private readonly db: Db,
    private readonly subnets: SubnetsRepository,
    private readonly networks: NetworksRepository,
    private readonly gateways: GatewaysRepository,
    private readonly changes: ChangeNotifier,
  ) {}

  async create(p: ProjectScope, input: SubnetInputDto): Promise<SubnetRecord> {
    return this.db.transaction(async () => {
      const networkId = await this.resolveNetwork(p, input);
      if (await this.subnets.get(p.id, input.name)) throw new AlreadyExistsError('subnet', input.name);
      await this.networks.lock(networkId);
      await this.checkRanges(networkId, input, undefined);
      const id = await this.subnets.insert(p.id, {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        networkId,
        region: input.region,
        ipCidrRange: input.ipCidrRange,
        secondaryIpRanges: (input.secondaryIpRanges ?? []).map((r) => ({ rangeName: r.rangeName, ipCidrRange: r.ipCidrRange })),
        purpose: input.purpose ?? 'PRIVATE',
      });
      // A new subnet joins the scope of ALL_SUBNETWORKS gateways of its network and region.
      await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(id));
      return (await this.subnets.getById(id))!;
    });
  }

  async get(p: ProjectScope, name: string): Promise<SubnetRecord> {
    return getOr404(this.subnets, p.id, 'subnet', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<SubnetRecord>> {
    return this.subnets.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<SubnetRecord> {
    return this.db.transaction(async () => {
      const cur = await this.lockInNetwork(p, name, ifMatch, 'update');
      const next = await mergePatch(inputOf(cur), patch, SubnetInputDto, ['name', 'region', 'purpose']);
      const errors: FieldError[] = [];
      if (refName(next.network, { project: p.name, collection: 'networks' }, 'network', errors) !== cur.networkName) errors.push({ field: 'network', message: 'is immutable' });
      if (errors.length) throw invalid(errors);
      // Endpoint creates and PATCHes check their address against the subnet under a share lock of
      // it, which this row lock excludes: none is between its check and its commit now, so the
      // endpoints listed here are all there are.
      await this.checkRanges(cur.networkId, next, cur.id);
      // A PRIVATE_NAT range in use is a gateway's NAT IPs, held once across gateways (checked when
      // a gateway takes it): it does not change under the gateway.
      if (cur.purpose === 'PRIVATE_NAT' && next.ipCidrRange !== cur.ipCidrRange) {
        const gateways = (await this.subnets.users(cur.id)).filter((u) => u.startsWith('natGateways/'));
        if (gateways.length) throw new InUseError(`ipCidrRange ${cur.ipCidrRange} (the NAT IPs of a PRIVATE gateway)`, gateways.map((u) => `projects/${p.name}/${u}`));
      }
      const outside = await this.subnets.endpointsOutside(cur.id, next.ipCidrRange);
      if (outside.length) throw new InUseError(`ipCidrRange ${cur.ipCidrRange}`, outside.map((e) => `projects/${p.name}/endpoints/${e}`));
      const secondary = (next.secondaryIpRanges ?? []).map((r) => ({ rangeName: r.rangeName, ipCidrRange: r.ipCidrRange }));
      const users = await this.aliasUsersOfRemovedRanges(cur, secondary);
      if (users.length) throw new InUseError('the removed or changed secondary ranges', users.map((e) => `projects/${p.name}/endpoints/${e}`));
      await this.subnets.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {}, ipCidrRange: next.ipCidrRange, secondaryIpRanges: secondary });
      if (next.ipCidrRange !== cur.ipCidrRange || !isDeepStrictEqual(secondary, cur.secondaryIpRanges)) {
        await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(cur.id));
      }
      return (await this.subnets.getById(cur.id))!;
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await this.lockInNetwork(p, name, ifMatch, 'delete');
      const users = await this.subnets.users(cur.id);
      if (users.length) throw new InUseError(`subnet '${name}'`, users.map((u) => `projects/${p.name}/${u}`));
      await this.changes.gatewaysChanged(await this.gateways.coveringSubnet(cur.id));
      await this.subnets.delete(cur.id);
    });
  }

  /**
   * The subnet locked for a write, after its network (the api's lock order: network, subnet,
   * endpoint, gateways; common/crud.ts). A subnet that came or went between the two: 409, retry.
   */
  private async lockInNetwork(p: ProjectScope, name: string, ifMatch: string | undefined, mode: 'update' | 'delete'): Promise<SubnetRecord> {
    const networkId = await this.networks.lockOf('subnets', p.id, name);
    const cur = await lockForWrite(this.subnets, p.id, 'subnet', name, ifMatch, mode);
    if (cur.networkId !== networkId) throw new ConflictError(`subnet '${name}' changed while it was being written; retry the request`);
    return cur;
  }

  private async resolveNetwork(p: ProjectScope, input: SubnetInputDto): Promise<string> {
    const errors: FieldError[] = [];
    const name = refName(input.network, { project: p.name, collection: 'networks' }, 'network', errors);
    if (errors.length) throw invalid(errors);
    const network = await this.networks.get(p.id, name);
    if (!network) throw invalid([{ field: 'network', message: `network '${name}' does not exist` }]);
    return network.id;
  }

  /** Every range a valid CIDR, and no two ranges of the network overlapping. */
  private async checkRanges(networkId: string, input: SubnetInputDto, selfId: string | undefined): Promise<void> {
    const errors: FieldError[] = [];
    const mine: { field: string; text: string }[] = [{ field: 'ipCidrRange', text: input.ipCidrRange }];
    const names = new Set<string>();
    (input.secondaryIpRanges ?? []).forEach((r, i) => {
      mine.push({ field: `secondaryIpRanges[${i}].ipCidrRange`, text: r.ipCidrRange });
      if (names.has(r.rangeName)) errors.push({ field: `secondaryIpRanges[${i}].rangeName`, message: `duplicate range name '${r.rangeName}'` });
      names.add(r.rangeName);
    });
    for (const m of mine) {
      const r = parseCidr(m.text);
      if (!r.ok) errors.push({ field: m.field, message: r.message });
    }
    if (errors.length) throw invalid(errors);
    for (let i = 0; i < mine.length; i++) {
      for (let j = 0; j < i; j++) {
        if (cidrsOverlap(cidr(mine[i].text), cidr(mine[j].text))) errors.push({ field: mine[i].field, message: `overlaps ${mine[j].field} (${mine[j].text})` });
      }
    }
    for (const other of await this.subnets.inNetwork(networkId)) {
      if (other.id === selfId) continue;
      const theirs = [other.ipCidrRange, ...other.secondaryIpRanges.map((r) => r.ipCidrRange)];
      for (const m of mine) {
        const hit = theirs.find((t) => cidrsOverlap(cidr(m.text), cidr(t)));
        if (hit) errors.push({ field: m.field, message: `overlaps ${hit} of subnet '${other.name}' in the same network` });
      }
    }
    if (errors.length) throw invalid(errors);
  }

  private async aliasUsersOfRemovedRanges(cur: SubnetRecord, next: { rangeName: string; ipCidrRange: string }[]): Promise<string[]> {
    const gone = cur.secondaryIpRanges.filter((r) => !next.some((n) => n.rangeName === r.rangeName && n.ipCidrRange === r.ipCidrRange)).map((r) => r.rangeName);
    if (gone.length === 0) return [];
    return this.subnets.aliasUsers(cur.id, gone);
  }
}

function inputOf(r: SubnetRecord): SubnetInputDto {
  return {
    name: r.name,
    description: r.description,
    labels: r.labels,
    network: r.networkName,
    region: r.region,
    ipCidrRange: r.ipCidrRange,
    secondaryIpRanges: r.secondaryIpRanges,
    purpose: r.purpose,
  };
}
