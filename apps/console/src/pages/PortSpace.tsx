/**
 * A picture of each NAT IP's port space (1024-65535), built from what the API gives:
 *  - where: the blocks GET .../mappings lists, active (held) and draining, and the blocks in
 *    quarantine that GET .../status lists per NAT IP (portUtilization[].quarantineRanges, with the
 *    end of their cool-down), at their real ports;
 *  - how much: GET .../status portUtilization, per NAT IP: active, draining, quarantined, held by
 *    another gateway, free.
 * Every state has a pattern and a text label as well as a colour, and each bar has a text twin.
 */
import type { NatMapping, NatStatus } from '@natplane/sdk';

const LO = 1024;
const HI = 65535;
const SPAN = HI - LO + 1;

interface Block {
  lo: number;
  hi: number;
  kind: 'held' | 'draining' | 'quarantine';
  /** '' for a block in quarantine (released: nobody holds it). */
  endpoint: string;
  rule: number;
  /** Quarantine: the end of its cool-down (RFC 3339). */
  until?: string;
}

function parseRange(s: string): { ip: string; lo: number; hi: number } | undefined {
  const m = /^(.+):(\d+)-(\d+)$/.exec(s);
  return m ? { ip: m[1], lo: Number(m[2]), hi: Number(m[3]) } : undefined;
}

