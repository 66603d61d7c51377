import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { AnswerCache, CachedAnswer, CachePlan } from '../../ai/cache/index.ts';
import type { ChatParams } from '../../ai/pipeline.ts';
import type { ChatTarget } from '../../ai/service.ts';
import type { KeelConfig } from '../../config/schema.ts';
import type { ChatMessage, Usage } from '../../providers/types.ts';
import type { BudgetState, SharedState } from '../../state/types.ts';
import type { Db } from '../../store/db.ts';
import { costOf, maxTokensWithin, ratesFor, usdToMicros, worstCaseCost } from '../../telemetry/cost.ts';
import type { TokenPrice } from '../../telemetry/prices.ts';
import type { Attributes } from '../../telemetry/types.ts';
import type { RequestAccount } from '../accounting.ts';
import type { Principal } from '../auth.ts';
import { PolicyBook } from './book.ts';
import { lookupCache, planCache } from './cache-step.ts';
import { countPrompt, maxTokensOf, setMaxTokens } from './chat-input.ts';
import { admitEmbeddings, type EmbeddingsInput, type SettleEmbeddings } from './embeddings.ts';
import { notAllowedForTenant, rateLimited, requestTooExpensive } from './errors.ts';
import { setRateHeaders } from './headers.ts';
import { BudgetNotifier } from './notify.ts';
import type { Pricing } from './pricing.ts';
import { checkResidency } from './residency.ts';
import { BudgetSeeder } from './seed.ts';
import { takeLimits } from './take.ts';
import { PolicyTicket, type TicketDeps, type TicketInit } from './ticket.ts';
import type { BudgetRule, ResolvedPolicy } from './types.ts';
import { StreamWatch } from './watch.ts';

export interface PolicyDeps {
  config: KeelConfig;
  db: Db;
  state: SharedState;
  pricing: Pricing;
  cache: AnswerCache | undefined;
  warn(msg: string, err?: unknown): void;
}

export interface AdmitChatInput {
  target: ChatTarget;
  /** What `checkChatAccess` resolved for this request (checked once, before the guardrails). */
  access: ResolvedPolicy;
  messages: ChatMessage[];
  /** May be changed: a clamped `max_tokens` is written here. */
  params: ChatParams;
  headers: IncomingHttpHeaders;
  signal: AbortSignal;
  /** The input guardrails redacted something: no answer cache is read or written. */
  uncacheable?: boolean | undefined;
}

export type Admission =
  | { kind: 'cached'; answer: CachedAnswer; outcome: 'hit' | 'semantic-hit' }
  /** Go ahead; a pinned request carries its regions to the router. */
  | { kind: 'go'; regions: readonly string[] | undefined };

/** Below this many output tokens, a budget clamp would only produce a useless answer: reject instead. */
const MIN_OUTPUT_TOKENS = 16;

/**
 * The gateway's policy chain for one chat request, in order: tenant allow-list, data residency,
 * answer cache, per-request cost cap, then rate limits + concurrency + budget hold in one atomic
 * SharedState call (`admit`). Rejections throw a `KeelError` (rate-limit headers already on the
 * reply) and charge nothing. An admitted request leaves a `PolicyTicket` (and, when streaming, a
 * `StreamWatch`) on its account; `RequestAccount.commit` settles it.
 */
