/**
 * Create or edit a NAT gateway: every field of API.md's natGateways, rules included. The API
 * validates (the console does not guess its rules): its problem+json errors[].field put each
 * message beside its input. An edit is previewed (POST natGateways/{name}/preview) before it is
 * saved with If-Match.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { NatGateway, NatGatewayInput, NatGatewayPatch, NatGatewayPreview } from '@natplane/sdk';
import { ApiError, type Api } from '../api';
import { navigate } from '../App';
import { ErrorBanner, Field, labelsPatch, Loading, splitList } from '../ui';

interface RuleForm {
  ruleNumber: string;
  description: string;
  match: string;
  activeIps: string;
  drainIps: string;
  /** PRIVATE gateways: PRIVATE_NAT subnet names, comma separated. */
  activeRanges: string;
}

interface SubnetworkForm {
  name: string;
  primary: boolean;
  allSecondary: boolean;
  listSecondary: boolean;
  secondaryIpRangeNames: string;
}

interface GatewayFormState {
  name: string;
  description: string;
  labels: string;
  network: string;
  region: string;
  type: string;
  natIpAllocateOption: string;
  natIps: string;
  drainNatIps: string;
  maxDrainDurationSec: string;
  sourceSubnetworkIpRangesToNat: string;
  subnetworks: SubnetworkForm[];
  minPortsPerVm: string;
  maxPortsPerVm: string;
  enableDynamicPortAllocation: boolean;
  enableEndpointIndependentMapping: boolean;
  udpIdleTimeoutSec: string;
  icmpIdleTimeoutSec: string;
  tcpEstablishedIdleTimeoutSec: string;
  tcpTransitoryIdleTimeoutSec: string;
  tcpTimeWaitTimeoutSec: string;
  logEnable: boolean;
  logFilter: string;
  rules: RuleForm[];
}

const TIMEOUTS = [
  ['udpIdleTimeoutSec', 'UDP idle timeout (s)', 30],
  ['icmpIdleTimeoutSec', 'ICMP idle timeout (s)', 30],
  ['tcpEstablishedIdleTimeoutSec', 'TCP established idle timeout (s)', 1200],
  ['tcpTransitoryIdleTimeoutSec', 'TCP transitory idle timeout (s)', 30],
  ['tcpTimeWaitTimeoutSec', 'TCP TIME_WAIT timeout (s)', 30],
] as const;

const EMPTY: GatewayFormState = {
  name: '',
  description: '',
  labels: '',
  network: '',
  region: '',
  type: 'PUBLIC',
  natIpAllocateOption: 'MANUAL_ONLY',
  natIps: '',
  drainNatIps: '',
  maxDrainDurationSec: '',
  sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  subnetworks: [],
  minPortsPerVm: '',
  maxPortsPerVm: '',
  enableDynamicPortAllocation: false,
  enableEndpointIndependentMapping: false,
  udpIdleTimeoutSec: '',
  icmpIdleTimeoutSec: '',
  tcpEstablishedIdleTimeoutSec: '',
  tcpTransitoryIdleTimeoutSec: '',
  tcpTimeWaitTimeoutSec: '',
  logEnable: false,
  logFilter: 'ALL',
  rules: [],
};

