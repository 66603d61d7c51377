import { type ErrorCode, KeelError, ProviderError } from '../../errors.ts';
import type { Usage } from '../../providers/types.ts';
import type { AttemptReport } from './types.ts';

/**
 * The one error a route call ends with. `code`, `status` and `retryAfterMs` are the last attempt's,
 * so a client sees the same answer a single provider would have given; `attempts` tells the whole
 * story for logs and traces.
 *
 * The streaming contract: `afterFirstByte === false` means nothing was yielded, so the caller can
 * still answer with an HTTP error; `afterFirstByte === true` means content already went out, so the
 * caller must end the response in-band (an SSE error event, then `[DONE]`) and record a failure.
 */
export class RouteError extends KeelError {
  readonly route: string;
  readonly attempts: readonly AttemptReport[];
  readonly afterFirstByte: boolean;
  /** For `afterFirstByte`: what the partial answer used (estimated unless the upstream said). */
  readonly usage: Usage | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: {
      route: string;
      attempts: readonly AttemptReport[];
      afterFirstByte: boolean;
      cause?: unknown;
      status?: number;
      retryable?: boolean;
      retryAfterMs?: number;
      usage?: Usage;
    },
  ) {
    super(code, message, {
      cause: opts.cause,
      status: opts.status,
      retryable: opts.retryable,
      retryAfterMs: opts.retryAfterMs,
    });
    this.name = 'RouteError';
    this.route = opts.route;
    this.attempts = opts.attempts;
    this.afterFirstByte = opts.afterFirstByte;
    this.usage = opts.usage;
  }
}

/**
 * Any thrown value as a KeelError. Keel's own errors keep their code (a missing optional package is
 * `config_invalid`, not a network failure); anything else is a provider bug, reported as a
 * non-retryable protocol error.
 */
export function asKeelError(e: unknown, provider: string): KeelError {
  if (e instanceof KeelError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ProviderError('upstream_protocol', `Provider ${provider} failed: ${message}`, {
    provider,
    retryable: false,
    cause: e,
  });
}

/**
 * Errors that are the request's own fault: another target would refuse it the same way, so the
 * route gives up at once instead of falling back.
 */
const FINAL_CODES: ReadonlySet<string> = new Set(['upstream_bad_request', 'content_filtered', 'aborted']);

export function canFallBack(e: KeelError): boolean {
  return !FINAL_CODES.has(e.code);
}

/** Errors that say the target is unhealthy (count against its breaker), as opposed to the request. */
export function isTargetFailure(e: KeelError): boolean {
  if (e.code === 'aborted') return false;
  return e.retryable || e.code === 'upstream_auth';
}

/** What a failed call had used when it broke off mid-answer (a `RouteError`'s usage), if known. */
export function partialUsage(e: unknown): Usage | undefined {
  return e instanceof RouteError ? e.usage : undefined;
}
