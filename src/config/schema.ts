import { z } from 'zod';
import {
  GUARD_SETTINGS_DEFAULTS,
  GuardProfileBodySchema,
  GuardRefSchema,
  GuardSettingsSchema,
  ProfileNameSchema,
  undefinedProfiles,
} from '../guard/profile-config.ts';
import { applyPreset, PRESET_NAMES } from '../providers/presets.ts';

/** Timeouts for one upstream call; all in milliseconds. */
export const TimeoutsSchema = z
  .object({
    connectMs: z.number().int().positive().default(5_000),
    /** Until the response headers / first streamed byte arrive. */
    firstByteMs: z.number().int().positive().default(60_000),
    totalMs: z.number().int().positive().default(600_000),
  })
  .strict();

const DEFAULT_TIMEOUTS = { connectMs: 5_000, firstByteMs: 60_000, totalMs: 600_000 };
/** Where a provider runs (e.g. `eu`, `us-east`), for routes that must keep data in a region. */
const Region = z.string().min(1).optional();

/**
 * Provider instances by kind. An `openai-compatible` provider may name a `preset`
 * (`src/providers/presets.ts`: vllm, ollama, llama-cpp-server, groq, ...) that fills `baseUrl`,
 * `auth` and `unsupportedParams`; settings written out win.
 */
export const ProviderSchema = z.preprocess(
  applyPreset,
  z.discriminatedUnion('type', [
    z
      .object({
        type: z.literal('openai-compatible'),
        baseUrl: z.string().url(),
        apiKey: z.string().optional(),
        headers: z.record(z.string(), z.string()).default({}),
        timeouts: TimeoutsSchema.default(DEFAULT_TIMEOUTS),
        /** Max pooled keep-alive connections to this upstream. */
        connections: z.number().int().positive().default(128),
        preset: z.enum(PRESET_NAMES).optional(),
        /** How `apiKey` is sent (default `bearer`). */
        auth: z.enum(['bearer', 'api-key', 'x-api-key', 'none']).optional(),
        /** Request parameters this server rejects; dropped before sending. */
        unsupportedParams: z.array(z.string().min(1)).optional(),
        /** Whether to ask for `stream_options.include_usage` (default true). */
        includeUsage: z.boolean().optional(),
        region: Region,
      })
      .strict(),
    z.object({ type: z.literal('extractive') }).strict(),
    z
      .object({ type: z.literal('hashing'), dimensions: z.number().int().min(8).max(2000).default(512) })
      .strict(),
    z
      .object({
        type: z.literal('anthropic'),
        baseUrl: z.string().url().default('https://api.anthropic.com'),
        apiKey: z.string().optional(),
        /** The `anthropic-version` header. */
        version: z.string().min(1).default('2023-06-01'),
        /** `anthropic-beta` feature flags. */
        betas: z.array(z.string().min(1)).default([]),
        headers: z.record(z.string(), z.string()).default({}),
        timeouts: TimeoutsSchema.default(DEFAULT_TIMEOUTS),
        connections: z.number().int().positive().default(128),
        /** `max_tokens` when a request sets none (Anthropic requires one). */
        maxTokens: z.number().int().positive().default(4_096),
        region: Region,
      })
      .strict(),
    z
      .object({
        type: z.literal('azure-openai'),
        /** The resource endpoint, e.g. `https://my-resource.openai.azure.com`. */
        endpoint: z.string().url(),
        apiKey: z.string().optional(),
        apiVersion: z.string().min(1).default('2024-10-21'),
        /** Path of a deployment; `{deployment}` is replaced by the deployment name. */
        deploymentPath: z
          .string()
          .startsWith('/')
          .includes('{deployment}')
          .default('/openai/deployments/{deployment}'),
        /** Model name → deployment name; a model not listed is used as the deployment name. */
        deployments: z.record(z.string().min(1), z.string().min(1)).default({}),
        headers: z.record(z.string(), z.string()).default({}),
        timeouts: TimeoutsSchema.default(DEFAULT_TIMEOUTS),
        connections: z.number().int().positive().default(128),
        region: Region,
      })
      .strict(),
    z
      .object({
        type: z.literal('llama-cpp'),
        /** A local GGUF file (chat or embedding model). */
        modelPath: z.string().min(1),
        contextSize: z.number().int().min(16).default(2_048),
        /** CPU threads; more threads than free cores makes ggml spin, so the default is 1. */
        threads: z.number().int().min(1).default(1),
        gpu: z.boolean().default(false),
        /** Concurrent generations (context sequences). */
        parallel: z.number().int().min(1).max(64).default(1),
        /** Tokens generated when a request sets no `max_tokens`. */
        maxTokens: z.number().int().positive().default(512),
        region: Region,
      })
      .strict(),
    z
      .object({
        type: z.literal('onnx-embeddings'),
        /** A local model folder in the transformers.js layout (`config.json`, `tokenizer.json`, `onnx/`). */
        path: z.string().min(1),
        pooling: z.enum(['mean', 'cls', 'none']).default('mean'),
        normalize: z.boolean().default(true),
        threads: z.number().int().min(1).default(1),
        dtype: z.enum(['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4']).default('fp32'),
        region: Region,
      })
      .strict(),
  ]),
);
export type ProviderConfig = z.infer<typeof ProviderSchema>;

