/**
 * The handler's control flow (small: the loader, the repository, the queue and the pusher are
 * stand-ins; what the commit writes is test/persistence/commit-reconcile.test.ts's, and the whole
 * loop test/control-loop's): an incremental run whose commit is refused becomes a full one in a
 * transaction, a failure drops the cache, a gone gateway is released through the same commit.
 */
import { withGatewayDefaults } from '@natplane/domain';
import type { Db, ReconcileCommitted, ReconcileRepository } from '@natplane/persistence';
import type { JobQueue } from '@natplane/jobs';
import { advance, decide, keptOf, planWith, type LockedGateway, type PlanTarget, type ReconcileCommit, type Run } from '@natplane/planner';
import { nativeRequire } from '../../../test/support/native-require';
import type { HostPusher } from './host-pusher';
import type * as Handler from './reconcile-gateway.handler';
import type * as Loader from './reconcile-loader';
import type { Gone, Loaded, ReconcileLoader } from './reconcile-loader';

// Nest ships as ES modules only: the handler is loaded by Node itself (see native-require).
const { ReconcileGatewayHandler } = nativeRequire<typeof Handler>('apps/worker/src/reconcile-gateway.handler.ts');
const { CURRENT } = nativeRequire<typeof Loader>('apps/worker/src/reconcile-loader.ts');

const NOW = new Date('2026-12-04T00:00:00Z');
const t: PlanTarget = { id: 'gw', networkId: 'n1', region: 'r1', spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIps: ['a1'] }), ips: [] };
const gw = (generation: number, observedGeneration: number, reconcileSeq: number): LockedGateway => ({
  id: 'gw',
  name: 'gw',
  projectId: 'p1',
  projectName: 'proj',
  networkId: 'n1',
  region: 'r1',
  spec: t.spec,
  generation,
  observedGeneration,
  reconcileSeq,
});
const emptyRun = (): Run => ({ plan: planWith(t, { candidates: [], previous: [], foreign: [], usage: [] }, NOW), ips: [] });
const full = (): Loaded => ({ gw: gw(2, 1, 1), run: emptyRun(), now: NOW, full: { open: [], hosts: [], hostIds: new Map() } });
function incremental(): Loaded {
  const run0 = emptyRun();
  const kept = keptOf(gw(1, 0, 0), run0, decide(gw(1, 0, 0), run0, []), 1, new Map(), new Map());
  const g = gw(1, 1, 1);
  return { gw: g, run: advance(g, kept, [], NOW)!, now: NOW };
}
const host = { id: 'h1', name: 'h1', agentUrl: 'http://127.0.0.1:1', pushSecret: 's', desiredGeneration: 4 };

function setup(commits: (ReconcileCommitted | undefined)[]) {
  const loader = { incremental: jest.fn(), full: jest.fn(), remember: jest.fn(), forget: jest.fn() };
  const written: ReconcileCommit[] = [];
  const repo = { commitReconcile: jest.fn((_id: string, c: ReconcileCommit) => (written.push(c), Promise.resolve(commits.shift()))) };
  const transactions: number[] = [];
  const db = { transaction: <T>(fn: () => Promise<T>) => (transactions.push(1), fn()) };
  const jobs = { addAll: jest.fn(() => Promise.resolve()) };
  const pusher = { pushSection: jest.fn(() => Promise.resolve(false)) };
  const handler = new ReconcileGatewayHandler(db as unknown as Db, repo as unknown as ReconcileRepository, loader as unknown as ReconcileLoader, jobs as unknown as JobQueue, pusher as unknown as HostPusher);
  return { handler, loader, written, transactions, jobs, pusher };
}

