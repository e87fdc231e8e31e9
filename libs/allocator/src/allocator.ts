/**
 * The allocation engine. See index.ts for the contract in words; this file is the mechanics.
 *
 * State: one BuddyPool per NAT IP of the gateway, and per (endpoint, rule) "slot" the ACTIVE block
 * in typed arrays (IP index, offset, log2 size, since). DRAIN and QUARANTINE blocks are few and
 * kept as records. One run of the constructor goes through these phases:
 *
 *  A. load: foreign reservations, then the previous QUARANTINE blocks still running, then DRAIN,
 *     then ACTIVE blocks, each reserved exactly where it was. An ACTIVE block on an IP now drained
 *     becomes DRAIN, on an IP gone from the rule's lists (or of a deleted endpoint or rule) it
 *     becomes QUARANTINE; a DRAIN block whose IP left the drain list becomes QUARANTINE.
 *     A kept ACTIVE block larger than allowed shrinks in place: it keeps its lower part and the
 *     rest goes to QUARANTINE (still held for the same endpoint).
 *  B. mandatory growth (the block is below the configured minimum): in place, when the aligned
 *     block of the new size that contains it is free (or holds only the endpoint's own
 *     quarantined ports).
 *  C. mandatory placement, larger blocks first, then by endpoint id: endpoints without an ACTIVE
 *     block on a rule, and those whose growth in B failed. First the endpoint's own quarantined
 *     block of that size on one of the rule's active IPs (un-release), else first fit over the
 *     rule's active IPs in their listed order, lowest free aligned block. A relocated endpoint's
 *     old block goes to QUARANTINE; one that finds no room keeps its old (smaller) block, one
 *     that had none stays UNMAPPED. Both count in minExtraIpsNeeded.
 *  D. usage growth (dynamic allocation), by endpoint id: in place as in B, else relocation to a
 *     fresh block of the doubled size (old block to QUARANTINE: its connections live on in
 *     conntrack, nobody else gets those ports before the quarantine ends), else stay as is.
 *
 * Free space never grows after phase A (released blocks are quarantined, not freed), so each rule
 * keeps a first-fit cursor per block size: IPs before it hold no free block of that size.
 */
import { BuddyPool, treeBytes } from './buddy';
import { freshIpsNeeded, isValidBlock, quarantineMs, sizeBounds, targetOrder, type SizeBounds } from './ports';
import {
  DEFAULT_RULE,
  PORT_MIN,
  PORTS_PER_IP,
  type AllocationChange,
  type AllocationResult,
  type AllocationStatus,
  type AllocatorEndpoint,
  type AllocatorInput,
  type Block,
  type ChangeKind,
  type IpUtilization,
  type RuleStatus,
  type UsageSample,
} from './types';

const ORDERS = 17;
/** ipState values in RuleState.ipState */
const IP_NONE = 0;
const IP_ACTIVE = 1;
const IP_DRAIN = 2;

interface RuleState {
  ruleNumber: number;
  /** Source-based: serves only the endpoints that list it (AllocatorEndpoint.sourceRules). */
  source: boolean;
  activeIpNames: string[];
  drainIpNames: string[];
  /** Pool indexes of the active IPs, in listed order. */
  active: number[];
  /** Pool indexes of the drain IPs, in listed order. */
  drain: number[];
  /** Per pool index: IP_NONE, IP_ACTIVE or IP_DRAIN in this rule. */
  ipState: Uint8Array;
  /** First-fit cursor per log2 size into `active`. */
  cursor: Int32Array;
}

/** A DRAIN or QUARANTINE block. */
interface Held {
  endpointId: string;
  ruleNumber: number;
  natIp: string;
  /** Pool index, -1 when the IP no longer belongs to the gateway. */
  ip: number;
  off: number;
  order: number;
  state: 'DRAIN' | 'QUARANTINE';
  since: number;
  until: number;
  /** QUARANTINE: the holder's connections were cut (Block.cut). */
  cut: boolean;
  /** Taken back as (part of) an ACTIVE block by its endpoint, or released: not in the output. */
  dead: boolean;
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const STATE_RANK: Record<string, number> = { QUARANTINE: 0, DRAIN: 1, ACTIVE: 2 };

/**
 * Incremental allocator. `new Allocator(input)` computes the whole allocation; `addEndpoint` and
 * `removeEndpoint` then change it in O(rules x log ports) each (plus the first-fit cursor walk);
 * `result()` renders blocks, changes against `input.previous`, and status.
 */
export class Allocator {
  /** The run's clock (`input.now`; moved on by update()). */
  now: number;
  readonly quarantineMs: number;
  private readonly bounds: SizeBounds;
  private readonly manual: boolean;
  private readonly rules: RuleState[] = [];
  private readonly ruleIndex = new Map<number, number>();
  private readonly ipNames: string[] = [];
  private readonly ipIndex = new Map<string, number>();
  private pools: BuddyPool[] = [];
  /** log2 of the smallest block the trees of this run can hold. */
  private readonly leafOrder: number;
  private foreignPorts: Float64Array;
  private readonly R: number;

