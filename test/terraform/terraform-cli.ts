/**
 * The real terraform binary, run in a working directory of its own with the provider installed
 * from the filesystem mirror that `npm run terraform:mirror` writes (scripts/terraform-mirror.js),
 * as a user would. Each command's output is kept for a failing test's message.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/control-loop/stack';

/** The terraform binary: TERRAFORM_BIN (when set, that one or none), /usr/local/bin/terraform, or one on PATH. */
export function findTerraform(): string | undefined {
  if (process.env.TERRAFORM_BIN) return existsSync(process.env.TERRAFORM_BIN) ? process.env.TERRAFORM_BIN : undefined;
  if (existsSync('/usr/local/bin/terraform')) return '/usr/local/bin/terraform';
  const r = spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Builds (when stale) and writes the mirror and CLI config; returns the config file's path. */
export function installMirror(): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/terraform-mirror.js')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`terraform:mirror failed:\n${r.stdout}\n${r.stderr}`);
  return join(ROOT, 'dist/terraform/terraform.rc');
}

export class TerraformDir {
  readonly log: string[] = [];

  constructor(
    readonly bin: string,
    readonly dir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** A fresh directory holding a copy of `source` (a directory) or the given files. */
  static create(bin: string, env: NodeJS.ProcessEnv, source: string | Record<string, string>): TerraformDir {
    const dir = mkdtempSync(join(tmpdir(), 'natplane-tf-'));
    if (typeof source === 'string') cpSync(source, dir, { recursive: true, filter: (src) => !/\.terraform|tfstate/.test(src) });
    else for (const [name, text] of Object.entries(source)) writeFileSync(join(dir, name), text);
    return new TerraformDir(bin, dir, env);
  }

  write(name: string, text: string): void {
    writeFileSync(join(this.dir, name), text);
  }

  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      execFile(this.bin, [...args, ...(args[0] === 'output' || args[0] === 'show' || args[0] === 'state' ? [] : ['-no-color'])], { cwd: this.dir, env: { ...this.env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        this.log.push(`$ terraform ${args.join(' ')}  (exit ${code}, ${Date.now() - started} ms)\n${stdout}${stderr}`);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs and throws (with the output) unless the exit code is one of `codes`. */
  async ok(args: string[], codes: number[] = [0], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const r = await this.run(args, extraEnv);
    if (!codes.includes(r.code)) throw new Error(`terraform ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** The actions of each resource change of a plan: {address: ['create'] | ['update'] | ['delete','create'] ...}. */
  async planActions(extraArgs: string[] = []): Promise<Record<string, string[]>> {
    await this.ok(['plan', '-out=plan.tfplan', ...extraArgs]);
    const show = await this.ok(['show', '-json', 'plan.tfplan']);
    const plan = JSON.parse(show.stdout) as { resource_changes?: { address: string; change: { actions: string[] } }[] };
    const out: Record<string, string[]> = {};
    for (const rc of plan.resource_changes ?? []) if (rc.change.actions.join() !== 'no-op' && rc.change.actions.join() !== 'read') out[rc.address] = rc.change.actions;
    return out;
  }

  history(last = 6): string {
    return this.log.slice(-last).join('\n');
  }
}
