import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.ts';
import {
  type AttackRow,
  deleteAttacksExcept,
  nearestAttacks,
  upsertAttacks,
} from '../store/queries/attacks.ts';
import type { AttackIndex, AttackMatch, InMemoryAttackIndex } from './injection/attack-index.ts';
import { KNOWN_ATTACKS, type KnownAttack } from './injection/attacks.ts';
import { fold } from './injection/normalize.ts';
import { featureVector, scanWords } from './injection/words.ts';

/**
 * Known attacks in the store (pgvector `sparsevec`, migration 004). The embedding is the injection
 * scanner's own: stemmed words and word pairs, hashed (FNV-1a) into a million dimensions, so
 * similarities match the in-memory index's and the thresholds carry over. A text is probed by
 * windows of one and two sentences (an attack is often one sentence inside a long text), all windows
 * of all texts scanned in the same tick go in one statement, and answers are cached per text.
 *
 * The store answers within `timeoutMs` or the in-memory index (same curated and configured attacks)
 * answers instead, so a busy or unreachable database never fails or stalls a request.
 */
export const ATTACK_DIMS = 1_000_000;
/** Bump when the embedding changes: start-up re-embeds stored rows of older versions. */
export const ATTACK_EMBED_VERSION = 1;

function literal(v: Map<number, number>): string {
  let norm = 0;
  for (const x of v.values()) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  const parts = [...v.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, x]) => `${i}:${Math.round((x / norm) * 1e6) / 1e6}`);
  return `{${parts.join(',')}}/${ATTACK_DIMS}`;
}

function fold1(v: Map<number, number>, hash: number, w: number): void {
  const i = (hash % ATTACK_DIMS) + 1;
  v.set(i, (v.get(i) ?? 0) + w);
}

/** The whole text as one `sparsevec` literal (how known attacks are stored). */
export function attackEmbedding(text: string): string {
  const v = new Map<number, number>();
  for (const [h, w] of featureVector(fold(text))) fold1(v, h, w);
  return literal(v);
}

/** One probe per sentence and per pair of consecutive sentences; empty when the text has no words. */
export function windowProbes(text: string): string[] {
  const sentences: Array<Array<[number, number]>> = [];
  let cur: Array<[number, number]> = [];
  scanWords(fold(text), {
    feature: (h, w) => cur.push([h, w]),
    endSentence: () => {
      if (cur.length > 0) sentences.push(cur);
      cur = [];
    },
  });
  const probes: string[] = [];
  for (let i = 0; i < sentences.length; i++) {
    const one = new Map<number, number>();
    for (const [h, w] of sentences[i]!) fold1(one, h, w);
    probes.push(literal(one));
    if (i > 0) {
      for (const [h, w] of sentences[i - 1]!) fold1(one, h, w);
      probes.push(literal(one));
    }
  }
  return probes;
}

export interface StoreAttackIndexOptions {
  /** Answers when the store cannot (timeout, error, very long texts). */
  fallback: InMemoryAttackIndex;
  /** Longest wait for the store (default 250 ms). */
  timeoutMs?: number;
  /** Texts with more windows than this are scored in memory (default 64). */
  maxWindows?: number;
  /** Texts whose answer is remembered (default 2,000). */
  cacheSize?: number;
}

interface Pending {
  probes: string[];
  resolve(m: AttackMatch): void;
  text: string;
}

const NO_MATCH: AttackMatch = { score: 0, attackId: null };

export class StoreAttackIndex implements AttackIndex {
  private readonly timeoutMs: number;
  private readonly maxWindows: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, AttackMatch>();
  private queue: Pending[] = [];
  /** Store answers and fallbacks so far (for tests and diagnostics). */
  readonly stats = { storeQueries: 0, fallbacks: 0, cacheHits: 0 };

  constructor(
    private readonly db: Queryable,
    private readonly opts: StoreAttackIndexOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 250;
    this.maxWindows = opts.maxWindows ?? 64;
    this.cacheSize = opts.cacheSize ?? 2_000;
  }

  nearest(text: string): AttackMatch | Promise<AttackMatch> {
    const key = text.length <= 256 ? text : createHash('sha1').update(text).digest('base64');
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    const probes = windowProbes(text);
    if (probes.length === 0) return NO_MATCH;
    if (probes.length > this.maxWindows) {
      this.stats.fallbacks++;
      return this.opts.fallback.nearest(text);
    }
    return new Promise<AttackMatch>((resolve) => {
      if (this.queue.length === 0) queueMicrotask(() => void this.flush());
      this.queue.push({
        probes,
        text,
        resolve: (m) => {
          this.remember(key, m);
          resolve(m);
        },
      });
    });
  }

  private remember(key: string, m: AttackMatch): void {
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, m);
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const all: string[] = [];
    const owner: number[] = [];
    batch.forEach((p, i) => {
      for (const probe of p.probes) {
        all.push(probe);
        owner.push(i);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => {
      timer = setTimeout(() => r(null), this.timeoutMs);
      timer.unref();
    });
    let hits: Awaited<ReturnType<typeof nearestAttacks>> | null;
    try {
      hits = await Promise.race([nearestAttacks(this.db, all), timeout]);
    } catch {
      hits = null;
    } finally {
      clearTimeout(timer);
    }
    if (hits === null) {
      for (const p of batch) {
        this.stats.fallbacks++;
        p.resolve(this.opts.fallback.nearest(p.text));
      }
      return;
    }
    this.stats.storeQueries++;
    const best: AttackMatch[] = batch.map(() => ({ score: 0, attackId: null }));
    for (const h of hits) {
      const b = best[owner[h.ord - 1]!]!;
      if (h.similarity > b.score) {
        b.score = Math.min(1, h.similarity);
        b.attackId = h.id;
      }
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(best[i]!);
  }
}

/** The curated list plus configured attacks, as rows to store. */
export function attackRows(extra: readonly KnownAttack[] = []): AttackRow[] {
  const row = (a: KnownAttack, source: string): AttackRow => ({
    id: a.id,
    text: a.text,
    source,
    embedding: attackEmbedding(a.text),
    embedVersion: ATTACK_EMBED_VERSION,
  });
  return [...KNOWN_ATTACKS.map((a) => row(a, 'builtin')), ...extra.map((a) => row(a, 'config'))];
}

/**
 * Brings the store's `builtin` and `config` attacks in line with this process's lists (rows other
 * sources added are left alone). Idempotent; writes only what changed.
 */
export async function seedAttacks(
  db: Queryable,
  extra: readonly KnownAttack[] = [],
): Promise<{ written: number; deleted: number }> {
  const rows = attackRows(extra);
  const written = await upsertAttacks(db, rows);
  let deleted = 0;
  for (const source of ['builtin', 'config']) {
    const keep = rows.filter((r) => r.source === source).map((r) => r.id);
    deleted += await deleteAttacksExcept(db, source, keep);
  }
  return { written, deleted };
}
