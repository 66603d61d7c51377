import type { PolicyConfig, SubjectPolicyConfig, TenantPolicyConfig } from '../../config/schema.ts';
import type { Db } from '../../store/db.ts';
import {
  listPolicies,
  type PolicyScope,
  type StoredPolicy,
  type StoredPolicyBody,
} from '../../store/queries/budgets.ts';
import { usdToMicros } from '../../telemetry/cost.ts';
import type { Principal } from '../auth.ts';
import type { BudgetRule, RateRule, ResolvedPolicy, SlotRule, Subject } from './types.ts';

const MINUTE_MS = 60_000;
const RESOLVED_MAX = 10_000;

type Field = keyof StoredPolicyBody;
type Source = (TenantPolicyConfig & StoredPolicyBody) | undefined;

/**
 * Which limits, budgets, caps, allow-lists and region pins apply to a request. Config gives the
 * defaults; policies stored through the admin API replace them field by field. Stored policies are
 * held in memory and reloaded every `refreshMs` (a change made on another replica applies here
 * within that time; on the replica that made it, at once), so resolving never touches the database.
 */
export class PolicyBook {
  readonly #config: PolicyConfig;
  readonly #db: Db;
  #stored = new Map<string, StoredPolicyBody>();
  #resolved = new Map<string, ResolvedPolicy>();
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> | undefined;

  constructor(config: PolicyConfig, db: Db) {
    this.#config = config;
    this.#db = db;
  }

  get config(): PolicyConfig {
    return this.#config;
  }

  /** Loads the stored policies, then keeps reloading them in the background. */
  async start(): Promise<void> {
    await this.reload();
    this.#timer = setInterval(() => {
      this.reload().catch(() => undefined);
    }, this.#config.refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  reload(): Promise<void> {
    this.#loading ??= listPolicies(this.#db)
      .then((rows) => this.#replace(rows))
      .finally(() => {
        this.#loading = undefined;
      });
    return this.#loading;
  }

  /** Applies a change made on this replica at once (the admin API calls it after writing). */
  set(scope: PolicyScope, subject: string, body: StoredPolicyBody | undefined): void {
    const k = `${scope}\n${subject}`;
    if (body === undefined) this.#stored.delete(k);
    else this.#stored.set(k, body);
    this.#resolved.clear();
  }

  stored(scope: PolicyScope, subject: string): StoredPolicyBody | undefined {
    return this.#stored.get(`${scope}\n${subject}`);
  }

