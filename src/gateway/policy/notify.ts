import type { SharedState } from '../../state/types.ts';
import { microsToUsd } from '../../telemetry/cost.ts';
import type { BudgetRule } from './types.ts';

const WEBHOOK_TIMEOUT_MS = 5_000;
/** A dedup marker outlives its window (a day or a month) plus the backend's grace period. */
const MARK_TTL_MS = 33 * 86_400_000;

export interface SoftBudgetEvent {
  type: 'budget.soft_limit_exceeded';
  scope: string;
  subject: string;
  window: 'day' | 'month';
  /** The counter's window bucket, e.g. `d2025-01-31`. */
  period: string;
  limit_usd: number;
  /** Spent plus held by requests in flight, when the limit was passed. */
  used_usd: number;
  ts: string;
}

/**
 * Tells a webhook that a soft budget was passed: once per budget and window across every replica
 * (the first to set a SharedState marker sends it), fire-and-forget, off the request path. A
 * failed delivery is logged, not retried: the response headers and traces flag it anyway.
 */
export class BudgetNotifier {
  readonly #state: SharedState;
  readonly #warn: (msg: string, err?: unknown) => void;
  readonly #pending = new Set<Promise<void>>();

  constructor(state: SharedState, warn: (msg: string, err?: unknown) => void) {
    this.#state = state;
    this.#warn = warn;
  }

  /** `counterKey` is the resolved counter (with its window bucket); `remaining` may be negative. */
  exceeded(rule: BudgetRule, counterKey: string, remainingMicros: number): void {
    const webhook = rule.webhook;
    if (!webhook) return;
    const p = this.#send(webhook, rule, counterKey, remainingMicros).catch((e: unknown) =>
      this.#warn(`soft-budget webhook failed for ${rule.subject.label}`, e),
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async #send(webhook: string, rule: BudgetRule, counterKey: string, remaining: number): Promise<void> {
    if (!(await this.#state.seed(`notified:${counterKey}`, 1, MARK_TTL_MS))) return;
    const event: SoftBudgetEvent = {
      type: 'budget.soft_limit_exceeded',
      scope: rule.subject.scope,
      subject: rule.subject.label,
      window: rule.window,
      period: counterKey.slice(counterKey.lastIndexOf(':') + 1),
      limit_usd: rule.limitUsd,
      used_usd: microsToUsd(rule.limitMicros - remaining),
      ts: new Date().toISOString(),
    };
    const res = await fetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'keel-budget-notifier' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  }

  /** Waits for deliveries in flight (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
