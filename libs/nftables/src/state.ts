/**
 * The nftables state a host document asks for, as plain data: the objects of table `ip natplane`
 * (chains with their rules, sets, maps, ct timeout policies) and the elements of every set and map.
 *
 * The state of a document is the union of independent slices: the base (table, hooks, dispatch
 * maps), one slice per gateway (its chains, maps, destination sets, timeout policies) and one per
 * endpoint (its elements). Validation makes the slices disjoint, which is what lets a one-endpoint
 * patch be diffed without looking at the other 49,999 endpoints.
 *
 * Table layout (see docs/nftables-backend.md):
 *
 *   postrouting (nat, srcnat)   oifname UPLINK jump sources
 *   sources                     per gateway: ip saddr @g_X_def jump g_X      exact sources with a default block
 *                                            ip saddr @g_X_rest jump g_X     the gateway's other exact sources
 *                               ip saddr vmap @aliases                        alias range -> jump g_X_alias
 *   g_X                         ct timeout set (the gateway's TCP/UDP policies)
 *                               per rule, ascending: ip daddr @g_X_rN_dst snat to ip saddr map @g_X_rN
 *                                                   ip daddr @g_X_rN_dst drop   (no ports on that rule)
 *                               snat to ip saddr map @g_X_def ; drop            (no ports: fail closed)
 *                               or, a gateway whose unmatched flows PASS (Private NAT): return
 *   g_X_alias                   the same over the alias maps (interval keys)
 *   g_X_fwd                     gateways with source-based rules: ranges a VM forwards from, dispatched
 *                               by the alias map; only the source rules (ip saddr @g_X_rN_src snat ...
 *                               map @g_X_rN_alias), then drop. A source rule in g_X and g_X_alias reads
 *                               `ip saddr @g_X_rN_src` where a destination rule reads `ip daddr @..._dst`;
 *                               an endpoint's keys in a source rule's maps are its mapping's `sources`.
 *   forward (filter)            oifname UPLINK ct state invalid drop  (untracked packets would skip NAT)
 *
 * Hosts shared by networks (endpoints that name their hostInterface, see interfaces.ts):
 *
 *   prerouting_raw (raw)        meta mark set iifname map @if_marks ct original zone set iifname map @if_zones
 *   prerouting_mangle (mangle)  new connections from a named device: ct mark := the device's mark;
 *                               replies of such connections: meta mark := ct mark (routing by device)
 *   sources                     first: ct mark . ip saddr vmap @if_sources / @if_aliases -> g_X_if / g_X_if_alias,
 *                               then any other packet from a named device returns (it is not another
 *                               network's), then the address-keyed rules above
 *   g_X_if, g_X_if_alias        as g_X and g_X_alias over maps keyed by ct mark . ip saddr
 *
 * Endpoints without a device keep the address-keyed maps: a two-part key costs nft ~20% more to
 * parse (measured at 50,000 elements), and most hosts never need it.
 *
 * The default map doubles as the gateway's source set, so 50,000 endpoints cost 50,000 elements
 * (a separate source -> gateway verdict map would double the load time: measured 0.66 s vs 1.03 s).
 * The price is one set lookup per gateway for the first packet of a connection.
 */
import { DEFAULT_RULE, HostEndpoint, HostGatewaySettings, HostPortBlock } from '@natplane/contracts';
import { disjointCidrs, formatCidr, parseCidr, Cidr } from './ipv4';
import { InterfaceIds, MARK_TAG, MARK_TAG_MASK, formatMark, namedInterfaces } from './interfaces';
import {
  ALIAS_DISPATCH,
  FORWARD,
  IF_ALIASES,
  IF_MARKS,
  IF_SOURCES,
  IF_ZONES,
  POSTROUTING,
  PREROUTING_MANGLE,
  PREROUTING_RAW,
  SOURCES,
  aliasSnatMap,
  destinationSet,
  gatewayAliasChain,
  gatewayChain,
  gatewayFwdChain,
  gatewayIfAliasChain,
  gatewayIfChain,
  gatewayIfFwdChain,
  gatewayKey,
  ifAliasSnatMap,
  ifSnatMap,
  restSet,
  ruleKey,
  snatMap,
  sourceSet,
  tcpTimeoutName,
  udpTimeoutName,
} from './names';

export type ObjectKind = 'chain' | 'set' | 'map' | 'ct timeout';

export interface NftObject {
  kind: ObjectKind;
  name: string;
  /** What goes between `{ }` when the object is added; '' for a regular chain. */
  spec: string;
  /** Chains only: the rules, in order. */
  rules?: string[];
}

/** A set of objects and elements: a whole table, or the slices a change touches. */
export interface NftState {
  /** By `objectId(kind, name)`. */
  objects: Map<string, NftObject>;
  /** Set or map name -> element key -> value ('' for a plain set). */
  elements: Map<string, Map<string, string>>;
}