function formOf(g: NatGateway): GatewayFormState {
  return {
    name: g.name,
    description: g.description ?? '',
    labels: Object.entries(g.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    network: g.network,
    region: g.region,
    type: g.type,
    natIpAllocateOption: g.natIpAllocateOption,
    natIps: g.natIps.join(', '),
    drainNatIps: g.drainNatIps.join(', '),
    maxDrainDurationSec: String(g.maxDrainDurationSec),
    sourceSubnetworkIpRangesToNat: g.sourceSubnetworkIpRangesToNat,
    subnetworks: g.subnetworks.map((s) => ({
      name: s.name,
      primary: (s.sourceIpRangesToNat ?? []).includes('PRIMARY_IP_RANGE'),
      allSecondary: (s.sourceIpRangesToNat ?? []).includes('ALL_IP_RANGES'),
      listSecondary: (s.sourceIpRangesToNat ?? []).includes('LIST_OF_SECONDARY_IP_RANGES'),
      secondaryIpRangeNames: (s.secondaryIpRangeNames ?? []).join(', '),
    })),
    minPortsPerVm: String(g.minPortsPerVm),
    maxPortsPerVm: String(g.maxPortsPerVm),
    enableDynamicPortAllocation: g.enableDynamicPortAllocation,
    enableEndpointIndependentMapping: g.enableEndpointIndependentMapping,
    udpIdleTimeoutSec: String(g.udpIdleTimeoutSec),
    icmpIdleTimeoutSec: String(g.icmpIdleTimeoutSec),
    tcpEstablishedIdleTimeoutSec: String(g.tcpEstablishedIdleTimeoutSec),
    tcpTransitoryIdleTimeoutSec: String(g.tcpTransitoryIdleTimeoutSec),
    tcpTimeWaitTimeoutSec: String(g.tcpTimeWaitTimeoutSec),
    logEnable: g.logConfig.enable ?? false,
    logFilter: g.logConfig.filter ?? 'ALL',
    rules: g.rules.map((r) => ({
      ruleNumber: String(r.ruleNumber),
      description: r.description ?? '',
      match: r.match,
      activeIps: (r.action?.sourceNatActiveIps ?? []).join(', '),
      drainIps: (r.action?.sourceNatDrainIps ?? []).join(', '),
      activeRanges: (r.action?.sourceNatActiveRanges ?? []).join(', '),
    })),
  };
}

/** A number when the text is one; otherwise the text itself, for the API to name what is wrong. */
function num(s: string): number | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  return (/^-?\d+$/.test(t) ? Number(t) : t) as number;
}

/** The whole gateway body the form describes (empty numbers left to the server's defaults). */
function bodyOf(f: GatewayFormState): NatGatewayInput {
  const body: Record<string, unknown> = {
    name: f.name.trim(),
    description: f.description,
    labels: Object.fromEntries(
      f.labels
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => [l.split('=')[0].trim(), l.slice(l.indexOf('=') + 1).trim()]),
    ),
    network: f.network.trim(),
    region: f.region.trim(),
    type: f.type,
    natIpAllocateOption: f.natIpAllocateOption,
    natIps: splitList(f.natIps),
    drainNatIps: splitList(f.drainNatIps),
    sourceSubnetworkIpRangesToNat: f.sourceSubnetworkIpRangesToNat,
    subnetworks: f.subnetworks.map((s) => ({
      name: s.name.trim(),
      sourceIpRangesToNat: [s.allSecondary && 'ALL_IP_RANGES', s.primary && 'PRIMARY_IP_RANGE', s.listSecondary && 'LIST_OF_SECONDARY_IP_RANGES'].filter(Boolean),
      secondaryIpRangeNames: splitList(s.secondaryIpRangeNames),
    })),
    enableDynamicPortAllocation: f.enableDynamicPortAllocation,
    enableEndpointIndependentMapping: f.enableEndpointIndependentMapping,
    logConfig: { enable: f.logEnable, filter: f.logFilter },
    rules: f.rules.map((r) => ({
      ruleNumber: num(r.ruleNumber),
      description: r.description,
      match: r.match,
      action: { sourceNatActiveIps: splitList(r.activeIps), sourceNatDrainIps: splitList(r.drainIps), sourceNatActiveRanges: splitList(r.activeRanges) },
    })),
  };
  for (const k of ['minPortsPerVm', 'maxPortsPerVm', 'maxDrainDurationSec', ...TIMEOUTS.map((t) => t[0])] as const) {
    const v = num(f[k]);
    if (v !== undefined) body[k] = v;
  }
  return body as unknown as NatGatewayInput;
}

/** The merge patch from `before` to `after`: the top-level fields that differ (lists whole). */
function patchOf(before: NatGatewayInput, after: NatGatewayInput): NatGatewayPatch {
  const patch: Record<string, unknown> = {};
  const a = after as unknown as Record<string, unknown>;
  const b = before as unknown as Record<string, unknown>;
  for (const k of Object.keys(a)) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) patch[k] = a[k];
  // a map is merged, not replaced: a removed label is sent as null
  if (patch.labels) patch.labels = labelsPatch(before.labels ?? {}, after.labels ?? {});
  return patch;
}

/** Messages about exactly these fields (a rule as a whole, its action), not the fields under them. */
function exactly(error: unknown, ...fields: string[]): string[] {
  return error instanceof ApiError ? error.errors.filter((e) => fields.includes(e.field)).map((e) => e.message) : [];
}

