/**
 * Networks, subnets, endpoints and addresses: a table, a create/edit form whose inputs carry the
 * API's messages beside them, and delete (If-Match: the etag the table shows).
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { Api, CollectionOps } from '../api';
import { ErrorBanner, Field, labelsPatch, Loading, StateBadge } from '../ui';

/** What every resource has. */
interface Resource {
  name: string;
  etag: string;
  [k: string]: unknown;
}

interface FieldSpec {
  /** The API field, as problem+json names it. */
  key: string;
  label: string;
  kind: 'text' | 'lines';
  required?: boolean;
  /** Immutable after create (name, network, region, subnet). */
  immutable?: boolean;
  hint?: string;
  /** Suggestions: another collection's names. */
  suggest?: 'networks' | 'subnets' | 'hosts';
  /** API value -> text in the input. */
  show?: (v: unknown) => string;
  /** Input text -> API value (undefined: leave the field out). */
  parse?: (s: string) => unknown;
}

interface KindSpec {
  title: string;
  singular: string;
  ops: (api: Api) => CollectionOps<Resource, Record<string, unknown>, Record<string, unknown>>;
  fields: FieldSpec[];
  columns: { label: string; value: (r: Resource) => React.ReactNode }[];
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v == null ? '' : JSON.stringify(v));
const optional = (s: string) => (s.trim() === '' ? undefined : s.trim());

/** "k=v" lines <-> a labels map. */
const labelsField: FieldSpec = {
  key: 'labels',
  label: 'Labels',
  kind: 'lines',
  hint: 'One key=value per line.',
  show: (v) =>
    Object.entries((v ?? {}) as Record<string, string>)
      .map(([k, x]) => `${k}=${x}`)
      .join('\n'),
  parse: (s) => Object.fromEntries(lines(s).map((l) => [l.split('=')[0].trim(), l.slice(l.indexOf('=') + 1).trim()])),
};
const descriptionField: FieldSpec = { key: 'description', label: 'Description', kind: 'text', show: text, parse: (s) => s };
const nameField: FieldSpec = { key: 'name', label: 'Name', kind: 'text', required: true, immutable: true, hint: 'Lower case letters, digits and hyphens, starting with a letter.' };
const regionField: FieldSpec = { key: 'region', label: 'Region', kind: 'text', required: true, immutable: true };

