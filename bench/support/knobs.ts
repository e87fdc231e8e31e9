/** Bench support: the benches' knobs, read from the environment. */

/** The positive number in the environment variable `name`; `dflt` when it is unset, empty, zero, negative or not a finite number. */
export function num(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
