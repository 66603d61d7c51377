import type { z } from 'zod';
import type { BudgetSchema, LimitsSchema, RequestCapSchema } from '../../config/schema.ts';
import type { RateLimitRule } from '../../state/types.ts';
import type { PolicyScope, SpendSubject } from '../../store/queries/budgets.ts';

export type Limits = z.infer<typeof LimitsSchema>;
export type Budget = z.infer<typeof BudgetSchema>;
export type RequestCap = z.infer<typeof RequestCapSchema>;

/** One subject a request is accounted to: its key, its user, its tenant, its app. */
export interface Subject {
  scope: PolicyScope;
  /** The id inside SharedState keys (key id, `<tenant id>:<label>`, tenant id, app name). */
  id: string;
  /** How people name it, for error messages and webhooks (`key key_…`, `tenant 'acme'`). */
  label: string;
  /** Whose ledger rows its budget counters are rebuilt from. */
  spend: SpendSubject;
}

export interface RateRule {
  subject: Subject;
  key: string;
  rule: RateLimitRule;
}

export interface SlotRule {
  subject: Subject;
  key: string;
  max: number;
}

export interface BudgetRule {
  subject: Subject;
  window: 'day' | 'month';
  /** SharedState counter (the backend appends the window bucket). */
  key: string;
  limitMicros: number;
  limitUsd: number;
  soft: boolean;
  webhook: string | undefined;
}

/** Everything that applies to one principal (and app), resolved once and cached. */
export interface ResolvedPolicy {
  rpm: RateRule[];
  tpm: RateRule[];
  slots: SlotRule[];
  budgets: BudgetRule[];
  /** The tightest per-request cost cap. */
  requestCap: RequestCap | undefined;
  /** Allowed regions (the intersection of the key's and the tenant's pins); undefined: anywhere. */
  regions: readonly string[] | undefined;
  /** Who pinned them, for the error message. */
  regionsBy: string;
  /** The tenant's allow-list of apps and models; undefined: any. */
  allowedModels: readonly string[] | undefined;
  /** Nothing to count or hold: the request needs no SharedState round trip. */
  idle: boolean;
}
