/**
 * Checks one allocation result against the invariants that can be judged from a single run
 * (1, 2, 3, 4, 5, 7, 8 and 9 of DESIGN.md; stability and the transitions of 6-8 need two runs and
 * are checked by the property tests). Returns the violations, [] when sound. Cheap enough to run
 * in the worker as a guard before writing an allocation.
 */
import { isValidBlock, sizeBounds } from './ports';
import { DEFAULT_RULE, type AllocationResult, type AllocatorInput, type Block } from './types';

export function verifyAllocation(input: AllocatorInput, result: AllocationResult): string[] {
  const bad: string[] = [];
  const { spec, now } = input;
  const bounds = sizeBounds(spec);
  const eps = new Map(input.endpoints.map((e) => [e.id, e]));
  const ruleIps = new Map<number, { active: Set<string>; drain: Set<string>; source: boolean }>();
  for (const r of spec.rules) {
    if (ruleIps.has(r.ruleNumber)) continue;
    const active = new Set(r.activeIps);
    ruleIps.set(r.ruleNumber, { active, drain: new Set(r.drainIps.filter((ip) => !active.has(ip))), source: r.source === true });
  }
  /** The rule serves the endpoint: every rule but a source rule, which serves those it matches. */
  const serves = (endpointId: string, ruleNumber: number) => {
    const ep = eps.get(endpointId);
    const rule = ruleIps.get(ruleNumber);
    return ep !== undefined && rule !== undefined && (!rule.source || (ep.sourceRules ?? []).includes(ruleNumber));
  };
  const show = (b: Block) => `${b.state} ${b.endpointId}/${b.ruleNumber} ${b.natIp}:${b.portLo}+${b.size}`;

  // 1: no (IP, port) twice, foreign included
  const byIp = new Map<string, { lo: number; hi: number; what: string }[]>();
  const add = (ip: string, lo: number, hi: number, what: string) => {
    const l = byIp.get(ip);
    if (l) l.push({ lo, hi, what });
    else byIp.set(ip, [{ lo, hi, what }]);
  };
  for (const b of result.blocks) add(b.natIp, b.portLo, b.portLo + b.size, show(b));
  for (const f of input.foreign) {
    if (f.until === undefined || now < f.until) add(f.natIp, f.portLo, f.portLo + f.size, `foreign ${f.natIp}:${f.portLo}+${f.size}`);
  }
  for (const list of byIp.values()) {
    list.sort((a, b) => a.lo - b.lo || a.hi - b.hi);
    let end = -1;
    let endWhat = '';
    for (const x of list) {
      if (x.lo < end && !(endWhat.startsWith('foreign') && x.what.startsWith('foreign'))) bad.push(`1: ${x.what} overlaps ${endWhat}`);
      if (x.hi > end) {
        end = x.hi;
        endWhat = x.what;
      }
    }
  }

  const activeSeen = new Set<string>();
  const belowByRule = new Map<number, number>();
  for (const b of result.blocks) {
    // 2, 3
    if (!isValidBlock(b.portLo, b.size)) bad.push(`2/3: malformed ${show(b)}`);
    const ips = ruleIps.get(b.ruleNumber);
    if (b.state === 'ACTIVE') {
      const ep = eps.get(b.endpointId);
      const key = `${b.endpointId}\u0000${b.ruleNumber}`;
      if (activeSeen.has(key)) bad.push(`4: second ACTIVE block ${show(b)}`);
      activeSeen.add(key);
      if (!ep) bad.push(`4: ACTIVE block of an endpoint out of scope ${show(b)}`);
      else if (!serves(b.endpointId, b.ruleNumber)) bad.push(`4: ACTIVE block on a source rule that does not match its endpoint ${show(b)}`);
      if (!ips?.active.has(b.natIp)) bad.push(`7: ACTIVE block on an IP not active in its rule ${show(b)}`);
      if (ep) {
        const a = ep.aliasRangesNated ? 1 : 0;
        const lo = 2 ** bounds.lo[a];
        const hi = 2 ** bounds.hi[a];
        if (b.size > hi) bad.push(`${bounds.dynamic ? 5 : 4}: ${show(b)} above ${hi}`);
        if (b.size < lo) belowByRule.set(b.ruleNumber, (belowByRule.get(b.ruleNumber) ?? 0) + 1);
      }
    } else if (b.state === 'DRAIN') {
      if (!eps.has(b.endpointId)) bad.push(`7: DRAIN block of an endpoint out of scope ${show(b)}`);
      else if (!serves(b.endpointId, b.ruleNumber)) bad.push(`7: DRAIN block on a source rule that does not match its endpoint ${show(b)}`);
      if (!ips?.drain.has(b.natIp)) bad.push(`7: DRAIN block on an IP not draining in its rule ${show(b)}`);
    } else {
      // 8
      // (its length is checked between runs: one started earlier keeps the end it got then)
      if (b.until === undefined || !(b.until > now)) bad.push(`8: quarantine over but still listed ${show(b)}`);
    }
  }

  // 9 and the status figures
  const st = result.status;
  let withAll = 0;
  for (const ep of input.endpoints) {
    if (spec.rules.every((r) => !serves(ep.id, r.ruleNumber) || activeSeen.has(`${ep.id}\u0000${r.ruleNumber}`))) withAll++;
  }
  if (st.endpointsWithMappings !== withAll) bad.push(`9: endpointsWithMappings ${st.endpointsWithMappings} != ${withAll}`);
  const nEps = eps.size;
  if (st.endpointsWithMappings + st.endpointsWithoutMappings !== nEps) bad.push(`9: endpoint counts do not add up to ${nEps}`);
  for (const rs of st.rules) {
    const below = belowByRule.get(rs.ruleNumber) ?? 0;
    if (rs.endpointsBelowMinPorts !== below) bad.push(`4: rule ${rs.ruleNumber} endpointsBelowMinPorts ${rs.endpointsBelowMinPorts} != ${below}`);
    const short = rs.endpointsWithoutMappings + below > 0;
    if (short !== rs.minExtraIpsNeeded > 0) {
      bad.push(`9: rule ${rs.ruleNumber} minExtraIpsNeeded ${rs.minExtraIpsNeeded} with ${rs.endpointsWithoutMappings} unmapped, ${below} below min`);
    }
    const served = input.endpoints.filter((ep) => serves(ep.id, rs.ruleNumber)).length;
    if (rs.endpointsWithMappings + rs.endpointsWithoutMappings !== served) bad.push(`9: rule ${rs.ruleNumber} counts do not add up to the ${served} endpoints it serves`);
  }
  const def = st.rules.find((r) => r.ruleNumber === DEFAULT_RULE);
  if (st.minExtraNatIpsNeeded !== (def?.minExtraIpsNeeded ?? 0)) bad.push('9: minExtraNatIpsNeeded is not the default rule figure');
  if (spec.natIpAllocateOption === 'AUTO_ONLY' && st.autoIpsToAdd !== st.minExtraNatIpsNeeded) bad.push('9: autoIpsToAdd');
  return bad;
}
