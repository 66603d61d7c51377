import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { api, type TestKeel } from './keel.ts';
import { REDIS_URL } from './state.ts';

/** Helpers shared by the limits, budgets, residency and cache suites. */

/** The SharedState backends a policy suite runs on: in-process always, Redis when REDIS_URL is set. */
export const backends = [
  {
    name: 'memory' as const,
    skip: undefined as string | undefined,
    redisUrl: undefined as string | undefined,
  },
  {
    name: 'redis' as const,
    skip: REDIS_URL ? undefined : 'REDIS_URL is not set: policy tests on Redis skipped',
    redisUrl: REDIS_URL,
  },
];

/** A fresh Redis namespace per Keel, so suites never see each other's counters. */
export function redisPrefix(): string {
  return `keel_test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes a namespace's keys (after the suite's Keel closed). */
export async function dropRedisPrefix(url: string | undefined, prefix: string): Promise<void> {
  if (!url) return;
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await r.quit();
  }
}

export async function createKey(
  t: TestKeel,
  body: { tenant?: string; user?: string; role?: 'admin' | 'member'; allowed_models?: string[] },
): Promise<{ id: string; key: string }> {
  const res = await api(t, 'POST', '/v1/admin/keys', { body });
  if (res.status !== 201) throw new Error(`creating a key failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; key: string };
}

export function client(t: TestKeel, key: string): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: t.baseURL, maxRetries: 0 });
}

export interface SseResult {
  status: number;
  headers: Headers;
  /** Parsed `data:` events before `[DONE]`. */
  events: Record<string, unknown>[];
  done: boolean;
  text: string;
}

/** A streamed chat completion read to its end with fetch (for raw SSE assertions). */
export async function streamChat(
  t: TestKeel,
  key: string,
  body: Record<string, unknown>,
): Promise<SseResult> {
  const res = await fetch(`${t.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  const events: Record<string, unknown>[] = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (!block.startsWith('data: ')) continue;
    const data = block.slice(6);
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    events.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { status: res.status, headers: res.headers, events, done, text };
}

export async function ledger(
  t: TestKeel,
): Promise<
  { id: string; status: string; cost_usd: number; cache_hit: boolean; key_id: string | null; model: string }[]
> {
  return t.keel.db.query(
    'select id, status, cost_usd, cache_hit, key_id, model from usage_ledger order by ts, id',
  );
}

/** Polls `probe` until true (bounded); returns the last answer. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  tries = 100,
  everyMs = 20,
): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}
