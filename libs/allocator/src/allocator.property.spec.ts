/**
 * Property-based tests: random sequences of operations on one gateway, the allocator run after
 * every step with the previous result as `previous`, all nine invariants checked on every result
 * and between consecutive results. Sizes are large (many ports per endpoint) so that a handful of
 * endpoints on a handful of IPs reaches shortage; ports are always 1024..65535.
 */
import * as fc from 'fast-check';
import {
  DEFAULT_RULE,
  GROW_USAGE_RATIO,
  SHRINK_MIN_SAMPLES,
  SHRINK_USAGE_RATIO,
  SHRINK_WINDOW_MS,
  allocate,
  quarantineMs,
  sizeBounds,
  verifyAllocation,
  type AllocationResult,
  type AllocatorEndpoint,
  type AllocatorInput,
  type AllocatorSpec,
  type Block,
  type ForeignReservation,
  type UsageSample,
} from './index';

const RULE = 5;
/** A source-based rule: it serves only the endpoints whose sourceRules list it. */
const SRC = 9;

interface Model {
  rules: Map<number, { active: string[]; drain: string[] }>;
  endpoints: AllocatorEndpoint[];
  min: number;
  max: number;
  dynamic: boolean;
  auto: boolean;
  timeouts: number[];
  usage: UsageSample[];
  foreign: ForeignReservation[];
  now: number;
  nextEp: number;
  nextIp: number;
  /** Drains ended by their deadline in the step being run (AllocatorInput.endedDrains). */
  ended: { natIp: string; ruleNumber: number }[];
}

type Op =
  | { t: 'addEp'; alias: boolean; src?: boolean }
  | { t: 'match'; i: number }
  | { t: 'srcRule' }
  | { t: 'rmEp'; i: number }
  | { t: 'addIp'; rule: number; foreign: number }
  | { t: 'drainIp'; rule: number; i: number }
  | { t: 'undrainIp'; rule: number; i: number }
  | { t: 'rmIp'; rule: number; i: number; drain: boolean }
  | { t: 'endDrain'; rule: number; i: number }
  | { t: 'min'; v: number }
  | { t: 'max'; v: number }
  | { t: 'dyn' }
  | { t: 'usage'; i: number; rule: number; frac: number }
  | { t: 'clock'; ms: number }
  | { t: 'timeouts'; v: readonly number[] }
  | { t: 'rule' };

const ruleArb = fc.constantFrom(DEFAULT_RULE, DEFAULT_RULE, RULE, SRC);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('addEp' as const), alias: fc.boolean(), src: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('match' as const), i: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('srcRule' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rmEp' as const), i: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('addIp' as const), rule: ruleArb, foreign: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drainIp' as const), rule: ruleArb, i: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('undrainIp' as const), rule: ruleArb, i: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rmIp' as const), rule: ruleArb, i: fc.nat(5), drain: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('endDrain' as const), rule: ruleArb, i: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('min' as const), v: fc.constantFrom(50, 1024, 2048, 4096, 8192, 16384, 32768) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('max' as const), v: fc.constantFrom(4096, 8192, 16384, 32768, 65536) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dyn' as const) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('usage' as const), i: fc.nat(20), rule: ruleArb, frac: fc.constantFrom(0, 0.1, 0.25, 0.5, 0.76, 1) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('clock' as const), ms: fc.constantFrom(1000, 60_000, 130_000, 700_000, 1_300_000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('timeouts' as const), v: fc.constantFrom([30], [30, 1200], [600], [4000]) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rule' as const) }) },
);

const startArb = fc.record({
  eps: fc.nat(6),
  ips: fc.integer({ min: 1, max: 2 }),
  min: fc.constantFrom(64, 4096, 8192, 16384),
  dynamic: fc.boolean(),
  auto: fc.boolean(),
  rule: fc.boolean(),
  src: fc.boolean(),
});

function specOf(m: Model): AllocatorSpec {
  return {
    minPortsPerVm: m.min,
    maxPortsPerVm: m.max,
    enableDynamicPortAllocation: m.dynamic,
    natIpAllocateOption: m.auto ? 'AUTO_ONLY' : 'MANUAL_ONLY',
    idleTimeoutsSec: m.timeouts,
    rules: [...m.rules].map(([ruleNumber, r]) => ({ ruleNumber, activeIps: [...r.active], drainIps: [...r.drain], ...(ruleNumber === SRC ? { source: true } : {}) })),
  };
}