function GroupErrors({ messages, testid }: { messages: string[]; testid: string }) {
  if (!messages.length) return null;
  return (
    <ul className="field-errors" data-testid={testid}>
      {messages.map((m, i) => (
        <li key={i}>
          <span aria-hidden="true">⚠ </span>
          {m}
        </li>
      ))}
    </ul>
  );
}

export function PreviewPanel({ preview }: { preview: NatGatewayPreview }) {
  const c = preview.churn;
  const title = useRef<HTMLHeadingElement>(null);
  // a new preview: bring it into view and to the keyboard and screen-reader user's attention
  useEffect(() => {
    title.current?.focus();
  }, [preview]);
  return (
    <section aria-labelledby="preview-title" className="card preview" data-testid="preview">
      <h2 id="preview-title" ref={title} tabIndex={-1}>
        Preview of the change (nothing saved yet)
      </h2>
      <p className="summary" data-testid="preview-summary">
        This change moves {c.endpointsMoved} endpoint{c.endpointsMoved === 1 ? '' : 's'} and breaks {c.connectionsBroken} connection{c.connectionsBroken === 1 ? '' : 's'}.
      </p>
      <ul>
        <li>Endpoints added: {c.endpointsAdded}</li>
        <li>Endpoints moved to another block: {c.endpointsMoved}</li>
        <li>Endpoints resized: {c.endpointsResized}</li>
        <li>Endpoints drained: {c.endpointsDrained}</li>
        <li>Endpoints released: {c.endpointsReleased}</li>
        <li>Endpoints left without a mapping: {c.endpointsUnmapped}</li>
        <li>Endpoints whose connections break: {c.endpointsWithBrokenConnections}</li>
        <li>Extra NAT IPs needed afterwards: {preview.status.minExtraNatIpsNeeded}</li>
      </ul>
      {preview.changes.length > 0 && (
        <table>
          <caption>Per endpoint and rule{preview.changesTruncated ? ' (first 500)' : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Endpoint</th>
              <th scope="col">Rule</th>
              <th scope="col">Change</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Breaks connections</th>
            </tr>
          </thead>
          <tbody>
            {preview.changes.map((ch, i) => (
              <tr key={i}>
                <td>{ch.endpoint}</td>
                <td>{ch.ruleNumber < 0 ? 'default' : ch.ruleNumber}</td>
                <td>{ch.kind}</td>
                <td>{ch.from ?? '—'}</td>
                <td>{ch.to ?? '—'}</td>
                <td>{ch.breaksConnections ? `yes (${ch.portsInUse} ports in use)` : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function GatewayForm({ api, name }: { api: Api; name?: string }) {
  const [original, setOriginal] = useState<NatGateway | undefined>();
  const [form, setForm] = useState<GatewayFormState>(EMPTY);
  const [error, setError] = useState<unknown>();
  const [loadError, setLoadError] = useState<unknown>();
  const [preview, setPreview] = useState<{ preview: NatGatewayPreview; of: string } | undefined>();
  const [busy, setBusy] = useState(false);
  const [names, setNames] = useState<{ networks: string[]; addresses: string[]; subnets: string[] }>({ networks: [], addresses: [], subnets: [] });

  useEffect(() => {
    void (async () => {
      const [networks, addresses, subnets] = await Promise.all([api.networks.list(), api.addresses.list(), api.subnets.list()]).catch(() => [[], [], []] as const);
      setNames({ networks: networks.map((n) => n.name), addresses: addresses.map((a) => a.name), subnets: subnets.map((s) => s.name) });
    })();
    if (name) {
      api.natGateways.get(name).then(
        (g) => {
          setOriginal(g);
          setForm(formOf(g));
        },
        (e: unknown) => setLoadError(e),
      );
    }
  }, [api, name]);

  if (loadError) return <ErrorBanner error={loadError} />;
  if (name && !original) return <Loading what={`gateway ${name}`} />;

  const set = <K extends keyof GatewayFormState>(k: K, v: GatewayFormState[K]) => setForm((f) => ({ ...f, [k]: v }));
  const setRule = (i: number, r: Partial<RuleForm>) => setForm((f) => ({ ...f, rules: f.rules.map((x, j) => (j === i ? { ...x, ...r } : x)) }));
  const setSub = (i: number, s: Partial<SubnetworkForm>) => setForm((f) => ({ ...f, subnetworks: f.subnetworks.map((x, j) => (j === i ? { ...x, ...s } : x)) }));
  const body = bodyOf(form);
  const request = original ? patchOf(bodyOf(formOf(original)), body) : body;
  const requestKey = JSON.stringify(request);
  const previewFresh = preview && preview.of === requestKey;

  const doPreview = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const p = original ? await api.previewChange(original.name, request) : await api.previewCreate(body);
      setPreview({ preview: p, of: requestKey });
    } catch (e) {
      setError(e);
      setPreview(undefined);
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const saved = original ? await api.natGateways.patch(original.name, original.etag, request) : await api.natGateways.create(body);
      navigate(`/gateways/${encodeURIComponent(saved.name)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const text = (k: keyof GatewayFormState, label: string, opts: { hint?: string; immutable?: boolean; required?: boolean; list?: string; inputMode?: 'numeric' } = {}) => (
    <Field label={label} field={k} error={error} hint={opts.hint}>
      {(p) => (
        <input
          {...p}
          name={k}
          value={form[k] as string}
          disabled={Boolean(original && opts.immutable)}
          required={opts.required}
          list={opts.list}
          inputMode={opts.inputMode}
          onChange={(e) => set(k, e.target.value as never)}
        />
      )}
    </Field>
  );

  return (
    <>
      <h1>{original ? `Edit NAT gateway ${original.name}` : 'Create a NAT gateway'}</h1>
      <datalist id="gw-networks">
        {names.networks.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      <datalist id="gw-addresses">
        {names.addresses.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      <datalist id="gw-subnets">
        {names.subnets.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      <form onSubmit={(e) => void submit(e)} className="card gateway-form" noValidate>
        <ErrorBanner
          error={error}
          shownFields={[...Object.keys(EMPTY).filter((k) => !['logEnable', 'logFilter'].includes(k)), 'logConfig', 'rules', 'subnetworks']}
        />
        <fieldset>
          <legend>Gateway</legend>
          {text('name', 'Name', { immutable: true, required: true, hint: 'RFC 1035: lower case letters, digits, hyphens.' })}
          {text('description', 'Description')}
          <Field label="Labels" field="labels" error={error} hint="One key=value per line.">
            {(p) => <textarea {...p} rows={2} value={form.labels} onChange={(e) => set('labels', e.target.value)} />}
          </Field>
          {text('network', 'Network', { immutable: true, required: true, list: 'gw-networks' })}
          {text('region', 'Region', { immutable: true, required: true })}
          <Field label="Type" field="type" error={error} hint="PRIVATE (Private NAT): no NAT IPs of its own; each rule names PRIVATE_NAT subnets, and only traffic to the rules' destinations is translated.">
            {(p) => (
              <select {...p} value={form.type} disabled={Boolean(original)} onChange={(e) => set('type', e.target.value)}>
                <option value="PUBLIC">PUBLIC</option>
                <option value="PRIVATE">PRIVATE</option>
              </select>
            )}
          </Field>
        </fieldset>

        <fieldset>
          <legend>NAT IPs</legend>
          <Field label="NAT IP allocation" field="natIpAllocateOption" error={error}>
            {(p) => (
              <select {...p} value={form.natIpAllocateOption} onChange={(e) => set('natIpAllocateOption', e.target.value)}>
                <option value="MANUAL_ONLY">MANUAL_ONLY: the addresses listed below</option>
                <option value="AUTO_ONLY">AUTO_ONLY: taken from the region's pools as needed</option>
              </select>
            )}
          </Field>
          {text('natIps', 'NAT IPs (addresses)', { hint: 'Address names, comma separated. MANUAL_ONLY only.', list: 'gw-addresses' })}
          {text('drainNatIps', 'Draining NAT IPs', { hint: 'Addresses moved out of NAT IPs: existing connections live on, new ones go elsewhere.' })}
          {text('maxDrainDurationSec', 'Max drain duration (s)', {
            inputMode: 'numeric',
            hint: 'A drain ends by itself this long after it began: its last connections are cut and the address leaves the gateway. 0 or empty: no deadline.',
          })}
        </fieldset>

        <fieldset>
          <legend>Source ranges</legend>
          <Field label="Ranges to NAT" field="sourceSubnetworkIpRangesToNat" error={error}>
            {(p) => (
              <select {...p} value={form.sourceSubnetworkIpRangesToNat} onChange={(e) => set('sourceSubnetworkIpRangesToNat', e.target.value)}>
                <option value="ALL_SUBNETWORKS_ALL_IP_RANGES">every range of every subnet</option>
                <option value="ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES">the primary range of every subnet</option>
                <option value="LIST_OF_SUBNETWORKS">the subnets listed below</option>
              </select>
            )}
          </Field>
          <GroupErrors messages={exactly(error, 'subnetworks')} testid="error-subnetworks" />
          {form.subnetworks.map((s, i) => (
            <fieldset key={i} className="item">
              <legend>Subnet {i + 1}</legend>
              <GroupErrors messages={exactly(error, `subnetworks[${i}]`)} testid={`error-subnetworks[${i}]`} />
              <Field label={`Subnet ${i + 1} name`} field={`subnetworks[${i}].name`} error={error}>
                {(p) => <input {...p} list="gw-subnets" value={s.name} onChange={(e) => setSub(i, { name: e.target.value })} />}
              </Field>
              <Field label={`Subnet ${i + 1} ranges to NAT`} field={`subnetworks[${i}].sourceIpRangesToNat`} error={error}>
                {(p, labelId) => (
                  <div id={p.id} role="group" aria-labelledby={labelId} aria-describedby={p['aria-describedby']} className="checks">
                    <label>
                      <input type="checkbox" checked={s.allSecondary} onChange={(e) => setSub(i, { allSecondary: e.target.checked })} /> ALL_IP_RANGES
                    </label>
                    <label>
                      <input type="checkbox" checked={s.primary} onChange={(e) => setSub(i, { primary: e.target.checked })} /> PRIMARY_IP_RANGE
                    </label>
                    <label>
                      <input type="checkbox" checked={s.listSecondary} onChange={(e) => setSub(i, { listSecondary: e.target.checked })} /> LIST_OF_SECONDARY_IP_RANGES
                    </label>
                  </div>
                )}
              </Field>
              <Field label={`Subnet ${i + 1} secondary range names`} field={`subnetworks[${i}].secondaryIpRangeNames`} error={error} hint="Comma separated; with LIST_OF_SECONDARY_IP_RANGES.">
                {(p) => <input {...p} value={s.secondaryIpRangeNames} onChange={(e) => setSub(i, { secondaryIpRangeNames: e.target.value })} />}
              </Field>
              <button type="button" onClick={() => set('subnetworks', form.subnetworks.filter((_, j) => j !== i))}>
                Remove subnet {i + 1}
              </button>
            </fieldset>
          ))}
          <button type="button" onClick={() => set('subnetworks', [...form.subnetworks, { name: '', primary: true, allSecondary: false, listSecondary: false, secondaryIpRangeNames: '' }])}>
            Add a subnet
          </button>
        </fieldset>

        <fieldset>
          <legend>Ports</legend>
          {text('minPortsPerVm', 'Minimum ports per VM', { inputMode: 'numeric', hint: 'Static: 2..57344, rounded up to a power of two (default 64). Dynamic: a power of two 32..32768 (default 32).' })}
          {text('maxPortsPerVm', 'Maximum ports per VM', { inputMode: 'numeric', hint: 'A power of two 64..65536 above the minimum (default 65536); dynamic allocation only.' })}
          <Field label="Dynamic port allocation" field="enableDynamicPortAllocation" error={error}>
            {(p) => <input {...p} type="checkbox" checked={form.enableDynamicPortAllocation} onChange={(e) => set('enableDynamicPortAllocation', e.target.checked)} />}
          </Field>
          <Field label="Endpoint-independent mapping" field="enableEndpointIndependentMapping" error={error} hint="Not with dynamic allocation nor with rules.">
            {(p) => <input {...p} type="checkbox" checked={form.enableEndpointIndependentMapping} onChange={(e) => set('enableEndpointIndependentMapping', e.target.checked)} />}
          </Field>
        </fieldset>

        <fieldset>
          <legend>Timeouts</legend>
          {TIMEOUTS.map(([k, label, d]) => (
            <div key={k}>{text(k, label, { inputMode: 'numeric', hint: `Default ${d}.` })}</div>
          ))}
        </fieldset>

        <fieldset>
          <legend>Logging</legend>
          <GroupErrors messages={exactly(error, 'logConfig')} testid="error-logConfig" />
          <Field label="Log translations" field="logConfig.enable" error={error}>
            {(p) => <input {...p} type="checkbox" checked={form.logEnable} onChange={(e) => set('logEnable', e.target.checked)} />}
          </Field>
          <Field label="Log filter" field="logConfig.filter" error={error}>
            {(p) => (
              <select {...p} value={form.logFilter} onChange={(e) => set('logFilter', e.target.value)}>
                <option value="ALL">ALL</option>
                <option value="ERRORS_ONLY">ERRORS_ONLY</option>
                <option value="TRANSLATIONS_ONLY">TRANSLATIONS_ONLY</option>
              </select>
            )}
          </Field>
        </fieldset>

        <fieldset>
          <legend>Rules</legend>
          <GroupErrors messages={exactly(error, 'rules')} testid="error-rules" />
          {form.rules.map((r, i) => (
            <fieldset key={i} className="item">
              <legend>Rule {i + 1}</legend>
              <GroupErrors messages={exactly(error, `rules[${i}]`, `rules[${i}].action`)} testid={`error-rules[${i}]`} />
              <Field label={`Rule ${i + 1} number`} field={`rules[${i}].ruleNumber`} error={error} hint="0..65000, unique.">
                {(p) => <input {...p} inputMode="numeric" value={r.ruleNumber} onChange={(e) => setRule(i, { ruleNumber: e.target.value })} />}
              </Field>
              <Field label={`Rule ${i + 1} description`} field={`rules[${i}].description`} error={error}>
                {(p) => <input {...p} value={r.description} onChange={(e) => setRule(i, { description: e.target.value })} />}
              </Field>
              <Field label={`Rule ${i + 1} match`} field={`rules[${i}].match`} error={error} hint="inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP', joined by ||; or the same over source.ip (a source-based rule), never both in one rule.">
                {(p) => <input {...p} value={r.match} onChange={(e) => setRule(i, { match: e.target.value })} />}
              </Field>
              <Field label={`Rule ${i + 1} active NAT IPs`} field={`rules[${i}].action.sourceNatActiveIps`} error={error} hint="Address names, comma separated.">
                {(p) => <input {...p} list="gw-addresses" value={r.activeIps} onChange={(e) => setRule(i, { activeIps: e.target.value })} />}
              </Field>
              <Field label={`Rule ${i + 1} draining NAT IPs`} field={`rules[${i}].action.sourceNatDrainIps`} error={error}>
                {(p) => <input {...p} value={r.drainIps} onChange={(e) => setRule(i, { drainIps: e.target.value })} />}
              </Field>
              <Field label={`Rule ${i + 1} NAT ranges`} field={`rules[${i}].action.sourceNatActiveRanges`} error={error} hint="PRIVATE gateways: subnets with purpose PRIVATE_NAT, comma separated; their addresses are the rule's NAT IPs.">
                {(p) => <input {...p} value={r.activeRanges} onChange={(e) => setRule(i, { activeRanges: e.target.value })} />}
              </Field>
              <button type="button" onClick={() => set('rules', form.rules.filter((_, j) => j !== i))}>
                Remove rule {i + 1}
              </button>
            </fieldset>
          ))}
          <button type="button" onClick={() => set('rules', [...form.rules, { ruleNumber: String(100 * (form.rules.length + 1)), description: '', match: '', activeIps: '', drainIps: '', activeRanges: '' }])}>
            Add a rule
          </button>
        </fieldset>

        {preview && <PreviewPanel preview={preview.preview} />}
        <div className="buttons">
          <button type="button" onClick={() => void doPreview()} disabled={busy}>
            Preview {original ? 'the change' : 'the gateway'}
          </button>
          <button type="submit" disabled={busy || (original !== undefined && requestKey === '{}')}>
            {original ? (previewFresh ? 'Save (as previewed)' : 'Save') : 'Create'}
          </button>
          <a href={original ? `#/gateways/${encodeURIComponent(original.name)}` : '#/gateways'}>Cancel</a>
        </div>
        {original && requestKey === '{}' && <p className="hint">No change yet.</p>}
        {preview && !previewFresh && (
          <p className="hint" role="status">
            The form changed since this preview: preview again to see the effect of the current values.
          </p>
        )}
      </form>
    </>
  );
}
