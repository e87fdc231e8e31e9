import fc from 'fast-check';
import { InvalidArgumentError } from './errors';
import {
  assertValidGatewaySpec,
  gatewayAddresses,
  GATEWAY_DEFAULTS,
  isPowerOfTwo,
  NatGatewayInput,
  validateGatewaySpec,
  withGatewayDefaults,
} from './gateway-rules';
import { NatGatewaySpec } from './gateway-spec';
import { applyMergePatch } from './merge-patch';

const auto = (over: NatGatewayInput = {}): NatGatewaySpec => withGatewayDefaults({ network: 'net', region: 'us-east1', ...over });
const manual = (over: NatGatewayInput = {}): NatGatewaySpec =>
  auto({ natIpAllocateOption: 'MANUAL_ONLY', natIps: ['ip-a', 'ip-b'], ...over });
const rule = (ruleNumber: number, active: string[], drain: string[] = [], match = "destination.ip == '1.1.1.1'") => ({
  ruleNumber,
  match,
  action: { sourceNatActiveIps: active, sourceNatDrainIps: drain },
});
/** The spec as JSON would give it: any shape, typed as a spec. */
const untyped = (value: unknown) => value as NatGatewaySpec;

function errorsOf(next: NatGatewaySpec, previous?: NatGatewaySpec) {
  return validateGatewaySpec(next, previous);
}
function expectValid(next: NatGatewaySpec, previous?: NatGatewaySpec) {
  expect(errorsOf(next, previous)).toEqual([]);
}
function expectError(next: NatGatewaySpec, previous: NatGatewaySpec | undefined, field: string, message: string | RegExp) {
  expect(errorsOf(next, previous)).toContainEqual({ field, message: typeof message === 'string' ? message : expect.stringMatching(message) });
}
function expectOnly(next: NatGatewaySpec, previous: NatGatewaySpec | undefined, field: string, message: string | RegExp) {
  const errors = errorsOf(next, previous);
  expect(errors).toHaveLength(1);
  expectError(next, previous, field, message);
}

