/** Who held a NAT IP and port at an instant (GET projects/{p}/attributions). */
import { useState, type FormEvent } from 'react';
import type { Attribution } from '@natplane/sdk';
import { ApiError, type Api } from '../api';
import { ErrorBanner, Field } from '../ui';

export function AttributionPage({ api }: { api: Api }) {
  const [natIp, setNatIp] = useState('');
  const [port, setPort] = useState('');
  const [time, setTime] = useState(() => new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
  const [result, setResult] = useState<Attribution | null | undefined>();
  const [error, setError] = useState<unknown>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await api.attribution(natIp.trim(), Number(port), time.trim()));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setResult(null);
      else setError(err);
    }
  };

  return (
    <>
      <h1>Attribution lookup</h1>
      <p>Which endpoint of this project held a NAT IP and port at an instant (abuse reports, logs from the outside).</p>
      <form onSubmit={(e) => void submit(e)} className="card" noValidate>
        <ErrorBanner error={error} shownFields={['natIp', 'port', 'time']} />
        <Field label="NAT IP" field="natIp" error={error}>
          {(p) => <input {...p} name="natIp" value={natIp} onChange={(e) => setNatIp(e.target.value)} />}
        </Field>
        <Field label="Port" field="port" error={error}>
          {(p) => <input {...p} name="port" inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} />}
        </Field>
        <Field label="Time" field="time" error={error} hint="RFC 3339, e.g. 2026-01-31T12:00:00Z (default: now).">
          {(p) => <input {...p} name="time" value={time} onChange={(e) => setTime(e.target.value)} />}
        </Field>
        <button type="submit">Look up</button>
      </form>
      <div role="status" aria-live="polite" data-testid="attribution-result">
        {result === null && <p>Nobody in this project held that NAT IP and port at that time.</p>}
        {result && (
          <dl className="card grid">
            <dt>Endpoint</dt>
            <dd>{result.endpoint}</dd>
            <dt>Gateway</dt>
            <dd>{result.gateway}</dd>
            <dt>Host</dt>
            <dd>{result.host}</dd>
            <dt>Source IP</dt>
            <dd>{result.sourceIp}</dd>
            <dt>Block</dt>
            <dd>{result.natIpPortRange}</dd>
            <dt>Held from</dt>
            <dd>{result.validFrom}</dd>
            <dt>Held until</dt>
            <dd>{result.validTo ?? 'still held'}</dd>
          </dl>
        )}
      </div>
    </>
  );
}
