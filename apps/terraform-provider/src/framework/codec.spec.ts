import { encode as rawEncode, ExtData } from '@msgpack/msgpack';
import fc from 'fast-check';
import { decodeValue, encodeValue, fromJson } from './codec';
import { Unknown, equalValues, type TfType, type TfValue } from './values';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('msgpack codec of Terraform values', () => {
  const obj: TfType = ['object', { name: 'string', n: 'number', ok: 'bool', tags: ['set', 'string'], nested: ['list', ['object', { a: 'string', b: ['map', 'number'] }]] }];

  it('null is msgpack nil; empty bytes decode as null', () => {
    expect(hex(encodeValue(null, 'string'))).toBe('c0');
    expect(decodeValue(new Uint8Array(), obj)).toBeNull();
    expect(decodeValue(Buffer.from('c0', 'hex'), obj)).toBeNull();
  });

  it('unknown is written as Terraform writes it (d4 00 00), and any extension reads as unknown', () => {
    expect(hex(encodeValue(Unknown, 'string'))).toBe('d40000');
    expect(decodeValue(Buffer.from('d40000', 'hex'), 'number')).toBe(Unknown);
    // a refined unknown (Terraform may attach refinements) and an empty extension
    expect(decodeValue(rawEncode(new ExtData(12, new Uint8Array([0x81, 0x01, 0xc3]))), ['list', 'string'])).toBe(Unknown);
    expect(decodeValue(rawEncode({ name: new ExtData(0, new Uint8Array()) }), ['object', { name: 'string' }])).toEqual({ name: Unknown });
  });

  it('objects carry every attribute of their type: absent ones are null, unknown ones stay unknown', () => {
    const v = { name: 'gw', n: Unknown, ok: null, tags: ['b', 'a'], nested: [{ a: 'x', b: { k: 1 } }] } as TfValue;
    const bytes = encodeValue(v, obj);
    expect(decodeValue(bytes, obj)).toEqual(v);
    expect(decodeValue(rawEncode({ name: 'only' }), obj)).toEqual({ name: 'only', n: null, ok: null, tags: null, nested: null });
  });

  it('nested blocks: lists of objects inside objects, single blocks as objects or null', () => {
    const t: TfType = ['object', { rules: ['list', ['object', { rule_number: 'number', action: ['object', { ips: ['set', 'string'] }] }]], log: ['object', { enable: 'bool' }] }];
    const v = { rules: [{ rule_number: 10, action: { ips: ['a'] } }, { rule_number: 20, action: null }], log: null };
    expect(decodeValue(encodeValue(v, t), t)).toEqual(v);
  });

  it('sets are written without duplicates and compare without order', () => {
    const t: TfType = ['set', 'string'];
    expect(decodeValue(encodeValue(['a', 'b', 'a'], t), t)).toEqual(['a', 'b']);
    expect(equalValues(['a', 'b'], ['b', 'a'], t)).toBe(true);
    expect(equalValues(['a', 'b'], ['b', 'a'], ['list', 'string'])).toBe(false);
    const objs: TfType = ['set', ['object', { x: 'number' }]];
    expect(decodeValue(encodeValue([{ x: 1 }, { x: 1 }, { x: 2 }], objs), objs)).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it('large numbers: int64 and uint64 stay exact as bigints, a number may arrive as a string, floats are floats', () => {
    const max = 2n ** 63n - 1n;
    expect(decodeValue(encodeValue(max, 'number'), 'number')).toBe(max);
    expect(decodeValue(rawEncode(2n ** 64n - 1n, { useBigInt64: true }), 'number')).toBe(2n ** 64n - 1n);
    expect(decodeValue(rawEncode('123456789012345678901234567890'), 'number')).toBe(123456789012345678901234567890n);
    expect(decodeValue(rawEncode('1.5'), 'number')).toBe(1.5);
    expect(decodeValue(rawEncode(2 ** 40), 'number')).toBe(2 ** 40);
    expect(decodeValue(encodeValue(0.25, 'number'), 'number')).toBe(0.25);
    // an int64 that fits in a double is a plain number
    expect(decodeValue(rawEncode(5n, { useBigInt64: true }), 'number')).toBe(5);
  });

  it('refuses a value of the wrong type, naming where', () => {
    expect(() => decodeValue(rawEncode({ name: 5 }), ['object', { name: 'string' }])).toThrow(/name: expected a string/);
    expect(() => encodeValue({ tags: 'x' }, ['object', { tags: ['set', 'string'] }])).toThrow(/tags: expected a list/);
  });

  it('reads the JSON of an older state (UpgradeResourceState), dropping attributes the schema no longer has', () => {
    expect(fromJson({ name: 'n', gone: 1, n: '7' }, ['object', { name: 'string', n: 'number' }])).toEqual({ name: 'n', n: 7 });
  });

  it('any value of any type survives encode then decode (property)', () => {
    const typeArb: fc.Arbitrary<TfType> = fc.letrec<{ t: TfType }>((tie) => ({
      t: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom<TfType>('string', 'number', 'bool'),
        tie('t').map((t): TfType => ['list', t]),
        tie('t').map((t): TfType => ['map', t]),
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,6}$/), tie('t'), { maxKeys: 3 }).map((d): TfType => ['object', d]),
      ),
    })).t;
    const valueOf = (t: TfType): fc.Arbitrary<TfValue> => {
      const leaf: fc.Arbitrary<TfValue> =
        t === 'string' ? fc.string() : t === 'bool' ? fc.boolean() : t === 'number' ? fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((b) => b > 2n ** 53n || b < -(2n ** 53n))) : Array.isArray(t) && t[0] === 'list' ? fc.array(valueOf(t[1]), { maxLength: 3 }) : Array.isArray(t) && t[0] === 'map' ? fc.dictionary(fc.string({ maxLength: 4 }), valueOf(t[1]), { maxKeys: 3 }) : fc.record(Object.fromEntries(Object.entries((t as ['object', Record<string, TfType>])[1]).map(([k, v]) => [k, valueOf(v)])));
      return fc.oneof({ weight: 1, arbitrary: fc.constant<TfValue>(null) }, { weight: 1, arbitrary: fc.constant<TfValue>(Unknown) }, { weight: 6, arbitrary: leaf });
    };
    fc.assert(
      fc.property(
        typeArb.chain((t) => fc.tuple(fc.constant(t), valueOf(t))),
        ([t, v]) => {
          const back = decodeValue(encodeValue(v, t), t);
          expect(equalValues(back, v, t) || (Object.is(back, -0) && v === 0) || (v === 0 && back === 0)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
