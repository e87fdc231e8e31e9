/**
 * The agent's HTTP surface against what an independent probe sent it (issue 13, items 5, 8, 10),
 * dry-run backend, real HTTP on loopback:
 *  - headers first: an unsigned push, or one whose declared size is over the bound, is answered
 *    (401, 413 problem+json) before its body arrives, so nothing of it is read or held; a body
 *    without a declared size that grows over the bound gets a 413 too, not a reset;
 *  - a timestamp header that is not canonical decimal is refused, even with the signature of its
 *    numeric value;
 *  - GET /v1/status answers only the host's token;
 *  - a pulled document older than the applied generation (the control plane is behind: a
 *    database restored from a backup) is not applied, and is reported at once, so that the
 *    control plane can move past it.
 */
import { request } from 'node:http';
import { HostDocument, SIGNATURE_HEADER, TIMESTAMP_HEADER, signPush } from '@natplane/contracts';
import { exampleDocument } from '../../libs/nftables/src/testing/fixtures';
import { DEFAULT_MAX_DOCUMENT_BYTES } from '../../apps/host-agent/src/server';
import { FakeApi, HOST, SECRET, TOKEN, TestAgent, eventually, push, startFakeApi, startTestAgent } from './support';

function doc(generation: number): HostDocument {
  const d = exampleDocument(generation);
  d.host = HOST;
  return d;
}

let api: FakeApi;
let agent: TestAgent;

beforeAll(async () => {
  api = await startFakeApi(doc(5));
  agent = await startTestAgent(api.url, { backend: 'dry-run' });
  await eventually(() => agent.agent.appliedGeneration === 5, 'the pull on start');
});

afterAll(async () => {
  await agent?.stop();
  await api?.close();
});

interface Early {
  status: number;
  type: string;
  body: Record<string, unknown>;
  /** Bytes of the body written before the answer came. */
  sent: number;
}

/**
 * A PUT that declares `declared` bytes (or none: chunked) and writes `chunk`-sized pieces until an
 * answer arrives or `max` bytes were written; resolves to the answer and how much was sent.
 */
function putUntilAnswered(headers: Record<string, string>, opts: { declared?: number; max: number; chunk?: number }): Promise<Early> {
  const url = new URL(`${agent.url}/v1/programming`);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'content-type': 'application/json', ...(opts.declared !== undefined ? { 'content-length': String(opts.declared) } : {}), ...headers } },
      (res) => {
        answered = true;
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: JSON.parse(text) as Record<string, unknown>, sent });
          req.destroy();
        });
      },
    );
    req.on('error', (e) => (answered ? undefined : reject(e)));
    const piece = Buffer.alloc(opts.chunk ?? 64 * 1024, 0x20);
    const pump = () => {
      if (answered) return;
      if (sent >= opts.max) return; // stop writing; wait for the answer (or the test's timeout)
      sent += piece.length;
      if (req.write(piece)) setImmediate(pump);
      else req.once('drain', pump);
    };
    pump();
  });
}

const now = () => Math.floor(Date.now() / 1000);

