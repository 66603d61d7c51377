import { randomBytes } from 'node:crypto';
import type { EmbeddingProvider } from '../../providers/types.ts';
import type { SharedState } from '../../state/types.ts';
import { type CachedAnswer, parseAnswer } from './types.ts';

export interface SemanticCacheOptions {
  /** Cosine similarity at or above which a stored question counts as the same question. */
  threshold: number;
  ttlMs: number;
  maxEntries: number;
}

/**
 * The semantic cache of one app: questions asked in the same tenant, to the same app and model,
 * with the same parameters and the same conversation before the question, are compared by the
 * cosine similarity of their embeddings; above the threshold, the earlier answer is reused.
 *
 * Each (tenant, context) has one index entry in SharedState: a packed list of int8-quantised unit
 * vectors with their expiry and answer id, scanned linearly (a few hundred entries at most; one
 * `cacheGet`). Updates read, modify and write the index, so two replicas storing at the same moment
 * can drop one entry: the cost is a later miss, never a wrong answer.
 */

const MAGIC = 0x4b534331; // "KSC1"
const HEAD = 8;
const ID_BYTES = 12;

interface Entry {
  expiresAt: number;
  id: Buffer;
  q: Int8Array;
}

export interface SemanticMatch {
  answer: CachedAnswer | undefined;
  similarity: number;
}

export function quantise(v: readonly number[]): Int8Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  const q = new Int8Array(v.length);
  for (let i = 0; i < v.length; i++) q[i] = Math.round((v[i]! / norm) * 127);
  return q;
}

export function cosineQ(a: Int8Array, b: Int8Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function decode(buf: Buffer | string | null, dims: number): Entry[] {
  if (!Buffer.isBuffer(buf) || buf.length < HEAD || buf.readUInt32BE(0) !== MAGIC) return [];
  if (buf.readUInt16BE(4) !== dims) return [];
  const count = buf.readUInt16BE(6);
  const size = 8 + ID_BYTES + dims;
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEAD + i * size;
    if (at + size > buf.length) break;
    out.push({
      expiresAt: buf.readDoubleBE(at),
      id: buf.subarray(at + 8, at + 8 + ID_BYTES),
      q: new Int8Array(buf.buffer, buf.byteOffset + at + 8 + ID_BYTES, dims),
    });
  }
  return out;
}

function encode(entries: readonly Entry[], dims: number): Buffer {
  const size = 8 + ID_BYTES + dims;
  const buf = Buffer.alloc(HEAD + entries.length * size);
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt16BE(dims, 4);
  buf.writeUInt16BE(entries.length, 6);
  entries.forEach((e, i) => {
    const at = HEAD + i * size;
    buf.writeDoubleBE(e.expiresAt, at);
    e.id.copy(buf, at + 8);
    Buffer.from(e.q.buffer, e.q.byteOffset, dims).copy(buf, at + 8 + ID_BYTES);
  });
  return buf;
}

export class SemanticCache {
  readonly #state: SharedState;
  readonly #embedder: EmbeddingProvider;
  readonly #opts: SemanticCacheOptions;

  constructor(state: SharedState, embedder: EmbeddingProvider, opts: SemanticCacheOptions) {
    this.#state = state;
    this.#embedder = embedder;
    this.#opts = opts;
  }

  async embed(question: string, signal?: AbortSignal): Promise<Int8Array> {
    const r = await this.#embedder.embed([question], signal ? { signal } : {});
    return quantise(r.vectors[0] ?? []);
  }

  /** The best stored answer for `q` under `indexKey`, when similar enough. `tenantId` scopes the answer keys. */
  async lookup(tenantId: string, indexKey: string, q: Int8Array): Promise<SemanticMatch> {
    const entries = decode((await this.#state.cacheGet(indexKey)) as Buffer | null, q.length);
    const now = Date.now();
    let best: Entry | undefined;
    let bestSim = -1;
    for (const e of entries) {
      if (e.expiresAt <= now) continue;
      const sim = cosineQ(q, e.q);
      if (sim > bestSim) {
        bestSim = sim;
        best = e;
      }
    }
    if (!best || bestSim < this.#opts.threshold)
      return { answer: undefined, similarity: Math.max(0, bestSim) };
    const answer = parseAnswer(await this.#state.cacheGet(answerKey(tenantId, best.id)));
    return { answer, similarity: bestSim };
  }

  async store(tenantId: string, indexKey: string, q: Int8Array, answer: CachedAnswer): Promise<void> {
    const id = randomBytes(ID_BYTES);
    const now = Date.now();
    const expiresAt = now + this.#opts.ttlMs;
    await this.#state.cacheSet(answerKey(tenantId, id), JSON.stringify(answer), this.#opts.ttlMs);
    const entries = decode((await this.#state.cacheGet(indexKey)) as Buffer | null, q.length).filter(
      (e) => e.expiresAt > now,
    );
    entries.push({ expiresAt, id, q });
    const kept = entries.slice(-this.#opts.maxEntries);
    await this.#state.cacheSet(indexKey, encode(kept, q.length), this.#opts.ttlMs);
  }
}

function answerKey(tenantId: string, id: Buffer): string {
  return `cs:a:${tenantId}:${id.toString('hex')}`;
}
