import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateApiKey, hashApiKey } from './api-keys.ts';
import { createAuth, type KeyLookupResult, type Principal } from './auth.ts';

const principal = (keyId: string): Principal => ({
  keyId,
  tenantId: 'ten_1',
  tenantName: 'default',
  userLabel: 'u',
  role: 'member',
  allowedModels: null,
});

function setup(ttlMs = 1_000) {
  const keys = new Map<string, KeyLookupResult>();
  let lookups = 0;
  let fail = false;
  const auth = createAuth({
    ttlMs,
    localToken: 'local-secret-token',
    localPrincipal: { ...principal('local'), keyId: null, role: 'admin' },
    lookup: async (hash) => {
      lookups++;
      if (fail) throw new Error('db down');
      return keys.get(hash) ?? null;
    },
  });
  return {
    auth,
    keys,
    lookups: () => lookups,
    setFail: (f: boolean) => {
      fail = f;
    },
  };
}

const resolve = async (v: Promise<Principal> | Principal) => v;

afterEach(() => {
  vi.useRealTimers();
});

describe('api keys', () => {
  it('are keel_ + 43 base64url characters, hashed with SHA-256, with a short prefix', () => {
    const k = generateApiKey();
    expect(k.key).toMatch(/^keel_[A-Za-z0-9_-]{43}$/);
    expect(k.hash).toBe(hashApiKey(k.key));
    expect(k.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(k.key.startsWith(k.prefix)).toBe(true);
    expect(k.prefix.length).toBeLessThan(16);
    expect(generateApiKey().key).not.toBe(k.key);
  });
});

describe('createAuth', () => {
  it('rejects missing, malformed and unknown keys with 401', async () => {
    const { auth } = setup();
    expect(() => auth.authenticate(undefined)).toThrow(expect.objectContaining({ status: 401 }));
    expect(() => auth.authenticate('Basic xyz')).toThrow(expect.objectContaining({ status: 401 }));
    await expect(resolve(auth.authenticate('Bearer nope'))).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
  });

  it('caches lookups for the TTL, sharing one lookup between concurrent requests', async () => {
    vi.useFakeTimers();
    const t = setup(1_000);
    const k = generateApiKey();
    t.keys.set(k.hash, { principal: principal('key_1'), revoked: false });
    const [a, b] = await Promise.all([
      resolve(t.auth.authenticate(`Bearer ${k.key}`)),
      resolve(t.auth.authenticate(`bearer ${k.key}`)),
    ]);
    expect(a.keyId).toBe('key_1');
    expect(b).toBe(a);
    expect(t.lookups()).toBe(1);
    // A cache hit answers synchronously.
    expect(t.auth.authenticate(`Bearer ${k.key}`)).toBe(a);

    t.keys.set(k.hash, { principal: principal('key_1'), revoked: true });
    vi.advanceTimersByTime(999);
    expect(t.auth.authenticate(`Bearer ${k.key}`)).toBe(a);
    vi.advanceTimersByTime(2);
    await expect(resolve(t.auth.authenticate(`Bearer ${k.key}`))).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(/revoked/),
    });
    expect(t.lookups()).toBe(2);
  });

  it('forgets a key at once when told it was revoked', async () => {
    const t = setup(60_000);
    const k = generateApiKey();
    t.keys.set(k.hash, { principal: principal('key_9'), revoked: false });
    await resolve(t.auth.authenticate(`Bearer ${k.key}`));
    t.keys.set(k.hash, { principal: principal('key_9'), revoked: true });
    t.auth.invalidateKey('key_9');
    await expect(resolve(t.auth.authenticate(`Bearer ${k.key}`))).rejects.toMatchObject({ status: 401 });
  });

  it('does not cache a failed lookup as an invalid key', async () => {
    const t = setup();
    const k = generateApiKey();
    t.keys.set(k.hash, { principal: principal('key_2'), revoked: false });
    t.setFail(true);
    await expect(resolve(t.auth.authenticate(`Bearer ${k.key}`))).rejects.toMatchObject({ status: 503 });
    t.setFail(false);
    expect((await resolve(t.auth.authenticate(`Bearer ${k.key}`))).keyId).toBe('key_2');
  });

  it('accepts the process-local token as its principal without a lookup', async () => {
    const t = setup();
    const p = await resolve(t.auth.authenticate('Bearer local-secret-token'));
    expect(p).toMatchObject({ keyId: null, role: 'admin' });
    expect(t.lookups()).toBe(0);
  });
});
