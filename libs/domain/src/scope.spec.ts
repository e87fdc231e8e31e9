import { withGatewayDefaults } from './gateway-rules';
import { endpointNatScope } from './scope';

const ep = { subnetName: 's1', aliasIpRanges: [{ ipCidrRange: '10.4.1.0/24', subnetworkRangeName: 'pods' }, { ipCidrRange: '10.0.0.16/28', subnetworkRangeName: '' }] };

describe('endpointNatScope', () => {
  it('ALL_SUBNETWORKS_ALL_IP_RANGES translates the primary address and every alias range', () => {
    const spec = withGatewayDefaults({ network: 'n', region: 'r' });
    expect(endpointNatScope(spec, ep)).toEqual({ natPrimary: true, aliasRanges: ['10.4.1.0/24', '10.0.0.16/28'] });
  });

  it('ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES leaves secondary alias ranges out', () => {
    const spec = withGatewayDefaults({ network: 'n', region: 'r', sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES' });
    expect(endpointNatScope(spec, ep)).toEqual({ natPrimary: true, aliasRanges: ['10.0.0.16/28'] });
  });

  it('LIST_OF_SUBNETWORKS: unlisted subnets are out of scope; listed secondary ranges only', () => {
    const spec = withGatewayDefaults({
      network: 'n',
      region: 'r',
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetworks: [{ name: 's1', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }],
    });
    expect(endpointNatScope(spec, ep)).toEqual({ natPrimary: false, aliasRanges: ['10.4.1.0/24'] });
    expect(endpointNatScope(spec, { ...ep, subnetName: 's2' })).toBeUndefined();
    expect(endpointNatScope(spec, { subnetName: 's1', aliasIpRanges: [] })).toBeUndefined();
  });
});