describe('withGatewayDefaults', () => {
  it('fills every server default', () => {
    expect(withGatewayDefaults({ network: 'net', region: 'r1' })).toEqual({
      network: 'net',
      region: 'r1',
      type: 'PUBLIC',
      natIpAllocateOption: 'AUTO_ONLY',
      natIps: [],
      drainNatIps: [],
      maxDrainDurationSec: 0,
      sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
      subnetworks: [],
      minPortsPerVm: 64,
      maxPortsPerVm: 65536,
      enableDynamicPortAllocation: false,
      enableEndpointIndependentMapping: false,
      udpIdleTimeoutSec: 30,
      icmpIdleTimeoutSec: 30,
      tcpEstablishedIdleTimeoutSec: 1200,
      tcpTransitoryIdleTimeoutSec: 30,
      tcpTimeWaitTimeoutSec: 30,
      logConfig: { enable: false, filter: 'ALL' },
      rules: [],
    });
  });

  it('picks MANUAL_ONLY when natIps are given', () => {
    expect(withGatewayDefaults({ natIps: ['a'] }).natIpAllocateOption).toBe('MANUAL_ONLY');
    expect(withGatewayDefaults({ natIps: [] }).natIpAllocateOption).toBe('AUTO_ONLY');
    expect(withGatewayDefaults({ natIps: ['a'], natIpAllocateOption: 'AUTO_ONLY' }).natIpAllocateOption).toBe('AUTO_ONLY');
  });

  it('defaults minPortsPerVm to 32 with dynamic allocation and keeps a given value as given', () => {
    expect(withGatewayDefaults({ enableDynamicPortAllocation: true }).minPortsPerVm).toBe(32);
    expect(withGatewayDefaults({ minPortsPerVm: 50 }).minPortsPerVm).toBe(50);
  });

  it('fills subnetwork and rule defaults', () => {
    const spec = withGatewayDefaults({
      subnetworks: [{ name: 's1' }, { name: 's2', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }],
      rules: [{ ruleNumber: 1, match: "destination.ip == '1.1.1.1'" }],
      logConfig: { enable: true },
    });
    expect(spec.subnetworks).toEqual([
      { name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES'], secondaryIpRangeNames: [] },
      { name: 's2', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'], secondaryIpRangeNames: [] },
    ]);
    expect(spec.rules).toEqual([
      { ruleNumber: 1, description: '', match: "destination.ip == '1.1.1.1'", action: { sourceNatActiveIps: [], sourceNatDrainIps: [], sourceNatActiveRanges: [] } },
    ]);
    expect(spec.logConfig).toEqual({ enable: true, filter: 'ALL' });
  });

  it('keeps every given value', () => {
    const full: NatGatewaySpec = {
      ...manual(),
      drainNatIps: ['ip-c'],
      maxDrainDurationSec: 350,
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetworks: [{ name: 's', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }],
      minPortsPerVm: 128,
      maxPortsPerVm: 4096,
      enableDynamicPortAllocation: true,
      enableEndpointIndependentMapping: true,
      udpIdleTimeoutSec: 1,
      icmpIdleTimeoutSec: 2,
      tcpEstablishedIdleTimeoutSec: 3,
      tcpTransitoryIdleTimeoutSec: 4,
      tcpTimeWaitTimeoutSec: 5,
      logConfig: { enable: true, filter: 'ERRORS_ONLY' },
      rules: [{ ruleNumber: 7, description: 'd', match: 'm', action: { sourceNatActiveIps: ['x'], sourceNatDrainIps: ['y'], sourceNatActiveRanges: ['z'] } }],
    };
    expect(withGatewayDefaults(full)).toEqual(full);
  });

  it('shares no array with its input', () => {
    const input = { natIps: ['a'], rules: [rule(1, ['b'])], subnetworks: [{ name: 's', secondaryIpRangeNames: ['r'] }] };
    const spec = withGatewayDefaults(input);
    spec.natIps.push('z');
    spec.rules[0].action.sourceNatActiveIps.push('z');
    spec.subnetworks[0].secondaryIpRangeNames.push('z');
    expect(input).toEqual({ natIps: ['a'], rules: [rule(1, ['b'])], subnetworks: [{ name: 's', secondaryIpRangeNames: ['r'] }] });
    expect(GATEWAY_DEFAULTS.natIps).toEqual([]);
  });

  it('passes values of the wrong kind on for validation to report, never repairs them', () => {
    const spec = withGatewayDefaults({ network: 'n', region: 'r', natIps: 'ip-a', rules: [null, { ruleNumber: 1, match: 'm', action: 'x' }] } as unknown as NatGatewayInput);
    expect(spec.natIps).toBe('ip-a');
    expect(spec.rules).toEqual([null, { ruleNumber: 1, description: '', match: 'm', action: 'x' }]);
    expect(validateGatewaySpec(spec, undefined)).toEqual(
      expect.arrayContaining([
        { field: 'natIps', message: 'must be an array of names' },
        { field: 'rules[0]', message: 'must be an object' },
        { field: 'rules[1].action', message: 'must be an object' },
      ]),
    );
  });

  it('defaults then validation never throw, whatever the JSON', () => {
    const keys = Object.keys(withGatewayDefaults({}));
    const nested = fc.dictionary(fc.constantFrom('name', 'ruleNumber', 'match', 'action', 'enable', 'filter', 'sourceNatActiveIps', 'sourceIpRangesToNat'), fc.jsonValue({ maxDepth: 2 }));
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.array(fc.oneof(nested, fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }), nested);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), value), (input) => {
        const spec = withGatewayDefaults(input);
        validateGatewaySpec(spec, undefined);
        validateGatewaySpec(spec, auto());
      }),
      { numRuns: 500 },
    );
  });

  it('a merge patch with null resets a field to its default', () => {
    const stored = manual({ minPortsPerVm: 50, udpIdleTimeoutSec: 60 });
    const patched = withGatewayDefaults(
      applyMergePatch(stored, { minPortsPerVm: null, udpIdleTimeoutSec: null, enableDynamicPortAllocation: true }) as NatGatewayInput,
    );
    expect(patched.minPortsPerVm).toBe(32);
    expect(patched.udpIdleTimeoutSec).toBe(30);
    expectValid(patched, stored);
  });
});

describe('validateGatewaySpec: valid gateways', () => {
  it('accepts the minimal gateway', () => expectValid(auto()));

  it('accepts a gateway using every feature', () => {
    expectValid(
      manual({
        sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
        subnetworks: [
          { name: 's1' },
          { name: 's2', sourceIpRangesToNat: ['PRIMARY_IP_RANGE', 'LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods', 'svc'] },
        ],
        minPortsPerVm: 128,
        maxPortsPerVm: 4096,
        enableDynamicPortAllocation: true,
        logConfig: { enable: true, filter: 'TRANSLATIONS_ONLY' },
        rules: [rule(0, ['ip-c']), rule(65000, ['ip-d', 'ip-e'], [], "inIpRange(destination.ip, '10.0.0.0/8') || destination.ip == '1.2.3.4'")],
      }),
    );
  });

  it.each([2, 50, 64, 57344])('accepts static minPortsPerVm %d', (minPortsPerVm) => expectValid(auto({ minPortsPerVm })));
  it.each([32, 1024, 32768])('accepts dynamic minPortsPerVm %d', (minPortsPerVm) =>
    expectValid(auto({ enableDynamicPortAllocation: true, minPortsPerVm })),
  );
  it.each([1, 86400])('accepts a timeout of %d s', (t) => expectValid(auto({ udpIdleTimeoutSec: t, tcpTimeWaitTimeoutSec: t })));
  it('accepts maxPortsPerVm <= minPortsPerVm without dynamic allocation (max is unused then)', () =>
    expectValid(auto({ minPortsPerVm: 4096, maxPortsPerVm: 64 })));
  it('accepts EIM alone', () => expectValid(auto({ enableEndpointIndependentMapping: true })));
});

