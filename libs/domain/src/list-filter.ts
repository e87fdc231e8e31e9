import { InvalidArgumentError } from './errors';

/**
 * The `filter` query parameter of list routes, a small subset of Google's AIP-160:
 * `term (AND term)*` with `term := field ("=" | "!=") value`, where field is `name`,
 * `labels.<key>` or a collection's reference field (e.g. `host`, `subnet`), and value is a
 * bare word or a "double" / 'single' quoted string. Example: `labels.env = "prod" AND host = h1`.
 */
export interface ListFilterTerm {
  field: string;
  op: '=' | '!=';
  value: string;
}

export interface ListFilter {
  terms: ListFilterTerm[];
}

const TOKEN = /\s*(?:(AND)\b|(!=|=)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([A-Za-z0-9_.\-:/]+))/y;

export function parseListFilter(text: string | undefined): ListFilter {
  const terms: ListFilterTerm[] = [];
  if (text === undefined || text.trim() === '') return { terms };
  if (text.length > 1000) throw InvalidArgumentError.field('filter', 'is longer than 1000 characters');
  const tokens: { kind: 'and' | 'op' | 'str' | 'word'; text: string; at: number }[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw InvalidArgumentError.field('filter', `unexpected character at position ${pos}`);
    const at = m.index + (m[0].length - m[0].trimStart().length);
    if (m[1]) tokens.push({ kind: 'and', text: m[1], at });
    else if (m[2]) tokens.push({ kind: 'op', text: m[2], at });
    else if (m[3] !== undefined || m[4] !== undefined) tokens.push({ kind: 'str', text: (m[3] ?? m[4]).replace(/\\(.)/g, '$1'), at });
    else tokens.push({ kind: 'word', text: m[5], at });
    pos = TOKEN.lastIndex;
  }
  let i = 0;
  for (;;) {
    const f = tokens[i];
    const op = tokens[i + 1];
    const v = tokens[i + 2];
    if (!f || f.kind !== 'word') throw InvalidArgumentError.field('filter', `expected a field name at position ${f?.at ?? text.length}`);
    if (!op || op.kind !== 'op') throw InvalidArgumentError.field('filter', `expected = or != at position ${op?.at ?? text.length}`);
    if (!v || (v.kind !== 'word' && v.kind !== 'str')) throw InvalidArgumentError.field('filter', `expected a value at position ${v?.at ?? text.length}`);
    terms.push({ field: f.text, op: op.text as '=' | '!=', value: v.text });
    i += 3;
    if (i === tokens.length) break;
    if (tokens[i].kind !== 'and') throw InvalidArgumentError.field('filter', `expected AND at position ${tokens[i].at}`);
    i += 1;
  }
  return { terms };
}
