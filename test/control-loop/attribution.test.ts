/**
 * Attribution (medium test): real PostgreSQL, Redis, the built api and a built worker, fake agents
 * on loopback. A random history (seeded PRNG; CONTROL_LOOP_SEED replays one) of endpoint creates,
 * moves and deletes, NAT IP adds, drains and removals, converging after every step. Then random
 * (NAT IP, port, time) lookups through GET /v1/admin/attributions are compared with
 *  - a replay of the `allocation_history` rows (the same holder and interval, or both nobody), and
 *  - what the fake agents had been told at that time (the documents they received, by time):
 *    the endpoint whose block covers that IP and port on some host, or nobody;
 * and no (NAT IP, port) ever has two holders at one instant, nor a new holder within 120 s of
 * the previous one letting it go (quarantine), per the history's validity intervals.
 * Lookup times are drawn from the quiet windows between a step's convergence and the next step,
 * when the agents and the history must agree.
 */
import { DEFAULT_RULE, type HostDocument } from '@natplane/contracts';
import type { Json } from '../support/control-loop/api-client';
import { prng } from '../support/control-loop/churn';
import { sleep } from '../support/control-loop/stack';
import { historyViolations, World } from '../support/control-loop/world';

jest.setTimeout(120_000);

const P = 'p1';
const SEED = Number(process.env.CONTROL_LOOP_SEED ?? 0xa77);
const STEPS = 36;
const HOSTS = ['h1', 'h2', 'h3'];
const ADDRESSES = ['a1', 'a2', 'a3', 'a4', 'a5'];
const rng = prng(SEED);
const pick = <T>(xs: T[]): T => xs[Math.floor(rng() * xs.length)];

let w: World;
const ipOf = new Map<string, string>();
const steps: string[] = [];
/** Quiet windows [from, to): converged, nothing changing. */
const windows: { from: number; to: number; step: number }[] = [];

interface HistoryRow {
  ip: string;
  lo: number;
  hi: number;
  project: string;
  gateway: string;
  endpoint: string;
  host: string;
  sourceIp: string;
  state: string;
  from: number;
  to: number | null;
}

interface Sample {
  natIp: string;
  port: number;
  t: number;
  step: number;
  api: { status: number; body: Json };
}

let history: HistoryRow[] = [];
const samples: Sample[] = [];
/** The `allocations` rows at the end (quarantine outlives the test): "ip:lo-hi" -> state. */
let finalBlocks = new Map<string, string>();

/** Holders (`endpoint@host`) in the agents' documents at `t` of a block covering ip:port, active or drain. */
function agentHolders(t: number, natIp: string, port: number): { active: string[]; drain: string[] } {
  const active = new Set<string>();
  const drain = new Set<string>();
  for (const [host, agent] of w.agents) {
    const doc: HostDocument | undefined = agent.docAt(t);
    for (const g of doc?.gateways ?? []) {
      for (const e of g.endpoints) {
        const who = `${e.name.split('/').pop()}@${host}`;
        for (const m of e.mappings) {
          if (m.active && m.active.natIp === natIp && m.active.portLo <= port && port <= m.active.portHi) active.add(who);
          for (const b of m.drain) if (b.natIp === natIp && b.portLo <= port && port <= b.portHi) drain.add(who);
        }
      }
    }
  }
  return { active: [...active].sort(), drain: [...drain].sort() };
}

function replay(natIp: string, port: number, t: number): HistoryRow[] {
  return history.filter((r) => r.ip === natIp && r.lo <= port && port <= r.hi && r.from <= t && (r.to === null || t < r.to));
}

/** The block ("ip:lo-hi") covering the sample in the agents' documents at its time. */
function blockAt(s: { natIp: string; port: number; t: number }): string | undefined {
  for (const agent of w.agents.values()) {
    for (const g of agent.docAt(s.t)?.gateways ?? []) {
      for (const e of g.endpoints) {
        for (const m of e.mappings) {
          for (const b of [...(m.active ? [m.active] : []), ...m.drain]) if (b.natIp === s.natIp && b.portLo <= s.port && s.port <= b.portHi) return `${b.natIp}:${b.portLo}-${b.portHi}`;
        }
      }
    }
  }
  return undefined;
}

const apiHolder = (s: Sample) => (s.api.status === 200 ? [`${s.api.body.endpoint}@${s.api.body.host}`] : []);
const describeSample = (s: Sample) => `${s.natIp}:${s.port} at ${new Date(s.t).toISOString()} (after step ${s.step}: ${steps[s.step]})`;

