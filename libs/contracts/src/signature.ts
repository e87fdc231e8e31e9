import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_CLOCK_SKEW_SEC } from './host-document';

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the host's push secret>` */
export function signPush(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `v1=${mac}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'bad-timestamp' | 'stale-timestamp' | 'bad-signature' };

/** Canonical decimal seconds: no sign, no leading zero, no fraction or exponent, no spaces. */
const CANONICAL_TIMESTAMP = /^(0|[1-9][0-9]{0,15})$/;
const SIGNATURE_FORM = /^v1=[0-9a-f]{64}$/;

/**
 * What can be checked of a push before its body is read: both headers present, the timestamp in
 * canonical decimal and within MAX_CLOCK_SKEW_SEC of `nowSec`, the signature of the v1 form. A
 * programmer checks this first, so that nothing of an unsigned or stale push is read.
 */
export function checkPushHeaders(timestampHeader: string | undefined, signatureHeader: string | undefined, nowSec: number): SignatureCheck {
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing' };
  if (!CANONICAL_TIMESTAMP.test(timestampHeader)) return { ok: false, reason: 'bad-timestamp' };
  if (Math.abs(nowSec - Number(timestampHeader)) > MAX_CLOCK_SKEW_SEC) return { ok: false, reason: 'stale-timestamp' };
  if (!SIGNATURE_FORM.test(signatureHeader)) return { ok: false, reason: 'bad-signature' };
  return { ok: true };
}

export function verifyPush(
  secret: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  body: string,
  nowSec: number,
): SignatureCheck {
  const headers = checkPushHeaders(timestampHeader, signatureHeader, nowSec);
  if (!headers.ok) return headers;
  // The signing string is made of the header exactly as sent (canonical, so also of its value).
  const ts = Number(timestampHeader);
  const expected = Buffer.from(signPush(secret, ts, body));
  const given = Buffer.from(signatureHeader ?? '');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  return { ok: true };
}
