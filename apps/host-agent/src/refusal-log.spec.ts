import { agentRegistry } from './agent-metrics';
import { PROBLEM_BASE, type Refusal } from './agent';
import { memoryLogger } from './log';
import { RefusalLog, REFUSAL_LOG_INTERVAL_MS } from './server';

function refusal(status: 400 | 401 | 409, slug: string): Refusal {
  return { status, body: { type: PROBLEM_BASE + slug, title: slug, status, detail: `${slug} detail` } };
}

async function counted(labels: string): Promise<number> {
  const text = await agentRegistry.getSingleMetricAsString('natplane_agent_push_refusals_total');
  const line = text.split('\n').find((l) => l.startsWith(`natplane_agent_push_refusals_total{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('RefusalLog', () => {
  it('counts every refusal; a 409 (pushes crossing) is logged at debug only', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = new RefusalLog(memoryLogger(lines));
    for (let i = 0; i < 3; i++) log.note('PATCH', refusal(409, 'base-generation-mismatch'));
    expect(await counted('method="PATCH",status="409",reason="base-generation-mismatch"')).toBe(3);
    expect(lines.map((l) => l.level)).toEqual(['debug', 'debug', 'debug']);
  });

  it('any other refusal is a warning, at most once a minute per status and reason, with how many more there were', async () => {
    const lines: Record<string, unknown>[] = [];
    let now = 1_000_000;
    const log = new RefusalLog(memoryLogger(lines), () => now);
    for (let i = 0; i < 5; i++) log.note('PUT', refusal(401, 'bad-signature'));
    log.note('PUT', refusal(400, 'invalid-document'));
    expect(await counted('method="PUT",status="401",reason="bad-signature"')).toBe(5);
    expect(lines.map((l) => [l.level, l.reason])).toEqual([
      ['warn', 'bad-signature'],
      ['warn', 'invalid-document'],
    ]);
    now += REFUSAL_LOG_INTERVAL_MS;
    log.note('PUT', refusal(401, 'bad-signature'));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ level: 'warn', msg: 'push refused', reason: 'bad-signature', alsoRefusedSinceLastLine: 4 });
  });
});
