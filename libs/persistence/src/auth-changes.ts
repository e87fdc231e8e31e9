import { Client } from 'pg';

/** The PostgreSQL channel on which writes that change who may call what are announced (TokensRepository.announceChange). */
export const AUTH_CHANNEL = 'natplane_auth';

/**
 * Listens for TokensRepository.announceChange on a connection of its own (one per process), so that every api
 * process drops what it cached about tokens and projects as soon as another one changed them.
 * `live` is false until LISTEN is in place and whenever the connection is lost (it reconnects,
 * 0.5 s doubling to 10 s): a cache must not be trusted then, since announcements may be missed,
 * and `onChange` is called on every (re)connection for the same reason.
 */
export class AuthChangeListener {
  private client: Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  live = false;

  constructor(
    private readonly url: string,
    private readonly onChange: () => void,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  start(): void {
    void this.connect(500);
  }

  private async connect(backoffMs: number): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.url, application_name: 'natplane-auth-listener' });
    const lost = (why: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.live = false;
      this.onChange();
      client.removeAllListeners();
      void client.end().catch(() => undefined);
      if (this.stopped) return;
      this.log(`the ${AUTH_CHANNEL} listener lost its connection (${why}); token and project caches are off until it is back`);
      this.retry = setTimeout(() => void this.connect(Math.min(backoffMs * 2, 10_000)), backoffMs);
    };
    this.client = client;
    client.on('error', (e) => lost(e.message));
    client.on('end', () => lost('closed'));
    client.on('notification', () => this.onChange());
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANNEL}`);
      if (this.client !== client) return;
      this.live = true;
      // Whatever changed while nobody listened.
      this.onChange();
    } catch (e) {
      lost(e instanceof Error ? e.message : String(e));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    this.live = false;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => undefined);
      await c.end().catch(() => undefined);
    }
  }
}
