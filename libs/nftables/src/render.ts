/**
 * Rendering of host documents to nft scripts (text, one command per line; the whole script is one
 * transaction when given to `nft -f`, or joined with `; ` on one line of `nft -i`).
 */
import { HostDocument } from '@natplane/contracts';
import { diffStates } from './diff';
import { TABLE } from './names';
import { InterfaceIds } from './interfaces';
import { documentState, emptyState, isValidInterfaceName } from './state';

export interface RenderOptions {
  /** The interface towards the outside: SNAT applies to packets leaving through it. */
  uplink: string;
  /**
   * The ids (zones, marks) of the devices endpoints name: the agent keeps one for the table's life,
   * so that a device keeps its id from one document to the next (a fresh one per call otherwise).
   */
  interfaces?: InterfaceIds;
}

function checkOptions(opts: RenderOptions): void {
  if (!isValidInterfaceName(opts.uplink)) throw new Error(`invalid uplink interface name: ${JSON.stringify(opts.uplink)}`);
}

/**
 * The script that replaces table `ip natplane` whole, atomically: it creates the table (a no-op
 * if it exists), deletes it and builds it again, in one transaction. The document must be valid.
 */
export function renderFull(doc: HostDocument, opts: RenderOptions): string {
  checkOptions(opts);
  const lines = [`add table ${TABLE}`, `delete table ${TABLE}`, `add table ${TABLE}`, ...diffStates(emptyState(), documentState(doc, opts.uplink, opts.interfaces))];
  return `${lines.join('\n')}\n`;
}

/**
 * The script that turns the table of `prev` (as renderFull or earlier diffs left it) into the
 * table of `next`, changing only what differs. Empty when nothing differs.
 */
export function renderDiff(prev: HostDocument, next: HostDocument, opts: RenderOptions): string {
  checkOptions(opts);
  const ids = opts.interfaces ?? new InterfaceIds();
  const lines = diffStates(documentState(prev, opts.uplink, ids), documentState(next, opts.uplink, ids));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