/** Per-target timeout overrides; unset fields keep the provider's. */
export const RouteTimeoutsSchema = z
  .object({
    connectMs: z.number().int().positive().optional(),
    /** Until the first content token. */
    firstByteMs: z.number().int().positive().optional(),
    totalMs: z.number().int().positive().optional(),
  })
  .strict();

export const RouteTargetSchema = z.union([
  z
    .object({
      provider: z.string().min(1),
      model: z.string().min(1),
      weight: z.number().min(0).default(1),
      timeouts: RouteTimeoutsSchema.optional(),
      /** Overrides the provider's `region` for this target. */
      region: z.string().min(1).optional(),
    })
    .strict(),
  z.object({ route: z.string().min(1), weight: z.number().min(0).default(1) }).strict(),
]);

export const RetrySchema = z
  .object({
    /** Retries per target after its first attempt (retryable errors only). */
    max: z.number().int().min(0).max(10).default(2),
    baseDelayMs: z.number().int().min(0).default(250),
    maxDelayMs: z.number().int().min(0).default(8_000),
    /** The longest `Retry-After` honoured; a longer one moves on to the next target instead. */
    maxRetryAfterMs: z.number().int().min(0).default(20_000),
  })
  .strict();

/** A public model name served by ordered (`fallback`) or load-balanced (`weighted`) targets. */
export const RouteSchema = z
  .object({
    strategy: z.enum(['fallback', 'weighted']).default('fallback'),
    targets: z.array(RouteTargetSchema).min(1),
    retries: RetrySchema.default({ max: 2, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 20_000 }),
  })
  .strict();
export type RouteConfig = z.infer<typeof RouteSchema>;

/** Circuit breakers, one per route target (`<provider>/<model>`). */
export const BreakerSchema = z
  .object({
    /** Consecutive failures that open the circuit. */
    consecutiveFailures: z.number().int().min(1).default(5),
    /** Error rate over `windowMs` that opens it, once the window holds `minRequests`. */
    errorRate: z.number().gt(0).max(1).default(0.5),
    minRequests: z.number().int().min(1).default(20),
    windowMs: z.number().int().min(1_000).default(60_000),
    /** Time open before one probe request is let through. */
    cooldownMs: z.number().int().min(0).default(10_000),
  })
  .strict();
export type BreakerConfig = z.infer<typeof BreakerSchema>;

