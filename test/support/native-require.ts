/**
 * NestJS 12 ships as ES modules only, which Jest's CommonJS module registry cannot load on Node
 * 20 (Jest supports require(esm) only from Node 24.9). Node itself can (require(esm), Node >=
 * 20.19), so the api under test is loaded with Node's own `require`, outside Jest's registry:
 * TypeScript sources are compiled on the fly with @swc/core (the options of jest.config.js) and
 * the `@natplane/*` path aliases of tsconfig.json are resolved here. Only the test files and this
 * harness run inside Jest's registry; everything the app imports is loaded once per worker.
 */
import * as nodeModule from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

/** The swc options jest itself uses (jest.config.js), so both compile the same way. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SWC_OPTIONS = (require(join(ROOT, 'jest.config.js')) as { transform: Record<string, [string, object]> }).transform['^.+\\.ts$'][1];

/** Every lib under libs/ (as tsconfig paths map @natplane/<lib> to libs/<lib>/src). */
const ALIAS = /^@natplane\/([a-z-]+)$/;

interface ModuleInternals {
  createRequire(path: string): NodeJS.Require;
  _load: unknown;
  _extensions: Record<string, (m: { _compile(code: string, filename: string): void }, filename: string) => void>;
  _resolveFilename: (request: string, parent: unknown, ...rest: unknown[]) => string;
}

let installed = false;

/**
 * Jest hands test code a subclass of Node's Module whose createRequire goes through Jest's
 * registry; its parent class is Node's own.
 */
function realModule(): ModuleInternals {
  const m = (nodeModule as unknown as { Module: object }).Module;
  const parent = Object.getPrototypeOf(m) as Partial<ModuleInternals> | null;
  return (typeof parent?.createRequire === 'function' && typeof parent._load === 'function' ? parent : m) as ModuleInternals;
}

function install(): ModuleInternals {
  const Module = realModule();
  if (installed) return Module;
  installed = true;
  const realRequire = Module.createRequire(join(ROOT, 'package.json'));
  const swc = realRequire('@swc/core') as { transformSync(src: string, opts: object): { code: string } };
  if (!Module._extensions['.ts']) {
    Module._extensions['.ts'] = (m, filename) => {
      const source = readFileSync(filename, 'utf8');
      m._compile(swc.transformSync(source, { ...SWC_OPTIONS, filename }).code, filename);
    };
  }
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request: string, parent: unknown, ...rest: unknown[]): string {
    const m = ALIAS.exec(request);
    return resolveFilename.call(this, m ? join(ROOT, 'libs', m[1], 'src', 'index.ts') : request, parent, ...rest);
  };
  return Module;
}

/** Node's own require (not Jest's) of a repository file, e.g. `apps/api/src/app.ts`. */
export function nativeRequire<T>(repoPath: string): T {
  return install().createRequire(join(ROOT, 'package.json'))(join(ROOT, repoPath)) as T;
}
