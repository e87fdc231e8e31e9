/**
 * The eBPF loader's binary batches (`B`, docs/ebpf-backend.md "Binary batches") against the real
 * kernel maps, in a network namespace made for this test only (the loader attaches at its veth).
 * Needs root and the eBPF build (dist/ebpf); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { deleteNamespaces, kernelTestsUnavailable, makeNamespace } from '../../libs/nftables/src/testing/netns';
import { EbpfBackend } from '../../apps/host-agent/src/ebpf/backend';
import { LoaderClient, ebpfProblem } from '../../apps/host-agent/src/ebpf/loader-client';
import { OpList, fromHex, idKey, idValue, legacyIdKey, ownerOfEndpoint, tag, toHex } from '../../apps/host-agent/src/ebpf/maps';
import { InterfaceIds } from '../../libs/nftables/src';
import { exampleDocument } from '../../libs/nftables/src/testing/fixtures';
import { memoryLogger } from '../../apps/host-agent/src/log';

const unavailable = kernelTestsUnavailable(['ip']) ?? ebpfProblem();
const describeKernel = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`ebpf-loader.test skipped: ${unavailable}`);

const hex32le = (n: number) => Buffer.from(new Uint32Array([n]).buffer).toString('hex');
/** np_src key: prefix 32 + 32, device 0, address 10.0.0.n */
const src = (n: number) => tag('np_src', fromHex(hex32le(64) + '00000000' + `0a0000${n.toString(16).padStart(2, '0')}`));
const natip = (n: number) => tag('np_natip', fromHex(`cb0071${n.toString(16).padStart(2, '0')}`));
const cnt = (slot: number) => tag('np_cnt', fromHex(hex32le(slot) + 'ffffffff'));