  // endpoints (index = position; the constructor's endpoints are sorted by id)
  private ids: string[] = [];
  private alias = new Uint8Array(0);
  /** Per slot (endpoint * R + rule): 1 when the rule serves the endpoint (always, but for source rules). */
  private serves = new Uint8Array(0);
  private present = new Uint8Array(0);
  /** endpoint id -> index, built on first use (a from-scratch run never needs it). */
  private epIndexMap: Map<string, number> | undefined;
  /** Leading indexes whose ids are in id order (all of them when it equals `count`). */
  private sortedCount = 0;
  private cap = 0;
  private count = 0;
  /**
   * Indexes of endpoints taken out of scope, free for the next endpoint added: an allocator
   * kept and updated (update) under churn holds as many indexes as endpoints it held at once,
   * not one per endpoint it ever saw. Not freed: indexes whose slots had a previous ACTIVE block
   * or usage (prevActive, usage are by slot and result() reads them).
   */
  private freeIndexes: number[] = [];

  // ACTIVE block per slot = endpoint * R + rule
  private actIp = new Int32Array(0);
  private actOff = new Int32Array(0);
  private actOrder = new Int8Array(0);
  private actSince = new Float64Array(0);
  /** Previous ACTIVE block per slot (only for slots that had one). */
  private prevActive = new Map<number, Block>();

  private held: Held[] = [];
  /** Entries of `held` that are dead (compactHeld drops them once they are half of it). */
  private deadHeld = 0;
  /** endpointId -> indexes into `held` of its QUARANTINE blocks (for un-release). */
  private ownQuarantine = new Map<string, number[]>();
  /** Changes decided while loading (releases of blocks of deleted endpoints, rules, IPs). */
  private loadChanges: AllocationChange[] = [];
  /** `${ruleNumber}/${natIp}` of the drains that ended by their deadline in this run. */
  private readonly endedDrains: Set<string>;

  private readonly usage = new Map<number, UsageSample[]>();

  constructor(private readonly input: AllocatorInput) {
    const { spec, now } = input;
    this.now = now;
    this.endedDrains = new Set((input.endedDrains ?? []).map((d) => `${d.ruleNumber}/${d.natIp}`));
    this.quarantineMs = quarantineMs(spec.idleTimeoutsSec);
    this.bounds = sizeBounds(spec);
    this.manual = spec.natIpAllocateOption !== 'AUTO_ONLY';

    // rules and IPs
    for (const r of spec.rules) {
      if (this.ruleIndex.has(r.ruleNumber)) continue;
      this.ruleIndex.set(r.ruleNumber, this.rules.length);
      for (const ip of [...r.activeIps, ...r.drainIps]) {
        if (!this.ipIndex.has(ip)) {
          this.ipIndex.set(ip, this.ipNames.length);
          this.ipNames.push(ip);
        }
      }
      this.rules.push({
        ruleNumber: r.ruleNumber,
        source: r.source === true,
        activeIpNames: r.activeIps,
        drainIpNames: r.drainIps,
        active: [],
        drain: [],
        ipState: new Uint8Array(0),
        cursor: new Int32Array(ORDERS),
      });
    }
    const nIps = this.ipNames.length;
    for (const rs of this.rules) {
      rs.ipState = new Uint8Array(nIps);
      for (const ip of rs.activeIpNames) {
        const i = this.ipIndex.get(ip)!;
        if (rs.ipState[i] === IP_NONE) rs.active.push(i);
        rs.ipState[i] = IP_ACTIVE;
      }
      for (const ip of rs.drainIpNames) {
        const i = this.ipIndex.get(ip)!;
        if (rs.ipState[i] !== IP_NONE) continue; // active wins over drain
        rs.ipState[i] = IP_DRAIN;
        rs.drain.push(i);
      }
    }
    this.R = this.rules.length;
    this.foreignPorts = new Float64Array(nIps);
    let leaf = this.bounds.lo[0];
    for (const b of input.previous) if (isValidBlock(b.portLo, b.size) && b.size < 2 ** leaf) leaf = Math.log2(b.size);
    this.leafOrder = leaf;

    this.registerEndpoints(input.endpoints);

    for (const s of input.usage) {
      const e = this.epIndex.get(s.endpointId);
      const r = this.ruleIndex.get(s.ruleNumber);
      if (e === undefined || r === undefined) continue;
      const slot = e * this.R + r;
      const list = this.usage.get(slot);
      if (list) list.push(s);
      else this.usage.set(slot, [s]);
    }

    if (!this.load(input.previous)) {
      // Conflicting or duplicated previous blocks: resolve them in a canonical order so the
      // result does not depend on the order of `previous`.
      const sorted = [...input.previous].sort(
        (a, b) =>
          STATE_RANK[a.state] - STATE_RANK[b.state] ||
          byString(a.natIp, b.natIp) ||
          a.portLo - b.portLo ||
          a.size - b.size ||
          byString(a.endpointId, b.endpointId) ||
          a.ruleNumber - b.ruleNumber,
      );
      this.load(sorted);
    }
    this.run();
  }

  // ---------------------------------------------------------------- endpoints and slots

  private registerEndpoints(eps: readonly AllocatorEndpoint[]): void {
    const n = eps.length;
    let sorted = true;
    for (let i = 1; i < n; i++) {
      if (!(eps[i - 1].id < eps[i].id)) {
        sorted = false;
        break;
      }
    }
    let order: number[] | undefined;
    if (!sorted) {
      order = Array.from({ length: n }, (_, i) => i);
      order.sort((a, b) => byString(eps[a].id, eps[b].id) || a - b);
    }
    this.ensureCapacity(n);
    const ids: string[] = new Array<string>(n);
    let last: string | undefined;
    let e = 0;
    for (let j = 0; j < n; j++) {
      const ep = eps[order ? order[j] : j];
      if (ep.id === last) continue; // duplicate id: the first one counts
      last = ep.id;
      ids[e] = ep.id;
      this.alias[e] = ep.aliasRangesNated ? 1 : 0;
      this.setServes(e, ep);
      this.present[e] = 1;
      e++;
    }
    ids.length = e;
    this.ids = ids;
    this.count = e;
    this.sortedCount = e;
  }

