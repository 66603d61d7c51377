import type { Citation } from '../citations.ts';

/** An answer as the caches keep it: enough to replay it as JSON or SSE, nothing of the request. */
export interface CachedAnswer {
  v: 1;
  text: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  /** Apps only. */
  citations?: Citation[] | undefined;
  app: string | null;
  /** Who produced it (for the ledger row of a hit). */
  provider: string;
  model: string;
  /** When it was produced (ms). */
  at: number;
}

export type CacheOutcome = 'hit' | 'semantic-hit' | 'miss';

export function parseAnswer(raw: string | Buffer | null): CachedAnswer | undefined {
  if (raw === null) return undefined;
  try {
    const a = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8')) as CachedAnswer;
    return a && a.v === 1 && typeof a.text === 'string' ? a : undefined;
  } catch {
    return undefined;
  }
}