/** Applies an op to the model; returns the endpoint/rule whose usage was reported, if any. */
function apply(m: Model, op: Op, last: AllocationResult | undefined): void {
  const newIp = () => `10.${m.nextIp >> 8}.${m.nextIp++ & 255}.1`;
  const r = m.rules.get(op.t === 'addIp' || op.t === 'drainIp' || op.t === 'undrainIp' || op.t === 'rmIp' || op.t === 'endDrain' ? op.rule : DEFAULT_RULE);
  switch (op.t) {
    case 'addEp':
      m.endpoints.push({ id: `ep-${String(m.nextEp++).padStart(3, '0')}`, aliasRangesNated: op.alias, ...(op.src ? { sourceRules: [SRC] } : {}) });
      break;
    case 'match': {
      // the endpoint's sources (its forwarded ranges, say) start or stop meeting the source rule
      if (!m.endpoints.length) break;
      const i = op.i % m.endpoints.length;
      const e = m.endpoints[i];
      m.endpoints[i] = e.sourceRules?.includes(SRC) ? { id: e.id, aliasRangesNated: e.aliasRangesNated } : { ...e, sourceRules: [SRC] };
      break;
    }
    case 'srcRule':
      if (m.rules.has(SRC)) m.rules.delete(SRC);
      else m.rules.set(SRC, { active: [newIp()], drain: [] });
      break;
    case 'rmEp':
      if (m.endpoints.length) m.endpoints.splice(op.i % m.endpoints.length, 1);
      break;
    case 'addIp': {
      if (!r) break;
      const ip = newIp();
      r.active.push(ip);
      // an IP coming from another gateway may carry that gateway's quarantined or drained blocks
      for (let k = 0; k < op.foreign; k++) {
        m.foreign.push({ natIp: ip, portLo: 1024 + k * 8192 + 100, size: 3000, until: k % 2 ? undefined : m.now + 200_000 });
      }
      break;
    }
    case 'drainIp':
      if (r && r.active.length > 1) r.drain.push(...r.active.splice(op.i % r.active.length, 1));
      break;
    case 'undrainIp':
      if (r && r.drain.length) r.active.push(...r.drain.splice(op.i % r.drain.length, 1));
      break;
    case 'rmIp':
      if (!r) break;
      if (op.drain && r.drain.length) r.drain.splice(op.i % r.drain.length, 1);
      else if (!op.drain && r.active.length > 1) r.active.splice(op.i % r.active.length, 1);
      break;
    case 'endDrain':
      // the drain's deadline passed: the IP leaves the drain list, its blocks are cut
      if (r && r.drain.length) {
        const [ip] = r.drain.splice(op.i % r.drain.length, 1);
        m.ended.push({ natIp: ip, ruleNumber: op.rule });
      }
      break;
    case 'min':
      m.min = op.v;
      if (m.max <= m.min) m.max = Math.min(65536, m.min * 2);
      break;
    case 'max':
      if (op.v > m.min) m.max = op.v;
      break;
    case 'dyn':
      m.dynamic = !m.dynamic;
      break;
    case 'usage': {
      if (!m.endpoints.length || !last) break;
      const ep = m.endpoints[op.i % m.endpoints.length];
      const b = last.blocks.find((x) => x.state === 'ACTIVE' && x.endpointId === ep.id && x.ruleNumber === op.rule);
      if (!b) break;
      m.now += 1000;
      m.usage.push({ endpointId: ep.id, ruleNumber: op.rule, portsInUse: Math.floor(b.size * op.frac), at: m.now - 1 });
      break;
    }
    case 'clock':
      m.now += op.ms;
      m.usage = m.usage.filter((u) => u.at > m.now - 2 * SHRINK_WINDOW_MS);
      m.foreign = m.foreign.filter((f) => f.until === undefined || f.until > m.now);
      break;
    case 'timeouts':
      m.timeouts = [...op.v];
      break;
    case 'rule':
      if (m.rules.has(RULE)) m.rules.delete(RULE);
      else m.rules.set(RULE, { active: [newIp()], drain: [] });
      break;
  }
}

