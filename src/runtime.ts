import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createGuards, type Guards } from './ai/guards/guards.ts';
import { withGuards } from './ai/guards/service.ts';
import { bindBreakerGauge, createRouting, type Routing } from './ai/router/wiring.ts';
import { type AiService, createAiService, type EmbedderTarget, type ModelTarget } from './ai/service.ts';
import type { KeelConfig } from './config/schema.ts';
import { KeelError } from './errors.ts';
import { createEvalService, type EvalService } from './eval/service.ts';
import { DEFAULT_TENANT, hashApiKey, issueKey } from './gateway/api-keys.ts';
import { createAuth, type KeyLookupResult, type Principal } from './gateway/auth.ts';
import { createPolicyEngine, type PolicyEngine } from './gateway/policy/index.ts';
import { Pricing } from './gateway/policy/pricing.ts';
import { buildGateway } from './gateway/server.ts';
import type { IngestDocumentInput, IngestService } from './gateway/services.ts';
import { loadNameLexicon } from './guard/pii/names-lexicon.ts';
import type { OpenAICompatibleProvider } from './providers/openai-compatible.ts';
import { buildProviders, type Providers, resolveModel } from './providers/registry.ts';
import type { EmbeddingProvider } from './providers/types.ts';
import { ingestDocuments } from './rag/ingest.ts';
import { formatOf } from './rag/parse/index.ts';
import { retrieve } from './rag/retrieve.ts';
import type { DocumentInput, RagDeps } from './rag/types.ts';
import { openSharedState, type SharedState } from './state/open.ts';
import type { Db } from './store/db.ts';
import { openStore } from './store/open.ts';
import { countActiveAdminKeys, findKeyByHash, touchKeys } from './store/queries/keys.ts';
import { ensureTenant } from './store/queries/tenants.ts';
import type { TelemetryHub } from './telemetry/hub.ts';
import type { KeelMetrics } from './telemetry/metrics.ts';
import { createMonitoring } from './telemetry/monitoring.ts';
import { StoreTraceSink } from './telemetry/trace-sink.ts';
import { UsageLedger } from './telemetry/usage-ledger.ts';
import { tokenizer } from './tokens.ts';

export interface CreateKeelOptions {
  /** A per-process secret accepted as the bootstrap admin (the CLI's `server.json` token). */
  localToken?: string | undefined;
  /** No logging at all (CLI direct mode, tests). */
  quiet?: boolean | undefined;
  /** PostgreSQL schema for Keel's tables (tests use a fresh one each). */
  schema?: string | undefined;
  /** How long `close()` lets in-flight requests finish before cutting connections (default 5000 ms). */
  closeGraceMs?: number | undefined;
}

export interface Keel {
  readonly config: KeelConfig;
  readonly db: Db;
  readonly providers: Providers;
  readonly ai: AiService;
  /** Guard profiles, settings and the known-attack index (src/ai/guards). */
  readonly guards: Guards;
  /** Model routes and the circuit breakers of their targets. */
  readonly routing: Routing;
  /** What `ingestPaths`/`ingestDocuments`/`retrieve` take. */
  readonly rag: RagDeps;
  readonly ledger: UsageLedger;
  readonly traces: StoreTraceSink;
  /** Every finished trace goes through it (metrics, redaction, store, OTLP); `flush()` stores all so far. */
  readonly telemetry: TelemetryHub;
  readonly metrics: KeelMetrics;
  /** Runs eval datasets through apps in this process. */
  readonly evals: EvalService;
  readonly app: FastifyInstance;
  /** Counters, limits and caches: in process, or Redis (`REDIS_URL`) shared by every replica. */
  readonly state: SharedState;
  /** Rate limits, budgets, access rules, residency and answer caches. */
  readonly policy: PolicyEngine;
  /** The default tenant's id. */
  readonly defaultTenantId: string;
  /** Set when this start generated the store's first admin key: print it once, it is not stored. */
  readonly generatedAdminKey: string | undefined;
  /** Starts listening on `config.server`; resolves to the URL (e.g. `http://127.0.0.1:8787`). */
  listen(): Promise<string>;
  /** Stops accepting requests, lets in-flight ones finish (bounded), flushes telemetry, closes the store. */
  close(): Promise<void>;
}

/** How long the pass-through upstream's model list is reused, and how long it may take to answer. */
const MODEL_LIST_TTL_MS = 60_000;
const MODEL_LIST_TIMEOUT_MS = 3_000;

