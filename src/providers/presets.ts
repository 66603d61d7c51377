/**
 * OpenAI-compatible servers that differ from OpenAI only in where they live, how they take a key,
 * and which request parameters they reject. Each is data, not code: adding one is an entry here
 * (or the same three settings written in `keel.yaml` on an `openai-compatible` provider).
 *
 * This module imports nothing, so the config schema can read it.
 */

/** How the API key travels: `Authorization: Bearer`, Azure's `api-key`, `x-api-key`, or not at all. */
export type AuthStyle = 'bearer' | 'api-key' | 'x-api-key' | 'none';

export interface OpenAIPreset {
  /** Default base URL (including `/v1` or its equivalent); a provider's `baseUrl` overrides it. */
  baseUrl: string;
  auth: AuthStyle;
  /** Request parameters the server rejects or mishandles; Keel drops them before sending. */
  unsupportedParams: readonly string[];
  /** Whether the server accepts `stream_options.include_usage` (default true). */
  includeUsage?: boolean;
}

export const OPENAI_PRESETS = {
  openai: { baseUrl: 'https://api.openai.com/v1', auth: 'bearer', unsupportedParams: [] },
  // Self-hosted servers, on their default ports.
  vllm: {
    baseUrl: 'http://127.0.0.1:8000/v1',
    auth: 'bearer',
    unsupportedParams: ['store', 'metadata', 'service_tier', 'prediction', 'modalities', 'audio'],
  },
  ollama: {
    baseUrl: 'http://127.0.0.1:11434/v1',
    auth: 'none',
    unsupportedParams: [
      'logit_bias',
      'logprobs',
      'top_logprobs',
      'n',
      'user',
      'parallel_tool_calls',
      'service_tier',
      'store',
      'metadata',
    ],
  },
  'llama-cpp-server': {
    baseUrl: 'http://127.0.0.1:8080/v1',
    auth: 'bearer',
    unsupportedParams: ['store', 'metadata', 'service_tier', 'prediction', 'modalities', 'audio', 'user'],
  },
  // Hosted OpenAI-compatible services.
  groq: {
    baseUrl: 'https://api.groq.com/openai/v1',
    auth: 'bearer',
    unsupportedParams: ['logprobs', 'logit_bias', 'top_logprobs', 'store', 'metadata', 'service_tier'],
  },
  cerebras: {
    baseUrl: 'https://api.cerebras.ai/v1',
    auth: 'bearer',
    unsupportedParams: [
      'frequency_penalty',
      'logit_bias',
      'logprobs',
      'presence_penalty',
      'parallel_tool_calls',
      'service_tier',
    ],
  },
  together: {
    baseUrl: 'https://api.together.xyz/v1',
    auth: 'bearer',
    unsupportedParams: ['store', 'metadata', 'service_tier', 'parallel_tool_calls'],
  },
  deepseek: {
    baseUrl: 'https://api.deepseek.com/v1',
    auth: 'bearer',
    unsupportedParams: ['n', 'logit_bias', 'seed', 'store', 'metadata', 'service_tier'],
  },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', unsupportedParams: ['store'] },
} as const satisfies Record<string, OpenAIPreset>;

export type PresetName = keyof typeof OPENAI_PRESETS;
export const PRESET_NAMES = Object.keys(OPENAI_PRESETS) as [PresetName, ...PresetName[]];

export function getPreset(name: string): OpenAIPreset | undefined {
  return Object.hasOwn(OPENAI_PRESETS, name) ? OPENAI_PRESETS[name as PresetName] : undefined;
}

/**
 * Fills an `openai-compatible` provider's raw config from its `preset` (settings written out win),
 * before schema validation, so a preset-based provider can omit `baseUrl`.
 */
export function applyPreset(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  if (r.type !== 'openai-compatible' || typeof r.preset !== 'string') return raw;
  const p = getPreset(r.preset);
  if (p === undefined) return raw;
  const out: Record<string, unknown> = { ...r };
  out.baseUrl ??= p.baseUrl;
  out.auth ??= p.auth;
  out.unsupportedParams ??= [...p.unsupportedParams];
  if (p.includeUsage !== undefined) out.includeUsage ??= p.includeUsage;
  return out;
}
