/**
 * Keel's one error taxonomy. Every failure that crosses a module boundary is a `KeelError` with a
 * stable `code`; the gateway turns it into the OpenAI error shape with `status`.
 *
 * | code                   | status | type                   | retryable |
 * | ---------------------- | ------ | ---------------------- | --------- |
 * | invalid_request        | 400    | invalid_request_error  | no        |
 * | invalid_api_key        | 401    | authentication_error   | no        |
 * | permission_denied      | 403    | permission_error       | no        |
 * | not_found / model_not_found | 404 | not_found_error     | no        |
 * | payload_too_large      | 413    | invalid_request_error  | no        |
 * | unsupported_media_type | 415    | invalid_request_error  | no        |
 * | rate_limit_exceeded    | 429    | rate_limit_error       | yes       |
 * | budget_exceeded        | 429    | insufficient_quota     | no        |
 * | guardrail_blocked      | 400    | invalid_request_error  | no        |
 * | upstream_*             | 502/504| upstream_error         | by kind   |
 * | output_invalid         | 502    | upstream_error         | no        |
 * | internal_error         | 500    | server_error           | no        |
 * | unavailable            | 503    | server_error           | yes       |
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_api_key'
  | 'permission_denied'
  | 'not_found'
  | 'model_not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limit_exceeded'
  | 'budget_exceeded'
  | 'config_invalid'
  | 'guardrail_blocked'
  | 'internal_error'
  | 'unavailable'
  | 'output_invalid'
  | ProviderErrorCode;

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'upstream_error'
  | 'server_error';

export interface KeelErrorOptions {
  status?: number;
  type?: ErrorType;
  param?: string | null;
  retryable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

const DEFAULTS: Record<string, { status: number; type: ErrorType; retryable: boolean }> = {
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_api_key: { status: 401, type: 'authentication_error', retryable: false },
  permission_denied: { status: 403, type: 'permission_error', retryable: false },
  not_found: { status: 404, type: 'not_found_error', retryable: false },
  model_not_found: { status: 404, type: 'not_found_error', retryable: false },
  payload_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error', retryable: true },
  budget_exceeded: { status: 429, type: 'insufficient_quota', retryable: false },
  config_invalid: { status: 500, type: 'server_error', retryable: false },
  guardrail_blocked: { status: 400, type: 'invalid_request_error', retryable: false },
  internal_error: { status: 500, type: 'server_error', retryable: false },
  unavailable: { status: 503, type: 'server_error', retryable: true },
  // The model never produced output matching the requested response_format (after a repair retry).
  output_invalid: { status: 502, type: 'upstream_error', retryable: false },
  upstream_auth: { status: 502, type: 'upstream_error', retryable: false },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error', retryable: true },
  upstream_bad_request: { status: 400, type: 'invalid_request_error', retryable: false },
  upstream_not_found: { status: 404, type: 'not_found_error', retryable: false },
  upstream_timeout: { status: 504, type: 'upstream_error', retryable: true },
  upstream_5xx: { status: 502, type: 'upstream_error', retryable: true },
  upstream_network: { status: 502, type: 'upstream_error', retryable: true },
  upstream_protocol: { status: 502, type: 'upstream_error', retryable: true },
  content_filtered: { status: 400, type: 'invalid_request_error', retryable: false },
  aborted: { status: 499, type: 'invalid_request_error', retryable: false },
};

export class KeelError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, opts: KeelErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const d = DEFAULTS[code] ?? { status: 500, type: 'server_error' as const, retryable: false };
    this.name = 'KeelError';
    this.code = code;
    this.status = opts.status ?? d.status;
    this.type = opts.type ?? d.type;
    this.param = opts.param ?? null;
    this.retryable = opts.retryable ?? d.retryable;
    this.retryAfterMs = opts.retryAfterMs;
  }

  toJSON(): { error: { message: string; type: string; code: string; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

/** Errors from a model provider, classified so the router can decide: retry, fall back, or give up. */
export type ProviderErrorCode =
  | 'upstream_auth'
  | 'upstream_rate_limited'
  | 'upstream_bad_request'
  | 'upstream_not_found'
  | 'upstream_timeout'
  | 'upstream_5xx'
  | 'upstream_network'
  | 'upstream_protocol'
  | 'content_filtered'
  | 'aborted';

export class ProviderError extends KeelError {
  readonly provider: string;
  readonly upstreamStatus: number | undefined;

  constructor(
    code: ProviderErrorCode,
    message: string,
    opts: KeelErrorOptions & { provider: string; upstreamStatus?: number },
  ) {
    super(code, message, opts);
    this.name = 'ProviderError';
    this.provider = opts.provider;
    this.upstreamStatus = opts.upstreamStatus;
  }
}

export const isKeelError = (e: unknown): e is KeelError => e instanceof KeelError;

export function toKeelError(e: unknown): KeelError {
  if (e instanceof KeelError) return e;
  return new KeelError('internal_error', 'Internal error', { cause: e });
}