export function objectId(kind: ObjectKind, name: string): string {
  return `${kind} ${name}`;
}

export function emptyState(): NftState {
  return { objects: new Map(), elements: new Map() };
}

export function addObject(state: NftState, o: NftObject): void {
  state.objects.set(objectId(o.kind, o.name), o);
}

export function addElement(state: NftState, set: string, key: string, value: string): void {
  let m = state.elements.get(set);
  if (!m) {
    m = new Map();
    state.elements.set(set, m);
  }
  m.set(key, value);
}

const SNAT_MAP_SPEC = 'type ipv4_addr : interval ipv4_addr . inet_service;';
const ALIAS_SNAT_MAP_SPEC = 'type ipv4_addr : interval ipv4_addr . inet_service; flags interval;';
const IF_SNAT_MAP_SPEC = 'type mark . ipv4_addr : interval ipv4_addr . inet_service;';
const IF_ALIAS_SNAT_MAP_SPEC = 'type mark . ipv4_addr : interval ipv4_addr . inet_service; flags interval;';
const L4 = 'meta l4proto { tcp, udp, icmp }';
/** Packets and connections of a named device carry natplane's mark tag in the high 16 bits. */
const TAGGED = (what: string) => `${what} & ${formatMark(MARK_TAG_MASK)} == ${formatMark(MARK_TAG)}`;

/** Base objects, present whatever the document: the hooks and the alias dispatch map. */
export function addBase(state: NftState, uplink: string): void {
  const oif = `oifname ${quote(uplink)}`;
  // Chains before maps: nft 1.0.6 refuses `jump` elements of an interval verdict map created
  // in the same transaction before the chain they name (measured), so every script declares
  // chains first.
  addObject(state, {
    kind: 'chain',
    name: POSTROUTING,
    spec: 'type nat hook postrouting priority srcnat; policy accept;',
    rules: [`${oif} jump ${SOURCES}`],
  });
  addObject(state, {
    kind: 'chain',
    name: FORWARD,
    spec: 'type filter hook forward priority filter; policy accept;',
    rules: [`${oif} ct state invalid drop`],
  });
  addObject(state, { kind: 'map', name: ALIAS_DISPATCH, spec: 'type ipv4_addr : verdict; flags interval;' });
  addObject(state, {
    kind: 'chain',
    name: PREROUTING_RAW,
    spec: 'type filter hook prerouting priority raw; policy accept;',
    rules: [`meta mark set iifname map @${IF_MARKS} ct original zone set iifname map @${IF_ZONES}`],
  });
  addObject(state, {
    kind: 'chain',
    name: PREROUTING_MANGLE,
    spec: 'type filter hook prerouting priority mangle; policy accept;',
    rules: [`ct state new ct direction original ${TAGGED('meta mark')} ct mark set meta mark`, `ct direction reply ${TAGGED('ct mark')} meta mark set ct mark`],
  });
  addObject(state, { kind: 'map', name: IF_MARKS, spec: 'type ifname : mark;' });
  addObject(state, { kind: 'map', name: IF_ZONES, spec: 'typeof iifname : ct original zone;' });
  addObject(state, { kind: 'map', name: IF_SOURCES, spec: 'type mark . ipv4_addr : verdict;' });
  addObject(state, { kind: 'map', name: IF_ALIASES, spec: 'type mark . ipv4_addr : verdict; flags interval;' });
}

/** The elements of one named device: its mark and its conntrack zone. */
export function addInterface(state: NftState, name: string, ids: InterfaceIds): void {
  addElement(state, IF_MARKS, quote(name), formatMark(ids.mark(name)));
  addElement(state, IF_ZONES, quote(name), String(ids.of(name)));
}

/** The chain that finds the gateway of a source: it depends on the set of gateways only. */
export function addSourcesChain(state: NftState, gatewayIds: Iterable<string>): void {
  // Named devices first: their sources are keyed by device, and any other packet of theirs is not
  // another network's (it must not match an address-keyed endpoint).
  const rules: string[] = [`ct mark . ip saddr vmap @${IF_SOURCES}`, `ct mark . ip saddr vmap @${IF_ALIASES}`, `${TAGGED('ct mark')} return`];
  for (const gw of [...gatewayIds].map(gatewayKey).sort()) {
    rules.push(`ip saddr @${snatMap(gw, ruleKey(DEFAULT_RULE))} jump ${gatewayChain(gw)}`);
    rules.push(`ip saddr @${restSet(gw)} jump ${gatewayChain(gw)}`);
  }
  rules.push(`ip saddr vmap @${ALIAS_DISPATCH}`);
  addObject(state, { kind: 'chain', name: SOURCES, spec: '', rules });
}

