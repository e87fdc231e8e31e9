/**
 * The tfplugin6 Provider service over resource and data source definitions: every RPC decodes its
 * msgpack values with the schema, does the generic part (schemas, validation, planning, state
 * reading, diagnostics with attribute paths) and calls the definition for the API work. Requests
 * and responses are the plain objects of the gRPC layer (proto field names, enums as strings).
 */
import { createNatplaneClient } from '@natplane/sdk';
import { decodeValue, encodeValue, fromJson } from './codec';
import { apiDiagnostics, DiagnosticsError, error, type Diagnostic } from './diagnostics';
import { planChange, type AttrPath } from './plan';
import { fromApi } from './convert';
import type { Context, DataSourceDef, ResourceDef } from './resource';
import { isMultiBlock, schemaType, type Schema } from './schema';
import { Unknown, isObject, type TfObject, type TfType, type TfValue } from './values';

type Req = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type DynamicValue = { msgpack?: Uint8Array; json?: Uint8Array } | null | undefined;

export interface ProviderDef {
  /** The provider block's schema. */
  schema: Schema;
  resources: ResourceDef[];
  dataSources: DataSourceDef[];
  /** Builds the context from the provider block (with environment defaults); throws DiagnosticsError. */
  configure(config: TfObject): { endpoint: string; token?: string; project?: string };
}

export class ProviderServer {
  private ctx?: Context;
  private readonly stop = new AbortController();
  private readonly resources = new Map<string, ResourceDef>();
  private readonly dataSources = new Map<string, DataSourceDef>();

  constructor(
    private readonly def: ProviderDef,
    private readonly log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    for (const r of def.resources) this.resources.set(r.typeName, r);
    for (const d of def.dataSources) this.dataSources.set(d.typeName, d);
  }

  // ---------------------------------------------------------------- schema

  GetProviderSchema(): Req {
    const resource_schemas: Req = {};
    const data_source_schemas: Req = {};
    for (const r of this.def.resources) resource_schemas[r.typeName] = schemaMessage(r.schema, r.description);
    for (const d of this.def.dataSources) data_source_schemas[d.typeName] = schemaMessage(d.schema, d.description);
    return {
      provider: schemaMessage(this.def.schema, 'natplane: managed cloud NAT.'),
      resource_schemas,
      data_source_schemas,
      diagnostics: [],
      server_capabilities: { plan_destroy: false, get_provider_schema_optional: true, move_resource_state: false },
    };
  }

  ValidateProviderConfig(req: Req): Req {
    const config = decode(req.config, schemaType(this.def.schema));
    return { diagnostics: diagnosticsMessage(isObject(config) ? validateConfig(this.def.schema, config) : []) };
  }

  ValidateResourceConfig(req: Req): Req {
    const r = this.resource(req.type_name);
    const config = decode(req.config, schemaType(r.schema));
    if (!isObject(config)) return { diagnostics: [] };
    return { diagnostics: diagnosticsMessage([...validateConfig(r.schema, config), ...(r.validate?.(config) ?? [])]) };
  }

  ValidateDataResourceConfig(req: Req): Req {
    const d = this.dataSource(req.type_name);
    const config = decode(req.config, schemaType(d.schema));
    return { diagnostics: diagnosticsMessage(isObject(config) ? validateConfig(d.schema, config) : []) };
  }

  UpgradeResourceState(req: Req): Req {
    const r = this.resource(req.type_name);
    const type = schemaType(r.schema);
    const raw = req.raw_state?.json as Uint8Array | undefined;
    const value = raw && raw.length ? fromJson(JSON.parse(Buffer.from(raw).toString('utf8')), type) : null;
    return { upgraded_state: { msgpack: encodeValue(value, type) }, diagnostics: [] };
  }

  // ---------------------------------------------------------------- configure

  ConfigureProvider(req: Req): Req {
    const config = decode(req.config, schemaType(this.def.schema));
    try {
      const c = this.def.configure(isObject(config) ? config : {});
      const log = this.log;
      this.ctx = { client: createNatplaneClient(c.endpoint, c.token), project: c.project, signal: this.stop.signal, log };
      return { diagnostics: [] };
    } catch (e) {
      return { diagnostics: diagnosticsMessage(e instanceof DiagnosticsError ? e.diagnostics : [error(String(e))]) };
    }
  }

