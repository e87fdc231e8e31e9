import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_CLOCK_SKEW_SEC } from './host-document';

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the host's push secret>` */
export function signPush(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `v1=${mac}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'stale-timestamp' | 'bad-signature' };

export function verifyPush(
  secret: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  body: string,
  nowSec: number,
): SignatureCheck {
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing' };
  const ts = Number(timestampHeader);
  if (!Number.isInteger(ts) || Math.abs(nowSec - ts) > MAX_CLOCK_SKEW_SEC) return { ok: false, reason: 'stale-timestamp' };
  const expected = Buffer.from(signPush(secret, ts, body));
  const given = Buffer.from(signatureHeader);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  return { ok: true };
}
