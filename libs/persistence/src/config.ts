/** Connection settings, validated once at start (the apps read these, never process.env directly). */
export interface DatabaseConfig {
  url: string;
}

export function databaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const url = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/natplane';
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`DATABASE_URL must be a postgres:// URL, got '${url}'`);
  return { url };
}
