import fc from 'fast-check';
import { HostDocument, applyHostPatch, diffHostDocuments } from '@natplane/contracts';
import { HostModel } from './host-model';
import { renderDiff, renderFull } from './render';
import { documentAndChangeArb, documentArb } from './testing/arbitraries';
import { NftModel, canonical } from './testing/nft-model';
import { documentState } from './state';
import { InterfaceIds, namedInterfaces } from './interfaces';

const opts = { uplink: 'up0' };

/**
 * The table a document asks for, by loading its full script into the strict model. Devices get
 * their ids from `ids`: a table and its expected successor are compared with the same ids.
 */
function loaded(doc: HostDocument, ids: InterfaceIds = new InterfaceIds()): NftModel {
  const m = new NftModel();
  m.apply(renderFull(doc, { ...opts, interfaces: ids }));
  return m;
}

describe('renderDiff (property: the diff of a and b applied to the table of a is the table of b)', () => {
  it('holds for random pairs of documents', () => {
    fc.assert(
      fc.property(documentArb, documentArb, (a, b) => {
        const ids = new InterfaceIds();
        const m = loaded(a, ids);
        m.apply(renderDiff(a, b, { ...opts, interfaces: ids }));
        expect(canonical(m.state)).toEqual(canonical(loaded(b, ids).state));
      }),
      { numRuns: 400 },
    );
  });

  it('holds for a document and a small change of it', () => {
    fc.assert(
      fc.property(documentAndChangeArb, ([a, b]) => {
        const ids = new InterfaceIds();
        const m = loaded(a, ids);
        m.apply(renderDiff(a, b, { ...opts, interfaces: ids }));
        expect(canonical(m.state)).toEqual(canonical(loaded(b, ids).state));
      }),
      { numRuns: 400 },
    );
  });

  it('renderFull loads what documentState describes, from any previous table', () => {
    fc.assert(
      fc.property(documentArb, documentArb, (a, b) => {
        const ids = new InterfaceIds();
        const m = loaded(a, ids);
        m.apply(renderFull(b, { ...opts, interfaces: ids }));
        expect(canonical(m.state)).toEqual(canonical(documentState(b, opts.uplink, ids)));
      }),
      { numRuns: 200 },
    );
  });

  it('an empty diff between equal documents', () => {
    fc.assert(
      fc.property(documentArb, (a) => {
        expect(renderDiff(a, structuredClone(a), opts)).toBe('');
      }),
    );
  });
});

describe('HostModel.planPatch (property: a patch applied incrementally gives the table of the patched document)', () => {
  const check = (a: HostDocument, b: HostDocument) => {
    const patch = diffHostDocuments(a, b);
    const ids = new InterfaceIds();
    const model = HostModel.fromDocument(a, ids);
    const m = loaded(a, ids);
    const result = model.planPatch(patch, opts);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    m.apply(result.plan.script);
    result.plan.commit();
    expect(canonical(m.state)).toEqual(canonical(loaded(b, ids).state));
    // the model now holds b: a full diff from it to b is empty, and it keeps ids of b's devices only
    expect(renderDiff(model.toDocument(), b, { ...opts, interfaces: ids })).toBe('');
    expect(new Set(ids.entries().map(([name]) => name))).toEqual(namedInterfaces(b));
    expect(model.generation).toBe(b.generation);
    // and the document-level patch agrees
    expect(canonical(documentState(applyHostPatch(a, patch), opts.uplink, ids))).toEqual(canonical(documentState(b, opts.uplink, ids)));
  };

  it('holds for a document and a small change of it', () => {
    fc.assert(
      fc.property(documentAndChangeArb, ([a, b]) => check(a, b)),
      { numRuns: 400 },
    );
  });

  it('holds for random pairs of documents', () => {
    fc.assert(
      fc.property(documentArb, documentArb, (a, b) => check(a, { ...b, generation: a.generation + 1 })),
      { numRuns: 300 },
    );
  });

  it('without its script (a data plane that is not nftables), a plan refuses, claims, releases and commits the same', () => {
    // on the document it was made from (fits), and on another (mostly refused)
    fc.assert(
      fc.property(documentAndChangeArb, documentArb, ([a, b], other) => {
        const patch = diffHostDocuments(a, b);
        for (const base of [a, { ...other, generation: a.generation }]) {
          const full = HostModel.fromDocument(base, new InterfaceIds());
          const bare = HostModel.fromDocument(base, new InterfaceIds());
          const withScript = full.planPatch(patch, opts);
          const without = bare.planPatch(patch, { ...opts, script: false });
          expect(without.ok).toBe(withScript.ok);
          if (!withScript.ok || !without.ok) {
            expect(without).toEqual(withScript);
            continue;
          }
          expect(without.plan.script).toBe('');
          expect(without.plan.released).toEqual(withScript.plan.released);
          withScript.plan.commit();
          without.plan.commit();
          expect(bare.toDocument()).toEqual(full.toDocument());
          // the sources it claimed are held: the same patch again is refused alike (or fits alike)
          const again = [full.planPatch(patch, opts), bare.planPatch(patch, { ...opts, script: false })];
          expect(again[1].ok).toBe(again[0].ok);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an abandoned plan leaves the model as it was', () => {
    fc.assert(
      fc.property(documentAndChangeArb, ([a, b]) => {
        const ids = new InterfaceIds();
        const model = HostModel.fromDocument(a, ids);
        const result = model.planPatch(diffHostDocuments(a, b), opts);
        if (!result.ok) throw new Error(JSON.stringify(result.errors));
        result.plan.abandon();
        expect(renderDiff(model.toDocument(), a, { ...opts, interfaces: ids })).toBe('');
        // planning again after abandoning works (source claims were undone)
        const again = model.planPatch(diffHostDocuments(a, b), opts);
        expect(again.ok).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