export class PolicyEngine {
  readonly book: PolicyBook;
  readonly notifier: BudgetNotifier;
  readonly #deps: PolicyDeps;
  readonly #tickets: TicketDeps;
  readonly #seeder: BudgetSeeder;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: PolicyDeps) {
    this.#deps = deps;
    this.book = new PolicyBook(deps.config.policy, deps.db);
    this.notifier = new BudgetNotifier(deps.state, deps.warn);
    this.#seeder = new BudgetSeeder(deps.db, deps.state);
    this.#tickets = {
      state: deps.state,
      leaseMs: deps.config.policy.leaseMs,
      notifier: this.notifier,
      cache: deps.cache,
      warn: deps.warn,
      live: new Set(),
    };
  }

  async start(): Promise<void> {
    await this.book.start();
    const every = Math.max(250, Math.floor(this.#tickets.leaseMs / 3));
    this.#timer = setInterval(() => this.#renew(every), every);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.book.stop();
    clearInterval(this.#timer);
    await this.notifier.flush();
  }

  get state(): SharedState {
    return this.#deps.state;
  }

  get pricing(): Pricing {
    return this.#deps.pricing;
  }

  /** Tickets in flight (for tests and metrics). */
  get inFlight(): number {
    return this.#tickets.live.size;
  }

  costUsd(provider: string | null, model: string, usage: Usage): number {
    return this.#deps.pricing.costUsd(provider, model, usage);
  }

  #renew(olderThanMs: number): void {
    const cutoff = Date.now() - olderThanMs;
    for (const t of this.#tickets.live) {
      if (t.bornAt <= cutoff) t.renew().catch((e: unknown) => this.#deps.warn('renewing a lease failed', e));
    }
  }

  /**
   * The tenant's allow-list and data residency for a chat request, alone: the gateway checks them
   * before anything costly (guardrails, caches, limits). Returns the resolved policy, which
   * `admitChat` then takes as `access`.
   */
  checkChatAccess(acct: RequestAccount, t: ChatTarget): ResolvedPolicy {
    const p = acct.principal;
    const pol = this.book.resolve(p, t.kind === 'app' ? t.name : null);
    if (pol.allowedModels && !pol.allowedModels.includes(acct.model))
      throw notAllowedForTenant(p.tenantName, acct.model);
    if (pol.regions) checkResidency(this.#deps.config, t, pol.regions, pol.regionsBy);
    return pol;
  }

  /**
   * Refuses, changing nothing, a chat request whose caller is already over a requests-per-minute
   * limit. The gateway asks before the input guardrails, whose scanners cost far more than this
   * check, so a client past its limit cannot make Keel scan its flood; `admitChat` still takes the
   * limits (and the rest) atomically afterwards.
   */
  async refuseOverRate(reply: FastifyReply, pol: ResolvedPolicy): Promise<void> {
    if (pol.rpm.length === 0) return;
    const checks = pol.rpm.map((r) => ({ key: r.key, cost: 1, rule: r.rule }));
    const r = await this.#deps.state.checkRates(checks);
    if (r.allowed) return;
    setRateHeaders(reply, r.results, checks.length);
    throw rateLimited(pol.rpm[r.denied]!, r.results[r.denied]!, 'requests', 1);
  }

  async admitChat(acct: RequestAccount, reply: FastifyReply, input: AdmitChatInput): Promise<Admission> {
    const { state } = this.#deps;
    const t = input.target;
    const app = t.kind === 'app' ? t.name : null;
    const pol = input.access;

    const plan = this.#deps.cache
      ? planCache(this.#deps.cache, this.#deps.config, acct, pol, app, input)
      : undefined;
    if (plan) {
      const hit = await lookupCache(this.#deps.cache!, this.#deps.warn, acct, reply, plan, input.signal);
      if (hit) {
        // A hit costs nothing and holds nothing, but it is still a request.
        if (pol.rpm.length > 0) {
          const rate = pol.rpm.map((r) => ({ key: r.key, cost: 1, rule: r.rule }));
          const r = await state.admit({ rate });
          setRateHeaders(reply, r.rate, rate.length);
          if (!r.ok && r.denied === 'rate')
            throw rateLimited(pol.rpm[r.index]!, r.rate[r.index]!, 'requests', 1);
        }
        return hit;
      }
    }
    if (pol.idle) {
      if (plan) {
        const ticket = new PolicyTicket(this.#tickets, { tpm: [], leases: [], hold: undefined, cache: plan });
        acct.policy = ticket;
        if (acct.stream) acct.watch = new StreamWatch(acct, ticket, undefined);
      }
      return { kind: 'go', regions: pol.regions };
    }
    return this.#admit(acct, reply, input, pol, plan);
  }

  async #admit(
    acct: RequestAccount,
    reply: FastifyReply,
    input: AdmitChatInput,
    pol: ResolvedPolicy,
    plan: CachePlan | undefined,
  ): Promise<Admission> {
    const { config, pricing } = this.#deps;
    const cfg = config.policy;
    const t = input.target;
    const price: TokenPrice | null = pol.budgets.length > 0 || pol.requestCap ? pricing.priceFor(t) : null;
    const promptTokens =
      pol.tpm.length > 0 || price !== null ? countPrompt(t, input.messages, input.params) : 0;
    const rates = price ? ratesFor(price, promptTokens) : undefined;
    const clientMax = maxTokensOf(input.params);
    let maxTokens = clientMax ?? cfg.defaultMaxTokens;

    const cap = pol.requestCap;
    if (cap && price) {
      const worst = worstCaseCost(promptTokens, maxTokens, price);
      if (worst > cap.maxUsd) {
        const fit = maxTokensWithin(cap.maxUsd, promptTokens, price);
        if (cap.mode !== 'clamp' || fit < 1) {
          throw requestTooExpensive(
            worst,
            cap.maxUsd,
            promptTokens,
            maxTokens,
            t.name,
            clientMax !== undefined,
          );
        }
        maxTokens = fit;
        setMaxTokens(input.params, fit);
        reply.header('x-keel-max-tokens-clamped', String(fit));
        acct.attributes.max_tokens_clamped = fit;
      }
    }

    let amount = 0;
    if (pol.budgets.length > 0) {
      // A stream holds one step of output and grows the hold as it goes; a JSON answer, its worst case.
      const out = acct.stream ? Math.min(maxTokens, cfg.reserveStepTokens) : maxTokens;
      amount = Math.max(
        1,
        price ? usdToMicros(costOf({ promptTokens, completionTokens: out }, price), 'up') : 0,
      );
    }
    let clamped = false;
    const held = await this.#take(reply, acct.attributes, pol, promptTokens, amount, (left) => {
      // Not enough left for the whole hold: when enough is left for a useful answer, take that.
      const fit =
        rates && rates.output > 0 ? Math.floor((left - promptTokens * rates.input) / rates.output) : 0;
      if (clamped || fit < MIN_OUTPUT_TOKENS) return undefined;
      clamped = true;
      if (!acct.stream) {
        const n = Math.min(fit, maxTokens);
        setMaxTokens(input.params, n);
        reply.header('x-keel-max-tokens-clamped', String(n));
        acct.attributes.max_tokens_clamped = n;
      }
      return left;
    });
    const ticket = new PolicyTicket(this.#tickets, { ...held, cache: plan });
    acct.policy = ticket;
    const watchBudget = held.hold && rates && rates.output > 0;
    if (acct.stream && (watchBudget || plan)) {
      acct.watch = new StreamWatch(
        acct,
        ticket,
        watchBudget
          ? {
              model: t.target.model,
              promptTokens,
              inRate: rates.input,
              outRate: rates.output,
              stepMicros: Math.ceil(cfg.reserveStepTokens * rates.output),
            }
          : undefined,
      );
    }
    return { kind: 'go', regions: pol.regions };
  }

  #take(
    reply: FastifyReply,
    attrs: Attributes,
    pol: ResolvedPolicy,
    tokens: number,
    amount: number,
    shortOf: (left: number) => number | undefined,
  ): Promise<Omit<TicketInit, 'cache'>> {
    const d = {
      state: this.#deps.state,
      leaseMs: this.#tickets.leaseMs,
      notifier: this.notifier,
      seeder: this.#seeder,
    };
    return takeLimits(d, reply, attrs, pol, tokens, amount, shortOf);
  }

  /**
   * `POST /v1/embeddings`: the same tenant allow-list, residency, rate limits, slots and budget
   * hold (input tokens at the embedder's price) as chat. Resolves to what settles it: call with the
   * usage once the embedder answered (undefined when it failed); it returns the cost in USD.
   */
  admitEmbeddings(p: Principal, reply: FastifyReply, input: EmbeddingsInput): Promise<SettleEmbeddings> {
    return admitEmbeddings(
      {
        config: this.#deps.config,
        pricing: this.#deps.pricing,
        pol: this.book.resolve(p, null),
        tenant: p.tenantName,
        take: (pol, tokens, amount) =>
          this.#take(reply, input.attributes, pol, tokens, amount, () => undefined),
        ticket: (held) => new PolicyTicket(this.#tickets, { ...held, cache: undefined }),
      },
      input,
    );
  }

  /** Where budgets stand now (counters missing from SharedState are rebuilt from the ledger first). */
  async budgetStates(rules: readonly BudgetRule[]): Promise<BudgetState[]> {
    const { state } = this.#deps;
    const read = () => Promise.all(rules.map((r) => state.getBudget({ key: r.key, window: r.window })));
    let states = await read();
    const missing = rules.filter((_, i) => states[i] === null);
    if (missing.length > 0) {
      await this.#seeder.seed(missing);
      states = await read();
    }
    return states.map((s) => s ?? { spent: 0, reserved: 0 });
  }

  /** Rebuilds budget counters from the ledger for subjects named in config or stored policies. */
  seedKnown(): Promise<void> {
    return this.#seeder.seedKnown(this.book, this.#deps.config);
  }
}
