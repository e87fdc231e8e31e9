/**
 * A control-loop world: the stack (api + workers + PostgreSQL + Redis), fake agents registered as
 * hosts through the API, and the convergence check of the control-loop tests:
 *  - every host GET shows status.state READY;
 *  - every gateway GET shows READY (DEGRADED when its natStatus counts endpoints without mappings),
 *    observedGeneration == generation and hostsProgrammed == hostsTotal;
 *  - each fake agent's last document equals GET /v1/hosts/{host}/programming (host token);
 *  - the documents' blocks agree with GET natGateways/{name}/mappings: the same host, the same
 *    active block per rule, the same drain blocks (a document also lists quarantined blocks as
 *    drain, which mappings do not show: those must be QUARANTINE rows of `allocations`).
 */
import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_RULE, type HostDocument } from '@natplane/contracts';
import type { Json } from './api-client';
import { FakeAgent } from './fake-agent';
import { eventually, FatalError, Stack, type StackOptions } from './stack';

export interface EndpointView {
  host: string;
  /** ruleNumber -> active range and drain ranges, as "ip:lo-hi". */
  rules: Map<number, { active: string[]; drain: string[] }>;
}

export interface Converged {
  at: number;
  docs: Map<string, HostDocument>;
  /** `${project}/${gateway}` -> mapping items. */
  mappings: Map<string, Json[]>;
  /** `${project}/${gateway}` -> natStatus. */
  natStatus: Map<string, Json>;
  gateways: Map<string, Json>;
  hosts: Json[];
}

/** The document with gateways and endpoints ordered by id (their order carries no meaning; a patched document may list them otherwise). */
export function canonical(doc: HostDocument): HostDocument {
  const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ...doc, gateways: byId(doc.gateways).map((g) => ({ ...g, endpoints: byId(g.endpoints) })) };
}

/** What differs between two documents, per gateway and endpoint (for failure messages). */
export function docDiff(got: HostDocument, want: HostDocument): string {
  const flat = (d: HostDocument) =>
    new Map(d.gateways.flatMap((g) => [[`${g.name} settings`, JSON.stringify({ ...g, endpoints: undefined })], ...g.endpoints.map((e): [string, string] => [`${g.name} ${e.name}`, JSON.stringify(e)])]));
  const a = flat(got);
  const b = flat(want);
  const out: string[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) out.push(`${k}: agent ${a.get(k) ?? 'absent'}, api ${v}`);
  for (const k of a.keys()) if (!b.has(k)) out.push(`${k}: agent ${a.get(k)}, api absent`);
  return out.slice(0, 6).join('; ');
}

export const range = (b: { natIp: string; portLo: number; portHi: number }) => `${b.natIp}:${b.portLo}-${b.portHi}`;

export function parseRange(s: string): { natIp: string; portLo: number; portHi: number } {
  const m = /^(.+):(\d+)-(\d+)$/.exec(s);
  if (!m) throw new Error(`bad range ${s}`);
  return { natIp: m[1], portLo: Number(m[2]), portHi: Number(m[3]) };
}

/** Per gateway name (`projects/p/natGateways/g`) and endpoint name: where the documents place it. */
export function docsView(docs: Map<string, HostDocument>): Map<string, Map<string, EndpointView>> {
  const out = new Map<string, Map<string, EndpointView>>();
  for (const [host, doc] of docs) {
    for (const g of doc.gateways) {
      const eps = out.get(g.name) ?? new Map<string, EndpointView>();
      out.set(g.name, eps);
      for (const e of g.endpoints) {
        if (eps.has(e.name)) throw new Error(`${e.name} of ${g.name} is on two hosts: ${eps.get(e.name)!.host} and ${host}`);
        const rules = new Map<number, { active: string[]; drain: string[] }>();
        for (const m of e.mappings) {
          if (rules.has(m.ruleNumber)) throw new Error(`${e.name} of ${g.name} on ${host} lists rule ${m.ruleNumber} twice`);
          rules.set(m.ruleNumber, { active: m.active ? [range(m.active)] : [], drain: m.drain.map(range).sort() });
        }
        eps.set(e.name, { host, rules });
      }
    }
  }
  return out;
}

