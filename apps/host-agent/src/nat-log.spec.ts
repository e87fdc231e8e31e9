import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostGateway } from '@natplane/contracts';
import { NatLogWriter, RateLimit, logs, natLogRecord } from './nat-log';

const gw = (filter: 'ALL' | 'ERRORS_ONLY' | 'TRANSLATIONS_ONLY', enable = true): HostGateway => ({
  id: 'g1',
  name: 'projects/shop/natGateways/egress',
  mapping: 'ENDPOINT_DEPENDENT',
  timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
  logging: { enable, filter },
  rules: [],
  endpoints: [{ id: 'e1', name: 'projects/shop/endpoints/vm-1', networkIp: '10.0.0.2', natPrimary: true, aliasRanges: [], mappings: [] }],
});

describe('NAT log records', () => {
  it("follow the gateway's logConfig filter", () => {
    expect([logs(gw('ALL'), 'OK'), logs(gw('ALL'), 'DROPPED')]).toEqual([true, true]);
    expect([logs(gw('ERRORS_ONLY'), 'OK'), logs(gw('ERRORS_ONLY'), 'DROPPED')]).toEqual([false, true]);
    expect([logs(gw('TRANSLATIONS_ONLY'), 'OK'), logs(gw('TRANSLATIONS_ONLY'), 'DROPPED')]).toEqual([true, false]);
    expect(logs(gw('ALL', false), 'DROPPED')).toBe(false);
  });

  it("carry Cloud NAT's fields: connection, allocation status, endpoint, gateway", () => {
    const g = gw('ALL');
    const r = natLogRecord('hv-1', g, g.endpoints[0], -1, 'DROPPED', { src_ip: '10.0.0.2', src_port: 40000, dest_ip: '198.51.100.9', dest_port: 443, protocol: 6 }, new Date('2026-12-01T00:00:00Z'), 'OUT_OF_RESOURCES');
    expect(r).toEqual({
      timestamp: '2026-12-01T00:00:00.000Z',
      allocation_status: 'DROPPED',
      reason: 'OUT_OF_RESOURCES',
      connection: { src_ip: '10.0.0.2', src_port: 40000, dest_ip: '198.51.100.9', dest_port: 443, protocol: 6 },
      endpoint: { project_id: 'shop', vm_name: 'vm-1', endpoint_id: 'e1', host: 'hv-1' },
      gateway_identifiers: { project_id: 'shop', gateway_name: 'egress', gateway_id: 'g1', rule_number: -1 },
    });
  });
});

describe('RateLimit', () => {
  it('lets `burst` through at once, then `rate` a second', () => {
    let t = 0;
    const l = new RateLimit(10, 20, () => t);
    const passed = Array.from({ length: 30 }, () => l.take()).filter(Boolean).length;
    expect(passed).toBe(20);
    t += 500;
    expect(Array.from({ length: 30 }, () => l.take()).filter(Boolean).length).toBe(5);
  });
});

describe('NatLogWriter', () => {
  it('writes JSON lines, holds back what is over the limit and says how many, rotates past its size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natlog-'));
    const path = join(dir, 'nat.log');
    let t = 0;
    const w = new NatLogWriter(path, { ratePerSec: 1, maxBytes: 1 << 20, now: () => t });
    const g = gw('ALL');
    const rec = (i: number) => natLogRecord('hv-1', g, g.endpoints[0], -1, 'OK', { src_ip: '10.0.0.2', src_port: i, dest_ip: '1.1.1.1', dest_port: 53, protocol: 17, nat_ip: '203.0.113.5', nat_port: 1024 + i }, new Date(1000 + i));
    const written = Array.from({ length: 5 }, (_, i) => w.write(rec(i)));
    expect(written).toEqual([true, true, false, false, false]);
    t += 1000;
    expect(w.write(rec(9))).toBe(true);
    await w.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type ?? l.allocation_status)).toEqual(['OK', 'OK', 'suppressed', 'OK']);
    expect(lines[2]).toEqual(expect.objectContaining({ suppressed: 3 }));
    const small = new NatLogWriter(path, { ratePerSec: 1000, maxBytes: 600 });
    for (let i = 0; i < 5; i++) small.write(rec(i));
    await small.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
