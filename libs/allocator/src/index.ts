/**
 * libs/allocator: which NAT IP and which source-port block each endpoint may use.
 * Pure and deterministic: no I/O, no clock but `input.now`; the same input gives the same output.
 * Every rule about ports lives in this library.
 *
 * Contract (../../shared/DESIGN.md "The allocation contract", invariants 1-9):
 * - Ports 1024..65535, 64,512 per NAT IP. A block is 2^k ports, k <= 15, with portLo - 1024 a
 *   multiple of its size: one IP holds floor(64512 / P) blocks of P (1,008 at 64, 15 at 4,096,
 *   1 at 32,768). Per NAT IP a buddy tree (buddy.ts) places and frees blocks in O(16).
 * - Rules: DEFAULT_RULE (-1) is the default IP set, every other ruleNumber a rule. Each endpoint in
 *   scope gets at most ONE ACTIVE block per rule, on one of that rule's active IPs; it may also
 *   hold DRAIN and QUARANTINE blocks.
 * - Static: P = next power of two >= minPortsPerVm (>= 1,024 with NATed alias ranges), clamped to
 *   32,768 (65,536 cannot fit in 64,512 ports). Changing minPortsPerVm resizes everybody: shrinking
 *   keeps the lower part in place; growing takes the containing aligned block in place when it is
 *   free, else a fresh block; with no room the endpoint keeps its old block, counted in
 *   rules[].endpointsBelowMinPorts and minExtraIpsNeeded, until room appears.
 * - Dynamic: sizes between lo = next power of two >= minPortsPerVm (>= 1,024 with NATed alias
 *   ranges, unless max is lower) and hi = largest power of two <= maxPortsPerVm (<= 32,768).
 *   New endpoints start at lo. A block doubles when the latest usage report made after it got its
 *   size uses more than 75% of it; it halves when it has had its size for 10 minutes and every
 *   one of at least 3 reports of the last 10 minutes used at most 25% of it (hysteresis: the
 *   halved block is then at most 50% used, far from the 75% growth line). One step per run.
 *   Growth takes the free buddy (in place, the endpoint keeps ONE contiguous block); when the
 *   buddy is taken the endpoint moves to a fresh block of the doubled size and the old one goes to
 *   QUARANTINE (its flows live on in conntrack, nobody else gets those ports before the
 *   quarantine ends); with no room at all it stays as it is. A shrink keeps the lower half and
 *   quarantines the upper one. Every endpoint gets its minimum before anybody grows.
 * - Placement: deterministic and packed. Endpoints needing a block are placed larger blocks first,
 *   then by endpoint id, on the rule's active IPs in listed order, lowest free aligned block first.
 *   An endpoint that already holds a block keeps it (invariant 6): adding IPs or endpoints,
 *   removing other endpoints, changing timeouts moves nobody.
 * - Draining: an ACTIVE block on an IP that is now in the rule's drainIps becomes DRAIN (same
 *   endpoint, flows live on) and the endpoint gets a new ACTIVE block on an active IP; no block is
 *   ever placed on a drain IP. A block on an IP gone from both lists, the blocks of an endpoint
 *   out of scope or of a deleted rule, and DRAIN blocks of an IP that left the drain list become
 *   QUARANTINE.
 * - Quarantine (invariant 8): until = now + max(max(idleTimeoutsSec), 120) s; nobody else gets any
 *   of its ports before then; the block leaves the output once now >= until. The SAME endpoint may
 *   take its own quarantined block back (un-release: re-added endpoint, growth over its own old
 *   half, IP drained then re-activated). Quarantined blocks of IPs that left the gateway stay in
 *   the output until they end, so the worker can hand them to the IP's next gateway as `foreign`.
 *   `foreign` reservations are never allocated over.
 * - Shortage (invariant 9): an endpoint that does not fit gets no ACTIVE block (change UNMAPPED).
 *   rules[].minExtraIpsNeeded is the exact smallest number k of extra fresh IPs, appended to the
 *   rule's active IPs, with which the same placement gives every endpoint in scope its block of
 *   the minimum size: the unplaced blocks, larger first, first-fit on k empty IPs (ports.ts
 *   freshIpsNeeded; equal sizes reduce to ceil(n / floor(64512 / P))). minExtraNatIpsNeeded is the
 *   default rule's figure. AUTO_ONLY: autoIpsToAdd = that figure, autoIpsToRelease = drained
 *   default IPs that hold no block of this gateway any more.
 * - changes: per endpoint and rule against `previous`: ADDED, MOVED, RESIZED (same IP, old and new
 *   block overlap), DRAINED, RELEASED (endpoint, rule or IP gone; DRAIN blocks ending), UNMAPPED
 *   (in scope, no ACTIVE block: listed on every run while it lasts, since an unmapped endpoint
 *   leaves no trace in `previous`). Unchanged endpoints are not listed. Order: endpoints by id,
 *   then releases.
 * - Speed: pass `endpoints` sorted by id (JavaScript string order) to skip a sort. For one
 *   endpoint at a time use `Allocator` (addEndpoint / removeEndpoint, then result()).
 */
export * from './types';
export { Allocator, allocate } from './allocator';
export {
  ALIAS_MIN_ORDER,
  GROW_USAGE_RATIO,
  MAX_BLOCK,
  MAX_BLOCK_ORDER,
  SHRINK_MIN_SAMPLES,
  SHRINK_USAGE_RATIO,
  SHRINK_WINDOW_MS,
  blocksPerIp,
  freshIpsNeeded,
  isValidBlock,
  quarantineMs,
  sizeBounds,
} from './ports';
export { verifyAllocation } from './verify';
