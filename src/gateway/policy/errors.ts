import { KeelError } from '../../errors.ts';
import type { BudgetDenied, RateLimitResult } from '../../state/types.ts';
import { microsToUsd } from '../../telemetry/cost.ts';
import type { BudgetRule, RateRule, SlotRule } from './types.ts';

/** The errors policies answer with; every one says which limit of whom, and when to come back. */

const usd = (micros: number) => `$${microsToUsd(micros).toFixed(6)}`;

export function rateLimited(
  rule: RateRule,
  result: RateLimitResult,
  kind: 'requests' | 'tokens',
  cost: number,
) {
  const what = `${rule.rule.limit} ${kind} per minute for ${rule.subject.label}`;
  if (result.retryAfterMs === null) {
    return new KeelError(
      'rate_limit_exceeded',
      `This request needs ${cost} tokens, more than the limit of ${what}: it can never be admitted. Shorten the prompt.`,
      { retryable: false, param: 'messages' },
    );
  }
  const secs = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  return new KeelError('rate_limit_exceeded', `Rate limit reached: ${what}. Retry in ${secs}s.`, {
    retryAfterMs: result.retryAfterMs,
  });
}

export function tooManyConcurrent(rule: SlotRule, active: number): KeelError {
  return new KeelError(
    'rate_limit_exceeded',
    `Too many concurrent requests for ${rule.subject.label}: ${active} of ${rule.max} in flight. Retry when one finishes.`,
    { retryAfterMs: 1_000 },
  );
}

export function budgetExceeded(rule: BudgetRule | undefined, d: BudgetDenied): KeelError {
  const window = rule?.window === 'month' ? 'monthly' : 'daily';
  const whose = rule ? `${window} budget of ${rule.subject.label}` : 'budget';
  const resets =
    d.retryAfterMs === null ? '' : `; it resets at ${new Date(Date.now() + d.retryAfterMs).toISOString()}`;
  return new KeelError(
    'budget_exceeded',
    `Budget exceeded: the ${whose} (${usd(d.limit)}) has ${usd(Math.max(0, d.limit - d.spent - d.reserved))} left ` +
      `(${usd(d.spent)} spent, ${usd(d.reserved)} held by requests in flight), not enough for this request${resets}`,
    d.retryAfterMs === null ? {} : { retryAfterMs: d.retryAfterMs },
  );
}

export function requestTooExpensive(
  worstUsd: number,
  capUsd: number,
  promptTokens: number,
  maxTokens: number,
  model: string,
  clientSetMax: boolean,
): KeelError {
  return new KeelError(
    'budget_exceeded',
    `This request could cost up to $${worstUsd.toFixed(6)} (${promptTokens} prompt tokens + ${maxTokens} output tokens ` +
      `at the prices of '${model}'), above the per-request limit of $${capUsd}. Lower max_tokens or shorten the prompt.`,
    { status: 400, type: 'invalid_request_error', param: clientSetMax ? 'max_tokens' : 'messages' },
  );
}

export function notAllowedForTenant(tenant: string, model: string): KeelError {
  return new KeelError('permission_denied', `Tenant '${tenant}' is not allowed to use model '${model}'`, {
    param: 'model',
  });
}
