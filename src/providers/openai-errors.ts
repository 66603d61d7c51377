import { ProviderError, type ProviderErrorCode } from '../errors.ts';

/**
 * Maps what an OpenAI-compatible upstream did wrong into Keel's provider taxonomy, so the router
 * (issue 3) can decide retry / fall back / give up from `code`, `retryable` and `retryAfterMs` alone.
 */

type HeaderValue = string | string[] | undefined;
type Headers = Record<string, HeaderValue>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The wait an upstream asked for, in ms: `retry-after-ms` (OpenAI's precise hint) first, then
 * `retry-after` as seconds or an HTTP date. Undefined when absent or unparseable.
 */
export function parseRetryAfter(h: Headers, now = Date.now()): number | undefined {
  const ms = header(h, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  const ra = header(h, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return secs >= 0 ? Math.round(secs * 1000) : undefined;
  const date = Date.parse(ra);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

interface UpstreamErrorBody {
  message: string;
  code: string | undefined;
  type: string | undefined;
}

/** Pulls `{error:{message,code,type}}` (or the variants servers actually send) out of an error body. */
export function parseErrorBody(text: string): UpstreamErrorBody {
  const fallback = text.trim().replace(/\s+/g, ' ').slice(0, 500);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return { message: fallback, code: undefined, type: undefined };
  }
  if (obj === null || typeof obj !== 'object') return { message: fallback, code: undefined, type: undefined };
  const o = obj as Record<string, unknown>;
  const e = o.error;
  if (typeof e === 'string') return { message: e, code: undefined, type: undefined };
  const src = e !== null && typeof e === 'object' ? (e as Record<string, unknown>) : o;
  const message = typeof src.message === 'string' ? src.message : fallback;
  const code =
    typeof src.code === 'string' ? src.code : typeof src.code === 'number' ? String(src.code) : undefined;
  const type = typeof src.type === 'string' ? src.type : undefined;
  return { message: message.slice(0, 1000), code, type };
}

/** Removes every occurrence of the secrets from a message that will leave the process. */
export function scrub(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

export function httpError(
  provider: string,
  status: number,
  headers: Headers,
  bodyText: string,
  secrets: readonly string[],
): ProviderError {
  const body = parseErrorBody(bodyText);
  const detail = scrub(body.message, secrets) || `HTTP ${status}`;
  const base = { provider, upstreamStatus: status };
  const msg = (what: string) => `Upstream ${provider} ${what} (${status}): ${detail}`;
  if (status === 401 || status === 403) {
    return new ProviderError('upstream_auth', msg('rejected Keel’s credentials'), base);
  }
  if (status === 429) {
    // OpenAI answers an exhausted account with 429 too; waiting does not help there.
    const quota = body.code === 'insufficient_quota' || body.type === 'insufficient_quota';
    return new ProviderError(
      'upstream_rate_limited',
      msg(quota ? 'quota exhausted' : 'rate limited the request'),
      {
        ...base,
        retryable: !quota,
        retryAfterMs: quota ? undefined : parseRetryAfter(headers),
      },
    );
  }
  if (status === 400 || status === 422) {
    // Azure reports prompts stopped by its filter as a 400 with this code.
    if (body.code === 'content_filter' || body.code === 'content_policy_violation') {
      return new ProviderError('content_filtered', msg('filtered the content'), base);
    }
    return new ProviderError('upstream_bad_request', msg('rejected the request'), base);
  }
  if (status === 404) return new ProviderError('upstream_not_found', msg('has no such model or route'), base);
  if (status === 408) return new ProviderError('upstream_timeout', msg('timed out'), base);
  if (status >= 500) {
    return new ProviderError('upstream_5xx', msg('failed'), {
      ...base,
      retryAfterMs: status === 503 ? parseRetryAfter(headers) : undefined,
    });
  }
  // Other 4xx (409, 413, ...) are the request's fault and will not improve on retry.
  return new ProviderError('upstream_bad_request', msg('rejected the request'), base);
}

/** An `{"error":...}` object sent inside a 200 SSE stream (vLLM, OpenAI on mid-stream failures). */
export function streamErrorEvent(provider: string, err: unknown, secrets: readonly string[]): ProviderError {
  const body = parseErrorBody(JSON.stringify({ error: err }));
  const message = `Upstream ${provider} failed mid-stream: ${scrub(body.message, secrets) || 'unknown error'}`;
  const code = body.code ?? body.type ?? '';
  let kind: ProviderErrorCode = 'upstream_5xx';
  if (/rate_limit/.test(code)) kind = 'upstream_rate_limited';
  else if (/invalid_request|bad_request/.test(code)) kind = 'upstream_bad_request';
  else if (/content_filter/.test(code)) kind = 'content_filtered';
  return new ProviderError(kind, message, { provider });
}

const NETWORK_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

export interface TransportContext {
  provider: string;
  /** Why our own controller aborted, if it did. */
  abortedBy: 'caller' | 'total-timeout' | undefined;
  timeouts: { connectMs: number; firstByteMs: number; totalMs: number };
}

/** Maps a thrown transport error (undici, node net, our own aborts) to a ProviderError. */
export function transportError(err: unknown, ctx: TransportContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const { provider, timeouts } = ctx;
  if (ctx.abortedBy === 'caller') {
    return new ProviderError('aborted', `Request to ${provider} was cancelled`, { provider });
  }
  if (ctx.abortedBy === 'total-timeout') {
    return new ProviderError(
      'upstream_timeout',
      `Upstream ${provider} did not finish within ${timeouts.totalMs} ms`,
      {
        provider,
      },
    );
  }
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new ProviderError(
        'upstream_timeout',
        `Connecting to ${provider} timed out after ${timeouts.connectMs} ms`,
        {
          provider,
        },
      );
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new ProviderError(
        'upstream_timeout',
        `Upstream ${provider} sent no response within ${timeouts.firstByteMs} ms`,
        {
          provider,
        },
      );
    case 'UND_ERR_BODY_TIMEOUT':
      return new ProviderError(
        'upstream_timeout',
        `Upstream ${provider} stalled for ${timeouts.firstByteMs} ms mid-response`,
        {
          provider,
        },
      );
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return new ProviderError('upstream_protocol', `Upstream ${provider} sent a truncated response`, {
        provider,
      });
    default:
      break;
  }
  const reason = typeof code === 'string' && NETWORK_CODES.has(code) ? code : 'connection failed';
  // The cause is kept for logs; undici's errors carry no request headers, so no key can leak through it.
  return new ProviderError('upstream_network', `Connection to ${provider} failed (${reason})`, {
    provider,
    cause: err,
  });
}

export function protocolError(provider: string, what: string): ProviderError {
  return new ProviderError('upstream_protocol', `Upstream ${provider} sent ${what}`, { provider });
}

/** Parses an upstream body or event that must be a JSON object; anything else is a protocol error. */
export function parseJsonObject<T extends object>(provider: string, text: string, what: string): T {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw protocolError(provider, what);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw protocolError(provider, what);
  return obj as T;
}
