import { ApiError } from '@natplane/sdk';
import { apiDiagnostics, attributePath, parseFieldPath } from './diagnostics';
import { blockList, blockSingle, num, str, strList, strSet, type Schema } from './schema';

const schema: Schema = {
  nat_ips: strSet('ips', { optional: true }),
  cidrs: strList('cidrs', { optional: true }),
  min_ports_per_vm: num('m', { optional: true }),
  subnetwork: blockList('sn', { name: str('n', { required: true }) }, { api: 'subnetworks' }),
  rules: blockList('r', { match: str('m', { required: true }), action: blockSingle('a', { source_nat_active_ips: strSet('ips', { optional: true }) }) }),
};

describe('API field errors as attribute paths', () => {
  it('parses API field paths', () => {
    expect(parseFieldPath('rules[0].action.sourceNatActiveIps[1]')).toEqual(['rules', 0, 'action', 'sourceNatActiveIps', 1]);
  });

  it.each([
    ['minPortsPerVm', ['min_ports_per_vm']],
    ['natIps[1]', ['nat_ips']], // a set element cannot be addressed
    ['cidrs[2]', ['cidrs', 2]],
    ['subnetworks[0]', ['subnetwork', 0]],
    ['subnetworks[0].name', ['subnetwork', 0, 'name']],
    ['rules[3].match', ['rules', 3, 'match']],
    ['rules[0].action.sourceNatActiveIps[0]', ['rules', 0, 'action', 'source_nat_active_ips']],
    ['unknownField', []],
  ])('%s -> %j', (field, path) => {
    expect(attributePath(schema, field)).toEqual(path);
  });

  it('a 400 problem: one error per field, on its attribute; other problems: one error with the detail', () => {
    const bad = new ApiError(400, { type: 't', title: 'Bad Request', status: 400, detail: 'invalid', errors: [{ field: 'rules[1].match', message: "unexpected token at 5" }, { field: 'minPortsPerVm', message: 'too big' }] });
    expect(apiDiagnostics(bad, schema, 'creating natplane_nat_gateway')).toEqual([
      { severity: 'ERROR', summary: 'creating natplane_nat_gateway: 400 Bad Request', detail: 'rules[1].match: unexpected token at 5', path: ['rules', 1, 'match'] },
      { severity: 'ERROR', summary: 'creating natplane_nat_gateway: 400 Bad Request', detail: 'minPortsPerVm: too big', path: ['min_ports_per_vm'] },
    ]);
    const conflict = new ApiError(409, { type: 't', title: 'Conflict', status: 409, detail: "address 'a' is used by natGateway 'b'" });
    expect(apiDiagnostics(conflict, schema, 'x')).toEqual([{ severity: 'ERROR', summary: 'x: 409 Conflict', detail: "address 'a' is used by natGateway 'b'", path: undefined }]);
  });
});