function lines(s: string): string[] {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

const ops = <T, I, P>(o: CollectionOps<T, I, P>) => o as unknown as CollectionOps<Resource, Record<string, unknown>, Record<string, unknown>>;

export const RESOURCE_KINDS = {
  networks: {
    title: 'Networks',
    singular: 'network',
    ops: (api) => ops(api.networks),
    fields: [nameField, descriptionField, labelsField],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Description', value: (r) => text(r.description) },
    ],
  },
  subnets: {
    title: 'Subnets',
    singular: 'subnet',
    ops: (api) => ops(api.subnets),
    fields: [
      nameField,
      { key: 'network', label: 'Network', kind: 'text', required: true, immutable: true, suggest: 'networks' },
      regionField,
      { key: 'ipCidrRange', label: 'Primary range (CIDR)', kind: 'text', required: true, hint: 'e.g. 10.0.0.0/24' },
      {
        key: 'secondaryIpRanges',
        label: 'Secondary ranges',
        kind: 'lines',
        hint: 'One rangeName=CIDR per line, e.g. pods=10.1.0.0/20.',
        show: (v) => ((v ?? []) as { rangeName: string; ipCidrRange: string }[]).map((r) => `${r.rangeName}=${r.ipCidrRange}`).join('\n'),
        parse: (s) => lines(s).map((l) => ({ rangeName: l.split('=')[0].trim(), ipCidrRange: l.slice(l.indexOf('=') + 1).trim() })),
      },
      {
        key: 'purpose',
        label: 'Purpose',
        kind: 'text',
        immutable: true,
        hint: 'PRIVATE (default) holds VM interfaces; PRIVATE_NAT supplies NAT IPs to Private NAT gateways.',
        show: text,
        parse: optional,
      },
      descriptionField,
      labelsField,
    ],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Network', value: (r) => text(r.network) },
      { label: 'Region', value: (r) => text(r.region) },
      { label: 'Range', value: (r) => text(r.ipCidrRange) },
      { label: 'Secondary', value: (r) => ((r.secondaryIpRanges ?? []) as { rangeName: string; ipCidrRange: string }[]).map((x) => `${x.rangeName} ${x.ipCidrRange}`).join(', ') },
      { label: 'Purpose', value: (r) => text(r.purpose) },
    ],
  },
  endpoints: {
    title: 'Endpoints (VM interfaces)',
    singular: 'endpoint',
    ops: (api) => ops(api.endpoints),
    fields: [
      nameField,
      { key: 'subnet', label: 'Subnet', kind: 'text', required: true, suggest: 'subnets' },
      { key: 'host', label: 'Host', kind: 'text', required: true, suggest: 'hosts', hint: 'The hypervisor host the VM runs on; change it to move the VM.' },
      {
        key: 'hostInterface',
        label: 'Host interface (optional)',
        kind: 'text',
        hint: "The host-side device of the VM's NIC (tap, veth, OVS port). Needed when another network uses the same address on this host.",
        show: text,
        // cleared on edit: null removes it (merge patch)
        parse: (s) => (s.trim() === '' ? null : s.trim()),
      },
      { key: 'networkIp', label: 'Network IP', kind: 'text', required: true, hint: "In the subnet's primary range, unique in the network." },
      {
        key: 'aliasIpRanges',
        label: 'Alias IP ranges',
        kind: 'lines',
        hint: 'One CIDR per line, optionally CIDR=secondaryRangeName.',
        show: (v) => ((v ?? []) as { ipCidrRange: string; subnetworkRangeName?: string }[]).map((r) => (r.subnetworkRangeName ? `${r.ipCidrRange}=${r.subnetworkRangeName}` : r.ipCidrRange)).join('\n'),
        parse: (s) =>
          lines(s).map((l) => {
            const [cidr, range] = l.split('=').map((x) => x.trim());
            return range ? { ipCidrRange: cidr, subnetworkRangeName: range } : { ipCidrRange: cidr };
          }),
      },
      {
        key: 'canIpForward',
        label: 'IP forwarding',
        kind: 'text',
        hint: 'true: the VM may send traffic from addresses that are not its own (a router, a VPN); default false.',
        show: text,
        // empty: the default (null in a merge patch); anything but true/false goes to the api as typed
        parse: (s) => (s.trim() === '' ? null : s.trim() === 'true' ? true : s.trim() === 'false' ? false : s.trim()),
      },
      {
        key: 'forwardedIpRanges',
        label: 'Forwarded IP ranges',
        kind: 'lines',
        hint: 'One CIDR per line: ranges the VM forwards traffic from (with IP forwarding); source-based NAT rules can match them.',
        show: (v) => ((v ?? []) as string[]).join('\n'),
        parse: (s) => lines(s),
      },
      descriptionField,
      labelsField,
    ],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Subnet', value: (r) => text(r.subnet) },
      { label: 'Host', value: (r) => text(r.host) },
      { label: 'Device', value: (r) => text(r.hostInterface) },
      { label: 'IP', value: (r) => text(r.networkIp) },
      { label: 'Forwards', value: (r) => (r.canIpForward === true ? ((r.forwardedIpRanges ?? []) as string[]).join(', ') || 'yes' : '') },
    ],
  },
  addresses: {
    title: 'Addresses (static external IPs)',
    singular: 'address',
    ops: (api) => ops(api.addresses),
    fields: [
      nameField,
      regionField,
      { key: 'address', label: 'Address (optional)', kind: 'text', immutable: true, hint: "Leave empty to take any free address of the region's pools.", show: text, parse: optional },
      descriptionField,
      labelsField,
    ],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Region', value: (r) => text(r.region) },
      { label: 'Address', value: (r) => text(r.address) },
      { label: 'Status', value: (r) => <StateBadge state={text(r.status)} /> },
      { label: 'Users', value: (r) => ((r.users ?? []) as string[]).join(', ') },
    ],
  },
} satisfies Record<string, KindSpec>;

export type ResourceKindName = keyof typeof RESOURCE_KINDS;

function formOf(spec: KindSpec, item?: Resource): Record<string, string> {
  return Object.fromEntries(spec.fields.map((f) => [f.key, item ? (f.show ?? text)(item[f.key]) : '']));
}

/** The body of a create (every non-empty field) or of a merge patch (only what changed). */
function bodyOf(spec: KindSpec, form: Record<string, string>, before?: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const s = form[f.key] ?? '';
    if (before) {
      if (s === before[f.key] || f.immutable) continue;
    } else if (s.trim() === '') continue;
    const v = f.parse ? f.parse(s) : s.trim();
    if (v === undefined) continue;
    // a map is merged, not replaced: a removed label is sent as null
    body[f.key] = before && f.key === 'labels' ? labelsPatch(labelsField.parse!(before[f.key]) as Record<string, string>, v as Record<string, string>) : v;
  }
  return body;
}