async function randomHistory(): Promise<void> {
  const live = new Map<string, string>();
  let active = ['a1', 'a2'];
  let draining: string[] = [];
  let seq = 0;
  /** Addresses holding active blocks now (from the last convergence): drains prefer them. */
  let used = new Set<string>();
  const gwPatch = () => w.patch(P, 'natGateways', 'gw', { natIps: active, drainNatIps: draining });
  for (let step = 0; step < STEPS; step++) {
    const unused = ADDRESSES.filter((a) => !active.includes(a) && !draining.includes(a));
    const r = rng();
    let desc: string;
    if (live.size < 4 || r < 0.3) {
      const name = `vm-${++seq}`;
      const host = pick(HOSTS);
      await w.create(P, 'endpoints', { name, subnet: 's1', host, networkIp: `10.5.0.${10 + seq}` });
      live.set(name, host);
      desc = `create ${name} on ${host}`;
    } else if (r < 0.52) {
      const name = pick([...live.keys()]);
      const host = pick(HOSTS.filter((h) => h !== live.get(name)));
      await w.patch(P, 'endpoints', name, { host });
      desc = `move ${name} ${live.get(name)} -> ${host}`;
      live.set(name, host);
    } else if (r < 0.67) {
      const name = pick([...live.keys()]);
      await w.remove(P, 'endpoints', name);
      live.delete(name);
      desc = `delete ${name}`;
    } else if (r < 0.79 && active.length >= 2) {
      const busy = active.filter((x) => used.has(ipOf.get(x)!));
      const a = pick(busy.length > 0 && rng() < 0.85 ? busy : active);
      active = active.filter((x) => x !== a);
      draining = [...draining, a];
      await gwPatch();
      desc = `drain ${a}`;
    } else if (r < 0.9 && draining.length > 0) {
      const a = pick(draining);
      draining = draining.filter((x) => x !== a);
      await gwPatch();
      desc = `remove ${a}`;
    } else if (unused.length > 0) {
      const a = pick(unused);
      active = [...active, a];
      await gwPatch();
      desc = `add ${a}`;
    } else {
      const name = pick([...live.keys()]);
      await w.remove(P, 'endpoints', name);
      live.delete(name);
      desc = `delete ${name}`;
    }
    steps.push(desc);
    const conv = await w.converged();
    used = new Set((conv.mappings.get(`${P}/gw`) ?? []).flatMap((m: Json) => (m.natIpPortRanges as string[]).map((x) => x.split(':')[0])));
    const from = Date.now();
    await sleep(5 + rng() * 25); // a quiet window to draw lookup times from
    windows.push({ from, to: Date.now(), step });
  }
}

async function loadHistory(): Promise<HistoryRow[]> {
  const rows = await w.stack.sql<Json>(
    `SELECT host(nat_ip) AS ip, port_lo AS lo, port_hi AS hi, project_name AS project, gateway_name AS gateway, endpoint_name AS endpoint,
            host_name AS host, host(source_ip) AS "sourceIp", state, valid_from AS "from", valid_to AS "to"
     FROM allocation_history ORDER BY id`,
  );
  return rows.map((r) => ({ ...r, from: (r.from as Date).getTime(), to: r.to ? (r.to as Date).getTime() : null }));
}

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 13 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.2.0/24'] });
  for (const h of HOSTS) await w.host(h);
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.5.0.0/16' });
  for (const a of ADDRESSES) ipOf.set(a, (await w.create(P, 'addresses', { name: a, region: 'r1' })).address as string);
  // 8,192-port blocks: 7 per IP, so endpoints spread over the IPs and a random port often hits a block.
  await w.create(P, 'natGateways', { name: 'gw', network: 'n1', region: 'r1', natIps: ['a1', 'a2'], minPortsPerVm: 8192 });
  const before = Date.now() - 60_000;
  await w.converged();
  await randomHistory();
  history = await loadHistory();
  finalBlocks = new Map(
    (await w.stack.sql<{ r: string; state: string }>(`SELECT host(nat_ip) || ':' || port_lo || '-' || port_hi AS r, state FROM allocations`)).map((x) => [x.r, x.state]),
  );

  // Lookups, made after the fact (as an abuse report would be).
  const ips = [...ipOf.values(), '198.18.2.250'];
  const draws: { natIp: string; port: number; t: number; step: number }[] = [{ natIp: ipOf.get('a1')!, port: 1024, t: before, step: -1 }];
  for (let i = 0; i < 360; i++) {
    const win = pick(windows);
    const t = Math.floor(win.from + rng() * (win.to - win.from));
    const r = rng();
    let natIp: string;
    let port: number;
    const blocks = [...w.agents.values()].flatMap((a) =>
      (a.docAt(t)?.gateways ?? []).flatMap((g) => g.endpoints.flatMap((e) => e.mappings.flatMap((m) => [...(m.active ? [m.active] : []), ...m.drain]))),
    );
    if (r < 0.5 && blocks.length > 0) {
      const b = pick(blocks);
      natIp = b.natIp;
      port = b.portLo + Math.floor(rng() * (b.portHi - b.portLo + 1));
    } else if (r < 0.75 && history.length > 0) {
      const h = pick(history);
      natIp = h.ip;
      port = h.lo + Math.floor(rng() * (h.hi - h.lo + 1));
    } else {
      natIp = pick(ips);
      port = 1 + Math.floor(rng() * 65535);
    }
    draws.push({ natIp, port, t, step: win.step });
  }
  for (const d of draws) {
    const res = await w.api.get(`/v1/admin/attributions?natIp=${d.natIp}&port=${d.port}&time=${encodeURIComponent(new Date(d.t).toISOString())}`);
    samples.push({ ...d, api: { status: res.status, body: res.body } });
  }
}, 180_000);

