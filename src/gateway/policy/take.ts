import type { FastifyReply } from 'fastify';
import { KeelError } from '../../errors.ts';
import type { BudgetLine, RateCheck, SharedState, SlotRequest } from '../../state/types.ts';
import type { Attributes } from '../../telemetry/types.ts';
import { budgetExceeded, rateLimited, tooManyConcurrent } from './errors.ts';
import { setRateHeaders } from './headers.ts';
import type { BudgetNotifier } from './notify.ts';
import type { BudgetSeeder } from './seed.ts';
import type { TicketInit } from './ticket.ts';
import type { ResolvedPolicy } from './types.ts';

const MAX_ADMIT_ATTEMPTS = 3;

export interface TakeDeps {
  state: SharedState;
  leaseMs: number;
  notifier: BudgetNotifier;
  seeder: BudgetSeeder;
}

/**
 * Rate limits, concurrency slots and the budget hold in one atomic `admit`; budget counters found
 * missing are rebuilt from the ledger and the call retried. When a budget has less left than
 * `amount`, `shortOf(left)` may offer a smaller hold once (or refuse with undefined).
 */
export async function takeLimits(
  d: TakeDeps,
  reply: FastifyReply,
  attrs: Attributes,
  pol: ResolvedPolicy,
  tokens: number,
  amount: number,
  shortOf: (left: number) => number | undefined,
): Promise<Omit<TicketInit, 'cache'>> {
  const { state, leaseMs } = d;
  const rate: RateCheck[] = [
    ...pol.rpm.map((r) => ({ key: r.key, cost: 1, rule: r.rule })),
    ...pol.tpm.map((r) => ({ key: r.key, cost: tokens, rule: r.rule })),
  ];
  const slots: SlotRequest[] = pol.slots.map((s) => ({ key: s.key, max: s.max, leaseMs }));
  const lines: BudgetLine[] = pol.budgets.map((b) => ({
    counter: { key: b.key, window: b.window },
    limit: b.limitMicros,
    soft: b.soft,
  }));
  let hold = amount;
  for (let attempt = 1; ; attempt++) {
    const r = await state.admit({
      rate,
      slots,
      budget: lines.length > 0 ? { lines, amount: hold, onMissing: 'report', leaseMs } : undefined,
    });
    if (rate.length > 0) setRateHeaders(reply, r.rate, pol.rpm.length);
    if (r.ok) {
      for (const i of r.hold?.softExceeded ?? []) {
        const rule = pol.budgets[i]!;
        reply.header(
          'x-keel-budget-warning',
          `soft-limit-exceeded; scope=${rule.subject.scope}; window=${rule.window}`,
        );
        attrs.budget_soft_exceeded = `${rule.subject.scope}:${rule.window}`;
        d.notifier.exceeded(rule, r.hold!.reservation.keys[i]!, r.hold!.remaining[i] ?? 0);
      }
      return {
        tpm: pol.tpm.map((rule, i) => ({
          rule,
          ticket: r.rate[pol.rpm.length + i]?.ticket ?? null,
          charged: tokens,
        })),
        leases: r.leases,
        hold: r.hold ? { reservation: r.hold.reservation, rules: pol.budgets } : undefined,
      };
    }
    if (r.denied === 'rate') {
      const isRequests = r.index < pol.rpm.length;
      const rule = isRequests ? pol.rpm[r.index]! : pol.tpm[r.index - pol.rpm.length]!;
      throw rateLimited(rule, r.rate[r.index]!, isRequests ? 'requests' : 'tokens', isRequests ? 1 : tokens);
    }
    if (r.denied === 'concurrency') throw tooManyConcurrent(pol.slots[r.index]!, r.active);
    const b = r.budget;
    if (attempt >= MAX_ADMIT_ATTEMPTS) {
      if (b.reason === 'limit') throw budgetExceeded(pol.budgets[b.index], b);
      throw new KeelError(
        'unavailable',
        'Budget counters could not be rebuilt from the ledger; please retry',
      );
    }
    if (b.reason === 'missing') {
      await d.seeder.seed(b.missing.map((i) => pol.budgets[i]!));
      continue;
    }
    const smaller = shortOf(b.limit - b.spent - b.reserved);
    if (smaller === undefined) throw budgetExceeded(pol.budgets[b.index], b);
    hold = smaller;
  }
}