describe('validateGatewaySpec: identity', () => {
  it('requires network and region as names', () => {
    expect(errorsOf(withGatewayDefaults({}))).toEqual([
      { field: 'network', message: 'is required' },
      { field: 'region', message: 'is required' },
    ]);
    expectOnly(auto({ network: 'Net_1' }), undefined, 'network', /RFC 1035/);
  });

  it('accepts PUBLIC and PRIVATE, refuses any other type', () => {
    expectOnly(untyped({ ...auto(), type: 'public' }), undefined, 'type', 'must be one of PUBLIC, PRIVATE');
  });

  it.each(['network', 'region'] as const)('%s is immutable', (field) => {
    const previous = auto();
    expectOnly({ ...previous, [field]: 'other' }, previous, field, 'is immutable');
  });

  it('type is immutable', () => {
    const previous = untyped({ ...auto(), type: 'PRIVATE' });
    expectError(auto(), previous, 'type', 'is immutable');
  });
});

describe('validateGatewaySpec: ports', () => {
  it.each([0, 1, 57345, 1.5, -64])('refuses static minPortsPerVm %d', (minPortsPerVm) =>
    expectOnly(auto({ minPortsPerVm }), undefined, 'minPortsPerVm', 'must be an integer from 2 to 57344'),
  );

  it.each([16, 48, 65536, 100])('refuses dynamic minPortsPerVm %d', (minPortsPerVm) =>
    expectOnly(
      auto({ enableDynamicPortAllocation: true, minPortsPerVm }),
      undefined,
      'minPortsPerVm',
      'with enableDynamicPortAllocation, must be a power of two from 32 to 32768',
    ),
  );

  it.each([32, 100, 131072, 0])('refuses maxPortsPerVm %d, with or without dynamic allocation', (maxPortsPerVm) => {
    expectOnly(auto({ maxPortsPerVm }), undefined, 'maxPortsPerVm', 'must be a power of two from 64 to 65536');
    expectOnly(auto({ maxPortsPerVm, enableDynamicPortAllocation: true }), undefined, 'maxPortsPerVm', 'must be a power of two from 64 to 65536');
  });

  it('with dynamic allocation, max must be greater than min', () => {
    expectOnly(
      auto({ enableDynamicPortAllocation: true, minPortsPerVm: 1024, maxPortsPerVm: 1024 }),
      undefined,
      'maxPortsPerVm',
      'must be greater than minPortsPerVm (1024) with enableDynamicPortAllocation',
    );
    expectValid(auto({ enableDynamicPortAllocation: true, minPortsPerVm: 1024, maxPortsPerVm: 2048 }));
  });

  it('refuses dynamic allocation with endpoint-independent mapping', () =>
    expectOnly(
      auto({ enableDynamicPortAllocation: true, enableEndpointIndependentMapping: true }),
      undefined,
      'enableEndpointIndependentMapping',
      'cannot be combined with enableDynamicPortAllocation',
    ));

  it('refuses non-boolean switches', () => {
    expectError(untyped({ ...auto(), enableDynamicPortAllocation: 'yes' }), undefined, 'enableDynamicPortAllocation', 'must be true or false');
  });
});

describe('validateGatewaySpec: timeouts and logging', () => {
  it.each(['udpIdleTimeoutSec', 'icmpIdleTimeoutSec', 'tcpEstablishedIdleTimeoutSec', 'tcpTransitoryIdleTimeoutSec', 'tcpTimeWaitTimeoutSec'])(
    '%s must be a positive integer up to a day',
    (field) => {
      for (const value of [0, -1, 1.5, 86401, '30']) {
        expectOnly(untyped({ ...auto(), [field]: value }), undefined, field, 'must be an integer number of seconds from 1 to 86400');
      }
    },
  );

  it('maxDrainDurationSec: 0 (no deadline) to a day, whole seconds', () => {
    for (const value of [0, 1, 350, 86400]) expectValid(untyped({ ...auto(), maxDrainDurationSec: value }));
    for (const value of [-1, 1.5, 86401, '30', null]) {
      expectOnly(untyped({ ...auto(), maxDrainDurationSec: value }), undefined, 'maxDrainDurationSec', 'must be an integer number of seconds from 0 (no deadline) to 86400');
    }
  });

  it('checks logConfig', () => {
    expectOnly(untyped({ ...auto(), logConfig: { enable: true, filter: 'SOME' } }), undefined, 'logConfig.filter', /must be one of ALL, ERRORS_ONLY/);
    expectOnly(untyped({ ...auto(), logConfig: { enable: 1, filter: 'ALL' } }), undefined, 'logConfig.enable', 'must be true or false');
    expectOnly(untyped({ ...auto(), logConfig: null }), undefined, 'logConfig', 'must be an object');
  });
});