afterAll(async () => {
  await w?.close();
});

describe('attribution', () => {
  it('the history had moves, drains, removals and deletes, and lookups found holders and nobody', () => {
    const kinds = new Set(steps.map((s) => s.split(' ')[0]));
    for (const k of ['create', 'move', 'delete', 'drain', 'remove']) expect({ k, seen: kinds.has(k) }).toEqual({ k, seen: true });
    expect(samples.filter((s) => s.api.status === 200).length).toBeGreaterThan(50);
    expect(samples.filter((s) => s.api.status === 404).length).toBeGreaterThan(20);
    expect(samples.filter((s) => s.api.status !== 200 && s.api.status !== 404)).toEqual([]);
    // Some lookups hit blocks the agents had as drain (drained IPs, released blocks).
    expect(samples.filter((s) => agentHolders(s.t, s.natIp, s.port).drain.length > 0).length).toBeGreaterThan(5);
  });

  it('every lookup equals a replay of allocation_history (the same holder and interval, or both nobody)', () => {
    const bad: string[] = [];
    for (const s of samples) {
      const rows = replay(s.natIp, s.port, s.t);
      if (rows.length > 1) bad.push(`${describeSample(s)}: ${rows.length} history rows hold it: ${rows.map((r) => `${r.endpoint}@${r.host}`).join(', ')}`);
      const want =
        rows.length === 0
          ? null
          : {
              project: rows[0].project,
              gateway: rows[0].gateway,
              endpoint: rows[0].endpoint,
              host: rows[0].host,
              sourceIp: rows[0].sourceIp,
              natIpPortRange: `${rows[0].ip}:${rows[0].lo}-${rows[0].hi}`,
              validFrom: new Date(rows[0].from).toISOString(),
              validTo: rows[0].to === null ? null : new Date(rows[0].to).toISOString(),
            };
      const got = s.api.status === 200 ? s.api.body : null;
      if (JSON.stringify(want) !== JSON.stringify(got)) bad.push(`${describeSample(s)}: replay ${JSON.stringify(want)}, api ${s.api.status} ${JSON.stringify(got)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('every lookup names the endpoint whose ACTIVE block the agents had been told (new flows), and each ACTIVE history holder was on its host', () => {
    const bad: string[] = [];
    for (const s of samples) {
      const { active } = agentHolders(s.t, s.natIp, s.port);
      const rows = replay(s.natIp, s.port, s.t);
      if (active.length > 1) bad.push(`${describeSample(s)}: agents had two active holders ${active.join(', ')}`);
      if (active.length === 1 && JSON.stringify(apiHolder(s)) !== JSON.stringify(active)) bad.push(`${describeSample(s)}: agents ${active.join(', ')} (active), api ${s.api.status} ${JSON.stringify(apiHolder(s))}`);
      if (rows.length === 1 && rows[0].state === 'ACTIVE' && JSON.stringify(active) !== JSON.stringify([`${rows[0].endpoint}@${rows[0].host}`])) {
        bad.push(`${describeSample(s)}: history ACTIVE ${rows[0].endpoint}@${rows[0].host}, agents active ${JSON.stringify(active)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('every lookup agrees with every block the agents had been told, drain blocks included (existing flows): same holder, or both nobody', () => {
    const bad: string[] = [];
    for (const s of samples) {
      const { active, drain } = agentHolders(s.t, s.natIp, s.port);
      const told = [...new Set([...active, ...drain])].sort();
      if (JSON.stringify(told) !== JSON.stringify(apiHolder(s))) {
        const block = blockAt(s);
        bad.push(
          `${describeSample(s)}: agents ${JSON.stringify(told)} (active ${JSON.stringify(active)}) on block ${block ?? '?'} (allocations state at the end: ${finalBlocks.get(block ?? '') ?? 'none'}), api ${s.api.status} ${JSON.stringify(apiHolder(s))}`,
        );
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('no (NAT IP, port) has two holders at one instant, nor a new holder within 120 s of the last (history intervals)', async () => {
    expect(await historyViolations(w.stack, 120)).toEqual([]);
  });

  it('in every quiet window, every open history row is a block on its holder host document', () => {
    const missing: string[] = [];
    for (const win of windows) {
      const t = win.from;
      for (const r of history.filter((h) => h.from <= t && (h.to === null || t < h.to))) {
        const doc = w.agents.get(r.host)?.docAt(t);
        const ep = doc?.gateways.flatMap((g) => g.endpoints).find((e) => e.name === `projects/${P}/endpoints/${r.endpoint}`);
        const m = ep?.mappings.find((x) => x.ruleNumber === DEFAULT_RULE);
        const blocks = m ? [...(m.active ? [m.active] : []), ...m.drain] : [];
        if (!blocks.some((b) => b.natIp === r.ip && b.portLo === r.lo && b.portHi === r.hi)) missing.push(`after step ${win.step} (${steps[win.step]}): ${r.endpoint} ${r.ip}:${r.lo}-${r.hi} ${r.state} not on ${r.host}'s document`);
      }
    }
    expect(missing.slice(0, 10)).toEqual([]);
  });
});
