/**
 * natplane host agent: `npm run host-agent` (dist/apps/host-agent/src/main.js), configured by
 * environment (see config.ts and ../../shared/API.md "Running the host agent"). Refuses to start,
 * with a message saying why, when neither the nftables nor the dry-run backend can work.
 */
import { Server } from 'node:http';
import { HttpApiClient } from './api-client';
import { Agent } from './agent';
import { Backend, DryRunBackend, NftablesBackend } from './backend';
import { EbpfBackend } from './ebpf/backend';
import { readInterfaceIds } from './interface-ids';
import { ReplyRouting } from './reply-routing';
import { AgentConfig, ConfigError, loadConfig } from './config';
import { Logger, errorMessage, jsonLogger } from './log';
import { runCommand } from './nft-session';
import { NatLogWriter } from './nat-log';
import { NftObserver } from './observe/observer';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createAgentServer } from './server';

export class StartupError extends Error {}

/** The interface of the default route (`ip -j route show default`), or the reason there is none. */
export async function defaultRouteInterface(netns: string | undefined): Promise<{ dev: string } | { error: string }> {
  try {
    const r = await runCommand(netns, 'ip', ['-j', 'route', 'show', 'default']);
    if (r.code !== 0) return { error: `ip route failed: ${r.stderr.trim()}` };
    const routes = JSON.parse(r.stdout || '[]') as { dev?: string }[];
    const dev = routes.find((x) => typeof x.dev === 'string')?.dev;
    return dev ? { dev } : { error: 'there is no default route' };
  } catch (e) {
    return { error: `ip cannot be run: ${errorMessage(e)}` };
  }
}

export async function chooseBackend(config: AgentConfig, log: Logger): Promise<{ backend: Backend; uplink: string }> {
  if (config.backend === 'ebpf') return chooseEbpf(config, log);
  let kind = config.backend;
  let nftProblem: string | null = null;
  if (kind !== 'dry-run') {
    nftProblem = await NftablesBackend.probe(config.netns);
    if (nftProblem && kind === 'nftables') {
      throw new StartupError(`AGENT_BACKEND=nftables but nft cannot program this host: ${nftProblem}. Run the agent as root with nftables installed, or set AGENT_BACKEND=dry-run.`);
    }
    if (!nftProblem) kind = 'nftables';
  }
  if (kind !== 'nftables') {
    const dirProblem = DryRunBackend.probe(config.stateDir);
    if (dirProblem) {
      throw new StartupError(
        config.backend === 'dry-run'
          ? `AGENT_BACKEND=dry-run but ${dirProblem}. Set AGENT_STATE_DIR to a writable directory.`
          : `no backend can work here: nftables: ${nftProblem ?? 'not tried'}; dry-run: ${dirProblem}. Run as root with nftables installed, or set AGENT_STATE_DIR to a writable directory.`,
      );
    }
    if (config.backend === undefined) log.warn('nftables is not usable here, running the dry-run backend', { reason: nftProblem, stateDir: config.stateDir });
    kind = 'dry-run';
  }
  let uplink = config.uplink;
  if (!uplink) {
    const found = await defaultRouteInterface(config.netns);
    if ('dev' in found) uplink = found.dev;
    else if (kind === 'nftables') throw new StartupError(`cannot find the uplink: ${found.error}. Set AGENT_UPLINK to the interface towards the outside.`);
    else {
      uplink = 'eth0';
      log.warn('no default route: the dry-run ruleset names uplink eth0', { reason: found.error });
    }
  }
  if (kind === 'nftables') {
    const ct = await runCommand(config.netns, 'conntrack', ['--version']).catch((e: unknown) => ({ code: -1, stderr: errorMessage(e) }));
    if (ct.code !== 0) log.warn('conntrack-tools is missing: ports in use cannot be counted nor released ports cleaned', { reason: ct.stderr.trim() });
  }
  if (kind === 'nftables') {
    const backend = new NftablesBackend(config.netns, log);
    if (!config.counters) return { backend, uplink };
    let natLog: NatLogWriter | null = null;
    try {
      mkdirSync(dirname(config.natLog.path), { recursive: true });
      natLog = new NatLogWriter(config.natLog.path, config.natLog);
    } catch (e) {
      log.warn('NAT logs cannot be written', { path: config.natLog.path, reason: errorMessage(e) });
    }
    await backend.observe(new NftObserver(config.netns, log, uplink, config.host, natLog));
    return { backend, uplink };
  }
  return { backend: new DryRunBackend(config.stateDir, uplink), uplink };
}