describe('validateGatewaySpec: NAT IPs', () => {
  it('refuses an unknown natIpAllocateOption', () =>
    expectOnly(untyped({ ...auto(), natIpAllocateOption: 'BOTH' }), undefined, 'natIpAllocateOption', 'must be one of AUTO_ONLY, MANUAL_ONLY'));

  it('refuses natIps with AUTO_ONLY', () =>
    expectOnly(auto({ natIps: ['ip-a'], natIpAllocateOption: 'AUTO_ONLY' }), undefined, 'natIps', 'must be empty when natIpAllocateOption is AUTO_ONLY'));

  it('refuses MANUAL_ONLY without natIps', () =>
    expectOnly(manual({ natIps: [] }), undefined, 'natIps', 'must list at least one address when natIpAllocateOption is MANUAL_ONLY'));

  it('refuses invalid address names with their path', () => {
    expectOnly(manual({ natIps: ['ip-a', 'IP_B'] }), undefined, 'natIps[1]', /RFC 1035/);
    expectOnly(untyped({ ...manual(), natIps: ['ip-a', 7] }), undefined, 'natIps[1]', 'must be a name');
    expectOnly(untyped({ ...manual(), natIps: 'ip-a' }), undefined, 'natIps', 'must be an array of names');
  });

  it('refuses more than 300 addresses in a list', () => {
    const many = Array.from({ length: 301 }, (_, i) => `ip-${i}`);
    expectOnly(manual({ natIps: many }), undefined, 'natIps', 'must not list more than 300 addresses');
    expectValid(manual({ natIps: many.slice(0, 300) }));
  });
});

describe('validateGatewaySpec: draining', () => {
  const previous = manual({ natIps: ['ip-a', 'ip-b', 'ip-c'] });

  it('accepts moving an address from natIps to drainNatIps', () =>
    expectValid(manual({ natIps: ['ip-a', 'ip-b'], drainNatIps: ['ip-c'] }), previous));

  it('accepts keeping, un-draining and forgetting drained addresses', () => {
    const draining = manual({ natIps: ['ip-a'], drainNatIps: ['ip-b', 'ip-c'] });
    expectValid(manual({ natIps: ['ip-a'], drainNatIps: ['ip-b', 'ip-c'], udpIdleTimeoutSec: 60 }), draining);
    expectValid(manual({ natIps: ['ip-a', 'ip-b'], drainNatIps: ['ip-c'] }), draining);
    expectValid(manual({ natIps: ['ip-a'] }), draining);
  });

  it('refuses drainNatIps on create', () =>
    expectOnly(manual({ drainNatIps: ['ip-c'] }), undefined, 'drainNatIps', 'must be empty when creating a gateway'));

  it('refuses draining an address that was neither active nor draining', () =>
    expectOnly(
      manual({ natIps: ['ip-a'], drainNatIps: ['ip-z'] }),
      previous,
      'drainNatIps[0]',
      "'ip-z' was neither active nor draining before this change; only an address in natIps can be drained",
    ));

  it('refuses draining an address that is still active', () =>
    expectOnly(
      manual({ natIps: ['ip-a', 'ip-b'], drainNatIps: ['ip-b'] }),
      previous,
      'drainNatIps[0]',
      "'ip-b' is still active at natIps[1]; an address is either active or draining",
    ));

  it('refuses draining every address', () =>
    expectOnly(
      manual({ natIps: [], drainNatIps: ['ip-a', 'ip-b', 'ip-c'] }),
      previous,
      'natIps',
      'cannot drain every NAT IP: at least one address must stay in natIps',
    ));

  it('refuses drainNatIps with AUTO_ONLY', () =>
    expectOnly(auto({ drainNatIps: ['ip-a'] }), previous, 'drainNatIps', 'must be empty when natIpAllocateOption is AUTO_ONLY'));
});

