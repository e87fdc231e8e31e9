import { formatCidr, parseCidr, parseIpv4 } from './cidr';

/**
 * The NAT rule `match` language: the subset of CEL that Cloud NAT accepts.
 *
 *   match  := term ( '||' term )*
 *   term   := 'inIpRange' '(' addr ',' string ')'     string holds a CIDR (host bits zero)
 *           | addr '==' string                         string holds an IPv4 address
 *   addr   := 'destination' '.' 'ip' | 'source' '.' 'ip'
 *   string := '...' | "..."                            no escapes
 *
 * A rule is destination-based or source-based (Cloud NAT's source-based rules): every term of one
 * expression names the same side; a term over the other side is an error at that term, as Cloud
 * NAT refuses to combine them in one rule.
 *
 * Whitespace (space, tab, CR, LF) may stand between tokens. Anything else is a parse error with
 * the 0-based character offset of the offending token (the length of the text when the input
 * ends too early) and what was expected there. Parsing never throws.
 */
export type MatchSide = 'destination' | 'source';
export type ParseResult =
  | { ok: true; side: MatchSide; destinations: string[]; sources: string[] }
  | { ok: false; position: number; message: string };

export function parseRuleMatch(text: string): ParseResult {
  try {
    const parser = new Parser(text);
    const ranges = parser.parse();
    const side = parser.side ?? 'destination';
    return side === 'destination' ? { ok: true, side, destinations: ranges, sources: [] } : { ok: true, side, destinations: [], sources: ranges };
  } catch (error) {
    if (error instanceof MatchSyntaxError) return { ok: false, position: error.position, message: error.message };
    throw error;
  }
}

/** The canonical text for a list of CIDRs of one side (a /32 is written as `<side>.ip ==`). */
export function formatRuleMatch(ranges: readonly string[], side: MatchSide = 'destination'): string {
  return ranges.map((d) => (d.endsWith('/32') ? `${side}.ip == '${d.slice(0, -3)}'` : `inIpRange(${side}.ip, '${d}')`)).join(' || ');
}

class MatchSyntaxError extends Error {
  constructor(
    readonly position: number,
    message: string,
  ) {
    super(message);
  }
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const TERM_START = "inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip)";
const SIDES: readonly MatchSide[] = ['destination', 'source'];

class Parser {
  private pos = 0;
  /** The side of the first term; every other term must name it too. */
  side: MatchSide | undefined;

  constructor(private readonly text: string) {}

  parse(): string[] {
    const destinations = [this.term()];
    for (;;) {
      this.skipWhitespace();
      if (this.pos >= this.text.length) return destinations;
      if (!this.text.startsWith('||', this.pos)) this.fail("'||' or the end of the expression");
      this.pos += 2;
      destinations.push(this.term());
    }
  }

  private term(): string {
    this.skipWhitespace();
    const start = this.pos;
    const word = this.peekIdentifier();
    if (word === 'inIpRange') {
      this.pos += word.length;
      this.punct('(');
      this.addressIp();
      this.punct(',');
      const value = this.string('a quoted CIDR');
      this.punct(')');
      const parsed = parseCidr(value.text);
      if (!parsed.ok) throw new MatchSyntaxError(value.position, `expected a CIDR: ${parsed.message}`);
      return formatCidr(parsed.value);
    }
    if (word === 'destination' || word === 'source') {
      this.addressIp();
      this.punct('==');
      const value = this.string('a quoted IPv4 address');
      const parsed = parseIpv4(value.text);
      if (!parsed.ok) throw new MatchSyntaxError(value.position, `expected an IPv4 address: ${parsed.message}`);
      return `${value.text}/32`;
    }
    this.pos = start;
    return this.fail(TERM_START);
  }

  /** `destination.ip` or `source.ip`: the first one fixes the side of the whole expression. */
  private addressIp(): void {
    this.skipWhitespace();
    const start = this.pos;
    const word = this.peekIdentifier();
    const side = SIDES.find((s) => s === word);
    const what = this.side === undefined ? 'destination.ip or source.ip' : `${this.side}.ip`;
    if (side === undefined) this.fail(what);
    if (this.side !== undefined && side !== this.side) {
      throw new MatchSyntaxError(
        start,
        `expected ${this.side}.ip, found '${side}': source and destination conditions cannot be combined in one rule`,
      );
    }
    this.pos += side.length;
    this.punct('.');
    this.word('ip', `${side}.ip`);
    this.side = side;
  }

  private word(expected: string, what: string): void {
    this.skipWhitespace();
    if (this.peekIdentifier() !== expected) this.fail(what);
    this.pos += expected.length;
  }

  private punct(expected: string): void {
    this.skipWhitespace();
    if (!this.text.startsWith(expected, this.pos)) this.fail(`'${expected}'`);
    this.pos += expected.length;
  }

  /** A quoted string; returns its content and the offset of its first content character. */
  private string(what: string): { text: string; position: number } {
    this.skipWhitespace();
    const quote = this.text[this.pos];
    if (quote !== "'" && quote !== '"') this.fail(what);
    const open = this.pos;
    const close = this.text.indexOf(quote, open + 1);
    if (close < 0) throw new MatchSyntaxError(open, `unterminated string: expected ${what} closed by ${quote}`);
    this.pos = close + 1;
    return { text: this.text.slice(open + 1, close), position: open + 1 };
  }

  private peekIdentifier(): string | undefined {
    IDENTIFIER.lastIndex = this.pos;
    return IDENTIFIER.exec(this.text)?.[0];
  }

  private skipWhitespace(): void {
    while (this.pos < this.text.length && WHITESPACE.has(this.text[this.pos])) this.pos++;
  }

  private fail(expected: string): never {
    if (this.pos >= this.text.length) throw new MatchSyntaxError(this.pos, `expected ${expected} but the expression ended`);
    const found = this.peekIdentifier() ?? this.text[this.pos];
    throw new MatchSyntaxError(this.pos, `expected ${expected}, found '${found}'`);
  }
}
