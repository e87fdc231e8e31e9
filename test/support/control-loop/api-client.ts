/** A small HTTP client of the built api (fetch over loopback, keep-alive). */

/** A parsed JSON body: tests read fields of responses freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of a test client are untyped by nature
export type Json = any;

export interface Res {
  status: number;
  body: Json;
  text: string;
  headers: Headers;
}

export interface ReqOpts {
  /** Bearer token; default the admin token; null: none. */
  token?: string | null;
  headers?: Record<string, string>;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly adminToken: string,
  ) {}

  async req(method: string, path: string, body?: unknown, opts: ReqOpts = {}): Promise<Res> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.adminToken : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let parsed: Json;
    if (text !== '' && /json/.test(res.headers.get('content-type') ?? '')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  }

  get = (path: string, opts?: ReqOpts) => this.req('GET', path, undefined, opts);
  post = (path: string, body: unknown, opts?: ReqOpts) => this.req('POST', path, body, opts);
  patch = (path: string, body: unknown, opts?: ReqOpts) => this.req('PATCH', path, body, opts);
  del = (path: string, opts?: ReqOpts) => this.req('DELETE', path, undefined, opts);

  /** A request that must answer `status`; returns the body. */
  async must(method: string, path: string, status: number, body?: unknown, opts?: ReqOpts): Promise<Json> {
    const r = await this.req(method, path, body, opts);
    if (r.status !== status) throw new Error(`${method} ${path} ${body === undefined ? '' : JSON.stringify(body)} -> ${r.status} (expected ${status}): ${r.text.slice(0, 1500)}`);
    return r.body;
  }

  /** Every item of a paged list. */
  async listAll(path: string, opts?: ReqOpts): Promise<Json[]> {
    const items: Json[] = [];
    let token = '';
    for (;;) {
      const sep = path.includes('?') ? '&' : '?';
      const body = await this.must('GET', `${path}${sep}pageSize=500${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`, 200, undefined, opts);
      items.push(...(body.items as Json[]));
      token = body.nextPageToken as string;
      if (!token) return items;
    }
  }
}
