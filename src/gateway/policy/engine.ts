import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { AnswerCache, CachedAnswer, CachePlan } from '../../ai/cache/index.ts';
import type { ChatParams } from '../../ai/pipeline.ts';
import type { ChatTarget } from '../../ai/service.ts';
import type { KeelConfig } from '../../config/schema.ts';
import { KeelError } from '../../errors.ts';
import type { ChatMessage, Usage } from '../../providers/types.ts';
import type { BudgetLine, BudgetState, RateCheck, SharedState, SlotRequest } from '../../state/types.ts';
import type { Db } from '../../store/db.ts';
import {
  costOf,
  countChatTokens,
  countTextTokens,
  maxTokensWithin,
  ratesFor,
  usdToMicros,
  worstCaseCost,
} from '../../telemetry/cost.ts';
import type { TokenPrice } from '../../telemetry/prices.ts';
import type { Attributes } from '../../telemetry/types.ts';
import type { RequestAccount } from '../accounting.ts';
import type { Principal } from '../auth.ts';
import { PolicyBook } from './book.ts';
import {
  budgetExceeded,
  notAllowedForTenant,
  rateLimited,
  requestTooExpensive,
  tooManyConcurrent,
} from './errors.ts';
import { setRateHeaders } from './headers.ts';
import { BudgetNotifier } from './notify.ts';
import type { Pricing } from './pricing.ts';
import { checkResidency, embedderQualifies } from './residency.ts';
import { BudgetSeeder } from './seed.ts';
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
  messages: ChatMessage[];
  /** May be changed: a clamped `max_tokens` is written here. */
  params: ChatParams;
  headers: IncomingHttpHeaders;
  signal: AbortSignal;
}

export type Admission =
  | { kind: 'cached'; answer: CachedAnswer; outcome: 'hit' | 'semantic-hit' }
  /** Go ahead; a pinned request carries its regions to the router. */
  | { kind: 'go'; regions: readonly string[] | undefined };

/** Below this many output tokens, a budget clamp would only produce a useless answer: reject instead. */
const MIN_OUTPUT_TOKENS = 16;
const MAX_ADMIT_ATTEMPTS = 3;

function maxTokensOf(p: ChatParams): number | undefined {
  const extra = p.extra?.max_completion_tokens;
  return p.max_tokens ?? (typeof extra === 'number' ? extra : undefined);
}

function setMaxTokens(p: ChatParams, n: number): void {
  if (p.max_tokens === undefined && typeof p.extra?.max_completion_tokens === 'number') {
    p.extra.max_completion_tokens = n;
  } else p.max_tokens = n;
}

