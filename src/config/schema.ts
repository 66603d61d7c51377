import { z } from 'zod';

/** Timeouts for one upstream call; all in milliseconds. */
export const TimeoutsSchema = z
  .object({
    connectMs: z.number().int().positive().default(5_000),
    /** Until the response headers / first streamed byte arrive. */
    firstByteMs: z.number().int().positive().default(60_000),
    totalMs: z.number().int().positive().default(600_000),
  })
  .strict();

export const ProviderSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('openai-compatible'),
      baseUrl: z.string().url(),
      apiKey: z.string().optional(),
      headers: z.record(z.string(), z.string()).default({}),
      timeouts: TimeoutsSchema.default({ connectMs: 5_000, firstByteMs: 60_000, totalMs: 600_000 }),
      /** Max pooled keep-alive connections to this upstream. */
      connections: z.number().int().positive().default(128),
    })
    .strict(),
  z.object({ type: z.literal('extractive') }).strict(),
  z
    .object({ type: z.literal('hashing'), dimensions: z.number().int().min(8).max(2000).default(512) })
    .strict(),
]);
export type ProviderConfig = z.infer<typeof ProviderSchema>;

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
    adminKey: z.string().min(32, 'the admin key must be at least 32 characters').optional(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProviderSchema).default({}),
    models: z.record(z.string().min(1), ModelAliasSchema).default({}),
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
    apps: z.record(z.string().regex(/^[A-Za-z0-9][\w.-]*$/), AppSchema).default({}),
    /** Ingest `docs/` into collection `default` on first start with an empty store. */
    seedDocs: z.boolean().default(true),
  })
  .strict();

export type KeelConfig = z.infer<typeof ConfigSchema>;
