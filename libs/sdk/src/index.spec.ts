import { createNatplaneClient, ok } from './index';

/** A client whose fetch records each request and answers `status` with `body`. */
function recording(status = 200, body: unknown = {}) {
  const sent: Request[] = [];
  const fetch = (input: Request) => {
    sent.push(input);
    return Promise.resolve(new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
  };
  return { sent, api: createNatplaneClient('http://natplane.test/', 'tok', { fetch }) };
}

describe('sdk', () => {
  const path = { project: 'p', name: 'gw' };

  it('sends a PATCH as an RFC 7396 merge patch, with the bearer token and the declared If-Match', async () => {
    const { sent, api } = recording();
    await ok(api.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path, header: { 'If-Match': '"e1"' } }, body: { minPortsPerVm: null, labels: { old: null } } }));
    const r = sent[0];
    expect(r.method).toBe('PATCH');
    expect(r.url).toBe('http://natplane.test/v1/projects/p/natGateways/gw');
    expect(r.headers.get('content-type')).toBe('application/merge-patch+json');
    expect(r.headers.get('if-match')).toBe('"e1"');
    expect(r.headers.get('authorization')).toBe('Bearer tok');
    expect(await r.text()).toBe('{"minPortsPerVm":null,"labels":{"old":null}}');
  });

  it("sends an existing gateway's preview as a merge patch, and other POSTs as JSON", async () => {
    const { sent, api } = recording();
    await api.POST('/v1/projects/{project}/natGateways/{name}/preview', { params: { path }, body: { minPortsPerVm: 128 } });
    await api.POST('/v1/projects/{project}/natGateways:preview', { params: { path: { project: 'p' } }, body: { name: 'gw', network: 'n', region: 'r' } });
    await api.POST('/v1/projects/{project}/networks', { params: { path: { project: 'p' }, header: { 'Idempotency-Key': 'k1' } }, body: { name: 'n' } });
    expect(sent.map((r) => r.headers.get('content-type'))).toEqual(['application/merge-patch+json', 'application/json', 'application/json']);
    expect(sent[2].headers.get('idempotency-key')).toBe('k1');
  });

  it('sends integer query parameters as decimal text', async () => {
    const { sent, api } = recording(200, { items: [], nextPageToken: '' });
    await api.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path, query: { pageSize: 500 } } });
    await api.GET('/v1/projects/{project}/attributions', { params: { path: { project: 'p' }, query: { natIp: '203.0.113.1', port: 1100 } } });
    expect(new URL(sent[0].url).searchParams.get('pageSize')).toBe('500');
    expect(new URL(sent[1].url).searchParams.get('port')).toBe('1100');
  });
});
