/**
 * The device ids (conntrack zones, see libs/nftables/src/interfaces.ts) of the table the agent
 * finds at start: kept, so that a restart does not move live connections to other zones.
 */
import { IF_ZONES, TABLE } from '@natplane/nftables';
import { runCommand } from './nft-session';

/** Parses `nft -j list map ip natplane if_zones`: [device, zone] pairs. */
export function parseInterfaceZones(json: string): [string, number][] {
  const doc = JSON.parse(json) as { nftables?: { map?: { elem?: unknown[] } }[] };
  const out: [string, number][] = [];
  for (const item of doc.nftables ?? []) {
    for (const e of item.map?.elem ?? []) {
      if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number') out.push([e[0], e[1]]);
    }
  }
  return out;
}

/** The ids in the kernel now; none when the table or the map is not there (a first start). */
export async function readInterfaceIds(netns: string | undefined): Promise<[string, number][]> {
  const r = await runCommand(netns, 'nft', ['-j', 'list', 'map', ...TABLE.split(' '), IF_ZONES]);
  if (r.code !== 0) return [];
  return parseInterfaceZones(r.stdout);
}
