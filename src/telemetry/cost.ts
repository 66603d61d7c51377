import { createRequire } from 'node:module';
import {
  type ChatCompletionFunctionCallOption,
  type ChatCompletionFunctionDefinition,
  computeChatCompletionTokenCount,
  FUNCTION_CALL_METADATA_TOKEN_OVERHEAD,
  type ChatMessage as TokenizerMessage,
} from 'gpt-tokenizer/functionCalling';
import type { ChatMessage, ContentPart, ToolDefinition } from '../providers/types.ts';
import { countTokens as countO200k } from '../tokens.ts';
import type { TokenPrice } from './prices.ts';

/**
 * What a call costs: USD from token usage and a `TokenPrice`, the worst case before the call,
 * and the prompt token count the estimate starts from. Budget counters hold integer micro-USD
 * (`usdToMicros`), which stays exact in every `SharedState` backend.
 */

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  /** Part of `promptTokens` served from the provider's prompt cache (billed at `cachedInput`). */
  cachedPromptTokens?: number | undefined;
}

interface Rates {
  input: number;
  cachedInput: number;
  output: number;
}

/** The rates that apply to a prompt of `promptTokens` tokens (long-context tiers included). */
export function ratesFor(price: TokenPrice, promptTokens: number): Rates {
  let r: Omit<TokenPrice, 'tiers'> = price;
  let from = -1;
  for (const t of price.tiers ?? []) {
    if (promptTokens > t.above && t.above > from) {
      r = t;
      from = t.above;
    }
  }
  return { input: r.input, cachedInput: r.cachedInput ?? r.input, output: r.output };
}

/** USD for `usage`; 0 when the price is unknown (null), which the caller flags. */
export function costOf(usage: TokenUsage, price: TokenPrice | null | undefined): number {
  if (!price) return 0;
  const r = ratesFor(price, usage.promptTokens);
  const cached = Math.min(Math.max(0, usage.cachedPromptTokens ?? 0), usage.promptTokens);
  return (
    ((usage.promptTokens - cached) * r.input + cached * r.cachedInput + usage.completionTokens * r.output) /
    1e6
  );
}

/** The most a call can cost: every prompt token uncached and all `maxTokens` generated. */
export function worstCaseCost(
  promptTokens: number,
  maxTokens: number,
  price: TokenPrice | null | undefined,
): number {
  return costOf({ promptTokens, completionTokens: maxTokens }, price);
}

/**
 * The largest `max_tokens` whose worst case fits in `budgetUsd` (to clamp instead of rejecting):
 * 0 when the prompt alone does not fit, Infinity when output is free or the price unknown.
 */
export function maxTokensWithin(
  budgetUsd: number,
  promptTokens: number,
  price: TokenPrice | null | undefined,
): number {
  if (!price) return Number.POSITIVE_INFINITY;
  const r = ratesFor(price, promptTokens);
  const left = budgetUsd - (promptTokens * r.input) / 1e6;
  if (left < 0) return 0;
  if (r.output <= 0) return Number.POSITIVE_INFINITY;
  // The epsilon keeps 1666.9999999 (float noise) from losing a token.
  return Math.floor((left * 1e6) / r.output + 1e-9);
}

/**
 * USD to integer micro-USD for budget counters. `up` for amounts held in advance (a reservation
 * never under-holds), `nearest` for settled charges.
 */
export function usdToMicros(usd: number, rounding: 'up' | 'nearest' = 'nearest'): number {
  const m = usd * 1e6;
  // 0.00015 USD is 150.00000000000003 in floating point; that must not round up to 151.
  return rounding === 'up' ? Math.ceil(m - 1e-6) : Math.round(m);
}

export function microsToUsd(micros: number): number {
  return micros / 1e6;
}

// ---- token counting ---------------------------------------------------------------------------

type Counter = (text: string) => number;

// Special-token text such as "<|endoftext|>" in user input is counted as ordinary text, not refused.
const PLAIN = { disallowedSpecial: new Set<string>() };
const o200k: Counter = (text) => (text ? countO200k(text, PLAIN) : 0);
let cl100k: Counter | undefined;