  private setServes(e: number, ep: AllocatorEndpoint): void {
    const matched = ep.sourceRules && ep.sourceRules.length > 0 ? new Set(ep.sourceRules) : undefined;
    for (let r = 0; r < this.R; r++) {
      const rs = this.rules[r];
      this.serves[e * this.R + r] = !rs.source || matched?.has(rs.ruleNumber) ? 1 : 0;
    }
  }

  private ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    const cap = Math.max(n, this.cap * 2, 16);
    const R = this.R;
    const grow = <T extends Int32Array | Int8Array | Float64Array | Uint8Array>(a: T, len: number, fill?: number): T => {
      const b = new (a.constructor as new (len: number) => T)(len);
      b.set(a);
      if (fill !== undefined) b.fill(fill, a.length);
      return b;
    };
    this.alias = grow(this.alias, cap);
    this.present = grow(this.present, cap);
    this.serves = grow(this.serves, cap * R);
    this.actIp = grow(this.actIp, cap * R, -1);
    this.actOff = grow(this.actOff, cap * R);
    this.actOrder = grow(this.actOrder, cap * R);
    this.actSince = grow(this.actSince, cap * R);
    this.cap = cap;
  }

  private get epIndex(): Map<string, number> {
    if (!this.epIndexMap) {
      const m = new Map<string, number>();
      for (let e = 0; e < this.count; e++) m.set(this.ids[e], e);
      this.epIndexMap = m;
    }
    return this.epIndexMap;
  }

  private lo(e: number): number {
    return this.bounds.lo[this.alias[e]];
  }

  private hi(e: number): number {
    return this.bounds.hi[this.alias[e]];
  }

  // ---------------------------------------------------------------- phase A: load

  /** Returns false when `previous` had conflicts (state left half-built: call again sorted). */
  private load(previous: readonly Block[]): boolean {
    const { now } = this;
    // All the trees in one buffer; their smallest block is the smallest size this run can hold.
    const leaf = this.leafOrder;
    const bytes = treeBytes(leaf);
    const buf = new Uint8Array(bytes * this.ipNames.length);
    this.pools = this.ipNames.map((_, i) => new BuddyPool(leaf, buf.subarray(i * bytes, (i + 1) * bytes)));
    this.foreignPorts.fill(0);
    this.actIp.fill(-1);
    this.prevActive.clear();
    this.held = [];
    this.deadHeld = 0;
    this.ownQuarantine.clear();
    this.loadChanges = [];
    for (const rs of this.rules) rs.cursor.fill(0);
    let clean = true;

    for (const f of this.input.foreign) {
      if (f.until !== undefined && now >= f.until) continue;
      const ip = this.ipIndex.get(f.natIp);
      if (ip === undefined) continue;
      // any range, aligned or not: cover it with aligned pieces
      let lo = Math.max(f.portLo, PORT_MIN) - PORT_MIN;
      const hi = Math.min(f.portLo + f.size, PORT_MIN + PORTS_PER_IP) - PORT_MIN;
      while (lo < hi) {
        let k = 0;
        while (k < 15 && lo % 2 ** (k + 1) === 0 && lo + 2 ** (k + 1) <= hi) k++;
        // a piece smaller than the trees' leaves takes its whole leaf
        const kk = Math.max(k, leaf);
        this.foreignPorts[ip] += this.pools[ip].reservePieces(lo - (lo % 2 ** kk), kk);
        lo += 2 ** k;
      }
    }

    // Three passes: QUARANTINE, then DRAIN, then ACTIVE, so that on a conflict the block that
    // protects someone else wins over an active one.
    for (let pass = 0; pass < 3; pass++) {
      for (const b of previous) {
        if (STATE_RANK[b.state] !== pass) continue;
        if (!isValidBlock(b.portLo, b.size)) {
          clean = false;
          continue;
        }
        const ip = this.ipIndex.get(b.natIp) ?? -1;
        const off = b.portLo - PORT_MIN;
        const order = Math.log2(b.size);
        if (b.state === 'QUARANTINE') {
          const until = b.until ?? now + this.quarantineMs; // no end given: it starts now
          if (now >= until) continue; // over: the ports are free again
          if (!this.keepHeld(b, ip, off, order, 'QUARANTINE', b.since, until, b.cut === true)) clean = false;
          continue;
        }
        const e = this.epIndex.get(b.endpointId);
        const r = this.ruleIndex.get(b.ruleNumber);
        const ipState = r === undefined || ip < 0 ? IP_NONE : this.rules[r].ipState[ip];
        // a source rule that no longer matches the endpoint: as if it had left the rule's scope
        const slot = e === undefined || r === undefined || !this.serves[e * this.R + r] ? -1 : e * this.R + r;
        // a drain that reached its deadline: its connections are cut, not left to the quarantine
        const cut = ipState === IP_NONE && this.endedDrains.has(`${b.ruleNumber}/${b.natIp}`);
        if (slot >= 0 && b.state === 'ACTIVE' && ipState === IP_NONE && !this.prevActive.has(slot)) {
          // IP removed from the rule: the endpoint needs a new block (MOVED or UNMAPPED)
          this.prevActive.set(slot, b);
          if (!this.keepHeld(b, ip, off, order, 'QUARANTINE', now, now + this.quarantineMs, cut)) clean = false;
          continue;
        }
        if (slot < 0 || ipState === IP_NONE) {
          // endpoint left the scope, rule deleted, or IP removed from the rule: connections break
          this.loadChanges.push(change(b, 'RELEASED', b, undefined, true));
          if (!this.keepHeld(b, ip, off, order, 'QUARANTINE', now, now + this.quarantineMs, cut)) clean = false;
          continue;
        }
        if (b.state === 'DRAIN') {
          if (ipState === IP_DRAIN) {
            if (!this.keepHeld(b, ip, off, order, 'DRAIN', b.since, 0)) clean = false;
          } else {
            // the IP is active again: its drain blocks end; conntrack keeps their flows alive
            this.loadChanges.push(change(b, 'RELEASED', b, undefined, false));
            if (!this.keepHeld(b, ip, off, order, 'QUARANTINE', now, now + this.quarantineMs)) clean = false;
          }
          continue;
        }
        // ACTIVE
        if (this.prevActive.has(slot)) {
          clean = false; // two ACTIVE blocks for one endpoint and rule: keep the first
          this.keepHeld(b, ip, off, order, 'QUARANTINE', now, now + this.quarantineMs);
          continue;
        }
        this.prevActive.set(slot, b);
        if (ipState === IP_DRAIN) {
          if (!this.keepHeld(b, ip, off, order, 'DRAIN', b.since, 0)) clean = false;
          continue;
        }
        if (!this.pools[ip].tryReserve(off, order)) {
          clean = false; // overlaps a foreign or earlier block: the endpoint gets a new one
          continue;
        }
        this.actIp[slot] = ip;
        this.actOff[slot] = off;
        this.actOrder[slot] = order;
        this.actSince[slot] = b.since;
      }
    }
    return clean;
  }

