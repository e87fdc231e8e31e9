import { InvalidArgumentError } from '@natplane/domain';
import { unstorableText } from './input-shape';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** pageSize 1..500 (default 50); pageToken is opaque: base64url of the last name returned. */
export function parsePaging(pageSize: string | undefined, pageToken: string | undefined): { limit: number; after?: string } {
  let limit = DEFAULT_PAGE_SIZE;
  if (pageSize !== undefined && pageSize !== '') {
    if (!/^\d+$/.test(pageSize) || Number(pageSize) < 1 || Number(pageSize) > MAX_PAGE_SIZE) {
      throw InvalidArgumentError.field('pageSize', `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    limit = Number(pageSize);
  }
  let after: string | undefined;
  if (pageToken) {
    const decoded = Buffer.from(pageToken, 'base64url').toString('utf8');
    // Ours are the base64url of valid UTF-8 naming a stored name, so it round-trips and PostgreSQL can compare it.
    if (!decoded.startsWith('n:') || Buffer.from(decoded, 'utf8').toString('base64url') !== pageToken || unstorableText(decoded) !== undefined) {
      throw InvalidArgumentError.field('pageToken', 'is not a page token returned by this API');
    }
    after = decoded.slice(2);
  }
  return { limit, after };
}

export function pageToken(after: string | undefined): string {
  return after === undefined ? '' : Buffer.from(`n:${after}`, 'utf8').toString('base64url');
}
