/**
 * The devices of a host shared by networks (docs/host-protocol.md, "Hosts shared by networks").
 *
 * Every device an endpoint names as `hostInterface` gets a small number, its id (1..16383), which
 * is at once:
 * - its conntrack zone for the original direction, so that two networks' identical tuples (both VMs
 *   10.0.0.2:40000 -> server:443) are two connections (replies stay in zone 0, where SNAT made
 *   them unique);
 * - the low bits of its mark, 0x4e50_0000 | id: set on every packet that comes in on the device,
 *   copied to the connection, keyed with the source address in the SNAT maps (`ct mark . ip
 *   saddr`), and put back on the connection's replies, so that a routing rule per device
 *   (`fwmark <mark> lookup <mark>`) delivers them to it whatever the main table says.
 *
 * Ids must stay the same for a device as long as it is named (a new id would move its live
 * connections to another zone, and break them), including across agent restarts: the agent seeds
 * the allocator from the `if_marks` map of the table it finds. Ids are handed out round-robin, so
 * that an id freed by one device is not given to the next device at once. 16383 keeps the ids
 * clear of the 0x4000 and 0x8000 packet-mark bits that kube-proxy uses.
 */
export const MARK_TAG = 0x4e500000;
export const MARK_TAG_MASK = 0xffff0000;
export const MAX_INTERFACE_ID = 0x3fff;

/** A mark as nft writes it: 0x followed by 8 hex digits. */
export function formatMark(mark: number): string {
  return `0x${(mark >>> 0).toString(16).padStart(8, '0')}`;
}

export function markOfId(id: number): number {
  return (MARK_TAG | id) >>> 0;
}

export class InterfaceIds {
  private readonly ids = new Map<string, number>();
  private readonly used = new Set<number>();
  private next = 1;

  /** Ids already in use (from the table the agent found), kept as they are. */
  constructor(seed: Iterable<[string, number]> = []) {
    for (const [name, id] of seed) {
      if (!Number.isInteger(id) || id < 1 || id > MAX_INTERFACE_ID || this.used.has(id)) continue;
      this.ids.set(name, id);
      this.used.add(id);
      this.next = (id % MAX_INTERFACE_ID) + 1;
    }
  }

  /** The device's id, allocated on first use. */
  of(name: string): number {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    if (this.used.size >= MAX_INTERFACE_ID) throw new Error(`more than ${MAX_INTERFACE_ID} devices named on one host`);
    while (this.used.has(this.next)) this.next = (this.next % MAX_INTERFACE_ID) + 1;
    const id = this.next;
    this.next = (id % MAX_INTERFACE_ID) + 1;
    this.ids.set(name, id);
    this.used.add(id);
    return id;
  }

  mark(name: string): number {
    return markOfId(this.of(name));
  }

  /** Frees the ids of every device not in `names` (call once a document without them is applied). */
  retain(names: ReadonlySet<string>): void {
    for (const [name, id] of this.ids) {
      if (names.has(name)) continue;
      this.ids.delete(name);
      this.used.delete(id);
    }
  }

  entries(): [string, number][] {
    return [...this.ids];
  }
}

/** Every device the endpoints of a document name. */
export function namedInterfaces(doc: { gateways: { endpoints: { hostInterface?: string }[] }[] }): Set<string> {
  const out = new Set<string>();
  for (const g of doc.gateways) for (const e of g.endpoints) if (e.hostInterface !== undefined) out.add(e.hostInterface);
  return out;
}