describe('ReconcileGatewayHandler', () => {
  it('nothing new: ends without a transaction', async () => {
    const s = setup([]);
    s.loader.incremental.mockResolvedValue(CURRENT);
    expect(await s.handler.handle({ gatewayId: 'gw', generation: 2 })).toEqual({ hostIds: [], hostGenerations: [] });
    expect(s.transactions).toHaveLength(0);
    expect(s.written).toHaveLength(0);
  });

  it('an incremental commit refused: the cache is dropped and the same job computes in full, in a transaction', async () => {
    const s = setup([undefined, { seq: 2, bumped: [host], states: [], opened: [] }]);
    s.loader.incremental.mockResolvedValue(incremental());
    s.loader.full.mockResolvedValue(full());
    expect(await s.handler.handle({ gatewayId: 'gw', generation: 2 })).toEqual({ hostIds: ['h1'], hostGenerations: [4] });
    expect(s.loader.forget).toHaveBeenCalledWith('gw');
    expect(s.transactions).toHaveLength(1);
    expect(s.written.map((c) => c.status?.seq)).toEqual([1, 1]);
    expect(s.loader.remember).toHaveBeenCalledTimes(1);
    // a full commit's hosts get a program-host job
    expect(s.pusher.pushSection).not.toHaveBeenCalled();
    expect(s.jobs.addAll).toHaveBeenCalledWith([expect.objectContaining({ name: 'program-host' })]);
  });

  it('an incremental commit pushes the section where it can, a job otherwise', async () => {
    const s = setup([{ seq: 2, bumped: [host], states: [], opened: [] }]);
    s.loader.incremental.mockResolvedValue(incremental());
    await s.handler.handle({ gatewayId: 'gw', generation: 2 });
    await s.handler.drained();
    expect(s.transactions).toHaveLength(0);
    expect(s.pusher.pushSection).toHaveBeenCalledTimes(1);
    expect(s.jobs.addAll).toHaveBeenCalledWith([expect.objectContaining({ name: 'program-host' })]);
  });

  it("an incremental job ends at its commit, before its pushes; a push that did not go out becomes a job when it settles", async () => {
    const s = setup([{ seq: 2, bumped: [host], states: [], opened: [] }]);
    s.loader.incremental.mockResolvedValue(incremental());
    let release!: (ok: boolean) => void;
    s.pusher.pushSection.mockReturnValueOnce(new Promise<boolean>((r) => (release = r)));
    expect(await s.handler.handle({ gatewayId: 'gw', generation: 2 })).toEqual({ hostIds: ['h1'], hostGenerations: [4] });
    expect(s.pusher.pushSection).toHaveBeenCalledTimes(1);
    expect(s.jobs.addAll).not.toHaveBeenCalled();
    release(false);
    await s.handler.drained();
    expect(s.jobs.addAll).toHaveBeenCalledWith([expect.objectContaining({ name: 'program-host' })]);
  });

  it('a full commit refused under the lock throws (the transaction rolls back) and drops the cache', async () => {
    const s = setup([undefined]);
    s.loader.full.mockResolvedValue(full());
    await expect(s.handler.handle({ gatewayId: 'gw', generation: 2, reason: 'usage' })).rejects.toThrow(/another reconcile committed/);
    expect(s.loader.incremental).not.toHaveBeenCalled();
    expect(s.loader.forget).toHaveBeenCalledWith('gw');
    expect(s.loader.remember).not.toHaveBeenCalled();
  });

  it('a gone gateway is released through the same commit, with no status', async () => {
    const s = setup([{ seq: null, bumped: [host], states: [], opened: [] }]);
    s.loader.incremental.mockResolvedValue(undefined);
    const gone: Gone = { gatewayId: 'gw', now: NOW, blocks: [], open: [], hostIds: ['h1'] };
    s.loader.full.mockResolvedValue(gone);
    expect(await s.handler.handle({ gatewayId: 'gw', generation: 2 })).toEqual({ hostIds: ['h1'], hostGenerations: [4] });
    expect(s.written[0].status).toBeUndefined();
    expect(s.written[0].hosts.bump).toEqual(['h1']);
  });
});
