/**
 * docs/terraform/, rendered from the schemas themselves (so every attribute is there, described
 * as the provider describes it): an index and one page per resource and data source, in the
 * registry's layout. `npm run terraform:docs` writes them; docs.spec.ts fails when they drift.
 */
import type { DataSourceDef, ResourceDef } from '../framework/resource';
import type { AttrSpec, BlockSpec, Schema } from '../framework/schema';
import type { TfType } from '../framework/values';
import { EXAMPLES } from './examples';
import { natplaneProvider, PROVIDER_ADDRESS } from '../natplane';

function typeName(t: TfType): string {
  if (typeof t === 'string') return t[0].toUpperCase() + t.slice(1);
  if (t[0] === 'object') return 'Object';
  return `${t[0][0].toUpperCase()}${t[0].slice(1)} of ${typeName(t[1]).replace(/^Object$/, 'Object')}`;
}

function attrLine(name: string, a: AttrSpec, anchor: string): string {
  const flags = [typeName(a.type), a.required ? 'Required' : a.optional ? (a.computed ? 'Optional, server default' : 'Optional') : 'Read-only', a.sensitive ? 'Sensitive' : '', a.forceNew ? 'Forces replacement' : ''].filter(Boolean);
  let line = `- <a id="${anchor}"></a>\`${name}\` (${flags.join(', ')}) ${a.description}`;
  if (Array.isArray(a.type) && (a.type[0] === 'list' || a.type[0] === 'set') && Array.isArray(a.type[1]) && a.type[1][0] === 'object') {
    line += ` Each has: ${Object.keys(a.type[1][1]).map((k) => `\`${k}\``).join(', ')}.`;
  }
  return line;
}

function section(schema: Schema, inputs: boolean, prefix: string): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.kind === 'block') {
      if (inputs) out.push(`- \`${name}\` (Block${spec.nesting === 'single' ? '' : `, ${spec.nesting}`}${spec.maxItems ? `, at most ${spec.maxItems}` : ''}) ${spec.description} See [below](#${prefix}${name}).`);
      continue;
    }
    const isInput = !!(spec.required || spec.optional);
    if (isInput === inputs) out.push(attrLine(name, spec, `${prefix}${name}`));
  }
  return out;
}

function blocks(schema: Schema, path: string, prefix: string): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(schema) as [string, BlockSpec][]) {
    if (spec.kind !== 'block') continue;
    const here = path ? `${path}.${name}` : name;
    out.push('', `<a id="${prefix}${name}"></a>`, `### \`${here}\``, '', spec.description, '', ...section(spec.block, true, `${prefix}${name}-`));
    const outputs = section(spec.block, false, `${prefix}${name}-`);
    if (outputs.length) out.push('', 'Read-only:', '', ...outputs);
    out.push(...blocks(spec.block, here, `${prefix}${name}-`));
  }
  return out;
}

export function renderPage(def: ResourceDef | DataSourceDef, kind: 'Resource' | 'Data Source'): string {
  const ex = EXAMPLES[def.typeName];
  const out = [`# ${def.typeName} (${kind})`, '', def.description, '', '## Example Usage', '', '```hcl', ex?.hcl ?? '', '```', '', '## Argument Reference', '', ...section(def.schema, true, '')];
  const attrs = section(def.schema, false, '');
  if (attrs.length) out.push('', '## Attribute Reference', '', ...attrs);
  const nested = blocks(def.schema, '', '');
  if (nested.length) out.push('', '## Nested Blocks', ...nested);
  if ('timeouts' in def.schema) {
    out.push('', '## Timeouts', '', 'Create and update wait until the gateway is READY (its generation observed, every host programmed). The `timeouts` block sets how long (default 5m); on timeout the error shows the state and the status message, and a gateway whose create timed out is deleted (nothing half-created is left behind). The block is a local setting: after an import, a `timeouts` block in the configuration shows as an in-place update that only records it in the state (the gateway is not touched).');
  }
  if (kind === 'Resource' && ex?.importId) {
    const scoped = 'project' in def.schema && def.typeName !== 'natplane_project_token';
    out.push(
      '',
      '## Import',
      '',
      scoped ? 'By `PROJECT/NAME`, or `NAME` in the provider\'s project:' : def.typeName === 'natplane_project_token' ? 'By the project\'s name (the token itself cannot be read back: it stays unknown to Terraform):' : 'By name:',
      '',
      '```sh',
      `terraform import ${def.typeName}.example ${ex.importId}`,
      '```',
    );
  }
  return out.join('\n') + '\n';
}

