import fc from 'fast-check';
import { COUNTER_FIELDS, CounterReading, addCounters, counterStep, nullCounters, readingOf } from './counters';

const reading = (since: number, v: Partial<CounterReading> = {}): CounterReading => ({
  since: new Date(since),
  openConnections: null,
  ...nullCounters(),
  ...v,
});

describe('counterStep', () => {
  it('counts a first reading whole', () => {
    const s = counterStep(undefined, reading(1000, { newConnections: 5, droppedOutOfResources: 2 }));
    expect(s).toEqual({ keep: true, dropped: true, delta: { ...nullCounters(), newConnections: 5, droppedOutOfResources: 2 } });
  });

  it('counts the increase over the kept reading of the same since', () => {
    const s = counterStep(reading(1000, { sentPackets: 10, droppedOutOfResources: 2 }), reading(1000, { sentPackets: 15, droppedOutOfResources: 2 }));
    expect(s).toEqual({ keep: true, dropped: false, delta: { ...nullCounters(), sentPackets: 5, droppedOutOfResources: 0 } });
  });

  it('counts a restarted host (a later since) from 0, and a figure that goes down as nothing', () => {
    expect(counterStep(reading(1000, { sentPackets: 100 }), reading(2000, { sentPackets: 3 })).delta.sentPackets).toBe(3);
    expect(counterStep(reading(1000, { sentPackets: 100 }), reading(1000, { sentPackets: 3 })).delta.sentPackets).toBe(0);
  });

  it('ignores a report older than the kept one', () => {
    const s = counterStep(reading(2000, { sentPackets: 1 }), reading(1000, { sentPackets: 50 }));
    expect(s).toEqual({ keep: false, dropped: false, delta: { ...nullCounters(), sentPackets: 0 } });
  });

  it('keeps null as not measured, and a figure measured from now on counts from 0', () => {
    expect(counterStep(reading(1000), reading(1000)).delta).toEqual(nullCounters());
    expect(counterStep(reading(1000), reading(1000, { receivedBytes: 7 })).delta.receivedBytes).toBe(7);
  });

  it('the sum of the deltas of a restart-free sequence of readings is the last reading (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 30 }), (steps) => {
        let prev: CounterReading | undefined;
        let total = 0;
        let v = 0;
        for (const s of steps) {
          v += s;
          const next = reading(1000, { newConnections: v });
          total += counterStep(prev, next).delta.newConnections!;
          prev = next;
        }
        return total === v;
      }),
    );
  });

  it('totals never decrease, whatever the readings (restarts, late reports, nulls) (property)', () => {
    const arb = fc.record({ since: fc.integer({ min: 1, max: 5 }), v: fc.option(fc.nat(100), { nil: null }) });
    fc.assert(
      fc.property(fc.array(arb, { maxLength: 40 }), (readings) => {
        let prev: CounterReading | undefined;
        let total = nullCounters();
        for (const r of readings) {
          const next = reading(r.since * 1000, { droppedOutOfResources: r.v });
          const step = counterStep(prev, next);
          const before = total.droppedOutOfResources ?? 0;
          total = addCounters(total, step.delta);
          if ((total.droppedOutOfResources ?? 0) < before) return false;
          if (COUNTER_FIELDS.some((f) => (step.delta[f] ?? 0) < 0)) return false;
          if (step.keep) prev = next;
        }
        return true;
      }),
    );
  });
});

describe('readingOf', () => {
  it("maps the report's reasons to Cloud NAT's (ENDPOINT_INDEPENDENT_CONFLICT is Cloud NAT's ENDPOINT_INDEPENDENCE_CONFLICT)", () => {
    const r = readingOf({
      since: '2026-12-01T00:00:00Z',
      newConnections: 1,
      openConnections: 2,
      sentPackets: null,
      sentBytes: null,
      receivedPackets: null,
      receivedBytes: null,
      droppedSentPackets: { OUT_OF_RESOURCES: 3, ENDPOINT_INDEPENDENT_CONFLICT: 4, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0 },
    });
    expect(r).toEqual(expect.objectContaining({ droppedOutOfResources: 3, droppedEndpointIndependenceConflict: 4, droppedUntranslatableFragment: null, droppedUntranslatableProtocol: 0, openConnections: 2 }));
  });
});