  /** Records a DRAIN or QUARANTINE block, reserving its ports (or what is left of them). */
  private keepHeld(
    b: Block,
    ip: number,
    off: number,
    order: number,
    state: 'DRAIN' | 'QUARANTINE',
    since: number,
    until: number,
    cut = false,
  ): boolean {
    const base = { endpointId: b.endpointId, ruleNumber: b.ruleNumber, natIp: b.natIp, ip, state, since, until, cut: state === 'QUARANTINE' && cut, dead: false };
    if (ip < 0 || this.pools[ip].tryReserve(off, order)) {
      this.pushHeld({ ...base, off, order });
      return true;
    }
    // overlaps something kept before it: keep only the parts still free
    this.pools[ip].reservePieces(off, order, (o, k) => this.pushHeld({ ...base, off: o, order: k }));
    return false;
  }

  private pushHeld(h: Held): void {
    const i = this.held.length;
    this.held.push(h);
    if (h.state !== 'QUARANTINE') return;
    const list = this.ownQuarantine.get(h.endpointId);
    if (list) list.push(i);
    else this.ownQuarantine.set(h.endpointId, [i]);
  }

  /** Marks a held block taken back or released (not in the output any more). */
  private kill(h: Held): void {
    h.dead = true;
    this.deadHeld++;
  }

  /**
   * Drops the dead entries of `held` once they are half of it (amortized O(1) per entry) and
   * rebuilds ownQuarantine from the live ones. Only between operations: no index into `held`
   * may be live across it.
   */
  private compactHeld(): void {
    if (this.deadHeld === 0 || this.deadHeld * 2 < this.held.length) return;
    const live = this.held.filter((h) => !h.dead);
    this.held = [];
    this.deadHeld = 0;
    this.ownQuarantine.clear();
    for (const h of live) this.pushHeld(h);
  }

  private quarantine(e: number, r: number, ip: number, off: number, order: number): void {
    this.pushHeld({
      endpointId: this.ids[e],
      ruleNumber: this.rules[r].ruleNumber,
      natIp: this.ipNames[ip],
      ip,
      off,
      order,
      state: 'QUARANTINE',
      since: this.now,
      until: this.now + this.quarantineMs,
      cut: false,
      dead: false,
    });
  }

  // ---------------------------------------------------------------- phases B, C, D

  private run(): void {
    const { R, now } = this;
    const { dynamic } = this.bounds;
    const queue: number[][] = Array.from({ length: ORDERS }, () => []);
    const mandatoryGrow: number[] = [];
    const optionalGrow: number[] = [];
    for (let e = 0; e < this.count; e++) {
      if (!this.present[e]) continue;
      const lo = this.lo(e);
      const hi = this.hi(e);
      for (let r = 0; r < R; r++) {
        const slot = e * R + r;
        if (!this.serves[slot]) continue;
        const ip = this.actIp[slot];
        if (ip < 0) {
          queue[lo].push(slot);
          continue;
        }
        const cur = this.actOrder[slot];
        const t = targetOrder(cur, lo, hi, dynamic, this.usage.get(slot), this.actSince[slot], now);
        if (t < cur) this.shrink(slot, t);
        else if (t > cur) (cur < lo ? mandatoryGrow : optionalGrow).push(slot);
      }
    }
    // B
    for (const slot of mandatoryGrow) {
      const t = this.lo((slot / R) | 0);
      if (!this.growInPlace(slot, t)) queue[t].push(slot);
    }
    // C: larger first; within a size, by endpoint id (slots were queued in id order)
    for (let k = ORDERS - 1; k >= 0; k--) for (const slot of queue[k]) this.place(slot, k);
    // D
    const relocate: number[] = [];
    for (const slot of optionalGrow) if (!this.growInPlace(slot, this.actOrder[slot] + 1)) relocate.push(slot);
    for (const slot of relocate) this.place(slot, this.actOrder[slot] + 1);
  }

