import type { AnswerCache, CachePlan } from '../../ai/cache/index.ts';
import { citationsFor } from '../../ai/citations.ts';
import type { BudgetDenied, Lease, Reservation, SharedState } from '../../state/types.ts';
import { usdToMicros } from '../../telemetry/cost.ts';
import type { Outcome, RequestAccount } from '../accounting.ts';
import type { BudgetNotifier } from './notify.ts';
import type { BudgetRule, RateRule } from './types.ts';

export interface TicketDeps {
  state: SharedState;
  leaseMs: number;
  notifier: BudgetNotifier;
  cache: AnswerCache | undefined;
  warn(msg: string, err?: unknown): void;
  /** Tickets in flight, renewed by the policy's timer. */
  live: Set<PolicyTicket>;
}

export interface TpmCharge {
  rule: RateRule;
  ticket: string | null;
  /** Tokens charged at admission (the prompt estimate). */
  charged: number;
}

export interface TicketInit {
  tpm: TpmCharge[];
  leases: Lease[];
  hold: { reservation: Reservation; rules: BudgetRule[] } | undefined;
  cache: CachePlan | undefined;
}

/** What settling needs to know of a finished request (a `RequestAccount`, or an embeddings call). */
export type Settled = Pick<
  RequestAccount,
  'costUsd' | 'usage' | 'run' | 'completion' | 'finishReason' | 'hasToolCalls'
>;

export type GrowResult = { ok: true } | { ok: false; denied: BudgetDenied | undefined };

/**
 * What an admitted request holds in SharedState (concurrency slots, a budget hold, token-limit
 * charges to correct), and the one place that gives it all back. `finish` runs exactly once per
 * request, whatever its outcome: it settles the hold at the real cost (0 when nothing reached a
 * model), corrects the token limits with the real usage, frees the slots and stores the answer in
 * the cache when it is a complete one.
 */
export class PolicyTicket {
  readonly #deps: TicketDeps;
  readonly #tpm: TpmCharge[];
  #leases: Lease[];
  #hold: TicketInit['hold'];
  readonly #cache: CachePlan | undefined;
  #done = false;
  readonly bornAt = Date.now();

  constructor(deps: TicketDeps, init: TicketInit) {
    this.#deps = deps;
    this.#tpm = init.tpm;
    this.#leases = init.leases;
    this.#hold = init.hold;
    this.#cache = init.cache;
    if (init.leases.length > 0 || init.hold) deps.live.add(this);
  }

  /** Micro-USD the budget hold covers now (0 without one). */
  get heldMicros(): number {
    return this.#hold?.reservation.amount ?? 0;
  }

  ruleAt(index: number): BudgetRule | undefined {
    return this.#hold?.rules[index];
  }

  /**
   * Grows the hold by `step`, or by whatever is left when that is at least `need`. Soft budgets
   * passed on the way are notified.
   */
  async grow(need: number, step: number): Promise<GrowResult> {
    const hold = this.#hold;
    if (!hold) return { ok: false, denied: undefined };
    const { state, leaseMs } = this.#deps;
    let r = await state.extend(hold.reservation, step, leaseMs);
    if (!r.ok && r.reason === 'limit') {
      const left = r.limit - r.spent - r.reserved;
      if (left > 0 && left >= need && left < step) r = await state.extend(hold.reservation, left, leaseMs);
    }
    if (!r.ok) return { ok: false, denied: r.reason === 'limit' ? r : undefined };
    hold.reservation = r.reservation;
    for (const i of r.softExceeded) {
      const rule = hold.rules[i];
      if (rule) this.#deps.notifier.exceeded(rule, r.reservation.keys[i]!, r.remaining[i] ?? 0);
    }
    return { ok: true };
  }

  /** Extends the leases of a long request, so its slots and hold outlive `leaseMs`. */
  async renew(): Promise<void> {
    const { state, leaseMs } = this.#deps;
    const leases = await Promise.all(this.#leases.map((l) => state.renewLease(l, leaseMs)));
    if (this.#done) return;
    this.#leases = leases.map((l, i) => l ?? this.#leases[i]!);
    const hold = this.#hold;
    if (hold) {
      const r = await state.extend(hold.reservation, 0, leaseMs);
      if (r.ok && !this.#done) hold.reservation = r.reservation;
    }
  }

  /** `charged`: whether the request cost anything (its `acct.costUsd` and `acct.usage` are final). */
  async finish(status: Outcome, acct: Settled, charged: boolean): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#deps.live.delete(this);
    const { state } = this.#deps;
    const ops: Promise<unknown>[] = this.#leases.map((l) => state.releaseLease(l));
    if (this.#hold) ops.push(state.settle(this.#hold.reservation, usdToMicros(acct.costUsd)));
    const u = acct.usage;
    const actual = charged && u ? u.promptTokens + u.completionTokens : 0;
    for (const t of this.#tpm) {
      const delta = actual - t.charged;
      if (delta !== 0) ops.push(state.adjust(t.rule.key, delta, t.rule.rule, t.ticket));
    }
    const results = await Promise.allSettled(ops);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) this.#deps.warn('releasing a request’s limits and budget hold failed', failed.reason);
    if (this.#cache && status === 'ok') this.#store(acct);
  }

  #store(acct: Settled): void {
    const run = acct.run;
    const cache = this.#deps.cache;
    const finish = acct.finishReason ?? 'stop';
    if (!cache || !run || !this.#cache || finish !== 'stop' || acct.hasToolCalls || acct.completion === '')
      return;
    const u = acct.usage;
    cache
      .store(this.#cache, {
        v: 1,
        text: acct.completion,
        finishReason: finish,
        promptTokens: u?.promptTokens ?? 0,
        completionTokens: u?.completionTokens ?? 0,
        citations: run.app !== null ? citationsFor(run.sources, acct.completion) : undefined,
        app: run.app,
        provider: run.providerId,
        model: run.upstreamModel,
        at: Date.now(),
      })
      .catch((e: unknown) => this.#deps.warn('storing an answer in the cache failed', e));
  }
}
