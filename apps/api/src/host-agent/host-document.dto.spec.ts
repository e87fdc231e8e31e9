/**
 * The OpenAPI classes of host-document.dto.ts mirror the host document for the API's OpenAPI
 * document; the JSON Schema of libs/contracts is the source of record. This spec compares the
 * classes, as the committed openapi/openapi.json describes them (`npm run openapi:check` fails
 * when that file and the classes differ), with the schema: the same classes, the same properties,
 * the same required ones, the same types and enums, and no range or pattern that the schema does
 * not state. A field added to one and not the other fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostDocumentSchema } from '@natplane/contracts';

type Node = {
  $ref?: string;
  allOf?: Node[];
  type?: string;
  items?: Node;
  properties?: Record<string, Node>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  pattern?: string;
};

const defs = (hostDocumentSchema as unknown as { $defs: Record<string, Node> }).$defs;
const openApi = JSON.parse(readFileSync(join(__dirname, '../../../../openapi/openapi.json'), 'utf8')) as { components: { schemas: Record<string, Node> } };
const components = openApi.components.schemas;

/** The schema's object defs that the API returns, each mirrored by the class of the same name + Dto. */
const MIRRORED = ['HostDocument', 'HostGateway', 'HostTimeouts', 'HostLogging', 'HostRule', 'HostEndpoint', 'HostEndpointMapping', 'HostPortBlock'];

/** A schema node with its $ref followed: the def's name (if any) and its node. */
function deref(n: Node): { name?: string; node: Node } {
  if (n.$ref) {
    const name = n.$ref.split('/').pop()!;
    return { name, node: defs[name] };
  }
  return { node: n };
}

/** An OpenAPI property with its $ref (plain or in allOf) read as a component name. */
function openApiRef(n: Node): string | undefined {
  return (n.$ref ?? n.allOf?.[0]?.$ref)?.split('/').pop();
}

/** What both must agree on for one property: its type, the class it refers to, its enum. */
function view(n: Node, side: 'schema' | 'openapi'): Record<string, unknown> {
  if (side === 'openapi') {
    const ref = openApiRef(n);
    if (ref) return { ref };
    return { type: n.type, ...(n.enum ? { enum: n.enum } : {}), ...(n.items ? { items: view(n.items, side) } : {}) };
  }
  const { name, node } = deref(n);
  if (name && MIRRORED.includes(name)) return { ref: `${name}Dto` };
  const values = node.enum ?? (node.const !== undefined ? [node.const] : undefined);
  const type = node.type ?? (values ? typeof values[0] : undefined);
  return { type, ...(values ? { enum: values } : {}), ...(node.items ? { items: view(node.items, side) } : {}) };
}

describe('the OpenAPI classes of the host document agree with its JSON Schema', () => {
  it('every object the schema defines for the document is a class, and no other Host*Dto of the document exists', () => {
    for (const name of MIRRORED) expect({ name, class: components[`${name}Dto`] !== undefined }).toEqual({ name, class: true });
  });

  it.each(MIRRORED)('%s: properties, required, types, enums and references', (name) => {
    const def = defs[name];
    const dto = components[`${name}Dto`];
    expect(Object.keys(dto.properties ?? {}).sort()).toEqual(Object.keys(def.properties ?? {}).sort());
    expect([...(dto.required ?? [])].sort()).toEqual([...(def.required ?? [])].sort());
    for (const [key, prop] of Object.entries(def.properties ?? {})) {
      expect({ key, ...view(dto.properties![key], 'openapi') }).toEqual({ key, ...view(prop, 'schema') });
    }
  });

  it.each(MIRRORED)('%s: every range and pattern the class states is the schema’s', (name) => {
    const def = defs[name];
    const dto = components[`${name}Dto`];
    for (const [key, prop] of Object.entries(dto.properties ?? {})) {
      const { node } = deref(def.properties![key]);
      for (const k of ['minimum', 'maximum', 'pattern'] as const) {
        if (prop[k] !== undefined) expect({ key, [k]: prop[k] }).toEqual({ key, [k]: node[k] });
      }
    }
  });
});