  /** Keeps the lower 2^t ports of the slot's block; the rest goes to QUARANTINE. */
  private shrink(slot: number, t: number): void {
    const ip = this.actIp[slot];
    const off = this.actOff[slot];
    const cur = this.actOrder[slot];
    const pool = this.pools[ip];
    pool.release(off, cur);
    pool.tryReserve(off, t);
    const e = (slot / this.R) | 0;
    const r = slot % this.R;
    for (let j = t; j < cur; j++) {
      pool.tryReserve(off + 2 ** j, j);
      this.quarantine(e, r, ip, off + 2 ** j, j);
    }
    this.actOrder[slot] = t;
    this.actSince[slot] = this.now;
  }

  /**
   * Grows the slot's block to 2^t in place: the aligned block of 2^t containing it must be free
   * apart from the block itself and the endpoint's own quarantined blocks of this rule.
   */
  private growInPlace(slot: number, t: number): boolean {
    const ip = this.actIp[slot];
    const off = this.actOff[slot];
    const cur = this.actOrder[slot];
    const base = off & ~(2 ** t - 1);
    const end = base + 2 ** t;
    if (end > PORTS_PER_IP) return false;
    const pool = this.pools[ip];
    const e = (slot / this.R) | 0;
    const ruleNumber = this.rules[slot % this.R].ruleNumber;
    const own: number[] = [];
    const list = this.ownQuarantine.get(this.ids[e]);
    if (list) {
      for (const i of list) {
        const h = this.held[i];
        if (!h.dead && h.ip === ip && h.ruleNumber === ruleNumber && h.off >= base && h.off < end) own.push(i);
      }
    }
    pool.release(off, cur);
    for (const i of own) pool.release(this.held[i].off, this.held[i].order);
    if (pool.tryReserve(base, t)) {
      for (const i of own) this.kill(this.held[i]);
      this.actOff[slot] = base;
      this.actOrder[slot] = t;
      this.actSince[slot] = this.now;
      return true;
    }
    pool.tryReserve(off, cur);
    for (const i of own) pool.tryReserve(this.held[i].off, this.held[i].order);
    return false;
  }

  /**
   * Gives the slot a new ACTIVE block of 2^k on one of its rule's active IPs. If the slot held a
   * block, that one goes to QUARANTINE on success and stays ACTIVE on failure.
   */
  private place(slot: number, k: number): boolean {
    const R = this.R;
    const e = (slot / R) | 0;
    const rs = this.rules[slot % R];
    let ip = -1;
    let off = -1;
    // un-release: the endpoint's own quarantined block of this size on an active IP of the rule,
    // the lowest (IP, port) of them, whatever order the previous blocks came in
    if (this.ownQuarantine.size > 0) {
      const list = this.ownQuarantine.get(this.ids[e]);
      if (list) {
        let best = -1;
        for (const i of list) {
          const h = this.held[i];
          if (h.dead || h.order !== k || h.ip < 0 || h.ruleNumber !== rs.ruleNumber || rs.ipState[h.ip] !== IP_ACTIVE) continue;
          if (best < 0 || h.ip < this.held[best].ip || (h.ip === this.held[best].ip && h.off < this.held[best].off)) best = i;
        }
        if (best >= 0) {
          const h = this.held[best];
          this.kill(h);
          ip = h.ip;
          off = h.off;
        }
      }
    }
    if (ip < 0) {
      const { active, cursor } = rs;
      const pools = this.pools;
      let i = cursor[k];
      for (; i < active.length; i++) {
        off = pools[active[i]].alloc(k);
        if (off >= 0) {
          ip = active[i];
          break;
        }
      }
      cursor[k] = i;
      if (ip < 0) return false;
    }
    const oldIp = this.actIp[slot];
    if (oldIp >= 0) this.quarantine(e, slot % R, oldIp, this.actOff[slot], this.actOrder[slot]);
    this.actIp[slot] = ip;
    this.actOff[slot] = off;
    this.actOrder[slot] = k;
    this.actSince[slot] = this.now;
    return true;
  }

  // ---------------------------------------------------------------- incremental changes

  /**
   * Enters one endpoint into the slot tables (a new id takes a freed index or the next one), in scope and
   * without blocks yet. Undefined, and nothing changed, when the id is in scope already.
   */
  private enter(ep: AllocatorEndpoint): number | undefined {
    let e = this.epIndex.get(ep.id);
    if (e !== undefined && this.present[e]) return undefined;
    e ??= this.newIndex(ep.id);
    this.alias[e] = ep.aliasRangesNated ? 1 : 0;
    this.setServes(e, ep);
    this.present[e] = 1;
    return e;
  }

  /**
   * Adds one endpoint to scope and gives it its minimum block on every rule (as phase C would).
   * Adding an id already in scope does nothing. Returns whether it got a block on every rule.
   */
  addEndpoint(ep: AllocatorEndpoint): boolean {
    const e = this.enter(ep);
    if (e === undefined) return false;
    const lo = this.lo(e);
    let all = true;
    for (let r = 0; r < this.R; r++) if (this.serves[e * this.R + r]) all = this.place(e * this.R + r, lo) && all;
    this.compactHeld();
    return all;
  }

