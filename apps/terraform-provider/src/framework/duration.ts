/** Go-style durations as Terraform's `timeouts` blocks take them: "30s", "5m", "1h30m", "500ms". */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(s: string): number {
  const text = s.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) throw new Error(`"${s}" is not a duration (e.g. "30s", "5m", "1h30m")`);
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]];
  return ms;
}
