import fc from 'fast-check';
import { applyMergePatch } from './merge-patch';

describe('applyMergePatch: RFC 7396 appendix A', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j + %j = %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  it('RFC 7396 section 3 example', () => {
    const target = {
      title: 'Goodbye!',
      author: { givenName: 'John', familyName: 'Doe' },
      tags: ['example', 'sample'],
      content: 'This will be unchanged',
    };
    const patch = { title: 'Hello!', phoneNumber: '+01-123-456-7890', author: { familyName: null }, tags: ['example'] };
    expect(applyMergePatch(target, patch)).toEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
  });
});

describe('applyMergePatch: purity', () => {
  it('modifies neither argument and shares no object with them', () => {
    const target = { a: { b: [1, 2] }, keep: { deep: { x: 1 } } };
    const patch = { a: { c: [3] }, n: { m: 1 } };
    const before = JSON.stringify([target, patch]);
    const result = applyMergePatch(target, patch) as Record<string, Record<string, unknown>>;
    expect(JSON.stringify([target, patch])).toBe(before);
    expect(result.keep).not.toBe(target.keep);
    expect(result.a.c).not.toBe(patch.a.c);
    expect(result.n).not.toBe(patch.n);
  });

  it('treats __proto__ as a plain member', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}}');
    const result = applyMergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(result)).toEqual(['__proto__']);
  });
});

describe('applyMergePatch: properties', () => {
  const json = fc.jsonValue({ maxDepth: 3 });

  it('is idempotent', () => {
    fc.assert(
      fc.property(json, json, (target, patch) => {
        const once = applyMergePatch(target, patch);
        expect(applyMergePatch(once, patch)).toEqual(once);
      }),
    );
  });

  it('an empty patch object keeps an object target', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), json), (target) => expect(applyMergePatch(target, {})).toEqual(target)));
  });

  it('a patch member that is not an object or null is found as is in the result', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), json), fc.string(), fc.oneof(fc.integer(), fc.string(), fc.array(json)), (target, key, value) => {
        const result = applyMergePatch(target, { [key]: value }) as Record<string, unknown>;
        expect(result[key]).toEqual(value);
      }),
    );
  });
});
