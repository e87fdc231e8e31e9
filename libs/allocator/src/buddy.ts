/**
 * One NAT IP's ports as a buddy tree.
 *
 * The tree spans a virtual 65,536-port space of offsets 0..65535 (port = 1024 + offset). The top
 * 1,024 offsets (ports 65536..66559, which do not exist) are reserved forever, so an aligned block
 * of 2^k ports can only sit at an offset that is a multiple of 2^k with offset + 2^k <= 64512:
 * exactly floor(64512 / 2^k) of them per IP, 63 chunks of 1,024 and above that 31 of 2,048,
 * 15 of 4,096, 7 of 8,192, 3 of 16,384 and 1 of 32,768.
 *
 * Heap layout: node 1 is the root (order 16), node n has children 2n and 2n+1, and the node of
 * block (off, 2^k) is 2^(16-k) + off / 2^k. The tree stops at a leaf order L, the smallest block
 * the gateway can hold (its minimum block size, or smaller blocks it still holds): 2^(17-L) nodes,
 * 2 KiB per IP at 64 ports, 128 KiB at 1 port. tree[n] = 1 + log2 of the largest free aligned block inside
 * n's subtree, 0 when nothing is free there. A node allocated as a whole is set to 0 and its
 * subtree is left stale; a node set free as a whole is set to full (order + 1) and its subtree is
 * refreshed lazily ("pushed down") when a walk descends through it. So: 0 on the path means "no
 * free port below", full on the path means "everything below is free".
 *
 * Operations are O(16): alloc (lowest free aligned block of an order), tryReserve (a given block,
 * only if entirely free), release (a block previously reserved, as a whole or as the union of its
 * reserved parts), reservePieces (whatever is free inside a block).
 */
export const TOP_ORDER = 16;
/** Offset of the first port that does not exist (65536 - 1024). */
export const SPACE = 64512;

/** Bytes of one tree whose smallest blocks are 2^leafOrder ports. */
export function treeBytes(leafOrder: number): number {
  return 2 << (TOP_ORDER - leafOrder);
}

export class BuddyPool {
  readonly tree: Uint8Array;
  /** Ports reserved in 0..64511 (the permanent top 1,024 is not counted). */
  used = 0;

  /**
   * `tree`: treeBytes(leafOrder) zeroed bytes (may be a view into a larger buffer shared by all
   * the IPs of a gateway). A fresh tree needs only its root marked "all free": everything below a
   * full node is refreshed when a walk descends through it, so the zeros are never read as data.
   */
  constructor(
    readonly leafOrder: number,
    tree?: Uint8Array,
  ) {
    this.tree = tree ?? new Uint8Array(treeBytes(leafOrder));
    this.tree[1] = TOP_ORDER + 1;
    // ports 65536..66559 do not exist; with leaves above 1,024 ports the leaf holding them goes
    // (its ports below 65536 could not start a block of the tree's sizes anyway)
    const k = Math.max(leafOrder, 10);
    this.tryReserve(SPACE - (SPACE % 2 ** k), k);
    this.used = 0;
  }

  /** Free ports (0..64,512). */
  get free(): number {
    return SPACE - this.used;
  }

  /** log2 of the largest free aligned block, -1 when the IP is full. */
  maxFreeOrder(): number {
    return this.tree[1] - 1;
  }

  /** Reserves the lowest free aligned block of 2^k ports; its offset, or -1 when none is free. */
  alloc(k: number): number {
    const t = this.tree;
    const need = k + 1;
    if (t[1] < need) return -1;
    let n = 1;
    for (let o = TOP_ORDER; o > k; o--) {
      const c = n << 1;
      if (t[n] === o + 1) {
        t[c] = o;
        t[c + 1] = o;
      }
      n = t[c] >= need ? c : c + 1;
    }
    t[n] = 0;
    this.fixUp(n, k);
    this.used += 2 ** k;
    return (n - (1 << (TOP_ORDER - k))) << k;
  }

  /** True when the aligned block (off, 2^k) is entirely free. */
  isFree(off: number, k: number): boolean {
    const t = this.tree;
    const target = (1 << (TOP_ORDER - k)) + (off >> k);
    let n = 1;
    let o = TOP_ORDER;
    for (let d = TOP_ORDER - k - 1; d >= 0; d--) {
      const v = t[n];
      if (v === 0) return false;
      if (v === o + 1) return true;
      n = (n << 1) | ((target >> d) & 1);
      o--;
    }
    return t[n] === k + 1;
  }

  /** Reserves the aligned block (off, 2^k) if it is entirely free; false (and no change) if not. */
  tryReserve(off: number, k: number): boolean {
    const n = this.walkTo(off, k);
    if (n < 0 || this.tree[n] !== k + 1) return false;
    this.tree[n] = 0;
    this.fixUp(n, k);
    this.used += 2 ** k;
    return true;
  }

  /**
   * Sets the aligned block (off, 2^k) free. Every port in it must be held by the caller (as this
   * block or as reserved parts of it), never partly by someone else.
   */
  release(off: number, k: number): void {
    const n = (1 << (TOP_ORDER - k)) + (off >> k);
    this.tree[n] = k + 1;
    this.fixUp(n, k);
    this.used -= 2 ** k;
  }

  /**
   * Reserves every free part of the aligned block (off, 2^k) and reports each reserved aligned
   * piece through `piece(off, k)` in increasing offset order. Returns the number of ports reserved.
   */
  reservePieces(off: number, k: number, piece?: (off: number, k: number) => void): number {
    const n = this.walkTo(off, k);
    if (n < 0) return 0;
    const got = this.reserveFree(n, k, piece);
    if (got > 0) this.fixUp(n, k);
    this.used += got;
    return got;
  }

  /** Walks from the root to the node of (off, 2^k), pushing "all free" down; -1 on a full stop. */
  private walkTo(off: number, k: number): number {
    const t = this.tree;
    const target = (1 << (TOP_ORDER - k)) + (off >> k);
    let n = 1;
    let o = TOP_ORDER;
    for (let d = TOP_ORDER - k - 1; d >= 0; d--) {
      const v = t[n];
      if (v === 0) return -1;
      const c = n << 1;
      if (v === o + 1) {
        t[c] = o;
        t[c + 1] = o;
      }
      n = c | ((target >> d) & 1);
      o--;
    }
    return n;
  }

  private reserveFree(n: number, o: number, piece?: (off: number, k: number) => void): number {
    const t = this.tree;
    const v = t[n];
    if (v === 0) return 0;
    if (v === o + 1) {
      t[n] = 0;
      piece?.((n - (1 << (TOP_ORDER - o))) << o, o);
      return 2 ** o;
    }
    // partly free: o > 0 (a leaf is either free or not)
    const c = n << 1;
    const got = this.reserveFree(c, o - 1, piece) + this.reserveFree(c + 1, o - 1, piece);
    const l = t[c];
    const r = t[c + 1];
    t[n] = l === o && r === o ? o + 1 : l > r ? l : r;
    return got;
  }

  /** Recomputes the ancestors of node n (of order o), stopping as soon as one is unchanged. */
  private fixUp(n: number, o: number): void {
    const t = this.tree;
    while (n > 1) {
      n >>= 1;
      o++;
      const l = t[n << 1];
      const r = t[(n << 1) | 1];
      const v = l === o && r === o ? o + 1 : l > r ? l : r;
      if (t[n] === v) return;
      t[n] = v;
    }
  }
}
