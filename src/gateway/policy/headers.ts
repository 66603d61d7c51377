import type { FastifyReply } from 'fastify';
import type { RateLimitResult } from '../../state/types.ts';

/**
 * OpenAI's rate-limit headers (`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`). A request
 * can be under several limits of each kind (its key's, its user's, its tenant's, its app's); the
 * headers describe the one closest to running out, which is the one a client has to pace itself by.
 */

/** `20ms`, `1.5s`, `6m0s`: the duration format of OpenAI's `x-ratelimit-reset-*`. */
export function formatReset(ms: number): string {
  const v = Math.max(0, Math.ceil(ms));
  if (v < 1_000) return `${v}ms`;
  const s = v / 1_000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - m * 60)}s`;
}

function tightest(
  results: readonly RateLimitResult[],
  from: number,
  to: number,
): RateLimitResult | undefined {
  let best: RateLimitResult | undefined;
  for (let i = from; i < to; i++) {
    const r = results[i]!;
    if (
      !best ||
      r.remaining < best.remaining ||
      (r.remaining === best.remaining && r.resetMs > best.resetMs)
    ) {
      best = r;
    }
  }
  return best;
}

/** `results` holds the request checks (`[0, requests)`) then the token checks. */
export function setRateHeaders(
  reply: FastifyReply,
  results: readonly RateLimitResult[],
  requests: number,
): void {
  const rq = tightest(results, 0, requests);
  if (rq) {
    reply.header('x-ratelimit-limit-requests', String(rq.limit));
    reply.header('x-ratelimit-remaining-requests', String(rq.remaining));
    reply.header('x-ratelimit-reset-requests', formatReset(rq.resetMs));
  }
  const tk = tightest(results, requests, results.length);
  if (tk) {
    reply.header('x-ratelimit-limit-tokens', String(tk.limit));
    reply.header('x-ratelimit-remaining-tokens', String(tk.remaining));
    reply.header('x-ratelimit-reset-tokens', formatReset(tk.resetMs));
  }
}