  /** An index for an endpoint id not known: a freed one (freeIndexes), else the next one. */
  private newIndex(id: string): number {
    const e = this.freeIndexes.pop();
    if (e === undefined) {
      const n = this.count;
      this.ensureCapacity(n + 1);
      this.count++;
      this.ids.push(id);
      this.epIndex.set(id, n);
      return n;
    }
    this.ids[e] = id;
    this.epIndex.set(id, e);
    // the index's id changed: index order is no longer id order from there (idOrder sorts)
    this.sortedCount = Math.min(this.sortedCount, e);
    for (let r = 0; r < this.R; r++) this.actIp[e * this.R + r] = -1;
    return e;
  }

  /** Takes one endpoint out of scope: its ACTIVE and DRAIN blocks go to QUARANTINE. */
  removeEndpoint(id: string): boolean {
    const e = this.epIndex.get(id);
    if (e === undefined || !this.present[e]) return false;
    this.present[e] = 0;
    for (let r = 0; r < this.R; r++) {
      const slot = e * this.R + r;
      const ip = this.actIp[slot];
      if (ip < 0) continue;
      this.quarantine(e, r, ip, this.actOff[slot], this.actOrder[slot]);
      this.actIp[slot] = -1;
    }
    const n = this.held.length;
    for (let i = 0; i < n; i++) {
      const h = this.held[i];
      if (h.dead || h.state !== 'DRAIN' || h.endpointId !== id) continue;
      this.kill(h);
      this.loadChanges.push(change(h, 'RELEASED', blockOf(h), undefined, true));
      this.pushHeld({ ...h, state: 'QUARANTINE', since: this.now, until: this.now + this.quarantineMs, dead: false });
    }
    let reusable = true;
    for (let r = 0; r < this.R; r++) if (this.prevActive.has(e * this.R + r) || this.usage.has(e * this.R + r)) reusable = false;
    if (reusable) {
      this.epIndex.delete(id);
      this.freeIndexes.push(e);
    }
    this.compactHeld();
    return true;
  }

  /**
   * Endpoint writes applied to an allocation already rendered (result()), at `now`, in O(the
   * change): the endpoints `gone` leave the scope, those of `added` enter it, decided as a run
   * from scratch on the rendered blocks would decide them (a run on the same endpoints, with these
   * blocks as `previous`, gives the same blocks and status). Returns the blocks that went and
   * came (a changed block is in both) and the new status, from `status`, the one rendered last.
   * Undefined when such a run could decide more than these endpoints' blocks: a quarantine or a
   * foreign reservation ended by `now` (ports free again), or an endpoint is, or would be,
   * without its block of the minimum size on a rule (the placement order then involves every
   * endpoint). The allocator may be changed then: drop it. Static allocation only (usage is not
   * looked at).
   */
  update(now: number, gone: string[], added: AllocatorEndpoint[], status: AllocationStatus): { removed: Block[]; added: Block[]; status: AllocationStatus } | undefined {
    if (status.nextEventAt !== undefined && now >= status.nextEventAt) return undefined;
    if (status.endpointsWithoutMappings > 0 || status.rules.some((r) => r.endpointsBelowMinPorts > 0 || r.minExtraIpsNeeded > 0)) return undefined;
    this.now = now;
    const touched = [...new Set([...gone, ...added.map((e) => e.id)])];
    const before = new Map(touched.map((id) => [id, this.blocksOf(id)]));
    const withMap = status.rules.map((r) => r.endpointsWithMappings);
    let withAll = status.endpointsWithMappings;
    const R = this.R;
    for (const id of gone) {
      const e = this.epIndex.get(id);
      if (e === undefined || !this.present[e]) continue;
      for (let r = 0; r < R; r++) if (this.serves[e * R + r]) withMap[r]--;
      withAll--;
      this.removeEndpoint(id);
    }
    // As phase C: larger blocks first, then by endpoint id.
    const order = [...added].sort((a, b) => Number(b.aliasRangesNated) - Number(a.aliasRangesNated) || byString(a.id, b.id));
    const queue: number[][] = Array.from({ length: ORDERS }, () => []);
    for (const ep of order) {
      const e = this.enter(ep);
      if (e === undefined) return undefined; // in scope already: not an add
      for (let r = 0; r < R; r++) {
        const slot = e * R + r;
        this.actIp[slot] = -1;
        if (this.serves[slot]) queue[this.lo(e)].push(slot);
      }
    }
    for (let k = ORDERS - 1; k >= 0; k--) {
      queue[k].sort((a, b) => byString(this.ids[(a / R) | 0], this.ids[(b / R) | 0]) || a - b);
      for (const slot of queue[k]) {
        if (!this.place(slot, k)) return undefined; // a shortage: every endpoint's placement counts
        withMap[slot % R]++;
      }
    }
    withAll += new Set(order.map((e) => e.id)).size;

    const key = (b: Block) => `${b.natIp}|${b.portLo}|${b.size}|${b.endpointId}|${b.ruleNumber}|${b.state}|${b.since}|${b.until ?? ''}|${b.cut === true}`;
    const removed: Block[] = [];
    const put: Block[] = [];
    const ports = new Map<string, { active: number; drain: number; quarantine: number }>();
    const count = (b: Block, sign: number) => {
      const p = ports.get(b.natIp) ?? { active: 0, drain: 0, quarantine: 0 };
      if (b.state === 'ACTIVE') p.active += sign * b.size;
      else if (b.state === 'DRAIN') p.drain += sign * b.size;
      else p.quarantine += sign * b.size;
      ports.set(b.natIp, p);
    };
    for (const id of touched) {
      const was = before.get(id)!;
      const is = this.blocksOf(id);
      const isKeys = new Set(is.map(key));
      const wasKeys = new Set(was.map(key));
      for (const b of was) {
        count(b, -1);
        if (!isKeys.has(key(b))) removed.push(b);
      }
      for (const b of is) {
        count(b, 1);
        if (!wasKeys.has(key(b))) put.push(b);
      }
    }
    let nextEventAt: number | undefined;
    for (const h of this.held) if (!h.dead && h.state === 'QUARANTINE' && (nextEventAt === undefined || h.until < nextEventAt)) nextEventAt = h.until;
    for (const f of this.input.foreign) {
      if (f.until !== undefined && f.until > now && this.ipIndex.has(f.natIp) && (nextEventAt === undefined || f.until < nextEventAt)) nextEventAt = f.until;
    }
    const next: AllocationStatus = {
      ...status,
      endpointsWithMappings: withAll,
      rules: status.rules.map((r, i) => ({ ...r, endpointsWithMappings: withMap[i] })),
      portUtilization: status.portUtilization.map((u) => {
        const p = ports.get(u.natIp);
        const ip = this.ipIndex.get(u.natIp)!;
        return p
          ? { ...u, activePorts: u.activePorts + p.active, drainPorts: u.drainPorts + p.drain, quarantinedPorts: u.quarantinedPorts + p.quarantine, freePorts: this.pools[ip].free }
          : { ...u, freePorts: this.pools[ip].free };
      }),
      nextEventAt,
    };
    this.compactHeld();
    return { removed, added: put, status: next };
  }

