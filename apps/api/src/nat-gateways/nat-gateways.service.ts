import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import {
  AlreadyExistsError,
  ConflictError,
  coverageConflicts,
  InvalidArgumentError,
  NotFoundError,
  validateGatewaySpec,
  withGatewayDefaults,
  type FieldError,
  type NatGatewayInput,
  type NatGatewaySpec,
} from '@natplane/domain';
import { cidr, gatewayAddressUses, gatewayRangeUses, GATEWAY_LIMITS, hostCount } from '@natplane/domain';
import { AddressesRepository, Db, GatewaysRepository, NetworksRepository, SubnetsRepository, type GatewayRecord, type Page } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { refName } from '../common/refs';
import { invalid, validateAs } from '../common/validation';
import { NatGatewayInputDto } from './nat-gateways.dto';

/** The parts of a gateway that are not spec: they never concern hosts. */
interface Meta {
  name: string;
  description: string;
  labels: Record<string, string>;
}

@Injectable()
export class NatGatewaysService {
  constructor(
    private readonly db: Db,
    private readonly gateways: GatewaysRepository,
    private readonly networks: NetworksRepository,
    private readonly subnets: SubnetsRepository,
    private readonly addresses: AddressesRepository,
    private readonly changes: ChangeNotifier,
  ) {}

  async create(p: ProjectScope, input: NatGatewayInputDto): Promise<GatewayRecord> {
    const spec = this.specOf(p, input, undefined);
    return this.db.transaction(async () => {
      const networkId = await this.networkId(p, spec.network);
      await this.networks.lock(networkId);
      if (await this.gateways.get(p.id, input.name)) throw new AlreadyExistsError('natGateway', input.name);
      const refs = await this.checkAgainstOthers(p, input.name, spec, networkId, undefined);
      const id = await this.gateways.insert(p.id, {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        networkId,
        region: spec.region,
        spec,
      });
      await this.gateways.setAddresses(id, refs.addresses, false);
      await this.gateways.setSubnets(id, refs.subnetIds);
      this.changes.enqueueGateways([{ id, generation: 1 }]);
      return (await this.gateways.getById(id))!;
    });
  }

