import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.ts';
import type { KeelConfig } from '../../src/config/schema.ts';
import { createKeel, type Keel } from '../../src/runtime.ts';

export interface StartKeelOptions {
  /** `pglite` (in memory, default) or `postgres` (a fresh schema in DATABASE_URL, dropped on close). */
  driver?: 'pglite' | 'postgres';
  /** Environment the config is loaded from (on top of an in-memory store, port 0 and a known admin key). */
  env?: Record<string, string>;
  /** Last word on the loaded config. */
  configure?: (config: KeelConfig) => void;
  localToken?: string;
}

export interface TestKeel {
  keel: Keel;
  /** Origin, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** What an OpenAI client takes as `baseURL`. */
  baseURL: string;
  adminKey: string;
  close(): Promise<void>;
}

/** Starts Keel on 127.0.0.1, port 0, with an in-memory PGlite or a fresh PostgreSQL schema. */
export async function startKeel(opts: StartKeelOptions = {}): Promise<TestKeel> {
  const adminKey = `keel_test_admin_${randomBytes(24).toString('base64url')}`;
  const env: Record<string, string> = {
    KEEL_DATA_DIR: 'memory://',
    KEEL_HOST: '127.0.0.1',
    KEEL_PORT: '0',
    KEEL_ADMIN_KEY: adminKey,
    ...opts.env,
  };
  let schema: string | undefined;
  const databaseUrl = process.env.DATABASE_URL;
  if (opts.driver === 'postgres') {
    if (!databaseUrl) throw new Error('DATABASE_URL is not set');
    env.DATABASE_URL = databaseUrl;
    schema = `keel_e2e_${randomBytes(6).toString('hex')}`;
  }
  // A temp cwd, so a developer's ./keel.yaml never leaks into tests.
  const config = loadConfig({ env, cwd: tmpdir() });
  config.seedDocs = false;
  opts.configure?.(config);
  const keel = await createKeel(config, { schema, quiet: true, localToken: opts.localToken });
  let url: string;
  try {
    url = await keel.listen();
  } catch (e) {
    await keel.close();
    throw e;
  }
  return {
    keel,
    url,
    baseURL: `${url}/v1`,
    adminKey,
    async close() {
      await keel.close();
      if (schema && databaseUrl) {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        try {
          await c.query(`drop schema if exists ${schema} cascade`);
        } finally {
          await c.end();
        }
      }
    },
  };
}

/** `fetch` against Keel with JSON in and out; `key` null sends no Authorization header. */
export async function api(
  t: TestKeel,
  method: string,
  path: string,
  opts: {
    key?: string | null;
    body?: unknown;
    rawBody?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const key = opts.key === undefined ? t.adminKey : opts.key;
  const headers: Record<string, string> = { ...opts.headers };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: string | Buffer | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(t.url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
