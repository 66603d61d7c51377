import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { KeelError } from '../errors.ts';
import { hashApiKey } from './api-keys.ts';

export type Role = 'admin' | 'member';

/** Who is calling: resolved from the API key once per request and attached as `request.principal`. */
export interface Principal {
  /** The key's id; null for the process-local CLI token. */
  keyId: string | null;
  tenantId: string;
  tenantName: string;
  userLabel: string;
  role: Role;
  /** Apps/models this key may use; null means any. */
  allowedModels: readonly string[] | null;
}

/** A key looked up by hash; `revoked` keys are rejected (and cached as rejected). */
export interface KeyLookupResult {
  principal: Principal;
  revoked: boolean;
}

export interface AuthOptions {
  /** Finds a key by the SHA-256 hex of the presented secret. */
  lookup: (hash: string) => Promise<KeyLookupResult | null>;
  /**
   * How long a lookup (hit or miss) is cached. A revoked key keeps working on other replicas for
   * at most this long; on the replica that revoked it, it stops at once (see `invalidateKey`).
   */
  ttlMs: number;
  /** A per-process secret accepted as `localPrincipal` (the CLI's bootstrap admin access). */
  localToken?: string | undefined;
  localPrincipal?: Principal | undefined;
  /** Bound on cached lookups, so a flood of random keys cannot grow memory. */
  maxEntries?: number;
}

interface Entry {
  expires: number;
  principal: Principal | null;
  revoked: boolean;
  pending: Promise<void> | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface Auth {
  /** Resolves the `Authorization` header to a principal, or throws a 401 `KeelError`. */
  authenticate(authorization: string | undefined): Promise<Principal> | Principal;
  /** Fastify `onRequest` hook: sets `request.principal` or answers 401. */
  hook(req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void;
  /** Drops cached lookups of a key so its revocation is immediate on this replica. */
  invalidateKey(keyId: string): void;
}

const missing = () =>
  new KeelError('invalid_api_key', 'Missing API key: send the header "Authorization: Bearer <key>"');
const invalid = () => new KeelError('invalid_api_key', 'Invalid API key');
const revokedError = () => new KeelError('invalid_api_key', 'This API key has been revoked');

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return null;
  const token = header.slice(space + 1).trim();
  return token || null;
}

export function createAuth(opts: AuthOptions): Auth {
  const cache = new Map<string, Entry>();
  const maxEntries = opts.maxEntries ?? 10_000;
  const localHash = opts.localToken ? hashApiKey(opts.localToken) : null;

  const settle = (e: Entry): Principal => {
    if (e.principal && !e.revoked) return e.principal;
    throw e.revoked ? revokedError() : invalid();
  };

  const load = (hash: string, now: number): Entry => {
    if (cache.size >= maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    const entry: Entry = { expires: now + opts.ttlMs, principal: null, revoked: false, pending: null };
    entry.pending = opts.lookup(hash).then(
      (r) => {
        entry.principal = r?.principal ?? null;
        entry.revoked = r?.revoked ?? false;
        entry.pending = null;
      },
      (err: unknown) => {
        // A failed lookup must not be cached as "invalid key".
        cache.delete(hash);
        throw new KeelError('unavailable', 'Key store unavailable', { cause: err });
      },
    );
    cache.set(hash, entry);
    return entry;
  };

  const authenticate = (authorization: string | undefined): Promise<Principal> | Principal => {
    const token = bearer(authorization);
    if (!token) throw missing();
    const hash = hashApiKey(token);
    if (hash === localHash && opts.localPrincipal) return opts.localPrincipal;
    const now = Date.now();
    let entry = cache.get(hash);
    if (!entry || entry.expires <= now) {
      if (entry) cache.delete(hash);
      entry = load(hash, now);
    }
    if (entry.pending) {
      const e = entry;
      return entry.pending.then(() => settle(e));
    }
    return settle(entry);
  };

  return {
    authenticate,
    hook(req, _reply, done) {
      let result: Promise<Principal> | Principal;
      try {
        result = authenticate(req.headers.authorization);
      } catch (e) {
        done(e as Error);
        return;
      }
      // Cache hits stay synchronous: no promise allocation on the hot path.
      if (result instanceof Promise) {
        result.then(
          (p) => {
            req.principal = p;
            done();
          },
          (e: Error) => done(e),
        );
      } else {
        req.principal = result;
        done();
      }
    },
    invalidateKey(keyId) {
      for (const [hash, e] of cache) if (e.principal?.keyId === keyId) cache.delete(hash);
    },
  };
}

/** `preHandler` for admin-only routes. */
export function requireAdmin(req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (req.principal.role !== 'admin') {
    done(new KeelError('permission_denied', 'This endpoint requires an admin key'));
    return;
  }
  done();
}

/** 403 unless the key's allow-list (if any) names `model`. */
export function assertModelAllowed(p: Principal, model: string): void {
  if (p.allowedModels && !p.allowedModels.includes(model)) {
    throw new KeelError('permission_denied', `This API key is not allowed to use model '${model}'`, {
      param: 'model',
    });
  }
}