export const AppSchema = z
  .object({
    description: z.string().default(''),
    /** `<provider>/<upstream model>`, a key of `models`, or `extractive`. */
    model: z.string().min(1),
    systemPrompt: z.string().optional(),
    collections: z.array(z.string().min(1)).default([]),
    topK: z.number().int().min(1).max(50).default(6),
    /** Max tokens of retrieved context packed into the prompt. */
    contextTokens: z.number().int().min(100).default(3_000),
    /** Guard profile (`off`, `standard`, `strict`, a `guardProfiles` name) or `{profile, allow}`; default `guard.defaultProfile`. */
    guard: GuardRefSchema.optional(),
  })
  .strict();
export type AppConfig = z.infer<typeof AppSchema>;

/** USD per 1M tokens, for models the price library does not know (self-hosted) or to override it. */
export const TokenPriceSchema = z
  .object({
    input: z.number().min(0),
    /** Prompt tokens served from the provider's cache; defaults to `input`. */
    cachedInput: z.number().min(0).optional(),
    output: z.number().min(0),
  })
  .strict();

/** OTLP/HTTP JSON export of traces (GenAI semantic conventions). */
export const OtlpSchema = z
  .object({
    /** Collector base URL (`http://otel-collector:4318`) or the full `/v1/traces` URL. */
    endpoint: z.string().url(),
    headers: z.record(z.string(), z.string()).default({}),
    batchSize: z.number().int().min(1).max(10_000).default(100),
    flushIntervalMs: z.number().int().min(10).default(2_000),
    timeoutMs: z.number().int().min(100).default(10_000),
    serviceName: z.string().min(1).default('keel'),
  })
  .strict();

const TELEMETRY_DEFAULTS = { traces: true, captureInput: true, retentionDays: 30 };

export const TelemetrySchema = z
  .object({
    /** Store a trace per model request (metrics are kept either way). */
    traces: z.boolean().default(true),
    /** Keep each request's last user message, PII and secrets redacted, on its trace (for promotion to eval datasets). */
    captureInput: z.boolean().default(true),
    /** Traces older than this are deleted (hourly, in batches); 0 keeps them forever. */
    retentionDays: z.number().int().min(0).default(30),
    /** When set, `GET /metrics` requires `Authorization: Bearer <metricsToken>`. */
    metricsToken: z.string().min(1).optional(),
    otlp: OtlpSchema.optional(),
  })
  .strict();

// ---- limits, budgets, access and caching (issue 4; see docs/limits-and-budgets.md) ----------------

/** Rate limits of one subject (a key, a user, a tenant or an app). */
export const LimitsSchema = z
  .object({
    /** Requests per minute (sliding window: at most this many in any 60 s). */
    rpm: z.number().int().positive().optional(),
    /** Tokens per minute: prompt tokens counted before the call, corrected with the real usage after. */
    tpm: z.number().int().positive().optional(),
    /** Requests in flight at once. */
    concurrency: z.number().int().positive().optional(),
  })
  .strict();

/** Spending limits in USD per UTC day and month. */
export const BudgetSchema = z
  .object({
    dailyUsd: z.number().positive().optional(),
    monthlyUsd: z.number().positive().optional(),
    /** `hard` rejects (and stops streams) at the limit; `soft` allows, flags the response and notifies `webhook`. */
    mode: z.enum(['hard', 'soft']).default('hard'),
    /** Notified (POST, JSON) once per window when a soft budget is exceeded; default `policy.webhook`. */
    webhook: z.string().url().optional(),
  })
  .strict();

/** The most one request may cost: its worst case (prompt + max_tokens at the target's prices). */
export const RequestCapSchema = z
  .object({
    maxUsd: z.number().positive(),
    /** `reject` the request, or `clamp` its max_tokens to what fits. */
    mode: z.enum(['reject', 'clamp']).default('reject'),
  })
  .strict();

