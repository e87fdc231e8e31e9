/**
 * deploy/prometheus/: the alert rules load, their unit tests (promtool test rules) pass, and the
 * scrape configuration is valid, with Debian's promtool (the `prometheus` package). CI runs this as
 * part of `npm test`; .ci/run installs the package when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const DIR = join(ROOT, 'deploy/prometheus');
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

const promtool = (...args: string[]) => {
  const r = spawnSync(PROMTOOL, args, { encoding: 'utf8', cwd: DIR });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

const describePromtool = existsSync(PROMTOOL) ? describe : describe.skip;
if (!existsSync(PROMTOOL)) console.warn(`prometheus-rules.test skipped: ${PROMTOOL} is missing (apt-get install prometheus)`);

describePromtool('deploy/prometheus', () => {
  it('the alert rules are valid', () => {
    const r = promtool('check', 'rules', 'rules/natplane.rules.yml');
    expect(r).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
  });

  it('the alert rules pass their unit tests (promtool test rules)', () => {
    const r = promtool('test', 'rules', 'tests/natplane.rules.test.yml');
    expect(r).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
  });

  it('every alert of the rules is tested', () => {
    const alerts = [...readFileSync(join(DIR, 'rules/natplane.rules.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tested = new Set([...readFileSync(join(DIR, 'tests/natplane.rules.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });

  it('the scrape configuration is valid (with its token file in place)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'natplane-prom-'));
    try {
      cpSync(join(DIR, 'rules'), join(dir, 'rules'), { recursive: true });
      mkdirSync(join(dir, 'secrets'));
      writeFileSync(join(dir, 'secrets/metrics-token'), 'token');
      const config = readFileSync(join(DIR, 'prometheus.yml'), 'utf8').replaceAll('/etc/prometheus/secrets/metrics-token', join(dir, 'secrets/metrics-token'));
      writeFileSync(join(dir, 'prometheus.yml'), config);
      const r = spawnSync(PROMTOOL, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      expect({ code: r.status, out: `${r.stdout}${r.stderr}` }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS: 1 rule files found') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