describe('validateGatewaySpec: rules', () => {
  it('ruleNumber must be 0..65000', () => {
    for (const n of [-1, 65001, 1.5]) {
      expectOnly(manual({ rules: [rule(n, ['ip-c'])] }), undefined, 'rules[0].ruleNumber', 'must be an integer from 0 to 65000');
    }
  });

  it('ruleNumber must be unique', () =>
    expectOnly(
      manual({ rules: [rule(5, ['ip-c']), rule(6, ['ip-d']), rule(5, ['ip-e'])] }),
      undefined,
      'rules[2].ruleNumber',
      '5 is already used at rules[0].ruleNumber',
    ));

  it('match must parse; the message names the position', () => {
    expectOnly(
      manual({ rules: [rule(1, ['ip-c']), rule(2, ['ip-d'], [], "destination.ip == '1.1.1.1' && true")] }),
      undefined,
      'rules[1].match',
      "at position 28: expected '||' or the end of the expression, found '&'",
    );
    expectOnly(manual({ rules: [rule(1, ['ip-c'], [], '')] }), undefined, 'rules[0].match', /^at position 0: expected inIpRange/);
  });

  it('refuses rules with endpoint-independent mapping', () =>
    expectOnly(
      manual({ enableEndpointIndependentMapping: true, rules: [rule(1, ['ip-c'])] }),
      undefined,
      'enableEndpointIndependentMapping',
      'cannot be combined with rules',
    ));

  it('refuses rules with AUTO_ONLY', () =>
    expectOnly(auto({ rules: [rule(1, ['ip-c'])] }), undefined, 'rules', 'rules require natIpAllocateOption MANUAL_ONLY'));

  it('a rule needs an active address', () =>
    expectOnly(manual({ rules: [rule(1, [])] }), undefined, 'rules[0].action.sourceNatActiveIps', 'must list at least one address'));

  it('reports an invalid rule address with its full path', () =>
    expectOnly(
      manual({ rules: [rule(1, ['ip-c']), rule(2, ['ip-d']), rule(3, ['Bad', 'ip-e'])] }),
      undefined,
      'rules[2].action.sourceNatActiveIps[0]',
      /RFC 1035/,
    ));

  it('refuses rule drain IPs on create', () =>
    expectOnly(manual({ rules: [rule(1, ['ip-c'], ['ip-d'])] }), undefined, 'rules[0].action.sourceNatDrainIps', 'must be empty when creating a gateway'));

  describe('draining per rule', () => {
    const previous = manual({ rules: [rule(1, ['ip-c', 'ip-d']), rule(2, ['ip-e', 'ip-f'])] });

    it('accepts moving a rule address to its drain list, even when rules are reordered', () =>
      expectValid(manual({ rules: [rule(2, ['ip-e', 'ip-f']), rule(1, ['ip-c'], ['ip-d'])] }), previous));

    it('refuses draining an address of another rule or of the gateway', () => {
      expectOnly(
        manual({ rules: [rule(1, ['ip-c', 'ip-d'], ['ip-e']), rule(2, ['ip-f'])] }),
        previous,
        'rules[0].action.sourceNatDrainIps[0]',
        /'ip-e' was neither active nor draining in rule 1/,
      );
      expectOnly(
        manual({ natIps: ['ip-b'], rules: [rule(1, ['ip-c', 'ip-d'], ['ip-a']), rule(2, ['ip-e', 'ip-f'])] }),
        previous,
        'rules[0].action.sourceNatDrainIps[0]',
        /'ip-a' was neither active nor draining in rule 1/,
      );
      expectOnly(
        manual({ drainNatIps: ['ip-c'], rules: [rule(1, ['ip-d']), rule(2, ['ip-e', 'ip-f'])] }),
        previous,
        'drainNatIps[0]',
        /'ip-c' was neither active nor draining before this change/,
      );
    });

    it('refuses an address drained in a rule that did not hold it', () => {
      expectOnly(
        manual({ natIps: ['ip-a'], rules: [rule(1, ['ip-c', 'ip-d'], ['ip-b']), rule(2, ['ip-e', 'ip-f'])] }),
        previous,
        'rules[0].action.sourceNatDrainIps[0]',
        "'ip-b' was neither active nor draining in rule 1 before this change; only an address in sourceNatActiveIps can be drained",
      );
    });

    it('refuses drain IPs in a new rule', () =>
      expectError(manual({ rules: [...previous.rules, rule(3, ['ip-g'], ['ip-c'])] }), previous, 'rules[2].action.sourceNatDrainIps[0]', /in rule 3/));

    it('refuses draining every address of a rule', () =>
      expectOnly(
        manual({ rules: [rule(1, [], ['ip-c', 'ip-d']), rule(2, ['ip-e', 'ip-f'])] }),
        previous,
        'rules[0].action.sourceNatActiveIps',
        'cannot drain every IP of the rule: at least one address must stay in sourceNatActiveIps',
      ));

    it('refuses a rule address that is still active', () =>
      expectOnly(
        manual({ rules: [rule(1, ['ip-c', 'ip-d'], ['ip-d']), rule(2, ['ip-e', 'ip-f'])] }),
        previous,
        'rules[0].action.sourceNatDrainIps[0]',
        "'ip-d' is still active at rules[0].action.sourceNatActiveIps[1]; an address is either active or draining",
      ));
  });
});

