import { planChange } from './plan';
import { blockList, blockSingle, num, str, strSet, type Schema } from './schema';
import { Unknown, type TfObject } from './values';

const schema: Schema = {
  name: str('name', { required: true, forceNew: true }),
  network: str('network', { required: true, forceNew: true, reference: true }),
  description: str('d', { optional: true, absentIs: '' }),
  min_ports: num('m', { optional: true, computed: true }),
  nat_ips: strSet('ips', { optional: true }),
  id: str('id', { computed: true }),
  token: str('t', { computed: true, sensitive: true, writeOnce: true }),
  etag: str('etag', { computed: true, volatile: true }),
  rules: blockList('rules', { rule_number: num('n', { required: true }), note: str('note', { optional: true, computed: true }) }),
  log: blockSingle('log', { enable: str('e', { optional: true, computed: true }) }),
};

const full = (o: Partial<TfObject>): TfObject => ({ name: null, network: null, description: null, min_ports: null, nat_ips: null, id: null, token: null, etag: null, rules: [], log: null, ...o });

describe('planning a change', () => {
  it('create: computed attributes the configuration leaves null are unknown, in nested blocks too; set ones are kept', () => {
    const config = full({ name: 'gw', network: 'net', min_ports: 128, rules: [{ rule_number: 1, note: null }], log: { enable: null } });
    const { planned, requiresReplace } = planChange(schema, null, config, config);
    expect(planned).toEqual(full({ name: 'gw', network: 'net', min_ports: 128, id: Unknown, token: Unknown, etag: Unknown, rules: [{ rule_number: 1, note: Unknown }], log: { enable: Unknown } }));
    expect(requiresReplace).toEqual([]);
  });

  const prior = full({ name: 'gw', network: 'net', min_ports: 64, id: 'u-1', token: null, etag: '"1"', rules: [{ rule_number: 1, note: 'n' }], log: { enable: 'x' } });

  it('no change: the plan is the prior state (volatile and computed values kept, a never-known token stays null)', () => {
    const config = full({ name: 'gw', network: 'net', rules: [{ rule_number: 1, note: null }], log: { enable: null } });
    // Terraform's proposed state carries prior values of computed attributes the config leaves null
    const proposed = { ...prior };
    expect(planChange(schema, prior, proposed, config)).toEqual({ planned: prior, requiresReplace: [] });
  });

  it('update in place: volatile attributes become unknown, others keep their values', () => {
    const config = full({ name: 'gw', network: 'net', description: 'new', rules: [{ rule_number: 1, note: null }], log: { enable: null } });
    const proposed = { ...prior, description: 'new' };
    const { planned, requiresReplace } = planChange(schema, prior, proposed, config);
    expect(planned).toEqual({ ...prior, description: 'new', etag: Unknown });
    expect(requiresReplace).toEqual([]);
  });

  it('a local setting (timeouts) added, e.g. after an import, changes no API value: etag and state stay known', () => {
    const s: Schema = { ...schema, timeouts: blockSingle('t', { create: str('c', { optional: true }) }, { api: false }) };
    const p = { ...prior, timeouts: null };
    const { planned } = planChange(s, p, { ...p, timeouts: { create: '1m' } }, full({ name: 'gw', network: 'net', timeouts: { create: '1m' } }));
    expect(planned).toEqual({ ...p, timeouts: { create: '1m' } });
  });

  it('a set compared without order is no change', () => {
    const p = { ...prior, nat_ips: ['a', 'b'] };
    const { planned } = planChange(schema, p, { ...p, nat_ips: ['b', 'a'] }, full({ name: 'gw', network: 'net', nat_ips: ['b', 'a'] }));
    expect(planned!.etag).toBe('"1"');
  });

  it('an immutable attribute that changes (or becomes unknown) requires replacement', () => {
    expect(planChange(schema, prior, { ...prior, network: 'other' }, full({ name: 'gw', network: 'other' })).requiresReplace).toEqual([['network']]);
    expect(planChange(schema, prior, { ...prior, name: 'gw2', network: Unknown }, full({ name: 'gw2', network: Unknown })).requiresReplace).toEqual([['name'], ['network']]);
  });

  it('destroy: the plan is null', () => {
    expect(planChange(schema, prior, null, null)).toEqual({ planned: null, requiresReplace: [] });
  });
});