  StopProvider(): Req {
    this.stop.abort();
    return { Error: '' };
  }

  // ---------------------------------------------------------------- managed resources

  async ReadResource(req: Req): Promise<Req> {
    const r = this.resource(req.type_name);
    const type = schemaType(r.schema);
    const current = decode(req.current_state, type);
    if (!isObject(current)) return { new_state: req.current_state, diagnostics: [], private: req.private };
    try {
      const obj = await r.read(this.context(), current);
      const state = obj === null ? null : settle(fromApi(r.schema, obj, current));
      return { new_state: { msgpack: encodeValue(state, type) }, diagnostics: [], private: req.private };
    } catch (e) {
      return { new_state: req.current_state, diagnostics: diagnosticsMessage(apiDiagnostics(e, r.schema, `reading ${req.type_name}`)) };
    }
  }

  PlanResourceChange(req: Req): Req {
    const r = this.resource(req.type_name);
    const type = schemaType(r.schema);
    const prior = decode(req.prior_state, type);
    let proposed = decode(req.proposed_new_state, type);
    const config = decode(req.config, type);
    const diags: Diagnostic[] = [];
    if (isObject(proposed) && 'project' in r.schema && (proposed.project === null || proposed.project === undefined)) {
      const dflt = isObject(prior) && typeof prior.project === 'string' ? prior.project : this.ctx?.project;
      if (dflt) proposed = { ...proposed, project: dflt };
      else if (this.ctx) diags.push(error('No project', 'Set `project` on the resource, or on the provider block (or NATPLANE_PROJECT).', ['project']));
    }
    const plan = planChange(r.schema, isObject(prior) ? prior : null, isObject(proposed) ? proposed : null, isObject(config) ? config : null);
    return {
      planned_state: { msgpack: encodeValue(plan.planned, type) },
      requires_replace: plan.requiresReplace.map(pathMessage),
      planned_private: req.prior_private,
      diagnostics: diagnosticsMessage(diags),
    };
  }

  async ApplyResourceChange(req: Req): Promise<Req> {
    const r = this.resource(req.type_name);
    const type = schemaType(r.schema);
    const prior = decode(req.prior_state, type);
    const planned = decode(req.planned_state, type);
    const ctx = this.context();
    const respond = (state: TfValue, diags: Diagnostic[] = []) => ({ new_state: { msgpack: encodeValue(state, type) }, private: Buffer.alloc(0), diagnostics: diagnosticsMessage(diags) });
    if (!isObject(planned)) {
      try {
        if (isObject(prior)) await r.delete(ctx, prior);
        return respond(null);
      } catch (e) {
        return respond(prior, apiDiagnostics(e, r.schema, `deleting ${req.type_name}`));
      }
    }
    if (!isObject(prior)) {
      try {
        const obj = await r.create(ctx, planned);
        return respond(settle(fromApi(r.schema, obj, planned)));
      } catch (e) {
        return respond(null, apiDiagnostics(e, r.schema, `creating ${req.type_name}`));
      }
    }
    try {
      const obj = await r.update(ctx, prior, planned);
      return respond(settle(fromApi(r.schema, obj, planned)));
    } catch (e) {
      // the update may have been applied before the failure (a wait that timed out): state is what the API holds now
      const now = await r.read(ctx, prior).catch(() => undefined);
      const state = now === undefined ? prior : now === null ? null : settle(fromApi(r.schema, now, planned));
      return respond(state, apiDiagnostics(e, r.schema, `updating ${req.type_name}`));
    }
  }

  ImportResourceState(req: Req): Req {
    const r = this.resource(req.type_name);
    const type = schemaType(r.schema);
    try {
      const partial = r.importState(this.context(), String(req.id));
      const state: TfObject = {};
      for (const name of Object.keys(r.schema)) state[name] = partial[name] ?? null;
      return { imported_resources: [{ type_name: req.type_name, state: { msgpack: encodeValue(state, type) }, private: Buffer.alloc(0) }], diagnostics: [] };
    } catch (e) {
      return { imported_resources: [], diagnostics: diagnosticsMessage(apiDiagnostics(e, r.schema, `importing ${req.type_name} "${req.id}"`)) };
    }
  }