describe('validateGatewaySpec: one address in one place', () => {
  it.each([
    [{ natIps: ['ip-a', 'ip-a'] }, 'ip-a', 'natIps[1]', 'natIps[0]'],
    [{ rules: [rule(1, ['ip-a'])] }, 'ip-a', 'rules[0].action.sourceNatActiveIps[0]', 'natIps[0]'],
    [{ rules: [rule(1, ['ip-c']), rule(2, ['ip-c'])] }, 'ip-c', 'rules[1].action.sourceNatActiveIps[0]', 'rules[0].action.sourceNatActiveIps[0]'],
  ] as Array<[NatGatewayInput, string, string, string]>)('%j', (over, ip, field, first) =>
    expectOnly(manual(over), undefined, field, `'${ip}' is already used at ${first}; an address may appear only once in a gateway`),
  );

  it('an invalid name is reported once, not also as a missing address', () => {
    expectOnly(manual({ natIps: ['Bad'] }), undefined, 'natIps[0]', /RFC 1035/);
    expectOnly(manual({ rules: [rule(1, ['Bad'])] }), undefined, 'rules[0].action.sourceNatActiveIps[0]', /RFC 1035/);
  });

  it('refuses a gateway drain address reused as a rule address', () => {
    const previous = manual({ natIps: ['ip-a', 'ip-b'] });
    expectOnly(
      manual({ natIps: ['ip-a'], drainNatIps: ['ip-b'], rules: [rule(1, ['ip-b'])] }),
      previous,
      'rules[0].action.sourceNatActiveIps[0]',
      "'ip-b' is already used at drainNatIps[0]; an address may appear only once in a gateway",
    );
  });
});

