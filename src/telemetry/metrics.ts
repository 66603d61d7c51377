import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Keel's Prometheus metrics, on a registry of their own (never prom-client's global one, so two
 * gateways in one process, or tests, do not share counters). Label values are bounded: apps and
 * models outside the configured sets, and any label past its budget of distinct values, are
 * reported as `other`; user ids and key ids are never labels.
 */

export interface MetricsOptions {
  /** App names from config. Unset: the first `maxDynamicValues` distinct apps seen are kept. */
  apps?: readonly string[] | undefined;
  /** Model names clients may ask for (public names, `provider/model` routes). Unset: dynamic, as apps. */
  models?: readonly string[] | undefined;
  /** Budget of distinct values for labels without a known set (default 32). */
  maxDynamicValues?: number | undefined;
  /** Process metrics (CPU, memory, event-loop lag, GC) under the same prefix (default true). */
  processMetrics?: boolean | undefined;
  /** Metric name prefix (default `keel_`). */
  prefix?: string | undefined;
}

export interface RequestObservation {
  app?: string | null | undefined;
  /** The model name the client asked for (or the app's route). */
  model?: string | null | undefined;
  /** `ok`, `error` or `aborted`. */
  status: string;
  /** The error code (`KeelError.code`) when status is not ok. */
  code?: string | null | undefined;
  latencyMs: number;
  /** Streamed requests only. */
  ttftMs?: number | null | undefined;
  promptTokens?: number | null | undefined;
  completionTokens?: number | null | undefined;
  costUsd?: number | null | undefined;
  /** Set when a response cache was consulted. */
  cacheHit?: boolean | null | undefined;
}

export type BreakerState = 'closed' | 'half_open' | 'open';

export const OTHER = 'other';
export const NONE = 'none';
const STATUSES = ['ok', 'error', 'aborted'];
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/**
 * Maps label values into a bounded set: a fixed set when known, else the first `budget` distinct
 * values. Missing values become `none`, the rest `other`.
 */
export class LabelCap {
  #known: Set<string> | undefined;
  readonly #seen = new Set<string>();
  readonly #budget: number;

  constructor(known: readonly string[] | undefined, budget: number) {
    this.#known = known ? new Set(known) : undefined;
    this.#budget = budget;
  }

  setKnown(known: readonly string[] | undefined): void {
    this.#known = known ? new Set(known) : undefined;
  }

  map(value: string | null | undefined): string {
    if (value === undefined || value === null || value === '') return NONE;
    if (this.#known) return this.#known.has(value) ? value : OTHER;
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#budget) return OTHER;
    this.#seen.add(value);
    return value;
  }
}

/** Request observations of one (app, model) since the last scrape. */
interface Pending {
  app: string;
  model: string;
  /** Count per `status\0code`. */
  requests: Map<string, number>;
  latency: number[];
  ttft: number[];
  prompt: number;
  completion: number;
  cost: number;
}

/** Observations held before they are folded in early (bounds memory between scrapes). */
const MAX_BUFFERED = 50_000;

export class KeelMetrics {
  readonly registry = new Registry();
  readonly #apps: LabelCap;
  readonly #models: LabelCap;
  readonly #codes: LabelCap;
  readonly #statuses: LabelCap;
  readonly #findings: LabelCap;
  readonly #targets: LabelCap;
  readonly #caches: LabelCap;
  readonly #requests: Counter<'app' | 'model' | 'status' | 'code'>;
  readonly #latency: Histogram<'app' | 'model'>;
  readonly #ttft: Histogram<'app' | 'model'>;
  readonly #tokens: Counter<'app' | 'model' | 'kind'>;
  readonly #cost: Counter<'app' | 'model'>;
  readonly #cache: Counter<'cache' | 'result'>;
  readonly #guard: Counter<'type'>;
  readonly #breaker: Gauge<'target'>;
  /**
   * prom-client hashes the label set on every `inc`/`observe` (about 0.2-0.5 µs each, six per
   * request); requests are instead tallied here in plain maps and folded into prom-client when
   * the registry is read, off the request path.
   */
  readonly #pending = new Map<string, Pending>();
  #buffered = 0;