  // ---------------------------------------------------------------- data sources

  async ReadDataSource(req: Req): Promise<Req> {
    const d = this.dataSource(req.type_name);
    const type = schemaType(d.schema);
    const config = decode(req.config, type);
    try {
      const ctx = this.context();
      const c = isObject(config) ? { ...config } : {};
      if ('project' in d.schema && !c.project) c.project = ctx.project ?? null;
      return { state: { msgpack: encodeValue(settle(await d.read(ctx, c)), type) }, diagnostics: [] };
    } catch (e) {
      return { state: req.config, diagnostics: diagnosticsMessage(apiDiagnostics(e, d.schema, `reading data source ${req.type_name}`)) };
    }
  }

  // ---------------------------------------------------------------- helpers

  private context(): Context {
    if (!this.ctx) throw new DiagnosticsError([error('The natplane provider is not configured', 'ConfigureProvider was not called.')]);
    return this.ctx;
  }

  private resource(name: string): ResourceDef {
    const r = this.resources.get(name);
    if (!r) throw new Error(`unknown resource type ${name}`);
    return r;
  }

  private dataSource(name: string): DataSourceDef {
    const d = this.dataSources.get(name);
    if (!d) throw new Error(`unknown data source ${name}`);
    return d;
  }
}

function decode(v: DynamicValue, type: TfType): TfValue {
  if (!v) return null;
  if (v.msgpack && v.msgpack.length) return decodeValue(v.msgpack, type);
  if (v.json && v.json.length) return fromJson(JSON.parse(Buffer.from(v.json).toString('utf8')), type);
  return null;
}

/** A state read after apply holds no unknowns: whatever the API did not return is null. */
function settle<T extends TfValue>(v: T): T {
  if (v === Unknown) return null as T;
  if (Array.isArray(v)) return v.map(settle) as T;
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, settle(x)])) as T;
  return v;
}

/** Each attribute's `validate` on known configured values, and list blocks' item counts. */
export function validateConfig(schema: Schema, config: TfObject, at: AttrPath = []): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    const v = config[name] ?? null;
    if (v === null || v === Unknown) continue;
    if (spec.kind === 'attr') {
      const msg = spec.validate?.(v);
      if (msg) out.push(error(`Invalid ${name}`, msg, [...at, name]));
      continue;
    }
    if (!isMultiBlock(spec)) {
      if (isObject(v)) out.push(...validateConfig(spec.block, v, [...at, name]));
      continue;
    }
    (v as TfValue[]).forEach((item, i) => {
      if (isObject(item)) out.push(...validateConfig(spec.block, item, spec.nesting === 'list' ? [...at, name, i] : [...at, name]));
    });
  }
  return out;
}

function pathMessage(path: AttrPath): Req {
  return { steps: path.map((s) => (typeof s === 'number' ? { element_key_int: s } : { attribute_name: s })) };
}

export function diagnosticsMessage(diags: Diagnostic[]): Req[] {
  return diags.map((d) => ({ severity: d.severity, summary: d.summary, detail: d.detail ?? '', attribute: d.path ? pathMessage(d.path) : undefined }));
}

/** A schema as the protocol's Schema message. */
export function schemaMessage(schema: Schema, description: string): Req {
  return { version: 0, block: blockMessage(schema, description) };
}

function blockMessage(schema: Schema, description: string): Req {
  const attributes: Req[] = [];
  const block_types: Req[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.kind === 'attr') {
      attributes.push({
        name,
        type: Buffer.from(JSON.stringify(spec.type)),
        description: spec.description,
        required: !!spec.required,
        optional: !!spec.optional,
        computed: !!spec.computed,
        sensitive: !!spec.sensitive,
        description_kind: 'PLAIN',
      });
    } else {
      block_types.push({
        type_name: name,
        block: blockMessage(spec.block, spec.description),
        nesting: spec.nesting.toUpperCase(),
        min_items: spec.minItems ?? 0,
        max_items: spec.maxItems ?? (spec.nesting === 'single' ? 0 : 0),
      });
    }
  }
  return { version: 0, attributes, block_types, description, description_kind: 'PLAIN', deprecated: false };
}