export class World {
  readonly agents = new Map<string, FakeAgent>();
  readonly hostTokens = new Map<string, string>();
  readonly projects = new Set<string>();

  private constructor(readonly stack: Stack) {}

  static async start(opts: StackOptions): Promise<World> {
    return new World(await Stack.start(opts));
  }

  get api() {
    return this.stack.api;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    await this.stack.close();
  }

  /** A fake agent on a free loopback port, registered as host `name` with its agentUrl. */
  async host(name: string, region = 'r1', opts: { acceptPatch?: boolean } = {}): Promise<FakeAgent> {
    const agent = new FakeAgent(name, opts);
    await agent.start();
    this.agents.set(name, agent);
    const created = await this.api.must('POST', '/v1/admin/hosts', 201, { name, region, zone: `${region}-a`, agentUrl: agent.url });
    agent.secret = created.pushSecret as string;
    this.hostTokens.set(name, created.hostToken as string);
    return agent;
  }

  async project(name: string): Promise<void> {
    await this.api.must('POST', '/v1/admin/projects', 201, { name });
    this.projects.add(name);
  }

  /** POST to a project collection, asserting 201. */
  create(project: string, collection: string, body: Record<string, unknown>): Promise<Json> {
    return this.api.must('POST', `/v1/projects/${project}/${collection}`, 201, body);
  }

  patch(project: string, collection: string, name: string, body: Record<string, unknown>): Promise<Json> {
    return this.api.must('PATCH', `/v1/projects/${project}/${collection}/${name}`, 200, body);
  }

  remove(project: string, collection: string, name: string): Promise<Json> {
    return this.api.must('DELETE', `/v1/projects/${project}/${collection}/${name}`, 204);
  }

  /** The host's document as the API serves it to its agent. */
  async programming(host: string): Promise<HostDocument> {
    return (await this.api.must('GET', `/v1/hosts/${host}/programming`, 200, undefined, { token: this.hostTokens.get(host)! })) as HostDocument;
  }

  /** One pass of the convergence check: throws what is not converged yet. */
  async checkConverged(): Promise<Converged> {
    this.stack.assertAlive();
    const at = Date.now();
    const hosts = await this.api.listAll('/v1/admin/hosts');
    for (const h of hosts) {
      if (h.status.state !== 'READY') throw new Error(`host ${h.name} is ${h.status.state} (desired ${h.status.desiredGeneration}, applied ${h.status.appliedGeneration}, ${h.status.lastError})`);
    }
    const docs = new Map<string, HostDocument>();
    for (const [name, agent] of this.agents) {
      const doc = await this.programming(name);
      const last = agent.last?.doc;
      if (!last) throw new Error(`agent ${name} received no document (API generation ${doc.generation})`);
      if (!isDeepStrictEqual(canonical(last), canonical(doc))) {
        throw new Error(`agent ${name} last got generation ${last.generation}, the API serves ${doc.generation}${last.generation === doc.generation ? ` with other content: ${docDiff(last, doc)}` : ''}`);
      }
      docs.set(name, doc);
    }
    const quarantined = new Set(
      (await this.stack.sql<{ r: string }>(`SELECT host(nat_ip) || ':' || port_lo || '-' || port_hi AS r FROM allocations WHERE state = 'QUARANTINE'`)).map((x) => x.r),
    );
    const view = docsView(docs);
    const mappings = new Map<string, Json[]>();
    const natStatus = new Map<string, Json>();
    const gateways = new Map<string, Json>();
    for (const p of this.projects) {
      for (const g of await this.api.listAll(`/v1/projects/${p}/natGateways`)) {
        const key = `${p}/${g.name}`;
        const st = await this.api.must('GET', `/v1/projects/${p}/natGateways/${g.name}/status`, 200);
        const want = st.numVmEndpointsWithoutNatMappings > 0 ? 'DEGRADED' : 'READY';
        const s = g.status;
        if (s.state !== want || s.observedGeneration !== g.generation || s.hostsProgrammed !== s.hostsTotal) {
          throw new Error(`gateway ${key} is ${s.state} (want ${want}), observed ${s.observedGeneration}/${g.generation}, hosts ${s.hostsProgrammed}/${s.hostsTotal}`);
        }
        const items = await this.api.listAll(`/v1/projects/${p}/natGateways/${g.name}/mappings`);
        const placed = view.get(`projects/${p}/natGateways/${g.name}`) ?? new Map<string, EndpointView>();
        const seen = new Set<string>();
        for (const m of items) {
          const epName = `projects/${p}/endpoints/${m.endpoint}`;
          seen.add(epName);
          const v = placed.get(epName);
          if (!v) throw new Error(`mapping of ${m.endpoint} (${key}, host ${m.host}) is in no agent's document`);
          if (v.host !== m.host) throw new Error(`mapping of ${m.endpoint} (${key}) says host ${m.host}, the documents place it on ${v.host}`);
          const rules: [number, Json][] = [[DEFAULT_RULE, m], ...(m.ruleMappings as Json[]).map((r): [number, Json] => [r.ruleNumber as number, r])];
          for (const [rn, r] of rules) {
            const d = v.rules.get(rn) ?? { active: [], drain: [] };
            const docDrain = d.drain.filter((x) => !quarantined.has(x));
            if (!isDeepStrictEqual(d.active, r.natIpPortRanges) || !isDeepStrictEqual(docDrain, [...(r.drainNatIpPortRanges as string[])].sort())) {
              throw new Error(
                `${m.endpoint} (${key}) rule ${rn}: mappings ${JSON.stringify(r.natIpPortRanges)} drain ${JSON.stringify(r.drainNatIpPortRanges)}, document of ${v.host} ${JSON.stringify(d.active)} drain ${JSON.stringify(d.drain)}`,
              );
            }
          }
        }
        for (const [epName, v] of placed) {
          if (seen.has(epName)) continue;
          const held = [...v.rules.values()].flatMap((r) => [...r.active, ...r.drain.filter((x) => !quarantined.has(x))]);
          if (held.length) throw new Error(`${epName} (${key}) holds ${held.join(', ')} in ${v.host}'s document but has no mapping`);
        }
        mappings.set(key, items);
        natStatus.set(key, st);
        gateways.set(key, g);
      }
    }
    return { at, docs, mappings, natStatus, gateways, hosts };
  }

