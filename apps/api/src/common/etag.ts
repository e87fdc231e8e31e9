import { PreconditionFailedError } from '@natplane/domain';

export function etagOf(id: string, version: number): string {
  return `"${id.slice(0, 8)}-${version}"`;
}

/** If-Match: `*` or a list of etags (weak prefix ignored); mismatch -> 412. */
export function checkIfMatch(ifMatch: string | undefined, id: string, version: number): void {
  if (ifMatch === undefined || ifMatch.trim() === '*') return;
  const current = etagOf(id, version);
  const given = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (!given.includes(current)) throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the current etag ${current}`);
}