/** The objects of one gateway and the elements of its destination sets. */
export function addGateway(state: NftState, g: HostGatewaySettings): void {
  const gw = gatewayKey(g.id);
  const t = g.timeouts;
  const tcp = tcpTimeoutName(gw, t);
  const udp = udpTimeoutName(gw, t);
  const tr = t.tcpTransitoryIdleTimeoutSec;
  addObject(state, {
    kind: 'ct timeout',
    name: tcp,
    spec:
      `protocol tcp; l3proto ip; policy = { established: ${t.tcpEstablishedIdleTimeoutSec}, syn_sent: ${tr}, syn_recv: ${tr}, ` +
      `fin_wait: ${tr}, close_wait: ${tr}, last_ack: ${tr}, time_wait: ${t.tcpTimeWaitTimeoutSec} };`,
  });
  addObject(state, {
    kind: 'ct timeout',
    name: udp,
    spec: `protocol udp; l3proto ip; policy = { unreplied: ${t.udpIdleTimeoutSec}, replied: ${t.udpIdleTimeoutSec} };`,
  });
  const flag = g.mapping === 'ENDPOINT_DEPENDENT' ? ' fully-random' : '';
  const logNew = g.logging.enable && g.logging.filter !== 'ERRORS_ONLY';
  const logDrop = g.logging.enable && g.logging.filter !== 'TRANSLATIONS_ONLY';
  const rules = [...g.rules].sort((a, b) => a.ruleNumber - b.ruleNumber);
  const forwards = rules.some((r) => r.sources !== undefined);
  // [chain, map of a rule, lookup key, whether it is a forwarded-sources chain]
  const chains: [string, (rule: string) => string, string, boolean][] = [
    [gatewayChain(gw), (rule) => snatMap(gw, rule), 'ip saddr', false],
    [gatewayAliasChain(gw), (rule) => aliasSnatMap(gw, rule), 'ip saddr', false],
    [gatewayIfChain(gw), (rule) => ifSnatMap(gw, rule), 'ct mark . ip saddr', false],
    [gatewayIfAliasChain(gw), (rule) => ifAliasSnatMap(gw, rule), 'ct mark . ip saddr', false],
  ];
  if (forwards) {
    chains.push([gatewayFwdChain(gw), (rule) => aliasSnatMap(gw, rule), 'ip saddr', true]);
    chains.push([gatewayIfFwdChain(gw), (rule) => ifAliasSnatMap(gw, rule), 'ct mark . ip saddr', true]);
  }
  for (const [chain, mapOf, key, forwarded] of chains) {
    const body = [`ct timeout set meta l4proto map { tcp : ${quote(tcp)}, udp : ${quote(udp)} }`];
    if (logNew) body.push(`limit rate 100/second burst 100 packets log prefix ${quote(`natplane ${gw} new `)} level info`);
    const dropTail = (match: string) => {
      if (logDrop) body.push(`${match}limit rate 10/second burst 10 packets log prefix ${quote(`natplane ${gw} drop `)} level warn`);
      body.push(`${match}drop`);
    };
    for (const r of rules) {
      const rk = ruleKey(r.ruleNumber);
      if (forwarded && r.sources === undefined) continue; // forwarded sources: source rules only
      const match = r.sources !== undefined ? `ip saddr @${sourceSet(gw, rk)} ` : `ip daddr @${destinationSet(gw, rk)} `;
      body.push(`${match}${L4} snat ip to ${key} map @${mapOf(rk)}${flag}`);
      dropTail(match);
    }
    if (g.unmatched === 'PASS') {
      // Private NAT: a flow no rule matches leaves untranslated (back to the sources chain, which
      // ends without a verdict).
      body.push('return');
    } else {
      if (!forwarded) body.push(`${L4} snat ip to ${key} map @${mapOf(ruleKey(DEFAULT_RULE))}${flag}`);
      dropTail('');
    }
    addObject(state, { kind: 'chain', name: chain, spec: '', rules: body });
  }
  addObject(state, { kind: 'set', name: restSet(gw), spec: 'type ipv4_addr;' });
  for (const ruleNumber of [DEFAULT_RULE, ...rules.map((r) => r.ruleNumber)]) {
    const rk = ruleKey(ruleNumber);
    addObject(state, { kind: 'map', name: snatMap(gw, rk), spec: SNAT_MAP_SPEC });
    addObject(state, { kind: 'map', name: aliasSnatMap(gw, rk), spec: ALIAS_SNAT_MAP_SPEC });
    addObject(state, { kind: 'map', name: ifSnatMap(gw, rk), spec: IF_SNAT_MAP_SPEC });
    addObject(state, { kind: 'map', name: ifAliasSnatMap(gw, rk), spec: IF_ALIAS_SNAT_MAP_SPEC });
  }
  for (const r of rules) {
    const source = r.sources !== undefined;
    const set = source ? sourceSet(gw, ruleKey(r.ruleNumber)) : destinationSet(gw, ruleKey(r.ruleNumber));
    addObject(state, { kind: 'set', name: set, spec: 'type ipv4_addr; flags interval;' });
    for (const c of disjointCidrs((source ? (r.sources as string[]) : r.destinations).map((d) => parseCidr(d) as Cidr))) addElement(state, set, formatCidr(c), '');
  }
}