function bypassesCache(h: IncomingHttpHeaders): boolean {
  const cc = h['cache-control'];
  return typeof cc === 'string' && /\bno-(cache|store)\b/i.test(cc);
}

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

  async admitChat(acct: RequestAccount, reply: FastifyReply, input: AdmitChatInput): Promise<Admission> {
    const { config, state } = this.#deps;
    const p = acct.principal;
    const t = input.target;
    const app = t.kind === 'app' ? t.name : null;
    const pol = this.book.resolve(p, app);
    if (pol.allowedModels && !pol.allowedModels.includes(acct.model))
      throw notAllowedForTenant(p.tenantName, acct.model);
    if (pol.regions) checkResidency(config, t, pol.regions, pol.regionsBy);

    const plan = this.#cachePlan(acct, pol, app, input);
    if (plan) {
      const hit = await this.#lookup(acct, reply, plan, input.signal);
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

  #cachePlan(
    acct: RequestAccount,
    pol: ResolvedPolicy,
    app: string | null,
    input: AdmitChatInput,
  ): CachePlan | undefined {
    const cache = this.#deps.cache;
    if (!cache?.applies(app) || bypassesCache(input.headers)) return undefined;
    const semanticAllowed =
      !pol.regions || embedderQualifies(this.#deps.config, cache.embedderRef, pol.regions);
    return cache.plan({
      tenantId: acct.principal.tenantId,
      model: acct.model,
      app,
      messages: input.messages,
      params: input.params,
      semanticAllowed,
    });
  }

  async #lookup(
    acct: RequestAccount,
    reply: FastifyReply,
    plan: CachePlan,
    signal: AbortSignal,
  ): Promise<Admission | undefined> {
    let found: Awaited<ReturnType<AnswerCache['lookup']>>;
    try {
      found = await this.#deps.cache!.lookup(plan, signal);
    } catch (e) {
      // A cache that cannot answer is a miss, not a failed request.
      this.#deps.warn('cache lookup failed', e);
      found = { outcome: 'miss', answer: undefined };
    }
    reply.header('x-keel-cache', found.outcome);
    acct.attributes.cache = found.outcome;
    if (found.similarity !== undefined)
      acct.attributes.cache_similarity = Number(found.similarity.toFixed(4));
    if (!found.answer || found.outcome === 'miss') return undefined;
    return { kind: 'cached', answer: found.answer, outcome: found.outcome };
  }

  #promptTokens(t: ChatTarget, input: AdmitChatInput): number {
    const { params } = input;
    let n = countChatTokens(input.messages, {
      model: t.target.model,
      tools: params.tools,
      toolChoice: params.tool_choice,
    });
    // An app adds its system prompt and up to `contextTokens` of retrieved sources to the prompt.
    if (t.kind === 'app')
      n += t.app.contextTokens + countTextTokens(t.app.systemPrompt ?? '', t.target.model) + 64;
    return n;
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
    const promptTokens = pol.tpm.length > 0 || price !== null ? this.#promptTokens(t, input) : 0;
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

  /**
   * Rate limits, concurrency slots and the budget hold in one atomic `admit`; budget counters found
   * missing are rebuilt from the ledger and the call retried. When a budget has less left than
   * `amount`, `shortOf(left)` may offer a smaller hold once (or refuse with undefined).
   */
  async #take(
    reply: FastifyReply,
    attrs: Attributes,
    pol: ResolvedPolicy,
    tokens: number,
    amount: number,
    shortOf: (left: number) => number | undefined,
  ): Promise<Omit<TicketInit, 'cache'>> {
    const { config, state } = this.#deps;
    const leaseMs = config.policy.leaseMs;
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
          this.notifier.exceeded(rule, r.hold!.reservation.keys[i]!, r.hold!.remaining[i] ?? 0);
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
        throw rateLimited(
          rule,
          r.rate[r.index]!,
          isRequests ? 'requests' : 'tokens',
          isRequests ? 1 : tokens,
        );
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
        await this.#seeder.seed(b.missing.map((i) => pol.budgets[i]!));
        continue;
      }
      const smaller = shortOf(b.limit - b.spent - b.reserved);
      if (smaller === undefined) throw budgetExceeded(pol.budgets[b.index], b);
      hold = smaller;
    }
  }

  /**
   * `POST /v1/embeddings`: the same tenant allow-list, residency, rate limits, slots and budget
   * hold (input tokens at the embedder's price) as chat. Resolves to what settles it: call with the
   * usage once the embedder answered (undefined when it failed); it returns the cost in USD.
   */
  async admitEmbeddings(
    p: Principal,
    reply: FastifyReply,
    input: {
      model: string;
      provider: string;
      upstreamModel: string;
      texts: readonly string[];
      attributes: Attributes;
    },
  ): Promise<(promptTokens: number | undefined) => Promise<number>> {
    const { config, pricing } = this.#deps;
    const pol = this.book.resolve(p, null);
    if (pol.allowedModels && !pol.allowedModels.includes(input.model))
      throw notAllowedForTenant(p.tenantName, input.model);
    if (pol.regions && !embedderQualifies(config, `${input.provider}/${input.upstreamModel}`, pol.regions)) {
      throw new KeelError(
        'permission_denied',
        `Data residency: ${pol.regionsBy} is pinned to region(s) ${pol.regions.join(', ')}, and embedder ` +
          `'${input.model}' (${input.provider}) is not there; the request was not sent anywhere`,
        { param: 'model' },
      );
    }
    const cost = (tokens: number) =>
      pricing.costUsd(input.provider, input.upstreamModel, {
        promptTokens: tokens,
        completionTokens: 0,
        totalTokens: tokens,
      });
    if (pol.idle) return async (tokens) => (tokens === undefined ? 0 : cost(tokens));
    let tokens = 0;
    if (pol.tpm.length > 0 || pol.budgets.length > 0) {
      for (const text of input.texts) tokens += countTextTokens(text, input.upstreamModel);
    }
    const amount = pol.budgets.length > 0 ? Math.max(1, usdToMicros(cost(tokens), 'up')) : 0;
    const held = await this.#take(reply, input.attributes, pol, tokens, amount, () => undefined);
    const ticket = new PolicyTicket(this.#tickets, { ...held, cache: undefined });
    return async (used) => {
      const costUsd = used === undefined ? 0 : cost(used);
      const usage =
        used === undefined ? undefined : { promptTokens: used, completionTokens: 0, totalTokens: used };
      await ticket.finish(
        used === undefined ? 'error' : 'ok',
        { costUsd, usage, run: undefined, completion: '', finishReason: undefined, hasToolCalls: false },
        used !== undefined,
      );
      return costUsd;
    };
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
