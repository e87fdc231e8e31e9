/**
 * Names of everything natplane creates in nftables. One table, `ip natplane`; per gateway a key
 * `g_<id>` (the id lower-cased with everything but [a-z0-9] removed, so `_` only ever separates
 * parts) and per rule a key `def` (DEFAULT_RULE) or `r<ruleNumber>`.
 */
import { DEFAULT_RULE, HostTimeouts } from '@natplane/contracts';

export const TABLE = 'ip natplane';
/** The chain that sends a packet leaving by the uplink to the chain of its source's gateway. */
export const SOURCES = 'sources';
/** Alias source range -> `jump <gateway alias chain>` (verdict map, interval; rare and small). */
export const ALIAS_DISPATCH = 'aliases';
export const POSTROUTING = 'postrouting';
export const FORWARD = 'forward';

export function gatewayKey(gatewayId: string): string {
  return `g_${gatewayId.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
}

export function ruleKey(ruleNumber: number): string {
  return ruleNumber === DEFAULT_RULE ? 'def' : `r${ruleNumber}`;
}

/** The chain every exact source of the gateway jumps to. */
export function gatewayChain(gw: string): string {
  return gw;
}

/** The chain every alias range source of the gateway jumps to. */
export function gatewayAliasChain(gw: string): string {
  return `${gw}_alias`;
}

/** Exact source -> NAT IP . port range, for one rule (or the default IPs). */
export function snatMap(gw: string, rule: string): string {
  return `${gw}_${rule}`;
}

/** Alias range -> NAT IP . port range, for one rule (or the default IPs). */
export function aliasSnatMap(gw: string, rule: string): string {
  return `${gw}_${rule}_alias`;
}

/**
 * The gateway's exact sources that have no active block on the default IPs (shortage, drain
 * only, or ports on rules only): with the default map, the set of every source the gateway NATs.
 */
export function restSet(gw: string): string {
  return `${gw}_rest`;
}

/** The destinations of a rule. */
export function destinationSet(gw: string, rule: string): string {
  return `${gw}_${rule}_dst`;
}

/** The sources of a source-based rule. */
export function sourceSet(gw: string, rule: string): string {
  return `${gw}_${rule}_src`;
}

/**
 * The chain the ranges a VM forwards from jump to (gateways with source-based rules only): the
 * source rules alone, over the alias maps; a forwarded source is never translated otherwise.
 */
export function gatewayFwdChain(gw: string): string {
  return `${gw}_fwd`;
}

/** The same for endpoints naming their device, over the device alias maps. */
export function gatewayIfFwdChain(gw: string): string {
  return `${gw}_if_fwd`;
}

/** ct timeout objects cannot be changed in place: the values are part of the name. */
export function tcpTimeoutName(gw: string, t: HostTimeouts): string {
  return `${gw}_tcp_${t.tcpEstablishedIdleTimeoutSec}_${t.tcpTransitoryIdleTimeoutSec}_${t.tcpTimeWaitTimeoutSec}`;
}

export function udpTimeoutName(gw: string, t: HostTimeouts): string {
  return `${gw}_udp_${t.udpIdleTimeoutSec}`;
}

/** Base hooks of hosts shared by networks: the device's mark and conntrack zone, set on the way in. */
export const PREROUTING_RAW = 'prerouting_raw';
export const PREROUTING_MANGLE = 'prerouting_mangle';
/** Device name -> its mark (see interfaces.ts). */
export const IF_MARKS = 'if_marks';
/** Device name -> its conntrack zone (original direction). */
export const IF_ZONES = 'if_zones';
/** mark . exact source -> `jump <gateway's device chain>` (hash). */
export const IF_SOURCES = 'if_sources';
/** mark . alias range -> `jump <gateway's device alias chain>` (interval). */
export const IF_ALIASES = 'if_aliases';

/** The chain every exact source of an endpoint naming its device jumps to. */
export function gatewayIfChain(gw: string): string {
  return `${gw}_if`;
}

/** The chain every alias range of an endpoint naming its device jumps to. */
export function gatewayIfAliasChain(gw: string): string {
  return `${gw}_if_alias`;
}

/** mark . exact source -> NAT IP . port range, for one rule (endpoints naming their device). */
export function ifSnatMap(gw: string, rule: string): string {
  return `${gw}_${rule}_if`;
}

/** mark . alias range -> NAT IP . port range, for one rule (endpoints naming their device). */
export function ifAliasSnatMap(gw: string, rule: string): string {
  return `${gw}_${rule}_if_alias`;
}
