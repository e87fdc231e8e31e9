import { gatewayAddressUses, gatewayRangeUses, privateNatAddresses } from './address-uses';
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

describe('privateNatAddresses', () => {
  it('every usable address of the range, in order', () => {
    expect(privateNatAddresses('100.64.1.0/29')).toEqual(['100.64.1.1', '100.64.1.2', '100.64.1.3', '100.64.1.4', '100.64.1.5', '100.64.1.6']);
    expect(privateNatAddresses('100.64.1.8/31')).toEqual(['100.64.1.8', '100.64.1.9']);
    expect(privateNatAddresses('100.64.1.9/32')).toEqual(['100.64.1.9']);
    expect(privateNatAddresses('100.64.0.0/24')).toHaveLength(254);
  });
});

describe('gatewayRangeUses', () => {
  it("each rule's sourceNatActiveRanges with its field; a rule stored without the field has none", () => {
    const rules = [
      { ruleNumber: 10, description: '', match: 'm', action: { sourceNatActiveIps: [], sourceNatDrainIps: [], sourceNatActiveRanges: ['a', 'b'] } },
      { ruleNumber: 5, description: '', match: 'm', action: { sourceNatActiveIps: [], sourceNatDrainIps: [] } },
    ];
    expect(gatewayRangeUses({ rules })).toEqual([
      { name: 'a', ruleNumber: 10, field: 'rules[0].action.sourceNatActiveRanges[0]' },
      { name: 'b', ruleNumber: 10, field: 'rules[0].action.sourceNatActiveRanges[1]' },
    ]);
  });
});