export function renderIndex(): string {
  const p = natplaneProvider;
  const list = (defs: { typeName: string; description: string }[], dir: string) => defs.map((d) => `- [\`${d.typeName}\`](${dir}/${d.typeName.replace(/^natplane_/, '')}.md): ${d.description.split('. ')[0].replace(/\.$/, '')}.`);
  return [
    '# natplane Provider',
    '',
    `The natplane provider (\`${PROVIDER_ADDRESS}\`, \`source = "natplane/natplane"\`) manages natplane's networks, subnets, VM interfaces, addresses and NAT gateways, and an operator's projects, tokens, address pools and hosts, through the REST API (and only through it, with the SDK in libs/sdk). It is the executable \`terraform-provider-natplane\`, built from apps/terraform-provider in this repository.`,
    '',
    '## Installing',
    '',
    'Terraform installs it from a local filesystem mirror, offline:',
    '',
    '```sh',
    'npm run terraform:mirror                                   # builds it, writes dist/terraform/mirror and dist/terraform/terraform.rc',
    'export TF_CLI_CONFIG_FILE=$PWD/dist/terraform/terraform.rc # terraform init then finds natplane/natplane in the mirror',
    '```',
    '',
    '`terraform init` reports the provider as "unauthenticated": a local mirror carries no signature. Every other provider is still installed from its registry.',
    '',
    '## Example Usage',
    '',
    '```hcl',
    'terraform {',
    '  required_providers {',
    '    natplane = {',
    '      source = "natplane/natplane"',
    '    }',
    '  }',
    '}',
    '',
    'provider "natplane" {',
    '  endpoint = "http://127.0.0.1:8080" # or NATPLANE_API_URL',
    '  # token  = "..."                   # or NATPLANE_TOKEN',
    '  project  = "demo"                  # or NATPLANE_PROJECT',
    '}',
    '```',
    '',
    'examples/terraform/ is a complete configuration (the one the acceptance tests apply).',
    '',
    '## Argument Reference',
    '',
    ...section(p.schema, true, ''),
    '',
    'A project token works for the tenant resources of its project; the operator resources (`natplane_project`, `natplane_project_token`, `natplane_address_pool`, `natplane_host`) need the admin token, which also works for every project.',
    '',
    '## Behaviour',
    '',
    '- Every server default is Optional with a server default: leave it out and the plan after apply shows no changes.',
    '- References (`network`, `subnet`, `nat_ips`, ...) take a name, `projects/P/COLLECTION/NAME` or a selfLink, and are kept in state as written.',
    '- Attributes marked "Forces replacement" are immutable in the API; changing one plans a replacement. Everything else is updated in place with a JSON merge patch carrying `If-Match: <etag>`, so a change made by someone else after the plan is refused (412) instead of overwritten: plan again.',
    '- An object deleted outside Terraform is planned for creation; one changed outside is planned back.',
    '- An API error names the attribute (`errors[].field`), and Terraform shows it on that line of the configuration.',
    '',
    '## Resources',
    '',
    ...list(p.resources, 'resources'),
    '',
    '## Data Sources',
    '',
    ...list(p.dataSources, 'data-sources'),
    '',
  ].join('\n');
}

/** Every page: path under docs/terraform -> text. */
export function renderAll(): Record<string, string> {
  const out: Record<string, string> = { 'index.md': renderIndex() };
  for (const r of natplaneProvider.resources) out[`resources/${r.typeName.replace(/^natplane_/, '')}.md`] = renderPage(r, 'Resource');
  for (const d of natplaneProvider.dataSources) out[`data-sources/${d.typeName.replace(/^natplane_/, '')}.md`] = renderPage(d, 'Data Source');
  return out;
}
