/** Redis settings, validated once at start. */
export interface RedisConfig {
  url: string;
}

export function redisConfig(env: NodeJS.ProcessEnv = process.env): RedisConfig {
  const url = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) throw new Error(`REDIS_URL must be a redis:// URL, got '${url}'`);
  return { url };
}

export function redisConnectionOptions(url: string): { host: string; port: number; db: number; password?: string; username?: string; maxRetriesPerRequest: null } {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.replace('/', '') || 0),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    maxRetriesPerRequest: null,
  };
}
