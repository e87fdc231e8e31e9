/**
 * natplane's resources are collections of the REST API that all behave alike: POST to create,
 * GET by name, merge PATCH with If-Match, DELETE; every object has id, selfLink, timestamps,
 * generation, etag, description and labels. `projectResource` and `adminResource` turn a short
 * description (the collection and the schema of its own fields) into a ResourceDef, talking to
 * the API only through the SDK's client.
 */
import { ApiError, ok, type NatplaneClient } from '@natplane/sdk';
import { DiagnosticsError, error, type Diagnostic } from '../framework/diagnostics';
import { mergePatch, toApi } from '../framework/convert';
import type { ApiObject, Context, ResourceDef } from '../framework/resource';
import { blockSingle, str, strMap, num, type Schema } from '../framework/schema';
import { text, type TfObject } from '../framework/values';

/** The SDK's client called with a path built at run time (each resource names its own collection). */
interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}
interface DynamicClient {
  GET(path: string, init: object): Promise<FetchResult>;
  POST(path: string, init: object): Promise<FetchResult>;
  PATCH(path: string, init: object): Promise<FetchResult>;
  DELETE(path: string, init: object): Promise<FetchResult>;
}
export const dynamic = (c: NatplaneClient) => c as unknown as DynamicClient;

export const NAME_RE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const checkName = (v: unknown) => (typeof v === 'string' && !NAME_RE.test(v) ? 'must be 1-63 characters: a lowercase letter, then lowercase letters, digits or hyphens, not ending with a hyphen' : undefined);

/** Attributes every natplane object has. */
export function commonSchema(kind: string): Schema {
  return {
    name: str(`The ${kind}'s name (RFC 1035: lowercase letters, digits, hyphens), unique in its collection. Changing it replaces the ${kind}.`, { required: true, forceNew: true, validate: checkName }),
    description: str('A free-form description.', { optional: true, absentIs: '' }),
    labels: strMap('Labels (keys [a-z][-_a-z0-9]{0,62}, values [-_a-z0-9]{0,63}).', { optional: true, absentIs: {} }),
    id: str('The server-assigned unique id (a UUID).', { computed: true }),
    self_link: str('The object\'s URL.', { computed: true }),
    creation_timestamp: str('When the object was created (RFC 3339).', { computed: true }),
    update_timestamp: str('When the object was last changed (RFC 3339).', { computed: true, volatile: true }),
    generation: num('Incremented by every change of the object.', { computed: true, volatile: true }),
    etag: str('The version the provider sends as If-Match with every update.', { computed: true, volatile: true }),
  };
}

export const projectAttr = () =>
  str('The project; defaults to the provider\'s `project`. Changing it replaces the object.', { optional: true, computed: true, forceNew: true, api: false });

export const timeoutsBlock = (ops: ('create' | 'update' | 'delete')[], dflt = '5m') =>
  blockSingle(
    `How long to wait for the operations (Go durations: "30s", "5m", "1h"; default ${dflt}).`,
    Object.fromEntries(ops.map((op) => [op, str(`Time allowed for ${op}.`, { optional: true })])),
    { api: false },
  );

export interface CollectionOptions {
  typeName: string;
  description: string;
  /** The collection as named in the API's paths: `networks`, `natGateways`, `addressPools`. */
  collection: string;
  /** Noun for messages and docs. */
  kind: string;
  /** The collection's own attributes (the common ones are added). */
  schema: Schema;
  /** Runs after a create or an update answered (a NAT gateway waits until READY); returns the object as it now is. */
  settle?(ctx: Context, obj: ApiObject, planned: TfObject, op: 'create' | 'update', paths: Paths): Promise<ApiObject>;
  validate?(config: TfObject): Diagnostic[];
}

export interface Paths {
  collection: string;
  item: string;
  params(state: TfObject): Record<string, string>;
}

