import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes } from './static.ts';

/** The dashboard's file serving, over real HTTP, against a build folder the test writes. */
describe('dashboard static files', () => {
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  const js = `console.log(${JSON.stringify('x'.repeat(4_000))});`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-web-'));
    app = Fastify();
    dashboardRoutes(app, { root: dir, recheckMs: 0 });
    // Routes the dashboard must never shadow.
    app.get('/metrics', async () => 'metrics');
    app.get('/v1/models', async () => ({ data: [] }));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says how to build the dashboard while web/dist is missing', async () => {
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('npm run build:web');
    expect((await fetch(`${url}/assets/index.js`)).status).toBe(404);
  });

  it('serves the build once it appears, with caching headers and gzip', async () => {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), js);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><script src="/assets/index-abc123.js"></script>');

    const html = await fetch(`${url}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('cache-control')).toBe('no-cache');
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    expect(await html.text()).toContain('index-abc123.js');
    expect((await fetch(`${url}/index.html`)).status).toBe(200);

    const asset = await fetch(`${url}/assets/index-abc123.js`, {
      headers: { 'accept-encoding': 'identity' },
    });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-encoding')).toBeNull();
    expect(await asset.text()).toBe(js);

    // Raw bytes, so the compressed body can be checked as sent.
    const raw = await new Promise<{ enc: string | undefined; body: Buffer }>((resolve, reject) => {
      get(`${url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'gzip, br' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ enc: res.headers['content-encoding'], body: Buffer.concat(parts) }));
      }).on('error', reject);
    });
    expect(raw.enc).toBe('gzip');
    expect(raw.body.length).toBeLessThan(js.length);
    expect(gunzipSync(raw.body).toString()).toBe(js);

    const etag = asset.headers.get('etag') ?? '';
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${url}/assets/index-abc123.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('answers only its own paths', async () => {
    expect(await (await fetch(`${url}/metrics`)).text()).toBe('metrics');
    expect(await (await fetch(`${url}/v1/models`)).json()).toEqual({ data: [] });
    expect((await fetch(`${url}/assets/../index.html`)).status).not.toBe(500);
    expect((await fetch(`${url}/assets/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
    expect((await fetch(`${url}/other`)).status).toBe(404);
  });
});
