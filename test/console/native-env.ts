/**
 * Loaded with Node's own require (test/support/native-require.ts), this module sees the real
 * process, whose environment the api loaded the same way reads: Jest hands test code a copy of
 * `process.env`, so setting a variable there would not reach the api.
 */
export function setNativeEnv(name: string, value: string | undefined): string | undefined {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  return before;
}
