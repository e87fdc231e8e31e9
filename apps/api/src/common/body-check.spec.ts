import 'reflect-metadata';
import fc from 'fast-check';

// The DTOs' OpenAPI decorators (@nestjs/swagger is ESM-only, which jest does not load here) do
// nothing to their validation: no-ops.
jest.mock('@nestjs/swagger', () => new Proxy({}, { get: (_t, name) => (name === '__esModule' ? true : () => () => undefined) }));
import { instanceToPlain, plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { EndpointInputDto } from '../endpoints/endpoints.dto';
import { NetworkInputDto } from '../networks/networks.dto';
import { compileBodyCheck, VALIDATION_OPTIONS } from './body-check';

/** What the pipe would do without the shortcut: class-transformer, then class-validator. */
async function slowPath(cls: new () => object, body: Record<string, unknown>): Promise<{ errors: number; instance: object }> {
  const instance = plainToInstance(cls, body);
  return { errors: (await validate(instance, VALIDATION_OPTIONS)).length, instance };
}

const endpoint = { name: 'ep-1', subnet: 'sub-a', host: 'h-1', networkIp: '10.0.0.2' };

describe('compileBodyCheck', () => {
  const check = compileBodyCheck(EndpointInputDto)!;

  it('passes what class-validator passes when there is nothing to transform', () => {
    expect(check).toBeDefined();
    for (const body of [
      endpoint,
      { ...endpoint, description: 'x', labels: { env: 'prod' }, hostInterface: 'tap0', canIpForward: true, forwardedIpRanges: ['192.168.0.0/24'] },
      { ...endpoint, description: null, labels: null, hostInterface: null },
      { ...endpoint, forwardedIpRanges: [] },
    ]) {
      expect(check(body)).toBe(true);
    }
  });

  it('leaves to class-validator what fails or needs class-transformer', () => {
    for (const body of [
      { ...endpoint, name: 'Bad_Name' },
      { ...endpoint, extra: 1 },
      { ...endpoint, networkIp: 7 },
      { subnet: 'sub-a', host: 'h-1', networkIp: '10.0.0.2' },
      { ...endpoint, hostInterface: 'has space' },
      { ...endpoint, description: 'x'.repeat(2049) },
      { ...endpoint, labels: { Env: 'x' } },
      { ...endpoint, canIpForward: 'yes' },
      { ...endpoint, forwardedIpRanges: ['a', 1] },
      { ...endpoint, forwardedIpRanges: Array.from({ length: 33 }, () => '10.0.0.0/8') },
      // valid, but built by class-transformer as instances of AliasIpRangeInputDto
      { ...endpoint, aliasIpRanges: [{ ipCidrRange: '10.0.1.0/24' }] },
    ]) {
      expect(check(body)).toBe(false);
    }
    expect(check({ ...endpoint, aliasIpRanges: null })).toBe(true);
  });

  // The property: whatever it passes, class-validator passes too, and plainToInstance builds the
  // same members the pipe's Object.assign does; and it passes every valid body it can.
  it('agrees with class-transformer and class-validator on random bodies', async () => {
    const str = fc.oneof(fc.constantFrom('ep-1', 'a', 'tap0', '10.0.0.2', '', 'Bad', 'x y'), fc.string({ maxLength: 6 }));
    const anyValue = fc.oneof(str, fc.integer(), fc.boolean(), fc.constant(null), fc.array(str, { maxLength: 3 }), fc.dictionary(str, str, { maxKeys: 2 }));
    const good: Record<string, unknown[]> = {
      name: ['ep-1'],
      description: ['d', null],
      labels: [{ env: 'prod' }, null],
      subnet: ['sub-a'],
      host: ['h-1'],
      hostInterface: ['tap0', null],
      networkIp: ['10.0.0.2'],
      canIpForward: [true, false, null],
      forwardedIpRanges: [['10.9.0.0/16'], [], null],
      aliasIpRanges: [null, [{ ipCidrRange: '10.0.1.0/24' }]],
    };
    const member = (k: string) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...good[k]) }, { weight: 1, arbitrary: anyValue });
    const body = fc.tuple(
      fc.record(Object.fromEntries(Object.keys(good).map((k) => [k, member(k)])), { requiredKeys: [] }),
      fc.option(fc.dictionary(str, anyValue, { maxKeys: 1 }), { freq: 5 }),
    ).map(([known, other]) => ({ ...(other ?? {}), ...known }));
    let passed = 0;
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const fast = check(b);
        const slow = await slowPath(EndpointInputDto, b);
        if (fast) {
          passed++;
          expect(slow.errors).toBe(0);
          expect(instanceToPlain(Object.assign(new EndpointInputDto(), b))).toEqual(instanceToPlain(slow.instance));
        } else if (slow.errors === 0) {
          // only what needs class-transformer's nested instances goes the slow way when valid
          expect(b.aliasIpRanges ?? null).not.toBeNull();
        }
      }),
      { numRuns: 3000 },
    );
    expect(passed).toBeGreaterThan(50);
  });

  it('runs the rules of another DTO too (inherited ones included)', async () => {
    const net = compileBodyCheck(NetworkInputDto)!;
    expect(net({ name: 'net-a' })).toBe(true);
    expect((await slowPath(NetworkInputDto, { name: 'net-a' })).errors).toBe(0);
    expect(net({ name: 'net-a', surprise: true })).toBe(false);
    expect(net({})).toBe(false);
  });
});
