/**
 * Resource names and references. A name is RFC 1035: a lower-case letter, then up to 62 lower-case
 * letters, digits or dashes, not ending with a dash. A reference to another resource may be given
 * as a bare name, a relative path or a full selfLink; it is stored and returned as the bare name,
 * so a client never sees a perpetual diff.
 */
export const NAME_PATTERN = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type ProjectCollection = 'networks' | 'subnets' | 'endpoints' | 'addresses' | 'natGateways';
export type AdminCollection = 'hosts' | 'addressPools' | 'projects';
export type Collection = ProjectCollection | AdminCollection;

export const PROJECT_COLLECTIONS: readonly ProjectCollection[] = ['networks', 'subnets', 'endpoints', 'addresses', 'natGateways'];
export const ADMIN_COLLECTIONS: readonly AdminCollection[] = ['hosts', 'addressPools', 'projects'];

/** Where a reference must point: a project collection needs the project it lives in. */
export type RefScope = { project: string; collection: ProjectCollection } | { collection: AdminCollection };

export type RefResult = { ok: true; name: string } | { ok: false; message: string };

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Undefined when valid, otherwise a message for a FieldError. */
export function nameError(name: string): string | undefined {
  if (isValidName(name)) return undefined;
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `'${truncate(name)}' is longer than 63 characters`;
  return `'${truncate(name)}' is not a valid name: use a lower-case letter, then lower-case letters, digits or dashes, not ending with a dash (RFC 1035)`;
}

function isAdminCollection(collection: Collection): collection is AdminCollection {
  return (ADMIN_COLLECTIONS as readonly string[]).includes(collection);
}

function isAdminScope(scope: RefScope): scope is { collection: AdminCollection } {
  return isAdminCollection(scope.collection);
}

/** The relative path of a resource: `projects/p/networks/n` or `admin/hosts/h`. */
export function relativePath(scope: RefScope, name: string): string {
  return isAdminScope(scope) ? `admin/${scope.collection}/${name}` : `projects/${scope.project}/${scope.collection}/${name}`;
}

/** `baseUrl` (scheme, host and any prefix, with or without a trailing slash) + `/v1/` + path. */
export function selfLink(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/v1/${path.replace(/^\/+/, '')}`;
}

const URL_PREFIX = /^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/;

/**
 * Canonicalizes a reference to the bare name. Accepts:
 * - a bare name: `net-1`
 * - a relative path: `projects/p/networks/net-1`, or `admin/hosts/h1` for admin collections
 * - a selfLink: `http(s)://any-host[:port][/any/prefix]/v1/projects/p/networks/net-1`
 * Refuses another project, another collection, an invalid name, or anything else.
 */
export function canonicalRef(input: string, scope: RefScope): RefResult {
  if (typeof input !== 'string' || input.length === 0) return { ok: false, message: 'must not be empty' };
  if (!input.includes('/')) {
    const error = nameError(input);
    return error ? { ok: false, message: error } : { ok: true, name: input };
  }
  const expected = isAdminCollection(scope.collection)
    ? `admin/${scope.collection}/{name}`
    : `projects/{project}/${scope.collection}/{name}`;
  const unrecognized: RefResult = {
    ok: false,
    message: `'${truncate(input)}' is not a name, a relative path ${expected} or a selfLink .../v1/${expected}`,
  };

  let segments = input.split('/');
  if (URL_PREFIX.test(input)) {
    // Keep what follows the last `v1` segment that leaves a well-formed path (a project may be called v1).
    const path = segments.slice(3);
    const width = isAdminCollection(scope.collection) ? 3 : 4;
    if (path.length < width + 1 || path[path.length - width - 1] !== 'v1') return unrecognized;
    segments = path.slice(path.length - width);
  }

  if (isAdminScope(scope)) {
    if (segments.length !== 3 || segments[0] !== 'admin') return unrecognized;
    const [, collection, name] = segments;
    return checkTarget(collection, scope.collection, name);
  }
  if (segments.length !== 4 || segments[0] !== 'projects') return unrecognized;
  const [, project, collection, name] = segments;
  if (project !== scope.project) {
    return { ok: false, message: `refers to project '${truncate(project)}'; only resources of project '${scope.project}' may be referenced` };
  }
  return checkTarget(collection, scope.collection, name);
}

function checkTarget(collection: string, expected: Collection, name: string): RefResult {
  if (collection !== expected) return { ok: false, message: `refers to ${truncate(collection)}; expected a reference to ${expected}` };
  const error = nameError(name);
  return error ? { ok: false, message: error } : { ok: true, name };
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The host-side device of a VM's NIC (an endpoint's `hostInterface`): a Linux network device name,
 * 1-15 characters (IFNAMSIZ), here of [A-Za-z0-9_.@+-] (Linux also refuses '/', ':' and white
 * space), and not '.' or '..'. The host document's schema and the database check say the same.
 */
export const HOST_INTERFACE_PATTERN = /^(?!\.\.?$)[A-Za-z0-9_.@+-]{1,15}$/;
export const HOST_INTERFACE_RULE = "must be a network device name: 1-15 characters of [A-Za-z0-9_.@+-], not '.' or '..'";
