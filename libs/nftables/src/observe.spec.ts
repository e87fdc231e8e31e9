import { parseSetCounters, renderObservation } from './observe';

describe('renderObservation', () => {
  it('creates the table afresh, counts attempts before SNAT and translations after it', () => {
    const s = renderObservation('up0', { trace: false });
    expect(s.split('\n').slice(0, 3)).toEqual(['add table ip natplane_obs', 'delete table ip natplane_obs', 'add table ip natplane_obs']);
    expect(s).toContain('priority srcnat - 1');
    expect(s).toContain('priority srcnat + 1');
    expect(s).toContain('oifname "up0" ct status & confirmed == 0 update @attempts { iifname . ip saddr . meta l4proto }');
    expect(s).toContain('update @translated { iifname . ct original ip saddr . ct reply ip daddr }');
    expect(s).not.toContain('nftrace');
    expect(renderObservation('up0', { trace: true })).toContain('meta nftrace set 1');
  });
});

describe('parseSetCounters', () => {
  it('reads the elements of nft -j list set with their counters', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          set: {
            name: 'attempts',
            elem: [
              { elem: { val: { concat: ['vm-h', '10.99.0.2', 'udp'] }, counter: { packets: 12, bytes: 362 } } },
              { elem: { val: { concat: ['vm-h', '10.99.0.2', 'tcp'] }, counter: { packets: 3, bytes: 180 } } },
            ],
          },
        },
      ],
    });
    expect(parseSetCounters(json)).toEqual([
      { key: ['vm-h', '10.99.0.2', 'udp'], packets: 12, bytes: 362 },
      { key: ['vm-h', '10.99.0.2', 'tcp'], packets: 3, bytes: 180 },
    ]);
    expect(parseSetCounters('{"nftables":[{"set":{"name":"attempts"}}]}')).toEqual([]);
  });
});
