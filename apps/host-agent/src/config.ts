/**
 * The agent's environment, validated into a typed object at start (../../shared/API.md "Running
 * the host agent"). Anything wrong stops the process with a message that says what to set.
 */
import { isValidInterfaceName } from '@natplane/nftables';

/**
 * The largest document a host takes, by default: 16 MiB, about 65,000 endpoints of one rule
 * (a 50,000-endpoint document is about 12 MB), far beyond the VM interfaces one hypervisor holds.
 */
export const DEFAULT_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

export type BackendKind = 'nftables' | 'dry-run' | 'ebpf';

export interface AgentConfig {
  apiUrl: string;
  host: string;
  hostToken: string;
  pushSecret: string;
  listenHost: string;
  listenPort: number;
  /** Unset: chosen at start (nftables where it works, else dry-run). */
  backend: BackendKind | undefined;
  /** Unset: the interface of the default route. */
  uplink: string | undefined;
  stateDir: string;
  pullIntervalMs: number;
  reportIntervalMs: number;
  /** The largest push body taken (AGENT_MAX_DOCUMENT_BYTES, default 16 MiB): larger ones get 413 before being read. */
  maxDocumentBytes: number;
  /** Run nft and conntrack inside this network namespace (tests and benchmarks). */
  netns: string | undefined;
  /** NAT logs (docs/observability.md): the file, records a second at most, size before it is renamed .1. */
  natLog: { path: string; ratePerSec: number; maxBytes: number };
  /** AGENT_COUNTERS (default on): the nftables backend measures counters and writes NAT logs. */
  counters: boolean;
  /** AGENT_EBPF_PIN_DIR: the eBPF backend's maps and links in bpffs (default /sys/fs/bpf/natplane/HOST). */
  ebpfPinDir: string;
}

export class ConfigError extends Error {}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, unit = 'milliseconds'): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer (${unit}), got ${JSON.stringify(raw)}`);
  return n;
}

export function parseListen(raw: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`AGENT_LISTEN must be address:port (e.g. 0.0.0.0:8081), got ${JSON.stringify(raw)}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export function loadConfig(env: NodeJS.ProcessEnv, cwd: string): AgentConfig {
  const missing = ['NATPLANE_API_URL', 'NATPLANE_HOST'].filter((k) => !env[k]);
  if (missing.length > 0) throw new ConfigError(`missing environment: ${missing.join(', ')}`);
  const apiUrl = (env.NATPLANE_API_URL as string).replace(/\/+$/, '');
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`NATPLANE_API_URL must be an http(s) URL, got ${JSON.stringify(env.NATPLANE_API_URL)}`);
  }
  const host = env.NATPLANE_HOST as string;
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(host)) throw new ConfigError(`NATPLANE_HOST must be a host name (RFC 1035), got ${JSON.stringify(host)}`);
  const backend = env.AGENT_BACKEND || undefined;
  if (backend !== undefined && backend !== 'nftables' && backend !== 'dry-run' && backend !== 'ebpf') {
    throw new ConfigError(`AGENT_BACKEND must be nftables, ebpf or dry-run, got ${JSON.stringify(backend)}`);
  }
  const uplink = env.AGENT_UPLINK || undefined;
  if (uplink !== undefined && !isValidInterfaceName(uplink)) throw new ConfigError(`AGENT_UPLINK is not an interface name: ${JSON.stringify(uplink)}`);
  const listen = parseListen(env.AGENT_LISTEN || '0.0.0.0:8081');
  const counters = env.AGENT_COUNTERS || 'on';
  if (counters !== 'on' && counters !== 'off') throw new ConfigError(`AGENT_COUNTERS must be on or off, got ${JSON.stringify(counters)}`);
  return {
    apiUrl,
    host,
    hostToken: env.NATPLANE_HOST_TOKEN ?? '',
    pushSecret: env.NATPLANE_PUSH_SECRET ?? '',
    listenHost: listen.host,
    listenPort: listen.port,
    backend,
    uplink,
    stateDir: env.AGENT_STATE_DIR || `${cwd}/.natplane/agent-${host}`,
    pullIntervalMs: positiveInt(env, 'AGENT_PULL_INTERVAL_MS', 30_000),
    reportIntervalMs: positiveInt(env, 'AGENT_REPORT_INTERVAL_MS', 5_000),
    maxDocumentBytes: positiveInt(env, 'AGENT_MAX_DOCUMENT_BYTES', DEFAULT_MAX_DOCUMENT_BYTES, 'bytes'),
    netns: env.AGENT_NETNS || undefined,
    natLog: {
      path: env.AGENT_NAT_LOG || `${env.AGENT_STATE_DIR || `${cwd}/.natplane/agent-${host}`}/nat-flows.log`,
      ratePerSec: positiveInt(env, 'AGENT_NAT_LOG_RATE', 100),
      maxBytes: positiveInt(env, 'AGENT_NAT_LOG_MAX_BYTES', 100 * 1024 * 1024),
    },
    counters: counters === 'on',
    ebpfPinDir: env.AGENT_EBPF_PIN_DIR || `/sys/fs/bpf/natplane/${host}`,
  };
}
