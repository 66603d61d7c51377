import { randomFillSync } from 'node:crypto';

/**
 * Ids are `<prefix>_<time><random>`: 10 Crockford base32 characters of the millisecond clock, so ids
 * sort by creation time (useful for the ledger, traces and cursors), then 16 characters (80 bits)
 * of randomness. Lower case, so every id is a safe SQL identifier fragment (`[a-z0-9_]`) that can be
 * inlined, e.g. in the per-collection partial index names and predicates.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const PREFIX = /^[a-z][a-z0-9]{0,15}$/;
const SAFE_ID = /^[a-z][a-z0-9]*_[a-z0-9_]+$/;

// One pooled buffer refilled in bulk: a fresh randomBytes() per id would cost a syscall each.
const pool = new Uint8Array(RANDOM_CHARS * 256);
let poolOffset = pool.length;

export function newId(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new Error(`invalid id prefix: ${prefix}`);
  return `${prefix}_${encodeTime(Date.now())}${randomChars()}`;
}

/** True for strings shaped like Keel ids (safe to inline in SQL as identifiers or literals). */
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id) && id.length <= 64;
}

/** The creation time encoded in an id made by `newId`, or undefined when `id` is not one. */
export function idTime(id: string): Date | undefined {
  const body = id.slice(id.indexOf('_') + 1);
  if (body.length !== TIME_CHARS + RANDOM_CHARS) return undefined;
  let ms = 0;
  for (let i = 0; i < TIME_CHARS; i++) {
    const v = ALPHABET.indexOf(body[i] ?? '');
    if (v < 0) return undefined;
    ms = ms * 32 + v;
  }
  return new Date(ms);
}

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function randomChars(): string {
  if (poolOffset + RANDOM_CHARS > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let out = '';
  for (let i = 0; i < RANDOM_CHARS; i++) out += ALPHABET[(pool[poolOffset++] ?? 0) & 31];
  return out;
}