export function blockValue(b: HostPortBlock): string {
  return `${b.natIp} . ${b.portLo}-${b.portHi}`;
}

/**
 * The elements one endpoint contributes: per rule with an active block, its sources in that
 * rule's map; an exact source without a default block goes to the gateway's rest set; alias
 * ranges to the alias dispatch map. Drain blocks are not in nftables at all (no new flow may use
 * them; conntrack keeps the existing ones). An endpoint that names its device has its sources
 * keyed by the device's mark instead, in the device maps (`ids` gives the marks).
 */
export function addEndpoint(state: NftState, gatewayId: string, e: HostEndpoint, ids?: InterfaceIds): void {
  const gw = gatewayKey(gatewayId);
  const aliases = e.aliasRanges.map((a) => formatCidr(parseCidr(a) as Cidr));
  const forwarded = (e.forwardedRanges ?? []).map((a) => formatCidr(parseCidr(a) as Cidr));
  const primary = `${e.networkIp}/32`;
  /**
   * The keys of a mapping: on a source rule its `sources` (the primary address exactly, every other
   * part as a range: the rule's source set decides which flows get there); otherwise the endpoint's
   * own sources.
   */
  const keysOf = (m: HostEndpoint['mappings'][number]): { exact: boolean; ranges: string[] } => {
    if (m.sources === undefined) return { exact: e.natPrimary, ranges: aliases };
    const parts = m.sources.map((s) => formatCidr(parseCidr(s) as Cidr));
    return { exact: e.natPrimary && parts.includes(primary), ranges: parts.filter((s) => s !== primary || !e.natPrimary) };
  };
  if (e.hostInterface !== undefined) {
    if (!ids) throw new Error(`endpoint ${e.id} names device ${e.hostInterface}: rendering it needs the host's interface ids`);
    const mark = `${formatMark(ids.mark(e.hostInterface))} . `;
    if (e.natPrimary) addElement(state, IF_SOURCES, mark + e.networkIp, `jump ${gatewayIfChain(gw)}`);
    for (const a of aliases) addElement(state, IF_ALIASES, mark + a, `jump ${gatewayIfAliasChain(gw)}`);
    for (const f of forwarded) addElement(state, IF_ALIASES, mark + f, `jump ${gatewayIfFwdChain(gw)}`);
    for (const m of e.mappings) {
      if (!m.active) continue;
      const rk = ruleKey(m.ruleNumber);
      const value = blockValue(m.active);
      const keys = keysOf(m);
      if (keys.exact) addElement(state, ifSnatMap(gw, rk), mark + e.networkIp, value);
      for (const a of keys.ranges) addElement(state, ifAliasSnatMap(gw, rk), mark + a, value);
    }
    return;
  }
  for (const a of aliases) addElement(state, ALIAS_DISPATCH, a, `jump ${gatewayAliasChain(gw)}`);
  for (const f of forwarded) addElement(state, ALIAS_DISPATCH, f, `jump ${gatewayFwdChain(gw)}`);
  let defaultBlock = false;
  for (const m of e.mappings) {
    if (!m.active) continue;
    if (m.ruleNumber === DEFAULT_RULE) defaultBlock = true;
    const rk = ruleKey(m.ruleNumber);
    const value = blockValue(m.active);
    const keys = keysOf(m);
    if (keys.exact) addElement(state, snatMap(gw, rk), e.networkIp, value);
    for (const a of keys.ranges) addElement(state, aliasSnatMap(gw, rk), a, value);
  }
  if (e.natPrimary && !defaultBlock) addElement(state, restSet(gw), e.networkIp, '');
}

/** The whole table a (validated) document asks for. */
export function documentState(doc: { gateways: (HostGatewaySettings & { endpoints: HostEndpoint[] })[] }, uplink: string, ids: InterfaceIds = new InterfaceIds()): NftState {
  const state = emptyState();
  addBase(state, uplink);
  addSourcesChain(state, doc.gateways.map((g) => g.id));
  for (const name of namedInterfaces(doc)) addInterface(state, name, ids);
  for (const g of doc.gateways) {
    addGateway(state, g);
    for (const e of g.endpoints) addEndpoint(state, g.id, e, ids);
  }
  return state;
}

export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

/** Interface names as Linux allows them (IFNAMSIZ 16), nothing nft would need to escape. */
export function isValidInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.:@-]{1,15}$/.test(name);
}
