import { randomBytes } from 'node:crypto';
import { maskUrl } from '../config/mask.ts';
import type { KeelConfig } from '../config/schema.ts';
import type { Keel } from '../runtime.ts';
import { findRunningServer, tryLockDataDir, unlockDataDir } from './server-file.ts';
import { CliError, toApiError } from './util.ts';

export type { Keel };

export interface ClientResponse {
  status: number;
  /** The body as it arrives, for SSE. */
  body: AsyncIterable<Uint8Array>;
  json<T>(): Promise<T>;
}

/**
 * How a CLI command reaches Keel: over HTTP to a `keel serve` on the same data dir, or by opening
 * the store in this process. Both speak the same HTTP API (in-process requests go through Fastify's
 * `inject`, without listening), so commands are written once.
 */
export interface KeelClient {
  readonly mode: 'server' | 'direct';
  /** The in-process runtime (direct mode only), for work better done without HTTP (ingesting local files). */
  readonly keel: Keel | undefined;
  request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<ClientResponse>;
  close(): Promise<void>;
}

/** How long a command waits for a starting server, or for another command to release the data dir. */
const WAIT_MS = 120_000;
const POLL_MS = 250;

/**
 * Connects to the server running on the data dir if there is one, else opens the store in this
 * process (holding the data-dir lock while it does). Says which on stderr. While a server is still
 * starting, or another command has the embedded database open, it waits rather than open it too.
 */
export async function connect(
  config: KeelConfig,
  log: (line: string) => void,
  command: string,
): Promise<KeelClient> {
  const deadline = Date.now() + WAIT_MS;
  let waitingFor: number | undefined;
  for (;;) {
    const server = await findRunningServer(config.dataDir);
    if (server) {
      log(`using running server at ${server.url} (pid ${server.pid})`);
      return httpClient(server.url, server.localToken);
    }
    if (config.databaseUrl) {
      log(`using database ${maskUrl(config.databaseUrl)} directly (no server running on ${config.dataDir})`);
      return directClient(config, undefined);
    }
    const lock = tryLockDataDir(config.dataDir, command);
    if (lock.ok) {
      log(`using data dir ${config.dataDir} directly`);
      try {
        return await directClient(config, config.dataDir);
      } catch (e) {
        unlockDataDir(config.dataDir);
        throw e;
      }
    }
    const { holder } = lock;
    if (Date.now() > deadline) {
      throw new CliError(
        `the data dir ${config.dataDir} is in use by pid ${holder.pid} (keel ${holder.command}); ` +
          'try again when it has finished, or run `keel serve` so that commands share it',
      );
    }
    if (waitingFor !== holder.pid) {
      waitingFor = holder.pid;
      log(
        holder.command === 'serve'
          ? `waiting for the server (pid ${holder.pid}) to finish starting…`
          : `waiting for pid ${holder.pid} (keel ${holder.command}) to release the data dir…`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function httpClient(baseUrl: string, token: string): KeelClient {
  return {
    mode: 'server',
    keel: undefined,
    async request(method, path, body) {
      let res: Response;
      try {
        res = await fetch(new URL(path, baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
        throw new CliError(`cannot reach the Keel server at ${baseUrl}: ${cause}`);
      }
      return {
        status: res.status,
        body: res.body ?? emptyBody(),
        json: <T>() => res.json() as Promise<T>,
      };
    },
    async close() {},
  };
}

async function directClient(config: KeelConfig, lockedDataDir: string | undefined): Promise<KeelClient> {
  const localToken = randomBytes(32).toString('base64url');
  // Loaded on demand: commands that never open the store (config check) start fast.
  const { createKeel } = await import('../runtime.ts');
  const keel = await createKeel(config, { localToken, quiet: true });
  // Opening a new store makes its first admin key; this command is the only chance to show it.
  if (keel.generatedAdminKey) printGeneratedAdminKey(keel.generatedAdminKey, process.stderr);
  await keel.app.ready();
  return {
    mode: 'direct',
    keel,
    async request(method, path, body) {
      const res = await keel.app.inject({
        method,
        url: path,
        headers: {
          authorization: `Bearer ${localToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        payloadAsStream: true,
      });
      const stream = res.stream();
      return {
        status: res.statusCode,
        body: stream,
        async json<T>() {
          const parts: Buffer[] = [];
          for await (const chunk of stream) parts.push(chunk as Buffer);
          return JSON.parse(Buffer.concat(parts).toString('utf8')) as T;
        },
      };
    },
    async close() {
      try {
        await keel.close();
      } finally {
        if (lockedDataDir) unlockDataDir(lockedDataDir);
      }
    },
  };
}

/** Shown once, by whichever command opened a new store first (`keel serve` or a direct-mode command). */
export function printGeneratedAdminKey(key: string, stream: NodeJS.WritableStream): void {
  stream.write(
    '\nThis new store had no admin key, so Keel generated one. It is shown only this once; store it now:\n\n' +
      `  ${key}\n\n` +
      'Use it as "Authorization: Bearer <key>" for the admin API. Set KEEL_ADMIN_KEY to choose your own instead.\n\n',
  );
}

async function* emptyBody(): AsyncIterable<Uint8Array> {}

/** The JSON body of a 2xx response; otherwise throws an `ApiError` with the server's message and code. */
export async function expectOk<T>(res: ClientResponse): Promise<T> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.status >= 200 && res.status < 300) return body as T;
  throw toApiError(res.status, body);
}