function inputOf(m: Model, previous: Block[]): AllocatorInput {
  return {
    spec: specOf(m),
    endpoints: m.endpoints.map((e) => ({ ...e, ...(e.sourceRules ? { sourceRules: [...e.sourceRules] } : {}) })),
    previous,
    foreign: m.foreign.map((f) => ({ ...f })),
    usage: m.usage.map((u) => ({ ...u })),
    now: m.now,
    ...(m.ended.length ? { endedDrains: m.ended.map((d) => ({ ...d })) } : {}),
  };
}

const key = (b: { endpointId: string; ruleNumber: number }) => `${b.endpointId}|${b.ruleNumber}`;
const same = (a: Block, b: Block) => a.natIp === b.natIp && a.portLo === b.portLo && a.size === b.size;

/** Invariants between two consecutive runs. */
function checkTransition(op: Op, pin: AllocatorInput, pout: AllocationResult, cin: AllocatorInput, cout: AllocationResult, reported?: string): string[] {
  const bad: string[] = [];
  const now = cin.now;
  const q = quarantineMs(cin.spec.idleTimeoutsSec);
  const present = new Set(cin.endpoints.map((e) => e.id));
  const rules = new Map(cin.spec.rules.map((r) => [r.ruleNumber, r]));
  const matched = new Set(cin.endpoints.flatMap((e) => (e.sourceRules ?? []).map((r) => `${e.id}|${r}`)));
  /** The endpoint is in scope and the rule serves it (a source rule serves those it matches). */
  const served = (b: Block) => present.has(b.endpointId) && (!rules.get(b.ruleNumber)?.source || matched.has(key(b)));
  const curActive = new Map(cout.blocks.filter((b) => b.state === 'ACTIVE').map((b) => [key(b), b]));
  const mine = new Map<string, Block[]>();
  for (const b of cout.blocks) {
    const k = `${b.endpointId}|${b.natIp}`;
    const l = mine.get(k);
    if (l) l.push(b);
    else mine.set(k, [b]);
  }

  for (const b of pout.blocks) {
    // 8: every port the endpoint held (or still has in quarantine) stays with it until released
    // and then quarantined: covered by blocks of the same endpoint on the same IP
    if (b.state !== 'QUARANTINE' || b.until! > now) {
      let covered = 0;
      for (const c of mine.get(`${b.endpointId}|${b.natIp}`) ?? []) {
        covered += Math.max(0, Math.min(b.portLo + b.size, c.portLo + c.size) - Math.max(b.portLo, c.portLo));
      }
      if (covered !== b.size) bad.push(`8: ${b.state} ${b.endpointId} ${b.natIp}:${b.portLo}+${b.size} not kept for its endpoint (${covered} ports)`);
    }
    const rule = rules.get(b.ruleNumber);
    // 7: blocks on a drained IP of a present endpoint stay, as DRAIN
    if ((b.state === 'ACTIVE' || b.state === 'DRAIN') && served(b) && rule?.drainIps.includes(b.natIp) && !rule.activeIps.includes(b.natIp)) {
      if (!cout.blocks.some((c) => c.state === 'DRAIN' && c.endpointId === b.endpointId && same(b, c))) bad.push(`7: ${b.endpointId} lost drain block ${b.natIp}:${b.portLo}`);
    }
    if (b.state !== 'ACTIVE' || !served(b) || !rule?.activeIps.includes(b.natIp)) continue;
    // 6: an endpoint keeps its block unless its size has to change
    const c = curActive.get(key(b));
    if (!c) {
      bad.push(`6: ${b.endpointId} lost its ACTIVE block on rule ${b.ruleNumber}`);
      continue;
    }
    if (!same(b, c) && c.size === b.size) bad.push(`6: ${b.endpointId} moved without resizing`);
    const sizeMayChange =
      op.t === 'min' || op.t === 'max' || op.t === 'dyn' || (op.t === 'clock' && cin.spec.enableDynamicPortAllocation) || (op.t === 'usage' && reported === key(b));
    // an endpoint below its minimum waits for room: any new room concerns it
    const wasBelowMin = b.size < 2 ** sizeBounds(cin.spec).lo[cin.endpoints.find((e) => e.id === b.endpointId)!.aliasRangesNated ? 1 : 0];
    // likewise an endpoint whose latest usage report asks for more ports (dynamic allocation)
    const latest = cin.usage
      .filter((u) => u.endpointId === b.endpointId && u.ruleNumber === b.ruleNumber && u.at > b.since && u.at <= now)
      .reduce<UsageSample | undefined>((a, u) => (!a || u.at > a.at ? u : a), undefined);
    const wantsMore = cin.spec.enableDynamicPortAllocation && latest !== undefined && latest.portsInUse > GROW_USAGE_RATIO * b.size;
    if (!sizeMayChange && !wasBelowMin && !wantsMore && (!same(b, c) || b.since !== c.since)) bad.push(`6: ${b.endpointId} changed on ${op.t}`);
    // 5: in dynamic mode, with the same bounds, a size change needs usage reports that justify it
    if (cin.spec.enableDynamicPortAllocation && pin.spec.enableDynamicPortAllocation && c.size !== b.size) {
      const alias = cin.endpoints.find((e) => e.id === b.endpointId)!.aliasRangesNated ? 1 : 0;
      const bounds = sizeBounds(cin.spec);
      const lo = 2 ** bounds.lo[alias];
      const hi = 2 ** bounds.hi[alias];
      const samples = cin.usage.filter((u) => u.endpointId === b.endpointId && u.ruleNumber === b.ruleNumber && u.at > b.since && u.at <= now);
      if (c.size > b.size && b.size >= lo) {
        const latest = samples.reduce<UsageSample | undefined>((a, s) => (!a || s.at > a.at ? s : a), undefined);
        if (!latest || !(latest.portsInUse > GROW_USAGE_RATIO * b.size) || c.size !== b.size * 2) bad.push(`5: ${b.endpointId} grew without high usage`);
      }
      if (c.size < b.size && b.size <= hi) {
        const win = samples.filter((u) => u.at > now - SHRINK_WINDOW_MS);
        if (b.since > now - SHRINK_WINDOW_MS || win.length < SHRINK_MIN_SAMPLES || win.some((u) => u.portsInUse > SHRINK_USAGE_RATIO * b.size) || c.size * 2 !== b.size) {
          bad.push(`5: ${b.endpointId} shrank without sustained low usage`);
        }
      }
    }
  }
  // drains ended by their deadline: their blocks are cut (hosts drop them) yet quarantined; no
  // other block is ever cut, and a cut block stays cut
  const ended = new Set((cin.endedDrains ?? []).map((d) => `${d.ruleNumber}|${d.natIp}`));
  const prevCut = new Set(pout.blocks.filter((b) => b.cut).map((b) => `${b.endpointId}|${b.natIp}|${b.portLo}`));
  for (const b of cout.blocks) {
    if (!b.cut) continue;
    if (b.state !== 'QUARANTINE') bad.push(`cut: ${b.state} block ${b.natIp}:${b.portLo} marked cut`);
    const within = pout.blocks.some((p) => p.cut && p.endpointId === b.endpointId && p.natIp === b.natIp && p.portLo <= b.portLo && b.portLo < p.portLo + p.size);
    if (!ended.has(`${b.ruleNumber}|${b.natIp}`) && !prevCut.has(`${b.endpointId}|${b.natIp}|${b.portLo}`) && !within) bad.push(`cut: ${b.natIp}:${b.portLo} cut without an ended drain`);
  }
  for (const b of pout.blocks) {
    if (b.state !== 'DRAIN' || !ended.has(`${b.ruleNumber}|${b.natIp}`)) continue;
    const c = cout.blocks.find((x) => x.endpointId === b.endpointId && same(x, b));
    if (!c || c.state !== 'QUARANTINE' || !c.cut) bad.push(`cut: drain block ${b.natIp}:${b.portLo} of ended drain not cut (${c ? c.state : 'gone'})`);
  }

  // 8: a new quarantine lasts exactly the cool-down; an old one keeps its end
  const prevQ = new Set(pout.blocks.filter((b) => b.state === 'QUARANTINE').map((b) => `${b.endpointId}|${b.natIp}|${b.portLo}|${b.size}|${b.until}`));
  for (const b of cout.blocks) {
    if (b.state !== 'QUARANTINE' || prevQ.has(`${b.endpointId}|${b.natIp}|${b.portLo}|${b.size}|${b.until}`)) continue;
    if (b.until !== now + q || b.since !== now) {
      // a piece of an older quarantine (kept as parts after a conflict) would also land here
      const older = pout.blocks.some((p) => p.state === 'QUARANTINE' && p.endpointId === b.endpointId && p.natIp === b.natIp && p.until === b.until);
      if (!older) bad.push(`8: new quarantine ${b.natIp}:${b.portLo} until ${b.until} != now + ${q}`);
    }
  }
  return bad;
}