describeKernel('the eBPF loader, binary batches (network namespace)', () => {
  let ns = '';
  let pinDir = '';
  let client: LoaderClient;
  const count = async (map: string) => (await client.dump(map)).length;
  const write = async (build: (ops: OpList) => void) => {
    const ops = new OpList();
    build(ops);
    await client.writeBatch(ops.encode());
  };

  beforeAll(async () => {
    ns = makeNamespace('np-ldr');
    execFileSync('ip', ['link', 'add', 'up0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'p0', 'netns', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'up0', 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'p0', 'up']);
    await EbpfBackend.ensureBpffs();
    pinDir = `/sys/fs/bpf/natplane-test-${ns}`;
    client = new LoaderClient(ns, pinDir, 'up0', memoryLogger([]));
    await client.start();
  });

  afterAll(async () => {
    await client?.close();
    if (pinDir) rmSync(pinDir, { recursive: true, force: true });
    deleteNamespaces();
  });

  it('writes each group whole, an LPM trie and hashes alike, and deletes present and absent keys', async () => {
    await write((ops) => {
      for (let i = 1; i <= 40; i++) ops.write(src(i), fromHex(hex32le(i) + hex32le(1)));
      for (let i = 1; i <= 3; i++) ops.write(natip(i), fromHex(hex32le(1)));
    });
    expect(await count('np_src')).toBe(40);
    expect(await count('np_natip')).toBe(3);
    // absent keys between present ones: the kernel's batch stops at each, the loader goes on
    await write((ops) => {
      for (const i of [1, 9, 2, 8, 3]) ops.remove(natip(i));
      for (let i = 1; i <= 50; i += 2) ops.remove(src(i));
    });
    expect(await count('np_natip')).toBe(0);
    expect((await client.dump('np_src')).map(([k]) => k)).toHaveLength(20);
    const value = new Map(await client.dump('np_src')).get(Buffer.from(src(2).slice(1), 'latin1').toString('hex'));
    expect(value).toBe(hex32le(2) + hex32le(1));
  });

  it('creates zeroed counters only where absent, few or many at once', async () => {
    await write((ops) => {
      for (let i = 1; i <= 5; i++) ops.write(cnt(i), null);
    });
    expect(await count('np_cnt')).toBe(5);
    // 40 keys (a walk of the map and one batch), 5 of them present: no error, none twice
    await write((ops) => {
      for (let i = 1; i <= 40; i++) ops.write(cnt(i), null);
    });
    expect(await count('np_cnt')).toBe(40);
    await write((ops) => {
      for (let i = 1; i <= 40; i++) ops.remove(cnt(i));
    });
    expect(await count('np_cnt')).toBe(0);
  });

  it('refuses a group whose sizes are not the map s, writes none of it, and reads the next batch aligned', async () => {
    const name = Buffer.from('np_natip');
    const header = Buffer.concat([Buffer.from('u'), Buffer.from([name.length]), name, Buffer.from([8, 0, 4, 0, 1, 0, 0, 0])]);
    const bad = Buffer.concat([header, Buffer.from('cb007101cb007102', 'hex'), Buffer.from('01000000', 'hex')]);
    await expect(client.writeBatch(bad)).rejects.toThrow(/bad sizes for map np_natip/);
    expect(await count('np_natip')).toBe(0);
    await write((ops) => ops.write(natip(7), fromHex(hex32le(1))));
    expect((await client.dump('np_natip')).map(([k]) => k)).toEqual(['cb007107']);
  });

  it('an agent started on maps keyed by the first agents (sha256 ids) keeps their numbers, under the new keys', async () => {
    const doc = exampleDocument();
    const g = doc.gateways[0];
    const owner = ownerOfEndpoint(g.id, g.endpoints[0].id);
    await write((ops) => ops.write(tag('np_ids', legacyIdKey(owner)), idValue(77, 0)));
    const backend = new EbpfBackend(ns, pinDir, 'up0', memoryLogger([]));
    try {
      await backend.load({ doc, uplink: 'up0', interfaces: new InterfaceIds() });
      const ids = new Map(await client.dump('np_ids'));
      expect(ids.get(toHex(idKey(owner)))?.slice(0, 8)).toBe(hex32le(77));
      expect(ids.has(toHex(legacyIdKey(owner)))).toBe(false);
      const slots = (await client.dump('np_blk')).map(([k]) => Buffer.from(k, 'hex').readUInt32LE(0));
      expect(slots).toContain(77);
    } finally {
      await backend.close();
    }
  });

  it('releases several ranges with one command, on the walks channel or on stdin', async () => {
    expect((await client.walk('r 203.0.113.5 1024 1087 203.0.113.6 2048 2111')).last).toBe('ok 0');
    await expect(client.walk('r 203.0.113.5 1024')).rejects.toThrow(/usage: r NATIP LO HI/);
    expect((await client.simple('r 203.0.113.5 1024 1087')).last).toBe('ok 0');
  });

  it('answers the walks on their own channel, and a batch sent behind queued walks before they end', async () => {
    // sixteen sweeps queued (each walks 1 M-entry maps, tens of ms), then a batch on stdin: on one
    // channel it would be answered after the last; on its own, while the sweeps go on. (With four,
    // CI once saw the batch answered just after the fourth: a margin of a few tens of ms.)
    const done: string[] = [];
    const n = Array.from({ length: 16 }, (_, i) => i + 1);
    const sweeps = n.map((i) => client.walk('w').then((r) => done.push(`sweep ${i}: ${r.last}`)));
    await write((ops) => ops.write(natip(9), fromHex(hex32le(1))));
    done.push('batch');
    await Promise.all(sweeps);
    expect(done.indexOf('batch')).toBeLessThan(n.length);
    expect(done.filter((d) => d.startsWith('sweep'))).toEqual(n.map((i) => `sweep ${i}: ok 0 0 0`));
    expect((await client.walk('c')).last).toMatch(/^ok \d+$/);
    expect((await client.walk('p')).last).toMatch(/^ok \d+$/);
    await expect(client.walk('k np_natip')).rejects.toThrow(/only w, r, c and p on the walk channel/);
    // the main channel is still in step
    expect((await client.dump('np_natip')).map(([k]) => k)).toContain('cb007109');
  });
});
