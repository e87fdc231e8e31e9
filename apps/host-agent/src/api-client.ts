/** The two API routes the agent calls (../../shared/API.md "Host agent"), with its host token. */
import { HostReport } from '@natplane/contracts';

export type PullResult = { status: 'unchanged' } | { status: 'ok'; body: string; etag: string | undefined };

export interface ApiClient {
  /** GET /v1/hosts/{host}/programming, with If-None-Match when an ETag is known. */
  fetchProgramming(etag: string | undefined): Promise<PullResult>;
  /** POST /v1/hosts/{host}/reports; the API answers the generation it wants applied. */
  postReport(report: HostReport): Promise<{ desiredGeneration?: number }>;
}

const TIMEOUT_MS = 15_000;

export class HttpApiClient implements ApiClient {
  constructor(
    private readonly apiUrl: string,
    private readonly host: string,
    private readonly token: string,
  ) {}

  private url(path: string): string {
    return `${this.apiUrl}/v1/hosts/${encodeURIComponent(this.host)}/${path}`;
  }

  async fetchProgramming(etag: string | undefined): Promise<PullResult> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (etag) headers['if-none-match'] = etag;
    const res = await fetch(this.url('programming'), { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status === 304) return { status: 'unchanged' };
    const body = await res.text();
    if (!res.ok) throw new Error(`GET programming answered ${res.status}: ${body.slice(0, 300)}`);
    return { status: 'ok', body, etag: res.headers.get('etag') ?? undefined };
  }

  async postReport(report: HostReport): Promise<{ desiredGeneration?: number }> {
    const res = await fetch(this.url('reports'), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST reports answered ${res.status}: ${text.slice(0, 300)}`);
    try {
      const ack = JSON.parse(text) as { desiredGeneration?: unknown };
      return typeof ack.desiredGeneration === 'number' ? { desiredGeneration: ack.desiredGeneration } : {};
    } catch {
      return {};
    }
  }
}
