import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseBackend } from '../main';
import { memoryLogger } from '../log';
import { AgentConfig, DEFAULT_MAX_DOCUMENT_BYTES } from '../config';
import { ebpfProblem } from './loader-client';

describe('the eBPF backend without its build', () => {
  const saved = process.env.AGENT_EBPF_DIR;
  beforeAll(() => {
    process.env.AGENT_EBPF_DIR = mkdtempSync(join(tmpdir(), 'natplane-no-ebpf-'));
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.AGENT_EBPF_DIR;
    else process.env.AGENT_EBPF_DIR = saved;
  });

  it('says what to install, and the agent refuses to start with it (never half-programs)', async () => {
    expect(ebpfProblem()).toMatch(/install .*(clang|libbpf-dev|bpftool).* and run node scripts\/prepare\.js|kernel has no BTF/);
    const config: AgentConfig = {
      apiUrl: 'http://127.0.0.1:1',
      host: 'host-a',
      hostToken: '',
      pushSecret: '',
      listenHost: '127.0.0.1',
      listenPort: 0,
      backend: 'ebpf',
      uplink: 'up0',
      stateDir: tmpdir(),
      pullIntervalMs: 1000,
      reportIntervalMs: 1000,
      maxDocumentBytes: DEFAULT_MAX_DOCUMENT_BYTES,
      netns: undefined,
      natLog: { path: join(tmpdir(), 'x.log'), ratePerSec: 1, maxBytes: 1 },
      counters: false,
      ebpfPinDir: '/sys/fs/bpf/natplane-never',
    };
    await expect(chooseBackend(config, memoryLogger([]))).rejects.toThrow(/^AGENT_BACKEND=ebpf but .*install/);
  });
});
