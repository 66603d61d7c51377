import type { ChatTarget } from '../../ai/service.ts';
import type { KeelConfig } from '../../config/schema.ts';
import type { Usage } from '../../providers/types.ts';
import { costOf, ratesFor } from '../../telemetry/cost.ts';
import { PriceTable, type TokenPrice } from '../../telemetry/prices.ts';
import { leavesOf } from './residency.ts';

/** Builds the price table from config: `prices` overrides, providers recognised by their base URL too. */
export function priceTableFor(config: KeelConfig): PriceTable {
  const baseUrls: Record<string, string> = {};
  for (const [id, p] of Object.entries(config.providers)) {
    const url = 'baseUrl' in p ? p.baseUrl : 'endpoint' in p ? p.endpoint : undefined;
    if (typeof url === 'string') baseUrls[id] = url;
  }
  return new PriceTable({ overrides: config.prices, baseUrls });
}

/** What requests cost, for the ledger and for budget holds. */
export class Pricing {
  readonly table: PriceTable;
  readonly #config: KeelConfig;

  constructor(config: KeelConfig, table = priceTableFor(config)) {
    this.#config = config;
    this.table = table;
  }

  /** USD of `usage` on `provider`/`model`; 0 when nobody prices it (flagged by `known`). */
  costUsd(provider: string | null, model: string, usage: Usage): number {
    if (provider === null) return 0;
    const p = this.table.lookup(provider, model);
    return p.known ? costOf(usage, p.price) : 0;
  }

  /**
   * The price a budget check must assume for `target`: the target's own, or for a route the most
   * expensive of the targets it may fall back to. Null when no target is priced.
   */
  priceFor(target: ChatTarget): TokenPrice | null {
    const leaves = leavesOf(this.#config, target.target.provider);
    if (leaves.length === 1 && leaves[0]!.provider === target.target.provider.id) {
      const p = this.table.lookup(target.target.provider.id, target.target.model);
      return p.known ? p.price : null;
    }
    // Each rate at its highest over the targets: whichever one serves, the hold covers it.
    let worst: TokenPrice | null = null;
    const provider = target.target.provider as {
      leaves?: () => { provider: { id: string }; model: string }[];
    };
    for (const leaf of provider.leaves?.() ?? []) {
      const p = this.table.lookup(leaf.provider.id, leaf.model);
      if (!p.known) continue;
      const r = ratesFor(p.price, 0);
      worst = worst
        ? { input: Math.max(worst.input, r.input), output: Math.max(worst.output, r.output) }
        : { input: r.input, output: r.output };
    }
    return worst;
  }
}
