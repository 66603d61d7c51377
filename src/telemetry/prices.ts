import { calcPrice, findProvider, type ModelPrice } from '@pydantic/genai-prices';

/**
 * Model prices. The maintained table of `@pydantic/genai-prices` (bundled data, no network: its
 * auto-update is never enabled here) answers for the public providers; config overrides answer
 * for self-hosted models or negotiated rates. A model nobody prices is reported as unknown (the
 * caller charges 0 and flags it) instead of failing the request.
 */

/** USD per 1M tokens. */
export interface TokenPrice {
  input: number;
  /** Prompt tokens served from the provider's cache; defaults to `input`. */
  cachedInput?: number | undefined;
  output: number;
  /** Rates that replace the base ones once the prompt is longer than `above` tokens (long context). */
  tiers?: PriceTier[] | undefined;
}

export interface PriceTier {
  /** Applies when prompt tokens > above. */
  above: number;
  input: number;
  cachedInput?: number | undefined;
  output: number;
}

export type PriceSource = 'config' | 'builtin' | 'genai-prices';

export type PriceLookup =
  | {
      known: true;
      price: TokenPrice;
      source: PriceSource /** The model id the table matched. */;
      matched: string;
    }
  | { known: false; price: null; reason: string };

export interface PriceTableOptions {
  /**
   * Keyed `<provider>/<model>` (exact) or `<provider>/*` (every model of that provider, e.g. a
   * self-hosted vLLM that costs nothing per token). Checked before the library.
   */
  overrides?: Record<string, TokenPrice> | undefined;
  /**
   * Base URL per Keel provider id, so a provider the library does not know by name (say `oai`)
   * is still recognised by its endpoint (api.openai.com).
   */
  baseUrls?: Record<string, string> | undefined;
  /** How long a library answer is reused; some prices depend on the time of day (default 60 s). */
  cacheMs?: number | undefined;
}

const FREE: TokenPrice = { input: 0, output: 0 };
/** Keel's own providers run no model, so they cost nothing. */
const BUILTIN: Record<string, TokenPrice> = { 'extractive/*': FREE, 'hashing/*': FREE };

export class PriceTable {
  readonly #overrides: Map<string, TokenPrice>;
  readonly #baseUrls: Record<string, string>;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { at: number; lookup: PriceLookup }>();

  constructor(opts: PriceTableOptions = {}) {
    this.#overrides = new Map(Object.entries(opts.overrides ?? {}));
    this.#baseUrls = opts.baseUrls ?? {};
    this.#cacheMs = opts.cacheMs ?? 60_000;
  }

  /** The price of `model` (the upstream model name) on Keel provider `provider`. */
  lookup(provider: string, model: string, at: Date = new Date()): PriceLookup {
    const id = `${provider}/${model}`;
    const own = this.#overrides.get(id) ?? this.#overrides.get(`${provider}/*`);
    if (own) return { known: true, price: own, source: 'config', matched: model };
    const builtin = BUILTIN[`${provider}/*`];
    if (builtin) return { known: true, price: builtin, source: 'builtin', matched: model };

    const now = at.getTime();
    const hit = this.#cache.get(id);
    if (hit && now - hit.at < this.#cacheMs && now >= hit.at) return hit.lookup;
    const lookup = this.#fromLibrary(provider, model, at);
    this.#cache.set(id, { at: now, lookup });
    return lookup;
  }

  #fromLibrary(provider: string, model: string, at: Date): PriceLookup {
    const url = this.#baseUrls[provider];
    const lib =
      findProvider({ providerId: provider }) ?? (url ? findProvider({ providerApiUrl: url }) : undefined);
    const hint = `set prices["${provider}/${model}"] in the config`;
    if (!lib) {
      return {
        known: false,
        price: null,
        reason: `no price for ${provider}/${model}: unknown provider; ${hint}`,
      };
    }
    let calc: ReturnType<typeof calcPrice>;
    try {
      calc = calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId: lib.id, timestamp: at });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return { known: false, price: null, reason: `no price for ${provider}/${model}: ${why}; ${hint}` };
    }
    if (!calc) {
      return {
        known: false,
        price: null,
        reason: `no price for ${provider}/${model} in ${lib.id}'s table; ${hint}`,
      };
    }
    return {
      known: true,
      price: toTokenPrice(calc.model_price),
      source: 'genai-prices',
      matched: calc.model.id,
    };
  }
}

type LibPrice = ModelPrice[string];

/** Converts the library's per-unit prices (flat or tiered by prompt size) into a `TokenPrice`. */
export function toTokenPrice(p: ModelPrice): TokenPrice {
  const input = p.input_mtok;
  const cached = p.cache_read_mtok;
  const output = p.output_mtok;
  const price: TokenPrice = { input: rateAt(input, 0), output: rateAt(output, 0) };
  if (cached !== undefined) price.cachedInput = rateAt(cached, 0);
  const starts = new Set<number>();
  for (const v of [input, cached, output]) {
    if (v !== undefined && typeof v !== 'number') for (const t of v.tiers) starts.add(t.start);
  }
  if (starts.size > 0) {
    price.tiers = [...starts]
      .sort((a, b) => a - b)
      .map((above) => {
        const tier: PriceTier = { above, input: rateAt(input, above + 1), output: rateAt(output, above + 1) };
        if (cached !== undefined) tier.cachedInput = rateAt(cached, above + 1);
        return tier;
      });
  }
  return price;
}

/** The rate that applies when the prompt has `promptTokens` tokens (the library's rule: tier when > start). */
function rateAt(v: LibPrice, promptTokens: number): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  let rate = v.base;
  let from = -1;
  for (const t of v.tiers) {
    if (promptTokens > t.start && t.start > from) {
      rate = t.price;
      from = t.start;
    }
  }
  return rate;
}
