/**
 * Endpoint churn through the API: creates, host moves (PATCH host) and deletes, drawn from a
 * seeded PRNG, run in batches of `concurrency` requests on distinct endpoints. Every answer must be
 * the success status of its operation; anything else (a 500 above all) is collected in `errors`.
 */
import type { World } from './world';

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChurnConfig {
  project: string;
  subnet: string;
  /** The subnet's first two octets, e.g. "10.0": endpoint k gets 10.0.(k >> 8).(k & 255). */
  prefix: string;
  hosts: string[];
  /** Endpoint names are `${namePrefix}-${k}` (distinct per churn sharing a project). */
  namePrefix: string;
  rng: () => number;
  /** Weights of create / move / delete (default 0.45 / 0.35 / 0.2). */
  weights?: [number, number, number];
}

export type ChurnOp = { kind: 'create'; name: string; host: string; ip: string } | { kind: 'move'; name: string; host: string } | { kind: 'delete'; name: string };

export class EndpointChurn {
  /** Live endpoints: name -> host. */
  readonly live = new Map<string, string>();
  readonly errors: string[] = [];
  readonly log: { op: ChurnOp; at: number; status: number }[] = [];
  done = 0;
  private seq = 10;

  constructor(
    private readonly w: World,
    private readonly cfg: ChurnConfig,
  ) {}

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.cfg.rng() * xs.length)];
  }

  private nextOp(busy: Set<string>): ChurnOp {
    const [wc, wm] = this.cfg.weights ?? [0.45, 0.35, 0.2];
    const free = [...this.live.keys()].filter((n) => !busy.has(n));
    const r = this.cfg.rng();
    if (free.length === 0 || r < wc) {
      const k = this.seq++;
      return { kind: 'create', name: `${this.cfg.namePrefix}-${k}`, host: this.pick(this.cfg.hosts), ip: `${this.cfg.prefix}.${k >> 8}.${k & 255}` };
    }
    const name = this.pick(free);
    if (r < wc + wm) {
      const others = this.cfg.hosts.filter((h) => h !== this.live.get(name));
      return { kind: 'move', name, host: this.pick(others) };
    }
    return { kind: 'delete', name };
  }

  private async apply(op: ChurnOp): Promise<void> {
    const base = `/v1/projects/${this.cfg.project}/endpoints`;
    const api = this.w.api;
    let status: number;
    let text: string;
    let want: number;
    try {
      if (op.kind === 'create') {
        ({ status, text } = await api.post(base, { name: op.name, subnet: this.cfg.subnet, host: op.host, networkIp: op.ip }));
        want = 201;
      } else if (op.kind === 'move') {
        ({ status, text } = await api.patch(`${base}/${op.name}`, { host: op.host }));
        want = 200;
      } else {
        ({ status, text } = await api.del(`${base}/${op.name}`));
        want = 204;
      }
    } catch (e) {
      status = 0;
      text = e instanceof Error ? e.message : String(e);
      want = -1;
    }
    this.log.push({ op, at: Date.now(), status });
    if (status !== want) {
      this.errors.push(`${JSON.stringify(op)} -> ${status}: ${text.slice(0, 300)}`);
      return;
    }
    if (op.kind === 'delete') this.live.delete(op.name);
    else this.live.set(op.name, op.host);
  }

  /** Runs `n` operations, `concurrency` at a time; `between` runs after each batch. */
  async run(n: number, concurrency: number, between?: (done: number) => Promise<void>): Promise<void> {
    for (let i = 0; i < n; ) {
      const busy = new Set<string>();
      const batch: ChurnOp[] = [];
      for (; batch.length < concurrency && i < n; i++) {
        const op = this.nextOp(busy);
        busy.add(op.name);
        batch.push(op);
      }
      await Promise.all(batch.map((op) => this.apply(op)));
      this.done += batch.length;
      if (between) await between(this.done);
    }
  }
}