/** The upstream's `/models`, fetched at most once per TTL (concurrent callers share one request). */
function cachedModelList(provider: OpenAICompatibleProvider): () => Promise<string[]> {
  let cached: { at: number; ids: Promise<string[]> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > MODEL_LIST_TTL_MS) {
      const ids = provider.listModels({ signal: AbortSignal.timeout(MODEL_LIST_TIMEOUT_MS) });
      const entry = { at: now, ids };
      // A failed listing is not cached: the next call tries again.
      ids.catch(() => {
        if (cached === entry) cached = undefined;
      });
      cached = entry;
    }
    return cached.ids;
  };
}

/** Key ids seen by auth are marked used in one batched update per interval, off the request path. */
const TOUCH_INTERVAL_MS = 30_000;

/**
 * Makes sure the store has an admin: `config.adminKey` is registered (as an admin of `default`) if
 * its hash is unknown; with no configured key and no active admin key at all, one is generated and
 * returned so `keel serve` can print it once.
 */
async function bootstrapAdmin(db: Db, config: KeelConfig): Promise<string | undefined> {
  if (config.adminKey) {
    if (!(await findKeyByHash(db, hashApiKey(config.adminKey)))) {
      await issueKey(db, { tenant: DEFAULT_TENANT, role: 'admin', name: 'KEEL_ADMIN_KEY' }, config.adminKey);
    }
    return undefined;
  }
  if ((await countActiveAdminKeys(db)) > 0) return undefined;
  const { key } = await issueKey(db, { tenant: DEFAULT_TENANT, role: 'admin', name: 'bootstrap admin' });
  return key;
}

function contentOf(d: IngestDocumentInput): string | Uint8Array {
  return d.content ?? d.text ?? '';
}

/** Maps API documents onto RAG inputs: the id defaults to the URI, the format to the URI's extension, else text. */
function toDocumentInput(d: IngestDocumentInput, i: number): DocumentInput {
  const uri = d.uri ?? d.id ?? d.title ?? `document-${i + 1}`;
  const input: DocumentInput = {
    externalId: d.id ?? uri,
    uri,
    format: d.format ?? formatOf(uri.split('?')[0]?.split('.').pop() ?? '') ?? 'txt',
    content: contentOf(d),
  };
  if (d.title !== undefined) input.title = d.title;
  if (d.metadata !== undefined) input.metadata = d.metadata;
  return input;
}