/** Blocks per NAT IP: from the mappings (default IPs as rule -1, then each rule's), and in quarantine from the status. */
export function blocksByIp(mappings: NatMapping[], status: NatStatus): Map<string, Block[]> {
  const out = new Map<string, Block[]>();
  const add = (ranges: string[], kind: Block['kind'], endpoint: string, rule: number, until?: string) => {
    for (const r of ranges) {
      const p = parseRange(r);
      if (!p) continue;
      const list = out.get(p.ip) ?? [];
      list.push({ lo: p.lo, hi: p.hi, kind, endpoint, rule, until });
      out.set(p.ip, list);
    }
  };
  const seen = new Set<string>();
  for (const u of status.portUtilization) {
    // an IP listed twice (two rules) carries the same quarantine twice
    if (seen.has(u.natIp)) continue;
    seen.add(u.natIp);
    for (const q of u.quarantineRanges) add([q.range], 'quarantine', '', q.ruleNumber, q.until);
  }
  for (const m of mappings) {
    add(m.natIpPortRanges, 'held', m.endpoint, -1);
    add(m.drainNatIpPortRanges, 'draining', m.endpoint, -1);
    for (const r of m.ruleMappings) {
      add(r.natIpPortRanges, 'held', m.endpoint, r.ruleNumber);
      add(r.drainNatIpPortRanges, 'draining', m.endpoint, r.ruleNumber);
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.lo - b.lo);
  return out;
}

const pct = (n: number) => `${((n / SPAN) * 100).toFixed(3)}%`;

type CellState = 'held' | 'draining' | 'quarantine' | 'free';

/** Which state a cell shared by several blocks shows: the most alive one. */
const RANK: Record<CellState, number> = { held: 3, draining: 2, quarantine: 1, free: 0 };

const CELL_LETTER: Record<CellState, string> = { held: 'H', draining: 'D', quarantine: 'Q', free: '' };

const time = (iso: string) => new Date(iso).toLocaleTimeString();

/** Who or what a block is, for a cell's title and the table. */
function describe(b: Block): string {
  const rule = b.rule >= 0 ? ` (rule ${b.rule})` : '';
  if (b.kind === 'quarantine') return `in quarantine${rule} until ${b.until ? time(b.until) : '?'}`;
  return `${b.endpoint}${rule}${b.kind === 'draining' ? ' draining' : ''}`;
}

/**
 * The port space as cells of `unit` ports (the smallest block on the IP, at least 64: at most
 * 1,008 cells), each held, draining, in quarantine or free, with who holds it.
 */
function cellsOf(list: Block[]): { unit: number; cells: { state: CellState; who: string[] }[] } {
  const smallest = list.reduce((m, b) => Math.min(m, b.hi - b.lo + 1), SPAN);
  const unit = Math.max(64, list.length ? smallest : 1024);
  const cells = Array.from({ length: Math.ceil(SPAN / unit) }, (): { state: CellState; who: string[] } => ({ state: 'free', who: [] }));
  for (const b of list) {
    for (let c = Math.floor((b.lo - LO) / unit); c <= Math.floor((b.hi - LO) / unit) && c < cells.length; c++) {
      const cell = cells[c];
      if (RANK[b.kind] > RANK[cell.state]) cell.state = b.kind;
      cell.who.push(describe(b));
    }
  }
  return { unit, cells };
}

interface Usage {
  active: number;
  drain: number;
  quarantined: number;
  foreign: number;
  free: number;
  draining: boolean;
  rules: number[];
}

function usageByIp(status: NatStatus): Map<string, Usage> {
  const out = new Map<string, Usage>();
  for (const u of status.portUtilization) {
    const x = out.get(u.natIp) ?? { active: 0, drain: 0, quarantined: 0, foreign: 0, free: 0, draining: false, rules: [] };
    // one IP serves one rule (or the default); should it appear twice, the ports are summed
    x.active += u.activePorts;
    x.drain += u.drainPorts;
    x.quarantined += u.quarantinedPorts;
    x.foreign += u.foreignPorts;
    x.free += u.freePorts;
    x.draining ||= u.draining;
    x.rules.push(u.ruleNumber);
    out.set(u.natIp, x);
  }
  return out;
}

const LETTER: Record<string, string> = { held: 'H', draining: 'D', quarantine: 'Q', foreign: 'O', free: 'free' };

export function Legend() {
  return (
    <ul className="legend" aria-label="Legend of the port space pictures">
      <li>
        <span className="swatch held" aria-hidden="true" /> H held by an endpoint (solid)
      </li>
      <li>
        <span className="swatch draining" aria-hidden="true" /> D draining: existing connections only (stripes)
      </li>
      <li>
        <span className="swatch quarantine" aria-hidden="true" /> Q quarantine: released, cooling down (dots)
      </li>
      <li>
        <span className="swatch foreign" aria-hidden="true" /> O held by another gateway (cross-hatch)
      </li>
      <li>
        <span className="swatch free" aria-hidden="true" /> free (blank)
      </li>
    </ul>
  );
}

export function PortSpace({ status, mappings }: { status: NatStatus; mappings: NatMapping[] }) {
  const blocks = blocksByIp(mappings, status);
  const usage = usageByIp(status);
  const ips = [...new Set([...usage.keys(), ...blocks.keys()])].sort();
  if (ips.length === 0) return <p>No NAT IP yet.</p>;
  return (
    <div className="port-space">
      <Legend />
      {ips.map((ip) => {
        const list = blocks.get(ip) ?? [];
        const grid = cellsOf(list);
        const u = usage.get(ip);
        const heldPorts = list.filter((b) => b.kind === 'held').reduce((n, b) => n + b.hi - b.lo + 1, 0);
        const drainPorts = list.filter((b) => b.kind === 'draining').reduce((n, b) => n + b.hi - b.lo + 1, 0);
        const quarantinePorts = list.filter((b) => b.kind === 'quarantine').reduce((n, b) => n + b.hi - b.lo + 1, 0);
        const role = u ? (u.rules.every((r) => r < 0) ? 'default IP' : `rule ${u.rules.filter((r) => r >= 0).join(', ')}`) : 'not in status';
        const summary = u
          ? `${u.active} held, ${u.drain} draining, ${u.quarantined} in quarantine, ${u.foreign} held by another gateway, ${u.free} free`
          : `${heldPorts} held, ${drainPorts} draining`;
        const parts: [keyof Usage, string, number][] = u
          ? [
              ['active', 'held', u.active],
              ['drain', 'draining', u.drain],
              ['quarantined', 'quarantine', u.quarantined],
              ['foreign', 'foreign', u.foreign],
              ['free', 'free', u.free],
            ]
          : [];
        return (
          <section key={ip} className="nat-ip" aria-labelledby={`ip-${ip}`} data-testid={`portspace-${ip}`}>
            <h3 id={`ip-${ip}`}>
              {ip} <span className="muted">({role}{u?.draining ? ', DRAINING' : ''})</span>
            </h3>
            <p className="bar-title">
              Blocks by port, from the mappings: one cell per {grid.unit} ports, ports 1024 (top left) to 65535 (bottom right), row by row
            </p>
            <div
              className="cells"
              role="img"
              style={{ gridTemplateColumns: `repeat(${Math.min(48, grid.cells.length)}, 0.8rem)` }}
              aria-label={`${ip}: ${list.length} blocks, ${heldPorts} ports held, ${drainPorts} draining and ${quarantinePorts} in quarantine, in cells of ${grid.unit} ports`}
              data-testid={`cells-${ip}`}
            >
              {grid.cells.map((c, i) => (
                <span
                  key={i}
                  className={`cell ${c.state}`}
                  data-state={c.state}
                  title={`ports ${LO + i * grid.unit}-${Math.min(HI, LO + (i + 1) * grid.unit - 1)}: ${c.state}${c.who.length ? `, ${c.who.join(', ')}` : ''}`}
                >
                  {CELL_LETTER[c.state]}
                </span>
              ))}
            </div>
            {u && (
              <>
                <p className="bar-title">Ports by state (from the status)</p>
                <div className="bar stacked" role="img" aria-label={`${ip}: ${summary}`}>
                  {parts
                    .filter(([, , n]) => n > 0)
                    .map(([k, cls, n]) => (
                      <span key={k} className={`part ${cls}`} style={{ width: pct(n) }} title={`${cls}: ${n} ports`}>
                        {n / SPAN > 0.08 ? `${LETTER[cls]} ${n}` : ''}
                      </span>
                    ))}
                </div>
              </>
            )}
            <p className="counts" data-testid={`portcounts-${ip}`}>
              {summary}.
            </p>
            <details>
              <summary>
                {list.length} block{list.length === 1 ? '' : 's'} of {ip}
              </summary>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Ports</th>
                    <th scope="col">State</th>
                    <th scope="col">Endpoint</th>
                    <th scope="col">Rule</th>
                    <th scope="col">Until</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((b, i) => (
                    <tr key={i}>
                      <td>
                        {b.lo}-{b.hi}
                      </td>
                      <td>{b.kind}</td>
                      <td>{b.kind === 'quarantine' ? '(released)' : b.endpoint}</td>
                      <td>{b.rule >= 0 ? b.rule : 'default'}</td>
                      <td>{b.until ? <time dateTime={b.until}>{time(b.until)}</time> : ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </section>
        );
      })}
      <p className="hint">
        The cells show the gateway's own blocks (held, draining, in quarantine) at their ports; ports held by another gateway appear in the bar below them, which counts
        every state.
      </p>
    </div>
  );
}