describe('validateGatewaySpec: subnetworks', () => {
  const list = (subnetworks: NatGatewayInput['subnetworks']) => auto({ sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks });

  it('refuses an unknown sourceSubnetworkIpRangesToNat', () =>
    expectOnly(untyped({ ...auto(), sourceSubnetworkIpRangesToNat: 'SOME' }), undefined, 'sourceSubnetworkIpRangesToNat', /must be one of/));

  it('LIST_OF_SUBNETWORKS needs subnetworks', () =>
    expectOnly(list([]), undefined, 'subnetworks', 'must list at least one subnet when sourceSubnetworkIpRangesToNat is LIST_OF_SUBNETWORKS'));

  it.each(['ALL_SUBNETWORKS_ALL_IP_RANGES', 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES'] as const)('%s refuses subnetworks', (option) =>
    expectOnly(auto({ sourceSubnetworkIpRangesToNat: option, subnetworks: [{ name: 's1' }] }), undefined, 'subnetworks', `must be empty when sourceSubnetworkIpRangesToNat is ${option}`));

  it('subnet names are valid and unique', () => {
    expectOnly(list([{ name: 's1' }, { name: 's2' }, { name: 's1' }]), undefined, 'subnetworks[2].name', "'s1' is already listed at subnetworks[0].name");
    expectOnly(list([{ name: 'S1' }]), undefined, 'subnetworks[0].name', /RFC 1035/);
  });

  it('sourceIpRangesToNat must not be empty nor hold unknown or repeated values', () => {
    expectOnly(list([{ name: 's1', sourceIpRangesToNat: [] }]), undefined, 'subnetworks[0].sourceIpRangesToNat', /must list at least one of/);
    expectOnly(
      untyped({ ...list([{ name: 's1' }]), subnetworks: [{ name: 's1', sourceIpRangesToNat: ['ALL'], secondaryIpRangeNames: [] }] }),
      undefined,
      'subnetworks[0].sourceIpRangesToNat[0]',
      /must be one of/,
    );
    expectOnly(
      list([{ name: 's1', sourceIpRangesToNat: ['PRIMARY_IP_RANGE', 'PRIMARY_IP_RANGE'] }]),
      undefined,
      'subnetworks[0].sourceIpRangesToNat[1]',
      'PRIMARY_IP_RANGE is listed twice',
    );
  });

  it('ALL_IP_RANGES stands alone', () =>
    expectOnly(
      list([{ name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES', 'PRIMARY_IP_RANGE'] }]),
      undefined,
      'subnetworks[0].sourceIpRangesToNat',
      'ALL_IP_RANGES cannot be combined with other values',
    ));

  it('LIST_OF_SECONDARY_IP_RANGES goes with secondaryIpRangeNames, and only with it', () => {
    expectOnly(
      list([{ name: 's1', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'] }]),
      undefined,
      'subnetworks[0].secondaryIpRangeNames',
      'must list at least one range when sourceIpRangesToNat contains LIST_OF_SECONDARY_IP_RANGES',
    );
    expectOnly(
      list([{ name: 's1', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'], secondaryIpRangeNames: ['pods'] }]),
      undefined,
      'subnetworks[0].secondaryIpRangeNames',
      'must be empty unless sourceIpRangesToNat contains LIST_OF_SECONDARY_IP_RANGES',
    );
    expectOnly(
      list([{ name: 's1', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods', 'pods'] }]),
      undefined,
      'subnetworks[0].secondaryIpRangeNames[1]',
      "'pods' is listed twice",
    );
  });
});

describe('validateGatewaySpec: transitions', () => {
  it('switches from EIM to dynamic allocation in one request', () => {
    const previous = auto({ enableEndpointIndependentMapping: true });
    expectValid(auto({ enableDynamicPortAllocation: true }), previous);
  });

  it('switches from dynamic allocation to EIM in one request', () => {
    const previous = auto({ enableDynamicPortAllocation: true, minPortsPerVm: 256, maxPortsPerVm: 8192 });
    expectValid(auto({ enableEndpointIndependentMapping: true, minPortsPerVm: 256, maxPortsPerVm: 8192 }), previous);
  });

  it('switches from rules to EIM in one request', () => {
    const previous = manual({ rules: [rule(1, ['ip-c'])] });
    expectValid(manual({ enableEndpointIndependentMapping: true }), previous);
  });

  it('switches MANUAL_ONLY to AUTO_ONLY and back', () => {
    const m = manual();
    const a = auto();
    expectValid(a, m);
    expectValid(m, a);
  });

  it('an invalid stored state does not block a valid next one', () => {
    const broken = untyped({ ...manual(), enableDynamicPortAllocation: true, enableEndpointIndependentMapping: true, minPortsPerVm: 50 });
    expectValid(manual(), broken);
  });
});

describe('validateGatewaySpec: all errors at once, and never a throw', () => {
  it('returns every error', () => {
    const errors = errorsOf(
      auto({
        type: 'NOPE' as never,
        natIps: ['ip-a'],
        natIpAllocateOption: 'AUTO_ONLY',
        minPortsPerVm: 1,
        udpIdleTimeoutSec: 0,
        enableDynamicPortAllocation: false,
        rules: [rule(70000, ['ip-a'], [], 'x')],
      }),
    );
    expect(errors.map((e) => e.field).sort()).toEqual(
      [
        'type',
        'natIps',
        'minPortsPerVm',
        'udpIdleTimeoutSec',
        'rules',
        'rules[0].ruleNumber',
        'rules[0].match',
        'rules[0].action.sourceNatActiveIps[0]',
      ].sort(),
    );
  });

  it('reports wrong shapes as field errors', () => {
    const errors = errorsOf(untyped({ ...auto(), natIps: null, subnetworks: [3], rules: [{ ruleNumber: 1, match: 5, action: [] }] }));
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'natIps', message: 'must be an array of names' },
        { field: 'subnetworks[0]', message: 'must be an object' },
        { field: 'rules[0].match', message: 'must be a string' },
        { field: 'rules[0].action', message: 'must be an object' },
      ]),
    );
  });

  it('never throws, whatever the JSON', () => {
    const keys = Object.keys(auto()) as Array<keyof NatGatewaySpec>;
    const spec = fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }));
    fc.assert(
      fc.property(spec, fc.option(spec, { nil: undefined }), (next, previous) => {
        const errors = validateGatewaySpec(untyped({ ...auto(), ...next }), previous && manual());
        for (const e of errors) expect(typeof e.field === 'string' && typeof e.message === 'string').toBe(true);
      }),
    );
  });
});

describe('validateGatewaySpec: properties', () => {
  const ipName = fc.integer({ min: 0, max: 30 }).map((i) => `ip-${i}`);
  const validManual = fc
    .record({
      natIps: fc.uniqueArray(ipName, { minLength: 2, maxLength: 6 }),
      dynamic: fc.boolean(),
      minExp: fc.integer({ min: 5, max: 12 }),
      udp: fc.integer({ min: 1, max: 86400 }),
      rulesCount: fc.integer({ min: 0, max: 3 }),
    })
    .map(({ natIps, dynamic, minExp, udp, rulesCount }) => {
      const rulesIps = natIps.slice(0, rulesCount);
      return manual({
        natIps: natIps.slice(rulesCount).length > 0 ? natIps.slice(rulesCount) : natIps,
        enableDynamicPortAllocation: dynamic,
        minPortsPerVm: 2 ** minExp,
        udpIdleTimeoutSec: udp,
        rules: natIps.slice(rulesCount).length > 0 ? rulesIps.map((ip, i) => rule(i * 10, [ip])) : [],
      });
    });

  it('generated gateways are valid, on create and unchanged', () => {
    fc.assert(
      fc.property(validManual, (spec) => {
        expectValid(spec);
        expectValid(spec, spec);
      }),
    );
  });

  it('draining any active address but the last one is valid', () => {
    fc.assert(
      fc.property(validManual, fc.nat(), (spec, pick) => {
        fc.pre(spec.natIps.length >= 2);
        const ip = spec.natIps[pick % spec.natIps.length];
        const next = { ...spec, natIps: spec.natIps.filter((x) => x !== ip), drainNatIps: [ip] };
        expectValid(next, spec);
        const undrained = { ...next, natIps: [...next.natIps, ip], drainNatIps: [] };
        expectValid(undrained, next);
      }),
    );
  });

  it('isPowerOfTwo', () => {
    expect([1, 2, 64, 65536, 2 ** 30].every(isPowerOfTwo)).toBe(true);
    expect([0, -2, 3, 48, 1.5, NaN, 2 ** 31 + 1].some(isPowerOfTwo)).toBe(false);
  });
});

describe('assertValidGatewaySpec and gatewayAddresses', () => {
  it('throws an InvalidArgumentError carrying every error', () => {
    expect(() => assertValidGatewaySpec(auto(), undefined)).not.toThrow();
    try {
      assertValidGatewaySpec(auto({ minPortsPerVm: 1, udpIdleTimeoutSec: 0 }), undefined);
      throw new Error('expected a throw');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError);
      const e = error as InvalidArgumentError;
      expect(e.kind).toBe('INVALID_ARGUMENT');
      expect(e.errors).toHaveLength(2);
      expect(e.message).toBe('Invalid natGateway: minPortsPerVm: must be an integer from 2 to 57344 (and 1 more)');
    }
  });

  it('lists every address once', () => {
    const spec = manual({ drainNatIps: ['ip-z'], rules: [rule(1, ['ip-c'], ['ip-d']), rule(2, ['ip-a'])] });
    expect(gatewayAddresses(spec)).toEqual(['ip-a', 'ip-b', 'ip-z', 'ip-c', 'ip-d']);
  });
});

describe('validateGatewaySpec: PRIVATE gateways (Private NAT)', () => {
  const toB = "inIpRange(destination.ip, '10.20.0.0/24')";
  const privateRule = (ruleNumber: number, ranges: string[], match = toB) => ({ ruleNumber, match, action: { sourceNatActiveRanges: ranges } });
  const priv = (over: NatGatewayInput = {}): NatGatewaySpec => auto({ type: 'PRIVATE', rules: [privateRule(10, ['pnat-a'])], ...over });

  it('a rule naming a PRIVATE_NAT subnet is valid; MANUAL_ONLY by default, no natIps', () => {
    const spec = priv();
    expect(spec.natIpAllocateOption).toBe('MANUAL_ONLY');
    expect(spec.rules[0].action).toEqual({ sourceNatActiveIps: [], sourceNatDrainIps: [], sourceNatActiveRanges: ['pnat-a'] });
    expectValid(spec);
    expectValid(priv({ rules: [privateRule(10, ['pnat-a']), privateRule(20, ['pnat-b', 'pnat-c'], "destination.ip == '10.30.0.7'")] }));
  });

  it('needs at least one rule, each with sourceNatActiveRanges', () => {
    expectOnly(priv({ rules: [] }), undefined, 'rules', /at least one rule/);
    expectOnly(priv({ rules: [privateRule(10, [])] }), undefined, 'rules[0].action.sourceNatActiveRanges', /at least one subnet with purpose PRIVATE_NAT/);
  });

  it('refuses addresses: natIps, drainNatIps, AUTO_ONLY, a rule\'s sourceNatActiveIps and sourceNatDrainIps', () => {
    expectError(priv({ natIps: ['ip-a'] }), undefined, 'natIps', /PRIVATE gateway has no default NAT IPs/);
    expectError(priv({ natIpAllocateOption: 'AUTO_ONLY' }), undefined, 'natIpAllocateOption', /must be MANUAL_ONLY/);
    const previous = priv();
    expectError(priv({ drainNatIps: ['ip-a'] }), previous, 'drainNatIps', /must be empty/);
    expectOnly(priv({ rules: [{ ...privateRule(10, ['pnat-a']), action: { sourceNatActiveRanges: ['pnat-a'], sourceNatActiveIps: ['ip-a'] } }] }), undefined, 'rules[0].action.sourceNatActiveIps', /must be empty/);
    expectOnly(
      priv({ rules: [{ ...privateRule(10, ['pnat-a']), action: { sourceNatActiveRanges: ['pnat-a'], sourceNatDrainIps: ['ip-a'] } }] }),
      previous,
      'rules[0].action.sourceNatDrainIps',
      /must be empty/,
    );
  });

  it('refuses source conditions in its rules', () => {
    expectOnly(priv({ rules: [privateRule(10, ['pnat-a'], "inIpRange(source.ip, '10.0.0.0/24')")] }), undefined, 'rules[0].match', /name destinations/);
  });

  it('refuses one subnet in two places of the gateway, and a bad name', () => {
    expectOnly(priv({ rules: [privateRule(10, ['pnat-a']), privateRule(20, ['pnat-a'])] }), undefined, 'rules[1].action.sourceNatActiveRanges[0]', /already used at rules\[0\]/);
    expectOnly(priv({ rules: [privateRule(10, ['Bad_Name'])] }), undefined, 'rules[0].action.sourceNatActiveRanges[0]', /.+/);
  });

  it('a PUBLIC gateway refuses sourceNatActiveRanges', () => {
    const spec = manual({ rules: [{ ...rule(10, ['ip-c']), action: { sourceNatActiveIps: ['ip-c'], sourceNatActiveRanges: ['pnat-a'] } }] });
    expectOnly(spec, undefined, 'rules[0].action.sourceNatActiveRanges', /must be empty for a PUBLIC gateway/);
  });

  it('type stays immutable', () => {
    expectError(manual(), priv(), 'type', 'is immutable');
  });
});
