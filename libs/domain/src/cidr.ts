/**
 * IPv4 and CIDR math over unsigned 32-bit numbers. Strict on input: a dotted quad of four decimal
 * octets 0..255 without leading zeros (no octal, hex or short forms such as `10.1`), and a CIDR
 * whose host bits are all zero. Everything else here works on parsed values.
 */

/** A parsed CIDR block: `network` is the first address as a uint32, `prefix` 0..32. */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; message: string };

const PREFIX = /^(0|[1-9][0-9]?)$/;
const TWO_32 = 2 ** 32;

/**
 * Parses a strict dotted-quad IPv4 address to a uint32: four decimal octets of at most 255, no
 * leading zeros. One pass over the characters (hosts' agents parse every address of a document of
 * 50,000 endpoints; splitting and a regular expression per octet were a tenth of a full load).
 */
export function parseIpv4(text: string): ParseOutcome<number> {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return notIpv4(text);
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3 && !(digits === 1 && octet === 0)) {
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return notIpv4(text);
    } else return notIpv4(text);
  }
  if (digits === 0 || dots !== 3) return notIpv4(text);
  return { ok: true, value: value * 256 + octet };
}

const notIpv4 = (text: string): ParseOutcome<number> => ({ ok: false, message: `'${text}' is not an IPv4 address like 192.0.2.10` });

export function isIpv4(text: string): boolean {
  return parseIpv4(text).ok;
}

/** Formats a uint32 as a dotted quad. */
export function formatIpv4(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) {
    throw new RangeError(`${value} is not a uint32 IPv4 address`);
  }
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Number of addresses in a block of this prefix length. */
export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** The network address of `ip` under `prefix` (host bits cleared). */
export function networkOf(ip: number, prefix: number): number {
  const size = blockSize(prefix);
  return ip - (ip % size);
}

/**
 * Parses `a.b.c.d/n`. Host bits must be zero: `10.0.0.1/24` is refused with a message that
 * suggests `10.0.0.0/24`.
 */
export function parseCidr(text: string): ParseOutcome<Cidr> {
  const invalid = { ok: false as const, message: `'${text}' is not an IPv4 CIDR like 10.0.0.0/24` };
  const slash = text.indexOf('/');
  if (slash < 0) return invalid;
  const ip = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip.ok || !PREFIX.test(prefixText)) return invalid;
  const prefix = Number(prefixText);
  if (prefix > 32) return invalid;
  const network = networkOf(ip.value, prefix);
  if (network !== ip.value) {
    return { ok: false, message: `host bits set; did you mean ${formatCidr({ network, prefix })}` };
  }
  return { ok: true, value: { network, prefix } };
}

export function isCidr(text: string): boolean {
  return parseCidr(text).ok;
}

/** Parses a CIDR that is known to be valid (stored data); throws a RangeError otherwise. */
export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new RangeError(parsed.message);
  return parsed.value;
}

export function formatCidr(block: Cidr): string {
  return `${formatIpv4(block.network)}/${block.prefix}`;
}

/** First and last address of the block, inclusive. */
export function cidrRange(block: Cidr): [first: number, last: number] {
  return [block.network, block.network + blockSize(block.prefix) - 1];
}

export function cidrContains(block: Cidr, ip: number): boolean {
  const [first, last] = cidrRange(block);
  return ip >= first && ip <= last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const [aFirst, aLast] = cidrRange(a);
  const [bFirst, bLast] = cidrRange(b);
  return aFirst <= bLast && bFirst <= aLast;
}

/** True when every address of `inner` lies in `outer` (a block contains itself). */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  const [oFirst, oLast] = cidrRange(outer);
  const [iFirst, iLast] = cidrRange(inner);
  return oFirst <= iFirst && iLast <= oLast;
}

/**
 * Every pair of overlapping blocks in `blocks`, as index pairs [i, j] with i < j, sorted.
 * Two CIDR blocks overlap only when one contains the other, so a sweep with a stack of enclosing
 * blocks finds them in O(n log n + pairs).
 */
export function findOverlappingPairs(blocks: readonly Cidr[]): Array<[number, number]> {
  const order = blocks
    .map((block, index) => ({ index, range: cidrRange(block) }))
    .sort((a, b) => a.range[0] - b.range[0] || b.range[1] - a.range[1] || a.index - b.index);
  const pairs: Array<[number, number]> = [];
  const open: typeof order = [];
  for (const current of order) {
    while (open.length > 0 && open[open.length - 1].range[1] < current.range[0]) open.pop();
    for (const enclosing of open) {
      pairs.push(enclosing.index < current.index ? [enclosing.index, current.index] : [current.index, enclosing.index]);
    }
    open.push(current);
  }
  return pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/**
 * The usable host addresses of a block, in order: for prefixes below /31 the network and
 * broadcast addresses are skipped; a /31 yields both addresses (RFC 3021) and a /32 its one.
 */
export function hostRange(block: Cidr): [first: number, last: number] {
  const [first, last] = cidrRange(block);
  if (block.prefix >= 31) return [first, last];
  return [first + 1, last - 1];
}

export function hostCount(block: Cidr): number {
  const [first, last] = hostRange(block);
  return last - first + 1;
}

/**
 * The first host address of the pool blocks (in the order given, each in ascending order) that is
 * not in `taken`, or undefined when the pool is full. For "take an address from a pool".
 */
export function firstFreeAddress(blocks: readonly Cidr[], taken: ReadonlySet<number>): number | undefined {
  for (const block of blocks) {
    const [first, last] = hostRange(block);
    for (let ip = first; ip <= last; ip++) {
      if (!taken.has(ip)) return ip;
    }
  }
  return undefined;
}

/** True when `ip` is a host address (not network or broadcast) of one of the pool blocks. */
export function isHostAddressOf(blocks: readonly Cidr[], ip: number): boolean {
  return blocks.some((block) => {
    const [first, last] = hostRange(block);
    return ip >= first && ip <= last;
  });
}