/** AGENT_BACKEND=ebpf: the programs built, the uplink known, the loader started; else a StartupError saying what to do. */
async function chooseEbpf(config: AgentConfig, log: Logger): Promise<{ backend: Backend; uplink: string }> {
  const problem = EbpfBackend.probe();
  if (problem) throw new StartupError(`AGENT_BACKEND=ebpf but ${problem}`);
  let uplink = config.uplink;
  if (!uplink) {
    const found = await defaultRouteInterface(config.netns);
    if (!('dev' in found)) throw new StartupError(`cannot find the uplink: ${found.error}. Set AGENT_UPLINK to the interface towards the outside.`);
    uplink = found.dev;
  }
  const backend = new EbpfBackend(config.netns, config.ebpfPinDir, uplink, log);
  try {
    await backend.start();
  } catch (e) {
    await backend.close().catch(() => undefined);
    throw new StartupError(`AGENT_BACKEND=ebpf but the programs cannot be loaded and attached at ${uplink}: ${errorMessage(e)}`);
  }
  return { backend, uplink };
}

export async function startAgent(config: AgentConfig, log: Logger): Promise<{ agent: Agent; server: Server; stop: () => Promise<void> }> {
  const { backend, uplink } = await chooseBackend(config, log);
  if (!config.pushSecret) log.warn('NATPLANE_PUSH_SECRET is empty: every push will be refused');
  if (!config.hostToken) log.warn('NATPLANE_HOST_TOKEN is empty: the API will refuse pulls and reports');
  const agent = new Agent({
    host: config.host,
    pushSecret: config.pushSecret,
    uplink,
    backend,
    api: new HttpApiClient(config.apiUrl, config.host, config.hostToken),
    log,
    pullIntervalMs: config.pullIntervalMs,
    reportIntervalMs: config.reportIntervalMs,
    ...(backend.kind === 'nftables' ? { interfaceIds: () => readInterfaceIds(config.netns), routing: new ReplyRouting(config.netns, log) } : {}),
  });
  const server = createAgentServer(agent, log, { hostToken: config.hostToken, maxDocumentBytes: config.maxDocumentBytes });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listenPort, config.listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  log.info('host agent started', {
    host: config.host,
    backend: backend.kind,
    uplink,
    listen: typeof address === 'object' && address ? `${address.address}:${address.port}` : address,
    api: config.apiUrl,
    ...(backend instanceof DryRunBackend ? { ruleset: backend.rulesetPath } : {}),
  });
  agent.start();
  const stop = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await agent.stop();
  };
  return { agent, server, stop };
}

async function main(): Promise<void> {
  let log = jsonLogger({ service: 'host-agent' });
  let config: AgentConfig;
  try {
    config = loadConfig(process.env, process.cwd());
  } catch (e) {
    if (e instanceof ConfigError) {
      log.error(`cannot start: ${e.message}`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
  log = jsonLogger({ service: 'host-agent', host: config.host });
  let running: Awaited<ReturnType<typeof startAgent>>;
  try {
    running = await startAgent(config, log);
  } catch (e) {
    log.error(`cannot start: ${errorMessage(e)}`);
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping (the nftables table stays: translation goes on while the agent is away)', { signal });
    const force = setTimeout(() => {
      log.error('shutdown took more than 10 s, exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    running
      .stop()
      .then(() => log.info('stopped'))
      .catch((e) => {
        log.error('shutdown failed', { error: errorMessage(e) });
        process.exitCode = 1;
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