/** Invariant 9: minExtraIpsNeeded is the exact smallest number of fresh IPs that fits everybody. */
function checkShortage(input: AllocatorInput, out: AllocationResult): string[] {
  const bad: string[] = [];
  for (const rs of out.status.rules) {
    const k = rs.minExtraIpsNeeded;
    if (k === 0) continue;
    const short = (extra: number) => {
      const spec: AllocatorSpec = {
        ...input.spec,
        rules: input.spec.rules.map((r) =>
          r.ruleNumber === rs.ruleNumber ? { ...r, activeIps: [...r.activeIps, ...Array.from({ length: extra }, (_, i) => `100.64.${i >> 8}.${i & 255}`)] } : r,
        ),
      };
      const st = allocate({ ...input, spec }).status.rules.find((r) => r.ruleNumber === rs.ruleNumber)!;
      return st.endpointsWithoutMappings + st.endpointsBelowMinPorts;
    };
    if (short(k) !== 0) bad.push(`9: rule ${rs.ruleNumber}: ${k} extra IPs do not fit everybody`);
    if (short(k - 1) === 0) bad.push(`9: rule ${rs.ruleNumber}: ${k - 1} extra IPs already fit everybody`);
  }
  return bad;
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const a = [...xs];
  let s = seed || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('allocator properties over random operation sequences', () => {
  it('keeps all nine invariants after every step', () => {
    fc.assert(
      fc.property(startArb, fc.array(opArb, { minLength: 1, maxLength: 10 }), (start, ops) => {
        const m: Model = {
          rules: new Map([[DEFAULT_RULE, { active: [], drain: [] }]]),
          endpoints: [],
          min: start.min,
          max: 65536,
          dynamic: start.dynamic,
          auto: start.auto,
          timeouts: [30, 1200],
          usage: [],
          foreign: [],
          now: 1_800_000_000_000,
          nextEp: 0,
          nextIp: 0,
          ended: [],
        };
        for (let i = 0; i < start.ips; i++) apply(m, { t: 'addIp', rule: DEFAULT_RULE, foreign: 0 }, undefined);
        for (let i = 0; i < start.eps; i++) apply(m, { t: 'addEp', alias: i % 3 === 2 }, undefined);
        if (start.rule) apply(m, { t: 'rule' }, undefined);
        if (start.src) apply(m, { t: 'srcRule' }, undefined);
        for (let i = 0; i < start.eps; i += 2) apply(m, { t: 'match', i }, undefined);

        let pin = inputOf(m, []);
        let pout = allocate(pin);
        const first = verifyAllocation(pin, pout);
        if (first.length) throw new Error(`start: ${first.join('; ')}`);

        for (const [step, op] of ops.entries()) {
          let reported: string | undefined;
          if (op.t === 'usage' && m.endpoints.length) reported = `${m.endpoints[op.i % m.endpoints.length].id}|${op.rule}`;
          apply(m, op, pout);
          const cin = inputOf(m, pout.blocks);
          m.ended = [];
          const cout = allocate(cin);
          const bad = [...verifyAllocation(cin, cout), ...checkTransition(op, pin, pout, cin, cout, reported)];
          if (!m.auto || step === ops.length - 1) bad.push(...checkShortage(cin, cout));
          // determinism: the same input in another order gives the same output
          const again = allocate({ ...cin, endpoints: shuffled(cin.endpoints, step + 7), previous: shuffled(cin.previous, step + 3), usage: shuffled(cin.usage, step) });
          if (JSON.stringify(again) !== JSON.stringify(cout)) bad.push('determinism: result depends on input order');
          if (bad.length) throw new Error(`step ${step} ${JSON.stringify(op)}: ${bad.slice(0, 5).join('; ')}`);
          pin = cin;
          pout = cout;
        }
      }),
      // ALLOCATOR_PROP_SEED and ALLOCATOR_PROP_PATH replay a failure fast-check reported
      { numRuns: Number(process.env.ALLOCATOR_PROP_RUNS ?? 1000), ...(process.env.ALLOCATOR_PROP_SEED ? { seed: Number(process.env.ALLOCATOR_PROP_SEED), path: process.env.ALLOCATOR_PROP_PATH } : {}) },
    );
  });
});