/**
 * The tokenizer for a model: cl100k_base for gpt-4 / gpt-3.5 / text-embedding-3 and ada-002,
 * o200k_base (gpt-4o, gpt-4.1, gpt-5, o-series) for everything else, which for non-OpenAI models
 * is an approximation. cl100k is loaded on first use (it costs ~100 ms and tens of MB).
 */
function counterFor(model: string | undefined): Counter {
  const m = (model ?? '').toLowerCase();
  const name = m.slice(m.lastIndexOf('/') + 1);
  if (!/^(gpt-4(?![o.])|gpt-3\.5|text-embedding-(3|ada))/.test(name)) return o200k;
  if (!cl100k) {
    const require = createRequire(import.meta.url);
    const enc = require('gpt-tokenizer/cjs/encoding/cl100k_base') as { countTokens: typeof countO200k };
    cl100k = (text) => (text ? enc.countTokens(text, PLAIN) : 0);
  }
  return cl100k;
}

export function countTextTokens(text: string, model?: string): number {
  return counterFor(model)(text);
}

export interface ChatTokenOptions {
  /** Upstream model name; picks the tokenizer. */
  model?: string | undefined;
  tools?: readonly ToolDefinition[] | undefined;
  toolChoice?: unknown;
}

// OpenAI bills an image by size and detail, unknown before decoding it: low detail is 85 tokens,
// and a 1024x1024 high-detail image (85 + 4 tiles x 170) stands in for the rest.
const IMAGE_LOW_TOKENS = 85;
const IMAGE_TOKENS = 765;

/**
 * Prompt tokens of a chat request by OpenAI's counting rules (3 per message, +1 for a name, 3 to
 * prime the reply, tool definitions as the hidden TypeScript namespace the model sees), via
 * gpt-tokenizer. Exact for OpenAI text chats; an estimate for images, other providers and
 * multi-tool-call messages. Audio and file parts are not counted.
 */
export function countChatTokens(messages: readonly ChatMessage[], opts: ChatTokenOptions = {}): number {
  const count = counterFor(opts.model);
  let extra = 0;
  const converted: TokenizerMessage[] = messages.map((m) => {
    for (const call of m.tool_calls ?? []) {
      extra +=
        count(call.function.name) + count(call.function.arguments) + FUNCTION_CALL_METADATA_TOKEN_OVERHEAD;
    }
    let content = '';
    if (typeof m.content === 'string') content = m.content;
    else if (Array.isArray(m.content)) {
      const { text, images } = flatten(m.content);
      content = text;
      extra += images;
    }
    return m.name ? { role: m.role, name: m.name, content } : { role: m.role, content };
  });
  const functions = opts.tools?.map(
    (t): ChatCompletionFunctionDefinition =>
      ({
        name: t.function.name,
        description: t.function.description,
        parameters: t.function.parameters,
      }) as ChatCompletionFunctionDefinition,
  );
  const request = { messages: converted, functions, function_call: functionCall(opts.toolChoice) };
  try {
    return computeChatCompletionTokenCount(request, count) + extra;
  } catch {
    // A tool schema the formatter cannot walk (it is client input): count its JSON instead.
    const base = computeChatCompletionTokenCount({ messages: converted }, count);
    return base + count(JSON.stringify(opts.tools ?? [])) + extra;
  }
}

function flatten(parts: readonly ContentPart[]): { text: string; images: number } {
  const texts: string[] = [];
  let images = 0;
  for (const p of parts) {
    if (p.type === 'text' && typeof p.text === 'string') texts.push(p.text);
    else if (p.type === 'image_url') images += imageDetail(p) === 'low' ? IMAGE_LOW_TOKENS : IMAGE_TOKENS;
  }
  return { text: texts.join('\n'), images };
}

function imageDetail(p: ContentPart): unknown {
  const img = (p as { image_url?: unknown }).image_url;
  return typeof img === 'object' && img !== null ? (img as { detail?: unknown }).detail : undefined;
}

function functionCall(choice: unknown): ChatCompletionFunctionCallOption | undefined {
  if (choice === 'none') return 'none';
  if (typeof choice !== 'object' || choice === null) return undefined;
  const name = (choice as { function?: { name?: unknown } }).function?.name;
  return typeof name === 'string' ? { name } : undefined;
}