  /**
   * What the allocator's memory grows with: endpoint indexes (`count`, the length of its
   * per-endpoint arrays), entries of `held` (live or dead) and endpoints with quarantined blocks
   * indexed. Kept and updated under churn, each stays within what is held at once.
   */
  get footprint(): { indexes: number; held: number; quarantineOwners: number } {
    return { indexes: this.count, held: this.held.length, quarantineOwners: this.ownQuarantine.size };
  }

  /** The blocks (ACTIVE, DRAIN, QUARANTINE) currently held for one endpoint. */
  blocksOf(id: string): Block[] {
    const out: Block[] = [];
    const e = this.epIndex.get(id);
    if (e !== undefined && this.present[e]) {
      for (let r = 0; r < this.R; r++) {
        const b = this.activeBlock(e, r);
        if (b) out.push(b);
      }
    }
    for (const h of this.held) if (!h.dead && h.endpointId === id) out.push(blockOf(h));
    return out;
  }

  // ---------------------------------------------------------------- output

  private activeBlock(e: number, r: number): Block | undefined {
    const slot = e * this.R + r;
    const ip = this.actIp[slot];
    if (ip < 0) return undefined;
    return {
      endpointId: this.ids[e],
      ruleNumber: this.rules[r].ruleNumber,
      natIp: this.ipNames[ip],
      portLo: PORT_MIN + this.actOff[slot],
      size: 1 << this.actOrder[slot],
      state: 'ACTIVE',
      since: this.actSince[slot],
    };
  }

  /** Endpoint indexes in id order, undefined when that is index order (no endpoint added since). */
  private idOrder(): number[] | undefined {
    if (this.sortedCount === this.count) return undefined;
    const idx = Array.from({ length: this.count }, (_, i) => i);
    idx.sort((a, b) => byString(this.ids[a], this.ids[b]));
    return idx;
  }

