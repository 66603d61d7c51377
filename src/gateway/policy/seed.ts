import type { KeelConfig } from '../../config/schema.ts';
import { windowBucket } from '../../state/open.ts';
import type { SharedState } from '../../state/types.ts';
import type { Db } from '../../store/db.ts';
import { ledgerSpend } from '../../store/queries/budgets.ts';
import { getTenant, getTenantById } from '../../store/queries/tenants.ts';
import { usdToMicros } from '../../telemetry/cost.ts';
import type { Principal } from '../auth.ts';
import type { PolicyBook } from './book.ts';
import type { BudgetRule } from './types.ts';

const DAY_MS = 86_400_000;

/** [start, end) of the window bucket holding `now` (UTC). */
export function windowRange(window: 'day' | 'month', now: number): { from: Date; to: Date } {
  const { endMs } = windowBucket(window, now);
  if (window === 'day') return { from: new Date(endMs - DAY_MS), to: new Date(endMs) };
  const d = new Date(now);
  return { from: new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)), to: new Date(endMs) };
}

/**
 * Rebuilds budget counters from the durable ledger: lazily, when a hold finds its counter missing
 * (a fresh in-process backend, an evicted or flushed Redis key, a new window), and at start-up for
 * the subjects config and stored policies name. `seedBudget` only creates a missing counter, so
 * replicas seeding at once agree, and a counter that exists is never overwritten.
 */
export class BudgetSeeder {
  readonly #db: Db;
  readonly #state: SharedState;
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(db: Db, state: SharedState) {
    this.#db = db;
    this.#state = state;
  }

  async seed(rules: readonly BudgetRule[]): Promise<void> {
    // The backend's clock decides the window, as it does for the holds.
    const now = await this.#state.time();
    await Promise.all(rules.map((r) => this.#one(r, now)));
  }

  #one(rule: BudgetRule, now: number): Promise<void> {
    const id = `${rule.key}\n${rule.window}\n${windowBucket(rule.window, now).suffix}`;
    let p = this.#inflight.get(id);
    if (!p) {
      p = (async () => {
        const { from, to } = windowRange(rule.window, now);
        const spent = await ledgerSpend(this.#db, rule.subject.spend, from, to);
        await this.#state.seedBudget({ key: rule.key, window: rule.window }, usdToMicros(spent));
      })().finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, p);
    }
    return p;
  }

  /** Start-up: every subject named with a budget in config or in stored policies. */
  async seedKnown(book: PolicyBook, config: KeelConfig): Promise<void> {
    const rules: BudgetRule[] = [];
    const principal = (
      tenantId: string,
      tenantName: string,
      keyId: string | null = null,
      userLabel = '',
    ): Principal => ({
      keyId,
      tenantId,
      tenantName,
      userLabel,
      role: 'member',
      allowedModels: null,
    });
    const pick = (p: Principal, app: string | null, scope: BudgetRule['subject']['scope']) => {
      for (const r of book.resolve(p, app).budgets) if (r.subject.scope === scope) rules.push(r);
    };
    for (const name of Object.keys(config.policy.tenants)) {
      if (name === '*') continue;
      const t = await getTenant(this.#db, name);
      if (t) pick(principal(t.id, t.name), null, 'tenant');
    }
    for (const app of Object.keys(config.policy.apps)) if (app !== '*') pick(principal('', ''), app, 'app');
    for (const scope of ['key', 'user', 'tenant', 'app'] as const) {
      for (const subject of storedSubjects(book, scope)) {
        if (scope === 'key') pick(principal('', '', subject), null, 'key');
        else if (scope === 'app') pick(principal('', ''), subject, 'app');
        else {
          const tenantId = scope === 'user' ? subject.slice(0, subject.indexOf(':')) : subject;
          const t = await getTenantById(this.#db, tenantId);
          if (!t) continue;
          const label = scope === 'user' ? subject.slice(subject.indexOf(':') + 1) : '';
          pick(principal(t.id, t.name, null, label), null, scope);
        }
      }
    }
    if (rules.length > 0) await this.seed(rules);
  }
}

function storedSubjects(book: PolicyBook, scope: string): string[] {
  return book
    .subjects()
    .filter((s) => s.scope === scope)
    .map((s) => s.subject);
}