/** A collection under /v1/projects/{project}/ (project or admin token). */
export function projectResource(o: CollectionOptions): ResourceDef {
  const paths: Paths = {
    collection: `/v1/projects/{project}/${o.collection}`,
    item: `/v1/projects/{project}/${o.collection}/{name}`,
    params: (s) => ({ project: text(s.project), name: text(s.name) }),
  };
  const schema: Schema = { project: projectAttr(), ...commonSchema(o.kind), ...o.schema };
  return collectionResource(o, schema, paths, (ctx, id) => {
    const parts = id.split('/');
    if (parts.length === 1 && parts[0]) {
      if (!ctx.project) throw new DiagnosticsError([error(`Import ID "${id}" names no project`, 'Use PROJECT/NAME, or set the provider\'s project.')]);
      return { project: ctx.project, name: parts[0] };
    }
    if (parts.length === 2 && parts[0] && parts[1]) return { project: parts[0], name: parts[1] };
    const m = /^projects\/([^/]+)\/[^/]+\/([^/]+)$/.exec(id);
    if (m) return { project: m[1], name: m[2] };
    throw new DiagnosticsError([error(`Import ID "${id}" is not NAME or PROJECT/NAME`)]);
  });
}

/** A collection under /v1/admin/ (admin token). */
export function adminResource(o: CollectionOptions): ResourceDef {
  const paths: Paths = { collection: `/v1/admin/${o.collection}`, item: `/v1/admin/${o.collection}/{name}`, params: (s) => ({ name: text(s.name) }) };
  const schema: Schema = { ...commonSchema(o.kind), ...o.schema };
  return collectionResource(o, schema, paths, (_ctx, id) => {
    if (!NAME_RE.test(id)) throw new DiagnosticsError([error(`Import ID "${id}" is not a ${o.kind} name`)]);
    return { name: id };
  });
}

function collectionResource(o: CollectionOptions, schema: Schema, paths: Paths, importState: ResourceDef['importState']): ResourceDef {
  const path = (s: TfObject) => ({ path: paths.params(s) });
  return {
    typeName: o.typeName,
    description: o.description,
    schema,
    validate: o.validate ? (config) => o.validate!(config) : undefined,
    importState,
    async create(ctx, planned) {
      const c = dynamic(ctx.client);
      const created = (await ok(c.POST(paths.collection, { params: path(planned), body: toApi(schema, planned) }))) as ApiObject;
      if (!o.settle) return created;
      try {
        return await o.settle(ctx, created, planned, 'create', paths);
      } catch (e) {
        // nothing half-created is left behind: what did not come up is deleted before the error is shown
        ctx.log(`${o.typeName} ${text(planned.name)}: create did not complete, deleting it`);
        await ok(c.DELETE(paths.item, { params: path(planned) })).catch((d: unknown) => ctx.log(`delete after failed create: ${String(d)}`));
        throw e;
      }
    },
    async read(ctx, state) {
      try {
        return (await ok(dynamic(ctx.client).GET(paths.item, { params: path(state) }))) as ApiObject;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    async update(ctx, prior, planned) {
      const c = dynamic(ctx.client);
      const patch = mergePatch(schema, prior, planned);
      let obj: ApiObject;
      if (Object.keys(patch).length === 0) obj = (await ok(c.GET(paths.item, { params: path(prior) }))) as ApiObject;
      else {
        try {
          obj = (await ok(c.PATCH(paths.item, { params: { ...path(prior), header: { 'If-Match': text(prior.etag) } }, body: patch }))) as ApiObject;
        } catch (e) {
          if (e instanceof ApiError && e.status === 412) {
            throw new DiagnosticsError([error(`${o.kind} "${text(prior.name)}" changed since it was last read`, 'Its etag no longer matches (someone changed it outside Terraform). Run `terraform plan` or `apply` again to see and apply the difference.')]);
          }
          throw e;
        }
      }
      return o.settle ? o.settle(ctx, obj, planned, 'update', paths) : obj;
    },
    async delete(ctx, state) {
      try {
        await ok(dynamic(ctx.client).DELETE(paths.item, { params: path(state) }));
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return;
        throw e;
      }
    },
  };
}