export function ResourcePage({ api, kind }: { api: Api; kind: ResourceKindName }) {
  const spec: KindSpec = RESOURCE_KINDS[kind];
  const [items, setItems] = useState<Resource[] | undefined>();
  const [suggestions, setSuggestions] = useState<Record<string, string[]>>({});
  const [loadError, setLoadError] = useState<unknown>();
  const [editing, setEditing] = useState<Resource | undefined>();
  const [form, setForm] = useState<Record<string, string>>(() => formOf(spec));
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState('');
  const [confirming, setConfirming] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const reload = useCallback(async () => {
    try {
      setItems(await spec.ops(api).list());
      setLoadError(undefined);
    } catch (e) {
      setLoadError(e);
    }
  }, [api, spec]);

  useEffect(() => {
    void reload();
    const wanted = new Set(spec.fields.map((f) => f.suggest).filter(Boolean));
    void (async () => {
      const s: Record<string, string[]> = {};
      if (wanted.has('networks')) s.networks = (await api.networks.list().catch(() => [])).map((n) => n.name);
      if (wanted.has('subnets')) s.subnets = (await api.subnets.list().catch(() => [])).map((n) => n.name);
      if (wanted.has('hosts')) s.hosts = await api.hostNames();
      setSuggestions(s);
    })();
  }, [api, spec, reload]);

  const startEdit = (item?: Resource) => {
    setEditing(item);
    setForm(formOf(spec, item));
    setError(undefined);
    setNotice('');
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (editing) {
        const saved = await spec.ops(api).patch(editing.name, editing.etag, bodyOf(spec, form, formOf(spec, editing)));
        setNotice(`Saved ${spec.singular} ${saved.name}.`);
      } else {
        const created = await spec.ops(api).create(bodyOf(spec, form));
        setNotice(`Created ${spec.singular} ${created.name}.`);
      }
      startEditKeepNotice();
      await reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const startEditKeepNotice = () => {
    setEditing(undefined);
    setForm(formOf(spec));
  };

  const remove = async (item: Resource) => {
    setConfirming(undefined);
    setError(undefined);
    try {
      await spec.ops(api).remove(item.name, item.etag);
      setNotice(`Deleted ${spec.singular} ${item.name}.`);
      await reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <h1>{spec.title}</h1>
      <p role="status" aria-live="polite" className="notice" data-testid="notice">
        {notice}
      </p>
      <ErrorBanner error={loadError} />
      {!items && !loadError && <Loading what={spec.title.toLowerCase()} />}
      {items && (
        <table>
          <caption>
            {items.length} {items.length === 1 ? spec.singular : spec.title.toLowerCase()}
          </caption>
          <thead>
            <tr>
              {spec.columns.map((c) => (
                <th key={c.label} scope="col">
                  {c.label}
                </th>
              ))}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.name} data-testid={`row-${item.name}`}>
                {spec.columns.map((c) => (
                  <td key={c.label}>{c.value(item)}</td>
                ))}
                <td className="actions">
                  <button type="button" onClick={() => startEdit(item)} aria-label={`Edit ${spec.singular} ${item.name}`}>
                    Edit
                  </button>
                  {confirming === item.name ? (
                    <>
                      <button type="button" className="danger" onClick={() => void remove(item)}>
                        Confirm delete of {item.name}
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <button type="button" onClick={() => setConfirming(item.name)} aria-label={`Delete ${spec.singular} ${item.name}`}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <form onSubmit={(e) => void submit(e)} aria-labelledby="resource-form-title" className="card">
        <h2 id="resource-form-title">{editing ? `Edit ${spec.singular} ${editing.name}` : `Create ${/^[aeiou]/.test(spec.singular) ? 'an' : 'a'} ${spec.singular}`}</h2>
        <ErrorBanner error={error} shownFields={spec.fields.map((f) => f.key)} />
        {spec.fields.map((f) => (
          <Field key={f.key} label={f.label} field={f.key} error={error} hint={f.hint}>
            {(p) =>
              f.kind === 'lines' ? (
                <textarea {...p} rows={3} value={form[f.key]} onChange={(e) => setForm({ ...form, [f.key]: e.target.value })} />
              ) : (
                <>
                  <input
                    {...p}
                    name={f.key}
                    required={f.required && !editing}
                    disabled={Boolean(editing && f.immutable)}
                    list={f.suggest ? `${p.id}-list` : undefined}
                    value={form[f.key]}
                    onChange={(e) => setForm({ ...form, [f.key]: e.target.value })}
                  />
                  {f.suggest && (
                    <datalist id={`${p.id}-list`}>
                      {(suggestions[f.suggest] ?? []).map((n) => (
                        <option key={n} value={n} />
                      ))}
                    </datalist>
                  )}
                </>
              )
            }
          </Field>
        ))}
        <div className="buttons">
          <button type="submit" disabled={busy}>
            {editing ? 'Save' : 'Create'}
          </button>
          {editing && (
            <button type="button" onClick={() => startEdit(undefined)}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </>
  );
}
