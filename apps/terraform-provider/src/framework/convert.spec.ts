import { fromApi, mergePatch, toApi } from './convert';
import { blockList, blockSingle, num, str, strMap, strSet, type Schema } from './schema';
import { Unknown, type TfObject } from './values';

const schema: Schema = {
  project: str('p', { optional: true, computed: true, api: false }),
  name: str('n', { required: true }),
  description: str('d', { optional: true, absentIs: '' }),
  labels: strMap('l', { optional: true, absentIs: {} }),
  network: str('net', { required: true, reference: true }),
  nat_ips: strSet('ips', { optional: true, reference: true, absentIs: [] }),
  min_ports_per_vm: num('m', { optional: true, computed: true }),
  token: str('t', { computed: true, writeOnce: true }),
  state: str('s', { computed: true, read: (o) => (o.status as { state: string }).state }),
  subnetwork: blockList('sn', { name: str('n', { required: true, reference: true }), ranges: strSet('r', { optional: true, computed: true }) }, { api: 'subnetworks', key: 'name' }),
  log_config: blockSingle('lc', { enable: str('e', { optional: true, computed: true }) }, { emptyWhen: (o) => o.enable === 'off' }),
};

const api = {
  name: 'gw',
  description: '',
  labels: {},
  network: 'net-1',
  natIps: ['ip-1', 'ip-2'],
  minPortsPerVm: 64,
  status: { state: 'READY' },
  subnetworks: [
    { name: 's-b', ranges: ['ALL'] },
    { name: 's-a', ranges: ['ALL'] },
  ],
  logConfig: { enable: 'off' },
};

describe('state <-> API', () => {
  it('toApi: camelCase fields, no nulls or unknowns, no computed-only or non-API attributes', () => {
    const v: TfObject = { project: 'p', name: 'gw', description: null, labels: null, network: 'net-1', nat_ips: ['a'], min_ports_per_vm: Unknown, token: Unknown, state: Unknown, subnetwork: [{ name: 's', ranges: null }], log_config: null };
    expect(toApi(schema, v)).toEqual({ name: 'gw', network: 'net-1', natIps: ['a'], subnetworks: [{ name: 's' }] });
  });

  it('fromApi after an import (no hint): canonical forms, server "empty" values and default blocks read as unset', () => {
    expect(fromApi(schema, api, null)).toEqual({
      project: null,
      name: 'gw',
      description: null,
      labels: null,
      network: 'net-1',
      nat_ips: ['ip-1', 'ip-2'],
      min_ports_per_vm: 64,
      token: null,
      state: 'READY',
      subnetwork: [
        { name: 's-b', ranges: ['ALL'] },
        { name: 's-a', ranges: ['ALL'] },
      ],
      log_config: null,
    });
  });

  it('fromApi with the prior state: references kept as written, list blocks in the written order, write-once values kept', () => {
    const hint: TfObject = {
      project: 'p',
      name: 'gw',
      description: null,
      labels: null,
      network: 'projects/p/networks/net-1',
      nat_ips: ['https://api/v1/projects/p/addresses/ip-2', 'ip-1'],
      min_ports_per_vm: 64,
      token: 'secret',
      state: 'READY',
      subnetwork: [
        { name: 'projects/p/subnets/s-a', ranges: null },
        { name: 's-b', ranges: null },
      ],
      log_config: { enable: 'off' },
    };
    const v = fromApi(schema, api, hint);
    expect(v.project).toBe('p');
    expect(v.network).toBe('projects/p/networks/net-1');
    expect(v.nat_ips).toEqual(['ip-1', 'https://api/v1/projects/p/addresses/ip-2']);
    expect(v.subnetwork).toEqual([
      { name: 'projects/p/subnets/s-a', ranges: ['ALL'] },
      { name: 's-b', ranges: ['ALL'] },
    ]);
    expect(v.token).toBe('secret');
    // a block that was written stays, even with the server's default values
    expect(v.log_config).toEqual({ enable: 'off' });
  });

  it('a reference to another object is not kept in the old form', () => {
    expect(fromApi(schema, { ...api, network: 'net-2' }, { network: 'projects/p/networks/net-1' }).network).toBe('net-2');
  });

  it('mergePatch: only what changed; null where an optional value was removed; unknowns left out', () => {
    const prior: TfObject = { project: 'p', name: 'gw', description: 'x', labels: { a: '1' }, network: 'net-1', nat_ips: ['a', 'b'], min_ports_per_vm: 64, token: null, state: 'READY', subnetwork: [], log_config: null };
    expect(mergePatch(schema, prior, { ...prior, nat_ips: ['b', 'a'] })).toEqual({});
    expect(mergePatch(schema, prior, { ...prior, description: null, labels: null, min_ports_per_vm: 128, state: Unknown, subnetwork: [{ name: 's', ranges: null }] })).toEqual({
      description: null,
      labels: null,
      minPortsPerVm: 128,
      subnetworks: [{ name: 's' }],
    });
  });
});