  result(): AllocationResult {
    const { R, now } = this;
    const blocks: Block[] = [];
    const changes: AllocationChange[] = [];
    const order = this.idOrder();
    const hasPrev = this.prevActive.size > 0;
    const actPorts = new Float64Array(this.ipNames.length);
    const ruleStats = this.rules.map(() => ({ withMap: 0, without: 0, below: 0, need: new Float64Array(ORDERS) }));
    let withAll = 0;
    let withoutSome = 0;

    for (let j = 0; j < this.count; j++) {
      const e = order ? order[j] : j;
      const present = this.present[e] === 1;
      let mappedAll = true;
      for (let r = 0; r < R; r++) {
        const slot = e * R + r;
        const cur = this.activeBlock(e, r);
        const prev = hasPrev ? this.prevActive.get(slot) : undefined;
        if (cur) {
          blocks.push(cur);
          actPorts[this.actIp[slot]] += cur.size;
        }
        if (!present) {
          if (prev) changes.push(change(prev, 'RELEASED', prev, undefined, true));
          continue;
        }
        if (!this.serves[slot]) continue;
        const st = ruleStats[r];
        const lo = this.lo(e);
        if (!cur) {
          mappedAll = false;
          st.without++;
          st.need[lo]++;
        } else {
          st.withMap++;
          if (this.actOrder[slot] < lo) {
            st.below++;
            st.need[lo]++;
          }
        }
        const c = this.diff(slot, prev, cur);
        if (c) changes.push(c);
      }
      if (!present) continue;
      if (mappedAll) withAll++;
      else withoutSome++;
    }
    const released = [...this.loadChanges].sort(
      (x, y) =>
        byString(x.endpointId, y.endpointId) ||
        x.ruleNumber - y.ruleNumber ||
        byString(x.from?.natIp ?? '', y.from?.natIp ?? '') ||
        (x.from?.portLo ?? 0) - (y.from?.portLo ?? 0),
    );
    for (const c of released) changes.push(c);

    const drainPorts = new Float64Array(this.ipNames.length);
    const quarantinePorts = new Float64Array(this.ipNames.length);
    const holdsBlock = new Uint8Array(this.ipNames.length);
    for (let i = 0; i < holdsBlock.length; i++) holdsBlock[i] = actPorts[i] > 0 ? 1 : 0;
    let nextEventAt: number | undefined;
    const heldBlocks: Block[] = [];
    for (const h of this.held) {
      if (h.dead) continue;
      heldBlocks.push(blockOf(h));
      if (h.ip >= 0) {
        holdsBlock[h.ip] = 1;
        if (h.state === 'DRAIN') drainPorts[h.ip] += 2 ** h.order;
        else quarantinePorts[h.ip] += 2 ** h.order;
      }
      if (h.state === 'QUARANTINE' && (nextEventAt === undefined || h.until < nextEventAt)) nextEventAt = h.until;
    }
    for (const f of this.input.foreign) {
      if (f.until !== undefined && f.until > now && this.ipIndex.has(f.natIp) && (nextEventAt === undefined || f.until < nextEventAt)) {
        nextEventAt = f.until;
      }
    }
    heldBlocks.sort((a, b) => byString(a.natIp, b.natIp) || a.portLo - b.portLo);
    for (const b of heldBlocks) blocks.push(b);

    const rules: RuleStatus[] = this.rules.map((rs, r) => ({
      ruleNumber: rs.ruleNumber,
      ...(rs.source ? { source: true } : {}),
      activeIps: rs.active.map((i) => this.ipNames[i]),
      drainIps: rs.drain.map((i) => this.ipNames[i]),
      minExtraIpsNeeded: freshIpsNeeded(ruleStats[r].need),
      endpointsWithMappings: ruleStats[r].withMap,
      endpointsWithoutMappings: ruleStats[r].without,
      endpointsBelowMinPorts: ruleStats[r].below,
    }));
    const portUtilization: IpUtilization[] = [];
    for (const rs of this.rules) {
      for (const ip of [...rs.active, ...rs.drain]) {
        const pool = this.pools[ip];
        portUtilization.push({
          natIp: this.ipNames[ip],
          ruleNumber: rs.ruleNumber,
          draining: rs.ipState[ip] === IP_DRAIN,
          activePorts: actPorts[ip],
          drainPorts: drainPorts[ip],
          quarantinedPorts: quarantinePorts[ip],
          foreignPorts: this.foreignPorts[ip],
          freePorts: pool.free,
        });
      }
    }
    const def = rules.find((r) => r.ruleNumber === DEFAULT_RULE);
    const defState = this.rules.find((r) => r.ruleNumber === DEFAULT_RULE);
    const status: AllocationStatus = {
      endpointsWithMappings: withAll,
      endpointsWithoutMappings: withoutSome,
      minExtraNatIpsNeeded: def?.minExtraIpsNeeded ?? 0,
      rules,
      portUtilization,
      autoIpsToAdd: !this.manual ? (def?.minExtraIpsNeeded ?? 0) : 0,
      autoIpsToRelease: !this.manual && defState ? defState.drain.filter((ip) => !holdsBlock[ip]).map((ip) => this.ipNames[ip]) : [],
      nextEventAt,
    };
    return { blocks, changes, status };
  }

  private diff(slot: number, prev: Block | undefined, cur: Block | undefined): AllocationChange | undefined {
    const e = (slot / this.R) | 0;
    const rs = this.rules[slot % this.R];
    if (!prev) {
      if (cur) return change(cur, 'ADDED', undefined, cur, false);
      return change({ endpointId: this.ids[e], ruleNumber: rs.ruleNumber }, 'UNMAPPED', undefined, undefined, false);
    }
    const ip = this.ipIndex.get(prev.natIp);
    const ipState = ip === undefined ? IP_NONE : rs.ipState[ip];
    const breaks = ipState === IP_NONE; // the old IP left the rule: its flows cannot go on
    if (!cur) return change(prev, 'UNMAPPED', prev, undefined, breaks);
    if (cur.natIp === prev.natIp && cur.portLo === prev.portLo && cur.size === prev.size) return undefined;
    if (cur.natIp === prev.natIp) {
      const a = prev.portLo;
      const b = cur.portLo;
      if ((b >= a && b < a + prev.size) || (a >= b && a < b + cur.size)) return change(cur, 'RESIZED', prev, cur, false);
    }
    if (ipState === IP_DRAIN) return change(cur, 'DRAINED', prev, cur, false);
    return change(cur, 'MOVED', prev, cur, breaks);
  }
}

function blockOf(h: Held): Block {
  const b: Block = {
    endpointId: h.endpointId,
    ruleNumber: h.ruleNumber,
    natIp: h.natIp,
    portLo: PORT_MIN + h.off,
    size: 1 << h.order,
    state: h.state,
    since: h.since,
  };
  if (h.state === 'QUARANTINE') {
    b.until = h.until;
    if (h.cut) b.cut = true;
  }
  return b;
}

function change(
  who: { endpointId: string; ruleNumber: number },
  kind: ChangeKind,
  from: Block | undefined,
  to: Block | undefined,
  breaksConnections: boolean,
): AllocationChange {
  // one object shape for every change (absent ends are undefined, which JSON leaves out); an
  // ADDED change points at the new Block itself instead of copying it
  return {
    endpointId: who.endpointId,
    ruleNumber: who.ruleNumber,
    kind,
    from: from && { natIp: from.natIp, portLo: from.portLo, size: from.size },
    to: to && (kind === 'ADDED' ? to : { natIp: to.natIp, portLo: to.portLo, size: to.size }),
    breaksConnections,
  };
}

/** The whole allocation for one gateway: see index.ts. */
export function allocate(input: AllocatorInput): AllocationResult {
  return new Allocator(input).result();
}