describe('headers before the body', () => {
  it('an unsigned push declaring 120 MB is refused (401) after at most 1 MB of it', async () => {
    const r = await putUntilAnswered({}, { declared: 120 * 1024 * 1024, max: 1024 * 1024 });
    expect(r).toMatchObject({ status: 401, type: 'application/problem+json', body: { status: 401 } });
    expect(r.sent).toBeLessThanOrEqual(1024 * 1024);
  }, 10_000);

  it('a push with a stale timestamp is refused before its body', async () => {
    const r = await putUntilAnswered({ [TIMESTAMP_HEADER]: String(now() - 3600), [SIGNATURE_HEADER]: `v1=${'0'.repeat(64)}` }, { declared: 50 * 1024 * 1024, max: 1024 * 1024 });
    expect(r).toMatchObject({ status: 401, body: { detail: 'the timestamp is too far from the agent clock' } });
  }, 10_000);

  it(`a signed-looking push declaring more than the bound (${DEFAULT_MAX_DOCUMENT_BYTES} bytes) gets 413 problem+json before its body`, async () => {
    const headers = { [TIMESTAMP_HEADER]: String(now()), [SIGNATURE_HEADER]: `v1=${'0'.repeat(64)}` };
    const r = await putUntilAnswered(headers, { declared: 130 * 1024 * 1024, max: 1024 * 1024 });
    expect(r).toMatchObject({ status: 413, type: 'application/problem+json', body: { status: 413, type: 'https://natplane.dev/problems/payload-too-large' } });
    expect(String(r.body.detail)).toContain(String(DEFAULT_MAX_DOCUMENT_BYTES));
  }, 10_000);

  it('a body without a declared size that grows over the bound gets 413, not a reset', async () => {
    const headers = { [TIMESTAMP_HEADER]: String(now()), [SIGNATURE_HEADER]: `v1=${'0'.repeat(64)}` };
    const r = await putUntilAnswered(headers, { max: DEFAULT_MAX_DOCUMENT_BYTES + 4 * 1024 * 1024, chunk: 256 * 1024 });
    expect(r).toMatchObject({ status: 413, type: 'application/problem+json' });
    expect(r.sent).toBeLessThanOrEqual(DEFAULT_MAX_DOCUMENT_BYTES + 4 * 1024 * 1024);
  }, 20_000);

  it('(control) a signed push within the bound is read and applied; nothing above changed the agent', async () => {
    expect(agent.agent.appliedGeneration).toBe(5);
    expect(await push(agent.url, doc(6))).toMatchObject({ status: 200, body: { appliedGeneration: 6 } });
  });
});

describe('the timestamp header is canonical decimal, as docs/host-protocol.md says', () => {
  // (Spaces around it are not part of a header's value in HTTP: " 1767225600" arrives canonical.)
  it.each([['+{ts}'], ['0{ts}'], ['{ts}.0'], ['{ts}e0'], ['0x{hex}'], ['{ts}.']])('%j is refused (401), even signed over its numeric value', async (form) => {
    const ts = now();
    const body = JSON.stringify(doc(7));
    const header = form.replace('{ts}', String(ts)).replace('{hex}', ts.toString(16));
    expect(Number(header) === ts || parseInt(header, 10) === ts).toBe(true);
    const res = await fetch(`${agent.url}/v1/programming`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: header, [SIGNATURE_HEADER]: signPush(SECRET, ts, body) },
      body,
    });
    expect(res.status).toBe(401);
    expect(agent.agent.appliedGeneration).toBe(6);
  });
});

describe('GET /v1/status', () => {
  it('answers the host token only; /healthz stays open', async () => {
    expect((await fetch(`${agent.url}/v1/status`)).status).toBe(401);
    const wrong = await fetch(`${agent.url}/v1/status`, { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');
    const ok = await fetch(`${agent.url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ host: HOST, appliedGeneration: 6 });
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
  });
});

describe('a pulled document older than the applied one (the control plane is behind this host)', () => {
  it('is not applied and is reported at once; the generation the control plane then moves to is pulled at once', async () => {
    const reports = api.reports.length;
    api.document = doc(3);
    await agent.agent.pull();
    expect(agent.agent.appliedGeneration).toBe(6);
    // The report goes out now (not at the next tick: this agent's interval is an hour), with the
    // generation held, for the control plane to move past it.
    await eventually(() => api.reports.length > reports, 'a report after the older pull', 3000);
    expect(api.reports[api.reports.length - 1].appliedGeneration).toBe(6);
    // The control plane moved past it (as the real API does on such a report): pulled and applied at once.
    api.document = doc(7);
    await agent.agent.report();
    await eventually(() => agent.agent.appliedGeneration === 7, 'the pull of the generation past the host');
  });
});