export async function createKeel(config: KeelConfig, opts: CreateKeelOptions = {}): Promise<Keel> {
  const db = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: opts.schema,
  });
  let providers: Providers | undefined;
  let state: SharedState | undefined;
  try {
    state = await openSharedState({ redisUrl: config.redisUrl, prefix: config.redisPrefix });
    const tenant = await ensureTenant(db, DEFAULT_TENANT);
    const generatedAdminKey = await bootstrapAdmin(db, config);
    providers = buildProviders(config);
    const p = providers;
    const rag: RagDeps = { db, embedder: p.embedder(config.rag.embedder), rag: config.rag };

    // Direct references only; pass-through is the AI service's last resort, after apps and aliases.
    const direct = { ...config, passthroughProvider: undefined };
    const resolveChatModel = (ref: string): ModelTarget | undefined => {
      try {
        const r = resolveModel(ref, direct);
        const provider = p.chat.get(r.provider);
        return provider ? { provider, model: r.model } : undefined;
      } catch (e) {
        if (e instanceof KeelError && e.code === 'model_not_found') return undefined;
        throw e;
      }
    };
    const passthroughId = config.passthroughProvider;
    const resolveEmbedder = (ref: string): EmbedderTarget | undefined => {
      let provider: EmbeddingProvider | undefined;
      try {
        provider = p.embedder(ref);
      } catch (e) {
        if (!(e instanceof KeelError && e.code === 'model_not_found')) throw e;
        const remote = passthroughId ? p.openai.get(passthroughId) : undefined;
        if (!remote) return undefined;
        provider = p.embedder(`${passthroughId}/${ref}`);
      }
      return { provider, model: provider.model };
    };
    const listing = passthroughId ? p.openai.get(passthroughId) : undefined;
    const routing = createRouting(config, p.chat);
    const attemptPricing = new Pricing(config);
    // Guardrails: profiles, and the known-attack index in the store (seeded here, idempotent).
    const guards = await createGuards(config, { db });
    const unguarded = createAiService({
      config,
      resolveChatModel,
      resolveEmbedder,
      passthrough: passthroughId ? p.chat.get(passthroughId) : undefined,
      listPassthroughModels: listing ? cachedModelList(listing) : undefined,
      retrieve: (o) => retrieve(rag, o),
      routes: routing.routes,
      attemptCost: (provider, model, usage) => attemptPricing.costUsd(provider, model, usage),
    });
    const ai = withGuards(unguarded, guards);

    const ledger = new UsageLedger(db);
    // Policy warnings (a failed webhook, a cache that cannot answer) go to the gateway's log once it exists.
    let warn: (msg: string, err?: unknown) => void = () => {};
    const policy = await createPolicyEngine({
      config,
      db,
      state,
      embedder: (ref) => p.embedder(ref),
      pricing: attemptPricing,
      warn: (msg, err) => warn(msg, err),
    });
    const traces = new StoreTraceSink(db);
    const evals = createEvalService({ db, ai, config });
    const monitoring = createMonitoring({ config, db, store: traces, evals });
    bindBreakerGauge(routing.breakers, monitoring.metrics);
    const touched = new Set<string>();
    const localPrincipal: Principal = {
      keyId: null,
      tenantId: tenant.id,
      tenantName: tenant.name,
      userLabel: 'local',
      role: 'admin',
      allowedModels: null,
    };
    const auth = createAuth({
      ttlMs: config.server.keyCacheTtlMs,
      localToken: opts.localToken,
      localPrincipal,
      lookup: async (hash): Promise<KeyLookupResult | null> => {
        const k = await findKeyByHash(db, hash);
        if (!k) return null;
        if (!k.revokedAt) touched.add(k.id);
        return {
          revoked: k.revokedAt !== null,
          principal: {
            keyId: k.id,
            tenantId: k.tenantId,
            tenantName: k.tenantName,
            userLabel: k.userLabel,
            role: k.role,
            allowedModels: k.allowedModels,
          },
        };
      },
    });
    const touchTimer = setInterval(() => {
      if (touched.size === 0) return;
      const ids = [...touched];
      touched.clear();
      touchKeys(db, ids).catch(() => undefined);
    }, TOUCH_INTERVAL_MS);
    touchTimer.unref();

    const ingest: IngestService = {
      ingest: ({ tenantId, collection, documents, signal }) =>
        ingestDocuments(rag, { tenantId, collection, signal, documents: documents.map(toDocumentInput) }),
      search: ({ collection, ...opts }) => retrieve(rag, { ...opts, collections: [collection] }),
    };
    const app = buildGateway(
      {
        config,
        db,
        auth,
        ai,
        ledger,
        traces: monitoring.hub,
        ingest,
        monitoring: monitoring.service,
        routing,
        guard: guards.registry,
        policy,
      },
      { logger: !opts.quiet },
    );
    warn = (msg, err) => app.log.warn({ err }, msg);
    const sharedState = state;

    let closing: Promise<void> | undefined;
    const graceMs = opts.closeGraceMs ?? 5_000;
    return {
      config,
      db,
      providers: p,
      ai,
      guards,
      routing,
      rag,
      ledger,
      traces,
      telemetry: monitoring.hub,
      metrics: monitoring.metrics,
      evals,
      app,
      state: sharedState,
      policy,
      defaultTenantId: tenant.id,
      generatedAdminKey,
      async listen() {
        // Built on first use so that CLI commands never pay for them; a server should not make its first
        // request pay either (every request counts tokens; traces mask PII in every captured input).
        loadNameLexicon();
        tokenizer();
        await app.listen({ host: config.server.host, port: config.server.port });
        const addr = app.server.address() as AddressInfo;
        const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        return `http://${host}:${addr.port}`;
      },
      close() {
        closing ??= (async () => {
          clearInterval(touchTimer);
          const grace = setTimeout(() => app.server.closeAllConnections?.(), graceMs);
          try {
            await app.close();
          } finally {
            clearTimeout(grace);
          }
          await ledger.close();
          await policy.close();
          await sharedState.close();
          await monitoring.close();
          await traces.close();
          if (touched.size > 0) await touchKeys(db, [...touched]).catch(() => undefined);
          await p.closeAll();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    await providers?.closeAll();
    await state?.close();
    await db.close();
    throw e;
  }
}
