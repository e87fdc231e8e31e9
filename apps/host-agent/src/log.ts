/** Structured logs: one JSON object per line on stdout (stderr for warnings and errors). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(base: Record<string, unknown>, minLevel: LogLevel = 'info', write?: (line: string, level: LogLevel) => void): Logger {
  const out =
    write ??
    ((line: string, level: LogLevel) => {
      (ORDER[level] >= ORDER.warn ? process.stderr : process.stdout).write(`${line}\n`);
    });
  const emit = (level: LogLevel) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    out(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }), level);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** For tests: discards everything, or collects it. */
export function memoryLogger(lines: Record<string, unknown>[] = []): Logger {
  return jsonLogger({}, 'debug', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
}

export function errorMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // fetch hides the reason (ECONNREFUSED, ENOTFOUND...) in `cause`
  const cause = (e as { cause?: unknown }).cause;
  const why = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : undefined;
  return why ? `${e.message} (${why})` : e.message;
}