  /** Polls checkConverged() until it passes (default deadline 30 s). */
  converged(timeoutMs = 30_000): Promise<Converged> {
    return eventually('convergence', () => this.checkConverged(), timeoutMs, 200).catch((e: unknown) => {
      if (e instanceof FatalError) throw e;
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${this.stack.logs(25)}`);
    });
  }
}

/** Endpoint name -> the mapping item, for one gateway's mappings. */
export function byEndpoint(items: Json[]): Map<string, Json> {
  return new Map(items.map((m) => [m.endpoint as string, m]));
}

/**
 * Pairs of committed allocations that share a (NAT IP, port), found with plain SQL (independent
 * of the table's exclusion constraint), plus blocks outside 1024-65535, not a power of two in
 * size, or not aligned to their size counting from port 1024 (so that 64,512 / P blocks fit).
 * Empty when invariants 1-3 hold.
 */
export async function allocationViolations(stack: Stack): Promise<Json[]> {
  const overlaps = await stack.sql(
    `SELECT 'overlap' AS kind, host(a.nat_ip) AS ip, a.port_lo AS a_lo, a.port_hi AS a_hi, a.endpoint_id AS a_ep, a.state AS a_state,
            b.port_lo AS b_lo, b.port_hi AS b_hi, b.endpoint_id AS b_ep, b.state AS b_state
     FROM allocations a JOIN allocations b
       ON a.nat_ip = b.nat_ip AND a.ctid < b.ctid AND a.port_lo <= b.port_hi AND b.port_lo <= a.port_hi
     LIMIT 20`,
  );
  const bad = await stack.sql(
    `SELECT 'shape' AS kind, host(nat_ip) AS ip, port_lo, port_hi FROM allocations
     WHERE port_lo < 1024 OR port_hi > 65535 OR port_hi < port_lo
        OR ((port_hi - port_lo + 1) & (port_hi - port_lo)) <> 0 OR (port_lo - 1024) % (port_hi - port_lo + 1) <> 0
     LIMIT 20`,
  );
  return [...overlaps, ...bad];
}

/**
 * Pairs of allocation_history rows whose NAT IP, port ranges and validity intervals ([from, to))
 * overlap: two holders of one (NAT IP, port) at one instant. With `quarantineSec`, also a block
 * handed to another endpoint less than that long after its previous holder let it go.
 */
export async function historyViolations(stack: Stack, quarantineSec = 120): Promise<Json[]> {
  const overlaps = await stack.sql(
    `SELECT 'two holders' AS kind, host(a.nat_ip) AS ip, a.port_lo || '-' || a.port_hi AS a_range, a.endpoint_name AS a_ep, a.valid_from AS a_from, a.valid_to AS a_to,
            b.port_lo || '-' || b.port_hi AS b_range, b.endpoint_name AS b_ep, b.valid_from AS b_from, b.valid_to AS b_to
     FROM allocation_history a JOIN allocation_history b
       ON a.nat_ip = b.nat_ip AND a.id < b.id
      AND int4range(a.port_lo, a.port_hi, '[]') && int4range(b.port_lo, b.port_hi, '[]')
      AND tstzrange(a.valid_from, a.valid_to, '[)') && tstzrange(b.valid_from, b.valid_to, '[)')
     LIMIT 20`,
  );
  const early = await stack.sql(
    `SELECT 'reused within quarantine' AS kind, host(a.nat_ip) AS ip, a.port_lo || '-' || a.port_hi AS a_range, a.endpoint_name AS a_ep, a.valid_to AS a_to,
            b.port_lo || '-' || b.port_hi AS b_range, b.endpoint_name AS b_ep, b.valid_from AS b_from
     FROM allocation_history a JOIN allocation_history b
       ON a.nat_ip = b.nat_ip AND a.endpoint_id <> b.endpoint_id
      AND int4range(a.port_lo, a.port_hi, '[]') && int4range(b.port_lo, b.port_hi, '[]')
      AND a.valid_to IS NOT NULL AND b.valid_from >= a.valid_to AND b.valid_from < a.valid_to + make_interval(secs => $1)
     LIMIT 20`,
    [quarantineSec],
  );
  return [...overlaps, ...early];
}

/**
 * Replays what the agents were told, in arrival order: after each document, the blocks (active
 * and drain) of every agent's latest document must not put one (NAT IP, port) in the hands of two
 * endpoints. Returns the first violations found.
 */
export function agentOverlaps(agents: Iterable<FakeAgent>): string[] {
  const events = [...agents].flatMap((a) => a.received.map((r) => ({ agent: a.name, at: r.at, doc: r.doc })));
  events.sort((x, y) => x.at - y.at);
  const current = new Map<string, { natIp: string; lo: number; hi: number; ep: string }[]>();
  const out: string[] = [];
  for (const ev of events) {
    const blocks: { natIp: string; lo: number; hi: number; ep: string }[] = [];
    for (const g of ev.doc.gateways) {
      for (const e of g.endpoints) {
        for (const m of e.mappings) {
          for (const b of [...(m.active ? [m.active] : []), ...m.drain]) blocks.push({ natIp: b.natIp, lo: b.portLo, hi: b.portHi, ep: e.id });
        }
      }
    }
    current.set(ev.agent, blocks);
    const byIp = new Map<string, { lo: number; hi: number; ep: string; agent: string }[]>();
    for (const [agent, bs] of current) {
      for (const b of bs) {
        const list = byIp.get(b.natIp) ?? [];
        if (list.length === 0) byIp.set(b.natIp, list);
        list.push({ ...b, agent });
      }
    }
    for (const [natIp, bs] of byIp) {
      bs.sort((x, y) => x.lo - y.lo);
      let open: typeof bs = [];
      for (const b of bs) {
        open = open.filter((a) => a.hi >= b.lo);
        for (const a of open) {
          if (a.ep === b.ep) continue;
          out.push(`at ${new Date(ev.at).toISOString()} (${ev.agent} generation ${ev.doc.generation}): ${natIp}:${a.lo}-${a.hi} of ${a.ep} on ${a.agent} overlaps ${natIp}:${b.lo}-${b.hi} of ${b.ep} on ${b.agent}`);
          if (out.length >= 10) return out;
        }
        open.push(b);
      }
    }
  }
  return out;
}
