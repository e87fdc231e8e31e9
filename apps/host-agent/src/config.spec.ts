import { ConfigError, loadConfig, parseListen } from './config';

const base = { NATPLANE_API_URL: 'http://127.0.0.1:8080/', NATPLANE_HOST: 'host-a', NATPLANE_HOST_TOKEN: 't', NATPLANE_PUSH_SECRET: 's' };

describe('loadConfig', () => {
  it('applies the defaults of API.md', () => {
    expect(loadConfig(base, '/srv')).toEqual({
      apiUrl: 'http://127.0.0.1:8080',
      host: 'host-a',
      hostToken: 't',
      pushSecret: 's',
      listenHost: '0.0.0.0',
      listenPort: 8081,
      backend: undefined,
      uplink: undefined,
      stateDir: '/srv/.natplane/agent-host-a',
      pullIntervalMs: 30000,
      reportIntervalMs: 5000,
      maxDocumentBytes: 16 * 1024 * 1024,
      netns: undefined,
      natLog: { path: '/srv/.natplane/agent-host-a/nat-flows.log', ratePerSec: 100, maxBytes: 100 * 1024 * 1024 },
      counters: true,
      ebpfPinDir: '/sys/fs/bpf/natplane/host-a',
    });
  });
  it('says what is missing or wrong', () => {
    expect(() => loadConfig({}, '/')).toThrow(new ConfigError('missing environment: NATPLANE_API_URL, NATPLANE_HOST'));
    expect(() => loadConfig({ ...base, AGENT_BACKEND: 'xdp' }, '/')).toThrow(/AGENT_BACKEND must be nftables, ebpf or dry-run/);
    expect(() => loadConfig({ ...base, AGENT_UPLINK: 'eth0; flush ruleset' }, '/')).toThrow(/AGENT_UPLINK/);
    expect(() => loadConfig({ ...base, NATPLANE_API_URL: 'ftp://x' }, '/')).toThrow(/NATPLANE_API_URL/);
    expect(() => loadConfig({ ...base, AGENT_REPORT_INTERVAL_MS: '0' }, '/')).toThrow(/AGENT_REPORT_INTERVAL_MS/);
    expect(() => loadConfig({ ...base, AGENT_MAX_DOCUMENT_BYTES: '16MB' }, '/')).toThrow(/AGENT_MAX_DOCUMENT_BYTES must be a positive integer \(bytes\)/);
    expect(loadConfig({ ...base, AGENT_MAX_DOCUMENT_BYTES: '1048576' }, '/').maxDocumentBytes).toBe(1048576);
  });
  it('parses AGENT_LISTEN', () => {
    expect(parseListen('127.0.0.1:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseListen('9000')).toThrow(ConfigError);
  });
});
