/**
 * Real packets through the agent's data plane, once per backend (nftables, and eBPF where it is
 * built: docs/ebpf-backend.md), in network namespaces made for this test only:
 *
 *   [vm1] 10.99.0.2 --+
 *                     +-- br-vms 10.99.0.1 [host] up0 203.0.113.1/24 ---- 203.0.113.100 [ext]
 *   [vm2] 10.99.0.3 --+           NAT IPs .5 .6 .9 on up0             + 198.51.100.10 (rule destination)
 *
 * The agent (in this process, nft and conntrack, or the eBPF loader, run in `host`) is programmed
 * by signed pushes. ext has no route back to 10.99.0.0/24: a reply only comes back when SNAT
 * happened. The server in ext logs the source address and port it sees. Checksum offload is off
 * on every veth (transmit and receive), so a packet with a wrong checksum is dropped, not hidden.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RULE, HostDocument, HostEndpoint } from '@natplane/contracts';
import { gateway } from '../../libs/nftables/src/testing/fixtures';
import { deleteNamespaces, makeNamespace } from '../../libs/nftables/src/testing/netns';
import { HeldConnection, TrafficServer, client, probe as probeFrom, probeEim, writeTrafficScripts } from '../support/netns/traffic';
import { FakeApi, HOST, TestAgent, eventually, push, startFakeApi, startTestAgent } from './support';
import { packetTestBackends } from '../support/netns/backends';

const { describeKernel, backends: BACKENDS } = packetTestBackends(__filename, ['nft', 'ip', 'conntrack', 'ethtool']);

const EXT = '203.0.113.100';
const RULE_DST = '198.51.100.10';
const [A, B, R] = ['203.0.113.5', '203.0.113.6', '203.0.113.9'];

describeKernel.each(BACKENDS)('packets through the programmed host, %s backend (network namespaces)', (backend) => {
  const nftOnly = backend === 'nftables' ? it : it.skip;
  let vm1: string;
  let vm2: string;
  let host: string;
  let ext: string;
  let dir: string;
  let server: TrafficServer;
  let api: FakeApi;
  let agent: TestAgent;
  let held: HeldConnection | undefined;

  const sh = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  /** n TCP connections and n UDP request/replies from a VM; resolves once the server logged what it saw. */
  const probe = (ns: string, dst: string, tag: string, n = 3) => probeFrom(server, dir, ns, dst, tag, n);
  const conntrack = (...args: string[]) => spawnSync('ip', ['netns', 'exec', host, 'conntrack', '-L', ...args], { encoding: 'utf8' }).stdout;
  const udpSeen = (tag: string) => server.udp(tag);
  let pinDir = '';
  const startAgent = () => startTestAgent(api.url, { backend, netns: host, ebpfPinDir: pinDir });
  const lastReport = async () => {
    await agent.agent.report();
    return api.reports[api.reports.length - 1];
  };

  const endpoint = (id: string, ip: string, mappings: HostEndpoint['mappings']): HostEndpoint => ({ id, name: `projects/p/endpoints/${id}`, networkIp: ip, aliasRanges: [], natPrimary: true, mappings });
  const block = (natIp: string, lo: number) => ({ natIp, portLo: lo, portHi: lo + 63 });
  const doc = (generation: number, e1: HostEndpoint['mappings'], e2: HostEndpoint['mappings']): HostDocument => ({
    apiVersion: 'natplane.host/v1',
    host: HOST,
    generation,
    gateways: [
      gateway({
        mapping: 'ENDPOINT_DEPENDENT',
        timeouts: { udpIdleTimeoutSec: 77, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
        rules: [{ ruleNumber: 100, destinations: ['198.51.100.0/24'] }],
        endpoints: [endpoint('e1', '10.99.0.2', e1), endpoint('e2', '10.99.0.3', e2)],
      }),
    ],
  });
  const first = doc(
    1,
    [
      { ruleNumber: DEFAULT_RULE, active: block(A, 1024), drain: [] },
      { ruleNumber: 100, active: block(R, 1024), drain: [] },
    ],
    [
      { ruleNumber: DEFAULT_RULE, active: block(A, 1088), drain: [] },
      { ruleNumber: 100, active: block(R, 1088), drain: [] },
    ],
  );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'natplane-packets-'));
    writeTrafficScripts(dir);
    [vm1, vm2, host, ext] = ['np-vm1', 'np-vm2', 'np-host', 'np-ext'].map(makeNamespace);
    const ip = (...args: string[]) => execFileSync('ip', args);
    ip('-n', host, 'link', 'add', 'br-vms', 'type', 'bridge');
    ip('-n', host, 'addr', 'add', '10.99.0.1/24', 'dev', 'br-vms');
    ip('-n', host, 'link', 'set', 'br-vms', 'up');
    [vm1, vm2].forEach((vm, i) => {
      ip('link', 'add', `vm${i + 1}-h`, 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm);
      ip('-n', host, 'link', 'set', `vm${i + 1}-h`, 'master', 'br-vms', 'up');
      ip('-n', vm, 'addr', 'add', `10.99.0.${i + 2}/24`, 'dev', 'eth0');
      ip('-n', vm, 'link', 'set', 'eth0', 'up');
      ip('-n', vm, 'route', 'add', 'default', 'via', '10.99.0.1');
    });
    ip('link', 'add', 'up0', 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext);
    ip('-n', host, 'addr', 'add', '203.0.113.1/24', 'dev', 'up0');
    for (const nat of [A, B, R]) ip('-n', host, 'addr', 'add', `${nat}/32`, 'dev', 'up0');
    ip('-n', host, 'link', 'set', 'up0', 'up');
    ip('-n', host, 'route', 'add', '198.51.100.0/24', 'via', EXT);
    ip('-n', ext, 'addr', 'add', `${EXT}/24`, 'dev', 'eth0');
    ip('-n', ext, 'addr', 'add', `${RULE_DST}/32`, 'dev', 'eth0');
    ip('-n', ext, 'link', 'set', 'eth0', 'up');
    sh(host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const [ns, dev] of [[host, 'up0'], [host, 'vm1-h'], [host, 'vm2-h'], [vm1, 'eth0'], [vm2, 'eth0'], [ext, 'eth0']]) sh(ns, 'ethtool', '-K', dev, 'tx', 'off', 'rx', 'off');

    server = await TrafficServer.start(ext, dir, [EXT, RULE_DST]);

    api = await startFakeApi(first);
    pinDir = `/sys/fs/bpf/natplane-test-${host}`;
    agent = await startAgent();
    await eventually(() => agent.agent.appliedGeneration === 1, 'the first document');
  });

  afterAll(async () => {
    held?.close();
    server?.stop();
    await agent?.stop();
    await api?.close();
    deleteNamespaces();
    if (pinDir) rmSync(pinDir, { recursive: true, force: true });
  });

  it('TCP and UDP from each VM reach the server only from its NAT IP and block', async () => {
    expect(await probe(vm1, EXT, 'vm1')).toEqual({ tcpOk: 3, udpOk: 3 });
    expect(await probe(vm2, EXT, 'vm2')).toEqual({ tcpOk: 3, udpOk: 3 });
    const inBlock = (s: { peer?: string; port?: number }, ip: string, lo: number) => s.peer === ip && (s.port as number) >= lo && (s.port as number) <= lo + 63;
    expect(udpSeen('vm1').filter((s) => inBlock(s, A, 1024))).toHaveLength(3);
    expect(udpSeen('vm2').filter((s) => inBlock(s, A, 1088))).toHaveLength(3);
    const tcp = server.seen.filter((s) => s.proto === 'tcp' && s.local === EXT);
    expect(tcp).toHaveLength(6);
    expect(tcp.every((s) => inBlock(s, A, 1024) || inBlock(s, A, 1088))).toBe(true);
  });

  it("flows to a rule's destinations leave by the rule's IP, in the VM's block on it", async () => {
    expect(await probe(vm1, RULE_DST, 'vm1-rule')).toEqual({ tcpOk: 3, udpOk: 3 });
    expect(udpSeen('vm1-rule').map((s) => s.peer)).toEqual([R, R, R]);
    expect(udpSeen('vm1-rule').every((s) => (s.port as number) >= 1024 && (s.port as number) <= 1087)).toBe(true);
  });

  it('ICMP echo from a VM is answered through its NAT IP', () => {
    const r = spawnSync('ip', ['netns', 'exec', vm1, 'ping', '-c', '2', '-W', '2', '-i', '0.2', EXT], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/2 received/);
  });

  it('an ICMP error about a VM flow reaches the VM (port unreachable: the connected socket is refused)', () => {
    const script = `const u=require('dgram').createSocket('udp4');u.on('error',(e)=>{console.log(e.code);process.exit(0)});u.connect(9999,'${EXT}',()=>{u.send('x');setTimeout(()=>u.send('y'),300)});setTimeout(()=>{console.log('no error');process.exit(0)},2000);`;
    const r = spawnSync('ip', ['netns', 'exec', vm1, process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('ECONNREFUSED');
  });

  it('a UDP answer larger than the MTU reaches the VM in fragments', async () => {
    expect(await client(dir, vm1, 'big', EXT, 'vm1-big', 0)).toEqual({ bytes: 4000 });
  });

  it('a 20 MB TCP transfer goes through, byte for byte', async () => {
    expect(await client(dir, vm1, 'bulk', EXT, 'vm1-bulk', 20 * 1024 * 1024)).toEqual({ bytes: 20 * 1024 * 1024, bad: 0 });
  });

  nftOnly("the gateway's timeouts are the connections' timeouts (ct timeout policies)", () => {
    const udp = conntrack('-p', 'udp', '-s', '10.99.0.2');
    const timeouts = [...udp.matchAll(/^udp\s+17\s+(\d+)/gm)].map((m) => Number(m[1]));
    expect(timeouts.length).toBeGreaterThan(0);
    // the kernel default would be 30 s; the gateway says 77
    expect(timeouts.every((t) => t > 30 && t <= 77)).toBe(true);
  });

  it('an endpoint in scope without ports is dropped, not leaked', async () => {
    const r = await push(agent.url, doc(2, first.gateways[0].endpoints[0].mappings, [{ ruleNumber: DEFAULT_RULE, drain: [] }]));
    expect(r.status).toBe(200);
    expect(await probe(vm2, EXT, 'vm2-noports', 1)).toEqual({ tcpOk: 0, udpOk: 0 });
    expect(udpSeen('vm2-noports')).toEqual([]);
  });

  it('draining: new flows use the new block, an established TCP connection on the drained block lives on; usage is reported', async () => {
    held = await HeldConnection.open(dir, vm1, EXT);
    if (backend === 'nftables') {
      // the gateway's TCP established timeout (1200 s), not the kernel's 5 days
      const established = [...conntrack('-p', 'tcp', '-s', '10.99.0.2', '--state', 'ESTABLISHED').matchAll(/^tcp\s+6\s+(\d+) ESTABLISHED/gm)].map((m) => Number(m[1]));
      expect(established.length).toBe(1);
      expect(established[0]).toBeGreaterThan(1100);
      expect(established[0]).toBeLessThanOrEqual(1200);
      expect(conntrack('-p', 'tcp', '-s', '10.99.0.2', '--state', 'ESTABLISHED')).toMatch(new RegExp(`dst=${A.replace(/\./g, '\\.')} sport=8080 dport=10[0-9]{2}`));
    }

    await agent.agent.report();
    const usage = api.reports[api.reports.length - 1].usage;
    expect(usage.find((u) => u.endpoint === 'e1' && u.ruleNumber === DEFAULT_RULE)?.portsInUse).toBeGreaterThanOrEqual(1);

    const drained = doc(
      3,
      [
        { ruleNumber: DEFAULT_RULE, active: block(B, 1024), drain: [block(A, 1024)] },
        { ruleNumber: 100, active: block(R, 1024), drain: [] },
      ],
      first.gateways[0].endpoints[1].mappings,
    );
    expect((await push(agent.url, drained)).status).toBe(200);
    expect(await probe(vm1, EXT, 'vm1-drained', 2)).toEqual({ tcpOk: 2, udpOk: 2 });
    expect(udpSeen('vm1-drained').map((s) => s.peer)).toEqual([B, B]);
    await held.echo('ping-1');

    // released after quarantine: its leftover connections are removed from conntrack
    const released = doc(
      4,
      [
        { ruleNumber: DEFAULT_RULE, active: block(B, 1024), drain: [] },
        { ruleNumber: 100, active: block(R, 1024), drain: [] },
      ],
      first.gateways[0].endpoints[1].mappings,
    );
    // an agent restart with the connection open: it lives on (the data plane stays; the new agent loads whole)
    await agent.stop();
    api.document = drained;
    agent = await startAgent();
    await eventually(() => agent.agent.appliedGeneration === 3, 'the restarted agent pulled generation 3');
    await held.echo('ping-after-restart');

    expect((await push(agent.url, released)).status).toBe(200);
    await agent.agent.settled();
    if (backend === 'nftables') {
      expect(conntrack('-s', '10.99.0.2', '-q', A)).not.toContain('src=10.99.0.2');
      expect(conntrack('-s', '10.99.0.2', '-q', B)).toContain('src=10.99.0.2');
    }
    // the released block's connection is gone: its next segment is not translated into A any more
    await expect(held.echo('ping-after-release', 1500)).rejects.toThrow();
    held.close();
    held = undefined;
  });

  it('exhaustion: of 70 UDP flows to one server from a 64-port block, 64 pass and 6 are dropped and counted', async () => {
    const fresh = doc(5, first.gateways[0].endpoints[0].mappings, [{ ruleNumber: DEFAULT_RULE, active: block(B, 2048), drain: [] }]);
    expect((await push(agent.url, fresh)).status).toBe(200);
    await agent.agent.settled();
    const before = (await lastReport()).counters?.endpoints.find((c) => c.endpoint === 'e2' && c.ruleNumber === DEFAULT_RULE)?.droppedSentPackets.OUT_OF_RESOURCES ?? 0;
    expect(await client(dir, vm2, 'many', EXT, 'vm2-many', 70)).toEqual({ udpOk: 64 });
    const seen = udpSeen('vm2-many');
    expect(seen).toHaveLength(64);
    expect(seen.every((x) => x.peer === B && (x.port as number) >= 2048 && (x.port as number) <= 2111)).toBe(true);
    await eventually(async () => {
      const r = await lastReport();
      const c = r.counters?.endpoints.find((x) => x.endpoint === 'e2' && x.ruleNumber === DEFAULT_RULE);
      return (c?.droppedSentPackets.OUT_OF_RESOURCES ?? 0) - before === 6;
    }, 'OUT_OF_RESOURCES counted 6 more');
    const usage = (await lastReport()).usage.find((u) => u.endpoint === 'e2' && u.ruleNumber === DEFAULT_RULE);
    expect(usage?.portsInUse).toBe(64);
  });

  it('a UDP flow idle past udpIdleTimeoutSec frees its port', async () => {
    const short = doc(6, first.gateways[0].endpoints[0].mappings, [{ ruleNumber: DEFAULT_RULE, active: block(B, 3072), drain: [] }]);
    short.gateways[0].timeouts.udpIdleTimeoutSec = 3;
    expect((await push(agent.url, short)).status).toBe(200);
    await agent.agent.settled();
    expect(await client(dir, vm2, 'many', EXT, 'vm2-idle', 1)).toEqual({ udpOk: 1 });
    const inUse = async () => (await lastReport()).usage.find((u) => u.endpoint === 'e2' && u.ruleNumber === DEFAULT_RULE)?.portsInUse ?? 0;
    expect(await inUse()).toBe(1);
    await eventually(async () => (await inUse()) === 0, 'the idle flow freed its port', 10_000);
  });

  it('endpoint-independent mapping: one VM socket keeps its NAT port towards two destinations', async () => {
    const eim = doc(7, first.gateways[0].endpoints[0].mappings, first.gateways[0].endpoints[1].mappings);
    eim.gateways[0].mapping = 'ENDPOINT_INDEPENDENT';
    eim.gateways[0].rules = [];
    eim.gateways[0].endpoints.forEach((e) => (e.mappings = e.mappings.filter((m) => m.ruleNumber === DEFAULT_RULE)));
    expect((await push(agent.url, eim)).status).toBe(200);
    expect(await probeEim(dir, vm1, EXT, 'eim')).toEqual({ udpOk: 2 });
    await eventually(() => udpSeen('eim').length === 2, 'both datagrams');
    const ports = udpSeen('eim').map((x) => `${x.peer}:${x.port}`);
    expect(ports[0]).toBe(ports[1]);
    expect(ports[0]).toMatch(/^203\.0\.113\.5:10[0-8]\d$/);
  });

  it('endpoint-independent mapping: unsolicited inbound to the mapped NAT port is dropped, the answer passes', async () => {
    const before = (await lastReport()).counters?.host.droppedReceivedUnsolicited ?? 0;
    const listening = client<{ got: string[] }>(dir, vm1, 'listen', EXT, 'eim-listen', 2500);
    const seen = () => server.seen.filter((x) => x.proto === 'udp' && x.tag === 'eim-listen');
    await eventually(() => seen().length === 1, 'the mapping made');
    const mapped = seen()[0];
    // from a port of ext the VM never sent to
    const send = `const u=require('dgram').createSocket('udp4');u.bind(7777,'${EXT}',()=>u.send('unsolicited',${mapped.port},'${mapped.peer}',()=>u.close()));`;
    execFileSync('ip', ['netns', 'exec', ext, process.execPath, '-e', send]);
    expect((await listening).got).toEqual([`${EXT}:9090 ok eim-listen`]);
    if (backend === 'ebpf') expect((await lastReport()).counters?.host.droppedReceivedUnsolicited).toBe(before + 1);
  });

  it('without the gateway, traffic is no longer translated', async () => {
    expect((await push(agent.url, { ...first, generation: 8, gateways: [] })).status).toBe(200);
    expect(await probe(vm1, EXT, 'vm1-nogw', 1)).toEqual({ tcpOk: 0, udpOk: 0 });
    // the datagram arrives with the VM's own address (and the reply has no way back)
    expect(udpSeen('vm1-nogw').map((s) => s.peer)).toEqual(['10.99.0.2']);
  });
});