  constructor(opts: MetricsOptions = {}) {
    const budget = opts.maxDynamicValues ?? 32;
    const p = opts.prefix ?? 'keel_';
    this.#apps = new LabelCap(opts.apps, budget);
    this.#models = new LabelCap(opts.models, budget);
    this.#codes = new LabelCap(undefined, budget);
    this.#statuses = new LabelCap(STATUSES, budget);
    this.#findings = new LabelCap(undefined, budget);
    this.#targets = new LabelCap(undefined, budget);
    this.#caches = new LabelCap(undefined, 8);
    const registers = [this.registry];
    // Every read of the registry (metrics(), getMetricsAsJSON(), ...) first folds in what is tallied.
    const collect = () => this.#fold();
    this.#requests = new Counter({
      name: `${p}requests_total`,
      collect,
      help: 'Model requests by app, requested model, outcome and error code.',
      labelNames: ['app', 'model', 'status', 'code'],
      registers,
    });
    this.#latency = new Histogram({
      name: `${p}request_duration_seconds`,
      collect,
      help: 'Time from request received to the last byte of the response.',
      labelNames: ['app', 'model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#ttft = new Histogram({
      name: `${p}time_to_first_token_seconds`,
      collect,
      help: 'Time from request received to the first streamed token.',
      labelNames: ['app', 'model'],
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.#tokens = new Counter({
      name: `${p}tokens_total`,
      collect,
      help: 'Tokens by kind (prompt, completion).',
      labelNames: ['app', 'model', 'kind'],
      registers,
    });
    this.#cost = new Counter({
      name: `${p}cost_usd_total`,
      collect,
      help: 'Cost of model requests in US dollars.',
      labelNames: ['app', 'model'],
      registers,
    });
    this.#cache = new Counter({
      name: `${p}cache_lookups_total`,
      help: 'Cache lookups by cache and result (hit, miss).',
      labelNames: ['cache', 'result'],
      registers,
    });
    this.#guard = new Counter({
      name: `${p}guard_findings_total`,
      help: 'Guard findings by type.',
      labelNames: ['type'],
      registers,
    });
    this.#breaker = new Gauge({
      name: `${p}circuit_breaker_state`,
      help: 'Circuit breaker state per provider target: 0 closed, 1 half-open, 2 open.',
      labelNames: ['target'],
      registers,
    });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: p });
  }

  /** Records one finished model request. Cheap enough for the end of every request. */
  observeRequest(o: RequestObservation): void {
    const app = this.#apps.map(o.app);
    const model = this.#models.map(o.model);
    const status = this.#statuses.map(o.status);
    const code = status === 'ok' ? NONE : this.#codes.map(o.code);
    const key = `${app}\u0000${model}`;
    let p = this.#pending.get(key);
    if (!p) {
      p = { app, model, requests: new Map(), latency: [], ttft: [], prompt: 0, completion: 0, cost: 0 };
      this.#pending.set(key, p);
    }
    const outcome = `${status}\u0000${code}`;
    p.requests.set(outcome, (p.requests.get(outcome) ?? 0) + 1);
    if (Number.isFinite(o.latencyMs)) p.latency.push(o.latencyMs / 1000);
    if (typeof o.ttftMs === 'number' && Number.isFinite(o.ttftMs)) p.ttft.push(o.ttftMs / 1000);
    if (o.promptTokens) p.prompt += o.promptTokens;
    if (o.completionTokens) p.completion += o.completionTokens;
    if (o.costUsd) p.cost += o.costUsd;
    if (++this.#buffered >= MAX_BUFFERED) this.#fold();
    if (typeof o.cacheHit === 'boolean') this.observeCache('response', o.cacheHit);
  }

  observeCache(cache: string, hit: boolean): void {
    this.#cache.inc({ cache: this.#caches.map(cache), result: hit ? 'hit' : 'miss' });
  }

  /** Counts guard findings by type (`PERSON`, `PROMPT_INJECTION`, ...). */
  observeGuardFindings(findings: readonly { type: string }[]): void {
    for (const f of findings) this.#guard.inc({ type: this.#findings.map(f.type) });
  }

  setBreakerState(target: string, state: BreakerState): void {
    this.#breaker.set({ target: this.#targets.map(target) }, BREAKER_VALUE[state]);
  }

  /** After a config reload: new known apps/models (counters of removed ones stay until restart). */
  setKnownLabels(known: {
    apps?: readonly string[] | undefined;
    models?: readonly string[] | undefined;
  }): void {
    if ('apps' in known) this.#apps.setKnown(known.apps);
    if ('models' in known) this.#models.setKnown(known.models);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for `GET /metrics`. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Moves the tallied request observations into the prom-client metrics. */
  #fold(): void {
    this.#buffered = 0;
    for (const p of this.#pending.values()) {
      const labels = { app: p.app, model: p.model };
      for (const [outcome, n] of p.requests) {
        const [status, code] = outcome.split('\u0000') as [string, string];
        this.#requests.inc({ ...labels, status, code }, n);
      }
      for (const v of p.latency) this.#latency.observe(labels, v);
      for (const v of p.ttft) this.#ttft.observe(labels, v);
      if (p.prompt) this.#tokens.inc({ ...labels, kind: 'prompt' }, p.prompt);
      if (p.completion) this.#tokens.inc({ ...labels, kind: 'completion' }, p.completion);
      if (p.cost) this.#cost.inc(labels, p.cost);
    }
    this.#pending.clear();
  }
}

export function createMetrics(opts: MetricsOptions = {}): KeelMetrics {
  return new KeelMetrics(opts);
}