export const SubjectPolicySchema = z
  .object({
    limits: LimitsSchema.optional(),
    budget: BudgetSchema.optional(),
    requestCap: RequestCapSchema.optional(),
  })
  .strict();
export type SubjectPolicyConfig = z.infer<typeof SubjectPolicySchema>;

export const TenantPolicySchema = SubjectPolicySchema.extend({
  /** Apps and models this tenant's keys may use (on top of each key's own list). */
  allowedModels: z.array(z.string().min(1)).optional(),
  /** Data residency: requests go only to providers/targets in these regions. */
  regions: z.array(z.string().min(1)).min(1).optional(),
}).strict();
export type TenantPolicyConfig = z.infer<typeof TenantPolicySchema>;

export const PolicySchema = z
  .object({
    /** Defaults for every API key; a key's own settings (admin API) replace them field by field. */
    keys: SubjectPolicySchema.optional(),
    /** Defaults for every user (a key's user label, per tenant). */
    users: SubjectPolicySchema.optional(),
    /** Per tenant name; `*` applies to every tenant without its own entry. */
    tenants: z.record(z.string().min(1), TenantPolicySchema).default({}),
    /** Per app name; `*` applies to every app without its own entry. */
    apps: z.record(z.string().min(1), SubjectPolicySchema).default({}),
    /** The per-request cost cap for every request (a subject's own cap applies too; the lowest wins). */
    requestCap: RequestCapSchema.optional(),
    /** Output tokens assumed when a request sets no max_tokens (worst-case checks, holds for non-streamed calls). */
    defaultMaxTokens: z.number().int().positive().default(4_096),
    /** A stream under a budget holds this many more output tokens each time it needs more. */
    reserveStepTokens: z.number().int().positive().default(256),
    /** Budget holds and concurrency slots are leased for this long and renewed while the request runs. */
    leaseMs: z.number().int().min(1_000).default(60_000),
    /** Default webhook for soft-budget notices. */
    webhook: z.string().url().optional(),
    /** How often each replica reloads the limits and budgets stored through the admin API. */
    refreshMs: z.number().int().min(100).default(10_000),
  })
  .strict();
export type PolicyConfig = z.infer<typeof PolicySchema>;

export const SemanticCacheAppSchema = z
  .object({
    /** Cosine similarity of the question's embedding at or above which a cached answer is reused. */
    threshold: z.number().gt(0).max(1).default(0.95),
    ttlMs: z.number().int().positive().default(3_600_000),
    /** Questions remembered per tenant, app, model and conversation context (oldest dropped first). */
    maxEntries: z.number().int().min(1).max(10_000).default(256),
  })
  .strict();

export const CacheSchema = z
  .object({
    /**
     * Who shares cached answers: `tenant` (default), or `user`: only requests of the same user, that
     * is the same key user label (the key itself when it has none) and the same request `user` field.
     */
    scope: z.enum(['tenant', 'user']).default('tenant'),
    /** Exact cache: the same normalised request in the same tenant gets the stored answer. */
    exact: z
      .object({
        enabled: z.boolean().default(false),
        ttlMs: z.number().int().positive().default(300_000),
        /** Answers larger than this are not stored. */
        maxEntryBytes: z.number().int().positive().default(262_144),
      })
      .strict()
      .default({ enabled: false, ttlMs: 300_000, maxEntryBytes: 262_144 }),
    /** Semantic cache, opt-in per app. */
    semantic: z
      .object({
        /** Embedder for questions (`hashing` or `<provider>/<model>`); default `rag.embedder`. */
        embedder: z.string().optional(),
        apps: z.record(z.string().min(1), SemanticCacheAppSchema).default({}),
      })
      .strict()
      .default({ apps: {} }),
  })
  .strict();
export type CacheConfig = z.infer<typeof CacheSchema>;

/** A public model name mapped to a provider's upstream model. */
export const ModelAliasSchema = z.object({ provider: z.string().min(1), model: z.string().min(1) }).strict();