  /** Every subject with a stored policy. */
  subjects(): { scope: PolicyScope; subject: string }[] {
    return [...this.#stored.keys()].map((k) => {
      const i = k.indexOf('\n');
      return { scope: k.slice(0, i) as PolicyScope, subject: k.slice(i + 1) };
    });
  }

  #replace(rows: StoredPolicy[]): void {
    const next = new Map<string, StoredPolicyBody>();
    for (const r of rows) next.set(`${r.scope}\n${r.subject}`, r.policy);
    if (sameMap(next, this.#stored)) return;
    this.#stored = next;
    this.#resolved.clear();
  }

  /** What applies to `p` calling `app` (null for a plain model). Cached until policies change. */
  resolve(p: Principal, app: string | null): ResolvedPolicy {
    const cacheKey = `${p.keyId ?? ''}\n${p.tenantId}\n${p.tenantName}\n${p.userLabel}\n${app ?? ''}`;
    let r = this.#resolved.get(cacheKey);
    if (r === undefined) {
      r = this.#build(p, app);
      if (this.#resolved.size >= RESOLVED_MAX) this.#resolved.clear();
      this.#resolved.set(cacheKey, r);
    }
    return r;
  }

  #build(p: Principal, app: string | null): ResolvedPolicy {
    const c = this.#config;
    const subjects: { subject: Subject; src: Source }[] = [];
    const tenantSrc = pick(this.stored('tenant', p.tenantId), c.tenants[p.tenantName] ?? c.tenants['*']);
    if (p.keyId !== null) {
      subjects.push({
        subject: {
          scope: 'key',
          id: p.keyId,
          label: `key ${p.keyId}`,
          spend: { scope: 'key', keyId: p.keyId },
        },
        src: pick(this.stored('key', p.keyId), c.keys),
      });
    }
    if (p.userLabel !== '') {
      const id = `${p.tenantId}:${p.userLabel}`;
      subjects.push({
        subject: {
          scope: 'user',
          id,
          label: `user '${p.userLabel}' of tenant '${p.tenantName}'`,
          spend: { scope: 'user', tenantId: p.tenantId, userLabel: p.userLabel },
        },
        src: pick(this.stored('user', id), c.users),
      });
    }
    subjects.push({
      subject: {
        scope: 'tenant',
        id: p.tenantId,
        label: `tenant '${p.tenantName}'`,
        spend: { scope: 'tenant', tenantId: p.tenantId },
      },
      src: tenantSrc,
    });
    if (app !== null) {
      subjects.push({
        subject: { scope: 'app', id: app, label: `app '${app}'`, spend: { scope: 'app', app } },
        src: pick(this.stored('app', app), c.apps[app] ?? c.apps['*']),
      });
    }

    const rpm: RateRule[] = [];
    const tpm: RateRule[] = [];
    const slots: SlotRule[] = [];
    const budgets: BudgetRule[] = [];
    let requestCap = c.requestCap;
    for (const { subject, src } of subjects) {
      const base = `${subject.scope}:${subject.id}`;
      const l = src?.limits;
      if (l?.rpm) rpm.push({ subject, key: `rl:rpm:${base}`, rule: { limit: l.rpm, windowMs: MINUTE_MS } });
      if (l?.tpm) {
        tpm.push({
          subject,
          key: `rl:tpm:${base}`,
          rule: { limit: l.tpm, windowMs: MINUTE_MS, algorithm: 'token-bucket' },
        });
      }
      if (l?.concurrency) slots.push({ subject, key: `cc:${base}`, max: l.concurrency });
      const b = src?.budget;
      if (b) {
        const common = { subject, soft: b.mode === 'soft', webhook: b.webhook ?? c.webhook };
        if (b.dailyUsd !== undefined) {
          budgets.push({
            ...common,
            window: 'day',
            key: `b:${base}`,
            limitUsd: b.dailyUsd,
            limitMicros: usdToMicros(b.dailyUsd),
          });
        }
        if (b.monthlyUsd !== undefined) {
          budgets.push({
            ...common,
            window: 'month',
            key: `b:${base}`,
            limitUsd: b.monthlyUsd,
            limitMicros: usdToMicros(b.monthlyUsd),
          });
        }
      }
      const cap = src?.requestCap;
      if (cap && (!requestCap || cap.maxUsd < requestCap.maxUsd)) requestCap = cap;
    }

    const keySrc = subjects.find((s) => s.subject.scope === 'key')?.src;
    const tenantRegions = tenantSrc?.regions ?? undefined;
    const keyRegions = keySrc?.regions ?? undefined;
    let regions: readonly string[] | undefined;
    let regionsBy = '';
    if (tenantRegions && keyRegions) {
      regions = tenantRegions.filter((r) => keyRegions.includes(r));
      regionsBy = `tenant '${p.tenantName}' and key ${p.keyId}`;
    } else if (tenantRegions) {
      regions = tenantRegions;
      regionsBy = `tenant '${p.tenantName}'`;
    } else if (keyRegions) {
      regions = keyRegions;
      regionsBy = `key ${p.keyId}`;
    }
    return {
      rpm,
      tpm,
      slots,
      budgets,
      requestCap: requestCap ?? undefined,
      regions,
      regionsBy,
      allowedModels: tenantSrc?.allowedModels ?? undefined,
      idle: rpm.length + tpm.length + slots.length + budgets.length === 0 && !requestCap,
    };
  }
}

const FIELDS: Field[] = ['limits', 'budget', 'requestCap', 'regions', 'allowedModels'];

/** Stored fields win over config ones; a stored null clears the field. */
function pick(
  stored: StoredPolicyBody | undefined,
  config: SubjectPolicyConfig | TenantPolicyConfig | undefined,
): Source {
  if (!stored) return config as Source;
  const out: Record<string, unknown> = { ...(config ?? {}) };
  for (const f of FIELDS) {
    if (!Object.hasOwn(stored, f)) continue;
    const v = stored[f];
    if (v === null) delete out[f];
    else out[f] = v;
  }
  return out as Source;
}

function sameMap(a: Map<string, StoredPolicyBody>, b: Map<string, StoredPolicyBody>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || JSON.stringify(w) !== JSON.stringify(v)) return false;
  }
  return true;
}
