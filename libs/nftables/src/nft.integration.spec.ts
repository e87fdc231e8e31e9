/**
 * The rendered scripts against the real nftables (1.0.6 here) in scratch network namespaces:
 * `nft -c` accepts full scripts, and real diffs between random documents leave exactly the table
 * a full load of the second document gives. Needs root and nft; skipped (with the reason) otherwise.
 */
import fc from 'fast-check';
import { HostDocument } from '@natplane/contracts';
import { renderDiff, renderFull } from './render';
import { InterfaceIds } from './interfaces';
import { documentAndChangeArb, documentArb } from './testing/arbitraries';
import { exampleDocument } from './testing/fixtures';
import { deleteNamespaces, kernelTestsUnavailable, listTable, makeNamespace, nft } from './testing/netns';

const unavailable = kernelTestsUnavailable();
const describeKernel = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`nft.integration.spec skipped: ${unavailable}`);

const opts = { uplink: 'up0' };

describeKernel('rendered scripts in the real nftables', () => {
  let work: string;
  let reference: string;
  beforeAll(() => {
    work = makeNamespace('np-nft');
    reference = makeNamespace('np-nft');
  });
  afterAll(() => deleteNamespaces());

  it('nft -c accepts the full script of the example document and of random documents', () => {
    nft(work, renderFull(exampleDocument(), opts), true);
    fc.assert(
      fc.property(documentArb, (doc) => {
        nft(work, renderFull(doc, opts), true);
      }),
      { numRuns: 15 },
    );
  });

  it('loads the example: one map per rule, a destination set, the sources chain, timeouts', () => {
    nft(work, renderFull(exampleDocument(), opts));
    const table = (listTable(work) ?? []).join('\n');
    const gw = 'g_7f3c2a10000040008000000000000001';
    expect(table).toContain(`map ${gw}_def: type ipv4_addr : interval ipv4_addr . inet_service | elements 10.99.0.2 : 203.0.113.5 . 1024-1087, 10.99.0.3 : 203.0.113.5 . 1088-1151`);
    expect(table).toContain(`map ${gw}_r100: type ipv4_addr : interval ipv4_addr . inet_service | elements 10.99.0.2 : 203.0.113.9 . 1024-1087, 10.99.0.3 : 203.0.113.9 . 1088-1151`);
    expect(table).toContain(`set ${gw}_r100_dst: type ipv4_addr | flags interval | elements 198.51.100.0/24`);
    expect(table).toContain(
      `chain sources: ct mark . ip saddr vmap @if_sources | ct mark . ip saddr vmap @if_aliases | ct mark 0x4e500000/16 return | ip saddr @${gw}_def jump ${gw} | ip saddr @${gw}_rest jump ${gw} | ip saddr vmap @aliases`,
    );
    expect(table).toContain(`ip daddr @${gw}_r100_dst meta l4proto { icmp, tcp, udp } snat ip to ip saddr map @${gw}_r100 fully-random`);
    expect(table).toContain(`ct timeout ${gw}_tcp_1200_30_30: protocol tcp | l3proto ip`);
    // drain blocks are not in nftables: 203.0.113.6 appears nowhere
    expect(table).not.toContain('203.0.113.6');
  });

  const roundTrip = (a: HostDocument, b: HostDocument) => {
    // the ids devices got when a was loaded are the ones the diff and the reference keep
    const interfaces = new InterfaceIds();
    nft(work, renderFull(a, { ...opts, interfaces }));
    const diff = renderDiff(a, b, { ...opts, interfaces });
    if (diff) nft(work, diff);
    nft(reference, renderFull(b, { ...opts, interfaces }));
    expect(listTable(work)).toEqual(listTable(reference));
  };

  it('a real diff between random documents gives the table of a full load', () => {
    fc.assert(fc.property(documentArb, documentArb, roundTrip), { numRuns: 12 });
  });

  it('a real diff for a small change gives the table of a full load', () => {
    fc.assert(fc.property(documentAndChangeArb, ([a, b]) => roundTrip(a, b)), { numRuns: 12 });
  });
});
