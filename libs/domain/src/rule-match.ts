import { formatCidr, parseCidr, parseIpv4 } from './cidr';

/**
 * The NAT rule `match` language: the subset of CEL that Cloud NAT accepts.
 *
 *   match  := term ( '||' term )*
 *   term   := 'inIpRange' '(' dest ',' string ')'     string holds a CIDR (host bits zero)
 *           | dest '==' string                         string holds an IPv4 address
 *   dest   := 'destination' '.' 'ip'
 *   string := '...' | "..."                            no escapes
 *
 * Whitespace (space, tab, CR, LF) may stand between tokens. Anything else is a parse error with
 * the 0-based character offset of the offending token (the length of the text when the input
 * ends too early) and what was expected there. Parsing never throws.
 */
export type ParseResult = { ok: true; destinations: string[] } | { ok: false; position: number; message: string };

export function parseRuleMatch(text: string): ParseResult {
  try {
    return { ok: true, destinations: new Parser(text).parse() };
  } catch (error) {
    if (error instanceof MatchSyntaxError) return { ok: false, position: error.position, message: error.message };
    throw error;
  }
}

/** The canonical text for a list of destinations (CIDRs; a /32 is written as `destination.ip ==`). */
export function formatRuleMatch(destinations: readonly string[]): string {
  return destinations
    .map((d) => (d.endsWith('/32') ? `destination.ip == '${d.slice(0, -3)}'` : `inIpRange(destination.ip, '${d}')`))
    .join(' || ');
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
const TERM_START = "inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP'";

class Parser {
  private pos = 0;

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
      this.destinationIp();
      this.punct(',');
      const value = this.string('a quoted CIDR');
      this.punct(')');
      const parsed = parseCidr(value.text);
      if (!parsed.ok) throw new MatchSyntaxError(value.position, `expected a CIDR: ${parsed.message}`);
      return formatCidr(parsed.value);
    }
    if (word === 'destination') {
      this.destinationIp();
      this.punct('==');
      const value = this.string('a quoted IPv4 address');
      const parsed = parseIpv4(value.text);
      if (!parsed.ok) throw new MatchSyntaxError(value.position, `expected an IPv4 address: ${parsed.message}`);
      return `${value.text}/32`;
    }
    this.pos = start;
    return this.fail(TERM_START);
  }

  private destinationIp(): void {
    this.word('destination', 'destination.ip');
    this.punct('.');
    this.word('ip', 'destination.ip');
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
