import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderAll } from './render';

/** docs/terraform is rendered from the schemas: `npm run terraform:docs` writes it; this fails when it drifts. */
const DOCS = join(__dirname, '..', '..', '..', '..', 'docs', 'terraform');

describe('docs/terraform', () => {
  const pages = renderAll();

  if (process.env.UPDATE_TERRAFORM_DOCS === '1') {
    for (const [path, text] of Object.entries(pages)) {
      mkdirSync(dirname(join(DOCS, path)), { recursive: true });
      writeFileSync(join(DOCS, path), text);
    }
  }

  it.each(Object.keys(pages))('%s is up to date with the schemas (npm run terraform:docs)', (path) => {
    let current = '';
    try {
      current = readFileSync(join(DOCS, path), 'utf8');
    } catch {
      /* missing */
    }
    expect(current).toBe(pages[path]);
  });

  it('every page has an example, and every resource page an import section', () => {
    for (const [path, text] of Object.entries(pages)) {
      if (path === 'index.md') continue;
      expect(text).toMatch(/```hcl\n(resource|data) "natplane_/);
      if (path.startsWith('resources/')) expect(text).toContain('## Import');
    }
  });
});
