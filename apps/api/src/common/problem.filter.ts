import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type DomainErrorKind, type FieldError, InUseError } from '@natplane/domain';

/** RFC 9457 problem details, the one error format of the API. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  users?: string[];
}

const STATUS: Record<DomainErrorKind, [number, string]> = {
  INVALID_ARGUMENT: [400, 'Invalid argument'],
  UNAUTHENTICATED: [401, 'Unauthenticated'],
  NOT_FOUND: [404, 'Not found'],
  ALREADY_EXISTS: [409, 'Already exists'],
  IN_USE: [409, 'In use'],
  CONFLICT: [409, 'Conflict'],
  PRECONDITION_FAILED: [412, 'Precondition failed'],
  IDEMPOTENCY_MISMATCH: [422, 'Idempotency key reused'],
};

export const PROBLEM_BASE = 'https://natplane.dev/problems/';

export function problemFor(e: unknown, instance?: string): Problem {
  if (e instanceof DomainError) {
    const [status, title] = STATUS[e.kind];
    const p: Problem = { type: PROBLEM_BASE + e.kind.toLowerCase().replace(/_/g, '-'), title, status, detail: e.message, instance };
    if (e.errors.length) p.errors = e.errors;
    if (e instanceof InUseError) p.users = e.users;
    return p;
  }
  const status = statusOf(e);
  if (status !== undefined && status < 500) {
    const message = e instanceof HttpException ? httpMessage(e) : String((e as Error).message ?? 'Bad request');
    return { type: PROBLEM_BASE + `http-${status}`, title: titleOf(status), status, detail: message, instance };
  }
  return { type: PROBLEM_BASE + 'internal', title: 'Internal error', status: 500, detail: 'An internal error occurred', instance };
}

function statusOf(e: unknown): number | undefined {
  if (e instanceof HttpException) return e.getStatus();
  if (typeof e === 'object' && e !== null && 'statusCode' in e && typeof (e).statusCode === 'number') {
    return (e as { statusCode: number }).statusCode;
  }
  return undefined;
}

function httpMessage(e: HttpException): string {
  const r = e.getResponse();
  if (typeof r === 'string') return r;
  const m = (r as { message?: unknown }).message;
  return Array.isArray(m) ? m.join('; ') : typeof m === 'string' ? m : e.message;
}

function titleOf(status: number): string {
  return (
    { 400: 'Bad request', 401: 'Unauthenticated', 404: 'Not found', 405: 'Method not allowed', 406: 'Not acceptable', 413: 'Payload too large', 415: 'Unsupported media type', 429: 'Too many requests' }[status] ??
    'Client error'
  );
}

export function sendProblem(reply: FastifyReply, problem: Problem): void {
  void reply.status(problem.status).header('content-type', 'application/problem+json').send(problem);
}

/** Maps every error to application/problem+json; only unexpected ones are logged as errors. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly log = new Logger('http');

  catch(e: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const problem = problemFor(e, req.url?.split('?')[0]);
    if (problem.status >= 500) this.log.error(`${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    sendProblem(http.getResponse<FastifyReply>(), problem);
  }
}
