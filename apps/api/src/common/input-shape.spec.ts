import fc from 'fast-check';
import { inputShapeErrors, MAX_INPUT_DEPTH, requestInputErrors, unstorableText } from './input-shape';

describe('unstorableText', () => {
  it('refuses NUL and lone surrogates, accepts every well-formed string', () => {
    expect(unstorableText('a\u0000')).toMatch(/NUL/);
    expect(unstorableText('\ud800')).toMatch(/surrogate/);
    expect(unstorableText('x\udfff')).toMatch(/surrogate/);
    expect(unstorableText('\udc00\ud800')).toMatch(/surrogate/);
    expect(unstorableText('\u{1f600} \u00e9 \uffff')).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(unstorableText(s.split('\u0000').join(''))).toBeUndefined();
      }),
    );
    // The reference: what Node's own well-formedness check says (String#isWellFormed, ES2024).
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const wellFormed = (s as string & { isWellFormed(): boolean }).isWellFormed();
        expect(unstorableText(s) === undefined).toBe(wellFormed && !s.includes('\u0000'));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('inputShapeErrors', () => {
  it('names the member: nested values, array items, member names, prototype names', () => {
    expect(inputShapeErrors({ a: { b: ['ok', 'x\u0000'] } })).toEqual([{ field: 'a.b[1]', message: expect.stringMatching(/NUL/) }]);
    expect(inputShapeErrors({ labels: { ['k\u0000']: 'v' } })).toEqual([{ field: 'labels.k\u0000', message: expect.stringMatching(/NUL/) }]);
    expect(inputShapeErrors(JSON.parse('{"x":{"__proto__":{"y":1}}}'))).toEqual([{ field: 'x.__proto__', message: 'is not a known field' }]);
    expect(inputShapeErrors({ constructor: 1, toString: 2 }).map((e) => e.field)).toEqual(['constructor', 'toString']);
    expect(inputShapeErrors('\ud800', { prefix: 'filter' })).toEqual([{ field: 'filter', message: expect.stringMatching(/surrogate/) }]);
    expect(requestInputErrors({ params: { project: 'p\u0000' }, query: { filter: 'ok' }, body: undefined }).map((e) => e.field)).toEqual(['project']);
  });

  it(`walks ${MAX_INPUT_DEPTH} levels and refuses the next one, at any depth, without recursion`, () => {
    const nest = (n: number, kind: 'object' | 'array'): unknown => {
      let v: unknown = 'leaf';
      for (let i = 0; i < n; i++) v = kind === 'object' ? { k: v } : [v];
      return v;
    };
    for (const kind of ['object', 'array'] as const) {
      expect(inputShapeErrors(nest(MAX_INPUT_DEPTH, kind))).toEqual([]);
      const [e] = inputShapeErrors(nest(MAX_INPUT_DEPTH + 1, kind));
      expect(e.message).toMatch(/deeper than 32/);
      expect(e.field).toBe(kind === 'object' ? Array(MAX_INPUT_DEPTH).fill('k').join('.') : '[0]'.repeat(MAX_INPUT_DEPTH));
      // A million levels: linear, no stack overflow.
      expect(inputShapeErrors(nest(1_000_000, kind))).toHaveLength(1);
    }
  });

  it('errors come in document order, at most `limit`', () => {
    const body = { a: 'x\u0000', b: ['\ud800', 'ok'], c: { d: '\u0000' } };
    expect(inputShapeErrors(body).map((e) => e.field)).toEqual(['a', 'b[0]', 'c.d']);
    expect(inputShapeErrors(Array.from({ length: 50 }, () => '\u0000'))).toHaveLength(20);
  });

  it('accepts every JSON value of storable strings within the depth', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), (v) => {
        const clean = JSON.parse(JSON.stringify(v).replace(/\\u0000/g, '')) as unknown;
        expect(inputShapeErrors(clean).filter((e) => e.message !== 'is not a known field')).toEqual([]);
      }),
    );
  });
});
