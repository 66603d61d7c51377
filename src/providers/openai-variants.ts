import type { ProviderConfig } from '../config/schema.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
  type OpenAICompatibleProvider,
} from './openai-compatible.ts';
import type { CallOptions, ChatRequest, StreamPart } from './types.ts';

/**
 * OpenAI-compatible servers that need a little more than a base URL, built over the one adapter:
 * another auth header, parameters the server rejects (dropped before sending; presets in
 * `presets.ts`), and Azure OpenAI, whose URL carries the deployment and the API version.
 */

export type AzureOpenAIConfig = Extract<ProviderConfig, { type: 'azure-openai' }>;

const TOP_LEVEL = new Set([
  'temperature',
  'top_p',
  'max_tokens',
  'stop',
  'tools',
  'tool_choice',
  'response_format',
  'seed',
  'user',
]);

/** `req` without the parameters in `drop` (top-level fields and `extra` keys alike). */
export function dropParams(req: ChatRequest, drop: ReadonlySet<string>): ChatRequest {
  let out: ChatRequest | undefined;
  for (const k of drop) {
    if (TOP_LEVEL.has(k) && (req as unknown as Record<string, unknown>)[k] !== undefined) {
      out ??= { ...req };
      delete (out as unknown as Record<string, unknown>)[k];
    }
  }
  if (req.extra) {
    let extra: Record<string, unknown> | undefined;
    for (const k of Object.keys(req.extra)) {
      if (drop.has(k)) {
        extra ??= { ...req.extra };
        delete extra[k];
      }
    }
    if (extra) {
      out ??= { ...req };
      out.extra = extra;
    }
  }
  return out ?? req;
}

/** The adapter config with the key moved into the header its `auth` style names. */
function withAuth(cfg: OpenAICompatibleConfig): OpenAICompatibleConfig {
  const auth = cfg.auth ?? 'bearer';
  if (auth === 'bearer') return cfg;
  const keyless = { ...cfg, apiKey: undefined };
  if (auth === 'none' || cfg.apiKey === undefined) return keyless;
  return { ...keyless, headers: { ...cfg.headers, [auth]: cfg.apiKey } };
}

/** An `openai-compatible` provider with its preset / auth style / unsupported parameters applied. */
export function createConfiguredOpenAIProvider(
  id: string,
  cfg: OpenAICompatibleConfig,
): OpenAICompatibleProvider {
  const inner = createOpenAICompatibleProvider(id, withAuth(cfg), { includeUsage: cfg.includeUsage });
  const drop = new Set(cfg.unsupportedParams ?? []);
  if (drop.size === 0) return inner;
  return {
    id,
    baseUrl: inner.baseUrl,
    stream: (req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamPart> =>
      inner.stream(dropParams(req, drop), opts),
    embeddings: (model) => inner.embeddings(model),
    listModels: (opts) => inner.listModels(opts),
    close: () => inner.close(),
  };
}

/**
 * Azure OpenAI: `{endpoint}{deploymentPath}/chat/completions?api-version=…` with an `api-key`
 * header. The request's model names the deployment (through `deployments` when mapped). One
 * adapter (and keep-alive pool) per deployment, made on first use.
 */
export function createAzureOpenAIProvider(id: string, cfg: AzureOpenAIConfig): OpenAICompatibleProvider {
  const byDeployment = new Map<string, OpenAICompatibleProvider>();
  const endpoint = cfg.endpoint.replace(/\/+$/, '');
  const forModel = (model: string): OpenAICompatibleProvider => {
    const deployment = cfg.deployments[model] ?? model;
    let p = byDeployment.get(deployment);
    if (p === undefined) {
      const path = cfg.deploymentPath.replace('{deployment}', encodeURIComponent(deployment));
      const headers: Record<string, string> = { ...cfg.headers };
      if (cfg.apiKey !== undefined) headers['api-key'] = cfg.apiKey;
      p = createOpenAICompatibleProvider(id, {
        type: 'openai-compatible',
        baseUrl: `${endpoint}${path}?api-version=${encodeURIComponent(cfg.apiVersion)}`,
        headers,
        timeouts: cfg.timeouts,
        connections: cfg.connections,
      });
      byDeployment.set(deployment, p);
    }
    return p;
  };
  return {
    id,
    baseUrl: endpoint,
    stream: (req, opts) => forModel(req.model).stream(req, opts),
    embeddings: (model) => forModel(model).embeddings(model),
    listModels: async () => Object.keys(cfg.deployments),
    async close() {
      await Promise.allSettled([...byDeployment.values()].map((p) => p.close()));
    },
  };
}