export const ConfigSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8787),
        bodyLimitBytes: z.number().int().positive().default(1_048_576),
        /** How long a key lookup is cached; a revoked key stops working within this time. */
        keyCacheTtlMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8787, bodyLimitBytes: 1_048_576, keyCacheTtlMs: 10_000 }),
    dataDir: z.string().default('./.keel'),
    databaseUrl: z.string().optional(),
    redisUrl: z.string().optional(),
    /** Namespace of Keel's keys in Redis; replicas that share limits and budgets must share it. */
    redisPrefix: z.string().min(1).default('keel:'),
    adminKey: z.string().min(32, 'the admin key must be at least 32 characters').optional(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProviderSchema).default({}),
    models: z.record(z.string().min(1), ModelAliasSchema).default({}),
    /** Public model names served by several targets with retries, fallbacks and breakers. */
    routes: z.record(z.string().regex(/^[A-Za-z0-9][\w.:-]*$/), RouteSchema).default({}),
    breakers: BreakerSchema.default({
      consecutiveFailures: 5,
      errorRate: 0.5,
      minRequests: 20,
      windowMs: 60_000,
      cooldownMs: 10_000,
    }),
    /**
     * Model prices keyed `<provider>/<upstream model>` or `<provider>/*` (every model of a
     * provider); checked before the bundled price table (`src/telemetry/prices.ts`).
     */
    prices: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]*\/\S/, 'expected <provider>/<model> or <provider>/*'),
        TokenPriceSchema,
      )
      .default({}),
    /** When set, a request whose `model` is not an app or alias goes to this provider unchanged. */
    passthroughProvider: z.string().optional(),
    /** Rate limits, budgets, per-request cost caps, tenant allow-lists and data residency. */
    policy: PolicySchema.default({
      tenants: {},
      apps: {},
      defaultMaxTokens: 4_096,
      reserveStepTokens: 256,
      leaseMs: 60_000,
      refreshMs: 10_000,
    }),
    cache: CacheSchema.default({
      scope: 'tenant',
      exact: { enabled: false, ttlMs: 300_000, maxEntryBytes: 262_144 },
      semantic: { apps: {} },
    }),
    rag: z
      .object({
        /** Embedder used for new collections: `hashing` or `<provider>/<model>`. */
        embedder: z.string().default('hashing'),
        chunkTokens: z.number().int().min(32).max(8_000).default(350),
        chunkOverlapTokens: z.number().int().min(0).max(2_000).default(50),
        embedBatchSize: z.number().int().min(1).max(2_048).default(64),
      })
      .strict()
      .default({ embedder: 'hashing', chunkTokens: 350, chunkOverlapTokens: 50, embedBatchSize: 64 }),
    /** Traces, metrics and OpenTelemetry export (docs/monitoring.md). */
    telemetry: TelemetrySchema.default(TELEMETRY_DEFAULTS),
    apps: z.record(z.string().regex(/^[A-Za-z0-9][\w.-]*$/), AppSchema).default({}),
    /** Guardrails: defaults, pass-through, the known-attack index (docs/guardrails.md). */
    guard: GuardSettingsSchema.default(GUARD_SETTINGS_DEFAULTS),
    /** Custom guard profiles by name, each extending `off`, `standard` or `strict`. */
    guardProfiles: z.record(ProfileNameSchema, GuardProfileBodySchema).default({}),
    /** Ingest `docs/` into collection `default` on first start with an empty store. */
    seedDocs: z.boolean().default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const u of undefinedProfiles(c)) {
      ctx.addIssue({
        code: 'custom',
        path: u.path,
        message: `guard profile '${u.name}' is ${
          u.path[0] === 'guardProfiles'
            ? 'built in and cannot be redefined'
            : 'not defined (see guardProfiles)'
        }`,
      });
    }
  });

export type KeelConfig = z.infer<typeof ConfigSchema>;
