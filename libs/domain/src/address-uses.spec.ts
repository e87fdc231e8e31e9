import { gatewayAddressUses } from './address-uses';
import { DEFAULT_RULE } from './gateway-spec';

describe('gatewayAddressUses', () => {
  it('lists natIps, drainNatIps, then each rule active before drain, with the field naming each', () => {
    const rule = (ruleNumber: number, active: string[], drain: string[]) => ({ ruleNumber, description: '', match: 'true', action: { sourceNatActiveIps: active, sourceNatDrainIps: drain } });
    const uses = gatewayAddressUses({ natIps: ['a', 'b'], drainNatIps: ['c'], rules: [rule(10, ['d'], ['e', 'f']), rule(5, [], ['g'])] });
    expect(uses).toEqual([
      { name: 'a', ruleNumber: DEFAULT_RULE, draining: false, field: 'natIps[0]' },
      { name: 'b', ruleNumber: DEFAULT_RULE, draining: false, field: 'natIps[1]' },
      { name: 'c', ruleNumber: DEFAULT_RULE, draining: true, field: 'drainNatIps[0]' },
      { name: 'd', ruleNumber: 10, draining: false, field: 'rules[0].action.sourceNatActiveIps[0]' },
      { name: 'e', ruleNumber: 10, draining: true, field: 'rules[0].action.sourceNatDrainIps[0]' },
      { name: 'f', ruleNumber: 10, draining: true, field: 'rules[0].action.sourceNatDrainIps[1]' },
      { name: 'g', ruleNumber: 5, draining: true, field: 'rules[1].action.sourceNatDrainIps[0]' },
    ]);
  });
});
