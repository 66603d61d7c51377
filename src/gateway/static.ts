import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeelError } from '../errors.ts';

/**
 * Serves the built dashboard (`web/dist`, made by `npm run build:web`) at `/`. Files are read once
 * into memory (the whole build is ~150 kB) with an ETag and a gzip copy, so serving costs no disk
 * I/O. Only `/`, `/index.html` and `/assets/*` are routed: the dashboard uses hash routing and
 * never shadows the API (`/v1/*`, `/healthz`, `/readyz`, `/metrics`). Hashed assets are cached for a
 * year; `index.html` is revalidated, so a rebuild shows up on the next load.
 */

export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

export interface DashboardOptions {
  /** Folder holding the build (default `web/dist` of this checkout). */
  root?: string | undefined;
  /** How often a missing build is looked for again (default 2000 ms). */
  recheckMs?: number | undefined;
}

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  json: 'application/json',
  map: 'application/json',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  txt: 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['html', 'js', 'css', 'svg', 'json', 'map', 'txt']);
const IMMUTABLE = 'public, max-age=31536000, immutable';

// The dashboard talks only to its own origin; inline styles are uPlot's and Preact's style props.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keel dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#141a26}
code{background:#eef1f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>The Keel dashboard is not built</h1>
<p>Keel is running and its API works, but the dashboard's files are missing from <code>web/dist</code>.</p>
<p>Build them with <code>npm run build:web</code> (it also runs on <code>npm install</code>), then reload this page.</p>
</body></html>`;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Every file of the build keyed by URL path (`/index.html`, `/assets/x.js`); undefined when not built. */
export function loadDashboard(root: string): Map<string, Asset> | undefined {
  try {
    if (!statSync(join(root, 'index.html')).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const files = new Map<string, Asset>();
  for (const path of walk(root)) {
    const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
    const body = readFileSync(path);
    const url = `/${relative(root, path).split(sep).join('/')}`;
    files.set(url, {
      body,
      gzip: COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body) : undefined,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    });
  }
  return files;
}

/** How often a missing build is looked for again, so building while Keel runs needs no restart. */
const RECHECK_MS = 2_000;

export function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions = {}): void {
  const root = opts.root ?? DEFAULT_DASHBOARD_DIR;
  let files: Map<string, Asset> | undefined;
  let checkedAt = 0;
  const current = (): Map<string, Asset> | undefined => {
    if (!files && Date.now() - checkedAt >= (opts.recheckMs ?? RECHECK_MS)) {
      checkedAt = Date.now();
      files = loadDashboard(root);
    }
    return files;
  };

  const send = (req: FastifyRequest, reply: FastifyReply, a: Asset, cache: string) => {
    reply.header('etag', a.etag).header('cache-control', cache).header('x-content-type-options', 'nosniff');
    reply.header('vary', 'accept-encoding');
    if (req.headers['if-none-match'] === a.etag) {
      reply.code(304).send();
      return;
    }
    reply.type(a.type);
    const gzip = a.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) reply.header('content-encoding', 'gzip');
    reply.send(gzip ? a.gzip : a.body);
  };

  const index = (req: FastifyRequest, reply: FastifyReply) => {
    const a = current()?.get('/index.html');
    reply
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
    if (!a) {
      reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT);
      return;
    }
    send(req, reply, a, 'no-cache');
  };

  app.get('/', index);
  app.get('/index.html', index);
  app.get<{ Params: { '*': string } }>('/assets/*', (req, reply) => {
    const a = current()?.get(`/assets/${req.params['*']}`);
    if (!a) throw new KeelError('not_found', 'No such dashboard file');
    send(req, reply, a, IMMUTABLE);
  });
}
