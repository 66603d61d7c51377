import type { KeelConfig } from '../../config/schema.ts';
import { KeelError } from '../../errors.ts';
import { countTextTokens, usdToMicros } from '../../telemetry/cost.ts';
import type { Attributes } from '../../telemetry/types.ts';
import { notAllowedForTenant } from './errors.ts';
import type { Pricing } from './pricing.ts';
import { embedderQualifies } from './residency.ts';
import type { PolicyTicket, TicketInit } from './ticket.ts';
import type { ResolvedPolicy } from './types.ts';

export interface EmbeddingsInput {
  /** The name the client asked for. */
  model: string;
  provider: string;
  upstreamModel: string;
  texts: readonly string[];
  /** The request's trace attributes. */
  attributes: Attributes;
}

/** Settles an embeddings call: its usage (undefined when it failed) in, its cost in USD out. */
export type SettleEmbeddings = (promptTokens: number | undefined) => Promise<number>;

export interface EmbeddingsContext {
  config: KeelConfig;
  pricing: Pricing;
  pol: ResolvedPolicy;
  tenant: string;
  take(pol: ResolvedPolicy, tokens: number, amount: number): Promise<Omit<TicketInit, 'cache'>>;
  ticket(held: Omit<TicketInit, 'cache'>): PolicyTicket;
}

/**
 * The policy chain for `POST /v1/embeddings`: tenant allow-list, residency of the embedder, then
 * rate limits, slots and a budget hold of the input tokens at the embedder's price.
 */
export async function admitEmbeddings(
  c: EmbeddingsContext,
  input: EmbeddingsInput,
): Promise<SettleEmbeddings> {
  const { pol } = c;
  if (pol.allowedModels && !pol.allowedModels.includes(input.model))
    throw notAllowedForTenant(c.tenant, input.model);
  if (pol.regions && !embedderQualifies(c.config, `${input.provider}/${input.upstreamModel}`, pol.regions)) {
    throw new KeelError(
      'permission_denied',
      `Data residency: ${pol.regionsBy} is pinned to region(s) ${pol.regions.join(', ')}, and embedder ` +
        `'${input.model}' (${input.provider}) is not there; the request was not sent anywhere`,
      { param: 'model' },
    );
  }
  const cost = (tokens: number) =>
    c.pricing.costUsd(input.provider, input.upstreamModel, {
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
  const ticket = c.ticket(await c.take(pol, tokens, amount));
  return async (used) => {
    const costUsd = used === undefined ? 0 : cost(used);
    const usage =
      used === undefined ? undefined : { promptTokens: used, completionTokens: 0, totalTokens: used };
    const settled = {
      costUsd,
      usage,
      run: undefined,
      completion: '',
      finishReason: undefined,
      hasToolCalls: false,
    };
    await ticket.finish(used === undefined ? 'error' : 'ok', settled, used !== undefined);
    return costUsd;
  };
}