  async get(p: ProjectScope, name: string): Promise<GatewayRecord> {
    return getOr404(this.gateways, p.id, 'natGateway', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<GatewayRecord>> {
    return this.gateways.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<GatewayRecord> {
    return this.db.transaction(async () => {
      const cur = await this.lockInNetwork(p, name, ifMatch, 'update');
      const next = await mergePatch(inputOf(cur), patch, NatGatewayInputDto, ['name', 'region', 'type']);
      const spec = this.specOf(p, next, cur.spec);
      const refs = await this.checkAgainstOthers(p, name, spec, cur.networkId, cur.id);
      // jsonb does not keep key order: compare structurally.
      const specChanged = !isDeepStrictEqual(spec, cur.spec);
      await this.gateways.update(cur.id, {
        description: next.description ?? '',
        labels: next.labels ?? {},
        spec,
        ...(specChanged ? { generation: cur.generation + 1, state: 'PROVISIONING' as const } : {}),
      });
      if (specChanged) {
        await this.gateways.setAddresses(cur.id, refs.addresses, spec.natIpAllocateOption === 'AUTO_ONLY');
        await this.gateways.setSubnets(cur.id, refs.subnetIds);
        this.changes.enqueueGateways([{ id: cur.id, generation: cur.generation + 1 }]);
      }
      return (await this.gateways.getById(cur.id))!;
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await this.lockInNetwork(p, name, ifMatch, 'delete');
      // Its AUTO_ONLY addresses go back to the pools with it (as a tenant's address may be deleted once its gateway is).
      await this.gateways.releaseAutoAddresses(cur.id);
      await this.gateways.delete(cur.id);
      // The reconciler finds the gateway gone: its blocks go to quarantine and its hosts are reprogrammed.
      this.changes.enqueueGateways([{ id: cur.id, generation: cur.generation + 1 }]);
    });
  }

  /**
   * The gateway locked for a write, after its network (the api's lock order: network, subnet,
   * endpoint, gateways; docs/api-writes.md). A gateway that came or went between the two, or was
   * recreated in another network: 409, retry.
   */
  private async lockInNetwork(p: ProjectScope, name: string, ifMatch: string | undefined, mode: 'update' | 'delete'): Promise<GatewayRecord> {
    const networkId = await this.networks.lockOf('nat_gateways', p.id, name);
    const cur = await lockForWrite(this.gateways, p.id, 'natGateway', name, ifMatch, mode);
    if (cur.networkId !== networkId) throw new ConflictError(`natGateway '${name}' changed while it was being written; retry the request`);
    return cur;
  }

  /**
   * A proposed gateway, validated exactly as a create (name undefined: `body` is a whole gateway)
   * or a PATCH (`body` is a merge patch over the named gateway), nothing written. For preview.
   */
  async propose(p: ProjectScope, name: string | undefined, body: unknown): Promise<{ id: string | undefined; networkId: string; spec: NatGatewaySpec }> {
    if (name === undefined) {
      const input = await validateAs(NatGatewayInputDto, body);
      const spec = this.specOf(p, input, undefined);
      const networkId = await this.networkId(p, spec.network);
      await this.checkAgainstOthers(p, input.name, spec, networkId, undefined);
      return { id: undefined, networkId, spec };
    }
    const cur = await this.gateways.get(p.id, name);
    if (!cur) throw new NotFoundError('natGateway', name);
    const next = await mergePatch(inputOf(cur), body, NatGatewayInputDto, ['name', 'region', 'type']);
    const spec = this.specOf(p, next, cur.spec);
    await this.checkAgainstOthers(p, name, spec, cur.networkId, cur.id);
    return { id: cur.id, networkId: cur.networkId, spec };
  }

  /** Canonical references, server defaults, then every 400 rule of the gateway spec. */
  private specOf(p: ProjectScope, input: NatGatewayInputDto, previous: NatGatewaySpec | undefined): NatGatewaySpec {
    const errors: FieldError[] = [];
    const addr = (v: string, field: string) => refName(v, { project: p.name, collection: 'addresses' }, field, errors);
    const canonical: NatGatewayInput = {
      ...stripMeta(input),
      network: refName(input.network, { project: p.name, collection: 'networks' }, 'network', errors),
      natIps: input.natIps?.map((a, i) => addr(a, `natIps[${i}]`)),
      drainNatIps: input.drainNatIps?.map((a, i) => addr(a, `drainNatIps[${i}]`)),
      subnetworks: input.subnetworks?.map((s, i) => ({ ...s, name: refName(s.name, { project: p.name, collection: 'subnets' }, `subnetworks[${i}].name`, errors) })),
      rules: input.rules?.map((r, i) => ({
        ...r,
        action: r.action && {
          sourceNatActiveIps: r.action.sourceNatActiveIps?.map((a, j) => addr(a, `rules[${i}].action.sourceNatActiveIps[${j}]`)),
          sourceNatDrainIps: r.action.sourceNatDrainIps?.map((a, j) => addr(a, `rules[${i}].action.sourceNatDrainIps[${j}]`)),
          sourceNatActiveRanges: r.action.sourceNatActiveRanges?.map((a, j) =>
            refName(a, { project: p.name, collection: 'subnets' }, `rules[${i}].action.sourceNatActiveRanges[${j}]`, errors),
          ),
        },
      })),
    };
    if (errors.length) throw invalid(errors);
    const spec = withGatewayDefaults(canonical);
    if (previous && spec.network !== previous.network) errors.push({ field: 'network', message: 'is immutable' });
    errors.push(...validateGatewaySpec(spec, previous));
    if (errors.length) throw invalid(errors);
    return spec;
  }

  private checkPrivateNatRanges(p: ProjectScope, spec: NatGatewaySpec, networkId: string, selfId: string | undefined, errors: FieldError[], conflicts: FieldError[]): Promise<string[]> {
    return checkPrivateNatRangesOf(this.subnets, p, spec, networkId, selfId, errors, conflicts);
  }

  private async networkId(p: ProjectScope, name: string): Promise<string> {
    const n = await this.networks.get(p.id, name);
    if (!n) throw InvalidArgumentError.field('network', `network '${name}' does not exist`);
    return n.id;
  }

  /**
   * What needs the database: referenced addresses and subnets exist and fit (400), an address is
   * not another gateway's and no subnet range is NATed twice (409).
   */
  private async checkAgainstOthers(
    p: ProjectScope,
    name: string,
    spec: NatGatewaySpec,
    networkId: string,
    selfId: string | undefined,
  ): Promise<{ addresses: { addressId: string; ruleNumber: number; draining: boolean }[]; subnetIds: string[] }> {
    const errors: FieldError[] = [];
    const uses = gatewayAddressUses(spec);
    const found = new Map((await this.addresses.byNames(p.id, uses.map((u) => u.name))).map((a) => [a.name, a]));
    const conflicts: FieldError[] = [];
    for (const u of uses) {
      const a = found.get(u.name);
      if (!a) errors.push({ field: u.field, message: `address '${u.name}' does not exist` });
      else if (a.region !== spec.region) errors.push({ field: u.field, message: `address '${u.name}' is in region ${a.region}, the gateway in ${spec.region}` });
      else if (a.userGateway && a.userGateway !== name) conflicts.push({ field: u.field, message: `address '${u.name}' is used by natGateway '${a.userGateway}'` });
    }
    const subnetIds: string[] = [];
    for (const [i, s] of spec.subnetworks.entries()) {
      const sub = await this.subnets.get(p.id, s.name);
      if (!sub || sub.networkId !== networkId) {
        errors.push({ field: `subnetworks[${i}].name`, message: `subnet '${s.name}' does not exist in network '${spec.network}'` });
        continue;
      }
      if (sub.region !== spec.region) errors.push({ field: `subnetworks[${i}].name`, message: `subnet '${s.name}' is in region ${sub.region}, the gateway in ${spec.region}` });
      for (const [j, rn] of s.secondaryIpRangeNames.entries()) {
        if (!sub.secondaryIpRanges.some((r) => r.rangeName === rn)) errors.push({ field: `subnetworks[${i}].secondaryIpRangeNames[${j}]`, message: `subnet '${s.name}' has no secondary range '${rn}'` });
      }
      subnetIds.push(sub.id);
    }
    subnetIds.push(...(await this.checkPrivateNatRanges(p, spec, networkId, selfId, errors, conflicts)));
    if (errors.length) throw invalid(errors);
    const others = (await this.gateways.othersInNetworkRegion(networkId, spec.region, selfId ?? null)).map((o) => ({ name: o.name, spec: o.spec }));
    conflicts.push(...coverageConflicts(name, spec, others));
    if (conflicts.length) throw new ConflictError(conflicts.map((c) => c.message).join('; '), conflicts);
    return { addresses: uses.map((u) => ({ addressId: found.get(u.name)!.id, ruleNumber: u.ruleNumber, draining: u.draining })), subnetIds };
  }
}

/**
 * A PRIVATE gateway's rules' sourceNatActiveRanges: each a subnet of the gateway's network and
 * region with purpose PRIVATE_NAT and at most GATEWAY_LIMITS.addressesPerList usable addresses
 * (400), whose range no other gateway's PRIVATE_NAT subnet nor any address pool overlaps (409:
 * a NAT IP and port is held once across all gateways). Returns the subnets' ids: they join the
 * gateway's subnets, so a subnet still used cannot be deleted (409 naming the gateway).
 */
async function checkPrivateNatRangesOf(
  subnets: SubnetsRepository,
  p: ProjectScope,
  spec: NatGatewaySpec,
  networkId: string,
  selfId: string | undefined,
  errors: FieldError[],
  conflicts: FieldError[],
): Promise<string[]> {
  const uses = gatewayRangeUses(spec);
  if (uses.length === 0) return [];
  await subnets.lockPrivateNatRanges();
  const ids: string[] = [];
  for (const u of uses) {
    const sub = await subnets.get(p.id, u.name);
    if (!sub || sub.networkId !== networkId) {
      errors.push({ field: u.field, message: `subnet '${u.name}' does not exist in network '${spec.network}'` });
      continue;
    }
    if (sub.region !== spec.region) errors.push({ field: u.field, message: `subnet '${u.name}' is in region ${sub.region}, the gateway in ${spec.region}` });
    if (sub.purpose !== 'PRIVATE_NAT') {
      errors.push({ field: u.field, message: `subnet '${u.name}' has purpose ${sub.purpose}; a PRIVATE gateway takes its NAT IPs from subnets with purpose PRIVATE_NAT` });
      continue;
    }
    const count = hostCount(cidr(sub.ipCidrRange));
    if (count > GATEWAY_LIMITS.addressesPerList) {
      errors.push({
        field: u.field,
        message: `subnet '${u.name}' (${sub.ipCidrRange}) has ${count} usable addresses; a rule's NAT IPs are at most ${GATEWAY_LIMITS.addressesPerList} (a /24 or smaller)`,
      });
      continue;
    }
    for (const other of await subnets.privateNatRangeUsers(sub.ipCidrRange, selfId ?? null)) {
      const who =
        other.kind === 'pool' ? 'an address pool of the provider' : other.projectId === p.id ? `natGateway '${other.name}'` : 'a gateway of another project';
      conflicts.push({ field: u.field, message: `subnet '${u.name}' (${sub.ipCidrRange}) overlaps NAT IPs in use by ${who} (${other.range})` });
    }
    ids.push(sub.id);
  }
  return ids;
}

function stripMeta(input: NatGatewayInputDto): NatGatewayInput {
  const { name: _n, description: _d, labels: _l, ...rest } = input;
  return rest;
}

export function inputOf(r: GatewayRecord): NatGatewayInputDto {
  const meta: Meta = { name: r.name, description: r.description, labels: r.labels };
  return { ...meta, ...(r.spec as unknown as NatGatewayInputDto) };
}
