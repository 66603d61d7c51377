import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDataset } from '../src/store/queries/eval.ts';
import { createRun, finishRun } from '../src/store/queries/eval-runs.ts';
import { insertTraces } from '../src/store/queries/traces.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';

/**
 * The dashboard in real Chromium (Debian's, driven by playwright-core): sign in, see the latency
 * chart after traffic, ask in the playground and get a cited answer, give it a thumbs-down and find
 * that on its trace, compare two eval runs. Screenshots go to test-artifacts/dashboard/.
 */

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');
const skipReason = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is absent; install it with \`bash scripts/install-chromium.sh\` (.ci/run does)`;
if (skipReason) console.warn(`[browser-dashboard] skipped: ${skipReason}`);

const DOCS = [
  {
    id: 'keys.md',
    title: 'API keys',
    uri: 'docs/keys.md',
    format: 'md',
    text:
      '# API keys\n\nCreate an API key with the command `keel keys create`. The new key is printed once; ' +
      'Keel stores only its SHA-256 hash. Revoke a key with `keel keys revoke <id>`.',
  },
  {
    id: 'deploy.md',
    title: 'Deploying Keel',
    uri: 'docs/deploy.md',
    format: 'md',
    text:
      '# Deploying\n\nTo scale out, run several gateway replicas behind a load balancer. Point them at one ' +
      'PostgreSQL database with DATABASE_URL and one Redis with REDIS_URL.',
  },
];

const STEP_TIMEOUT = 20_000;

describe.skipIf(skipReason !== undefined)('dashboard in Chromium', () => {
  let t: TestKeel;
  let userData: string;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  /** Traces are written in batches after the response: waits until `n` are stored. */
  const tracesStored = (n: number) =>
    expect
      .poll(async () => {
        await t.keel.telemetry.flush();
        const r = await api(t, 'GET', '/v1/traces?limit=200');
        return (r.body as { data: unknown[] }).data.length;
      })
      .toBe(n);

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    // `npm install` builds the dashboard (prepare); build it here too when a checkout skipped that.
    if (!existsSync(join(ROOT, 'web', 'dist', 'index.html'))) {
      execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    t = await startKeel();
    const ingest = await api(t, 'POST', '/v1/collections/default/documents', { body: { documents: DOCS } });
    expect(ingest.status).toBe(200);
    userData = mkdtempSync(join(tmpdir(), 'keel-chromium-'));
    context = await chromium.launchPersistentContext(userData, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await t?.close();
    if (userData) rmSync(userData, { recursive: true, force: true });
  });

  it('serves the dashboard at / without shadowing the API', async () => {
    const html = await fetch(`${t.url}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.headers.get('cache-control')).toBe('no-cache');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'");
    const body = await html.text();
    const asset = body.match(/\/assets\/[^"]+\.js/)?.[0];
    expect(asset).toBeDefined();
    const js = await fetch(`${t.url}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    const etag = js.headers.get('etag') ?? '';
    expect((await fetch(`${t.url}${asset}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${t.url}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const models = await fetch(`${t.url}/v1/models`);
    expect(models.status).toBe(401);
    expect(((await models.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
  });

  it('rejects a bad key with a clear message, then signs in with the admin key', async () => {
    await page.goto(t.url);
    await page.getByLabel('Admin API key').fill('keel_not_a_real_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/did not accept this key/);
    await shot('01-signin-error');

    // The rejected key's 401 is the only console error expected in this file.
    expect(consoleErrors.every((e) => e.includes('401'))).toBe(true);
    consoleErrors.length = 0;
    await page.getByLabel('Admin API key').fill(t.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    // The key is kept for this tab only.
    expect(await page.evaluate("sessionStorage.getItem('keel.adminKey')")).toBe(t.adminKey);
  });

  it('shows the latency chart populated after traffic', async () => {
    const client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
    for (const q of [
      'How do I create an API key?',
      'How do I scale out Keel?',
      'Where is the key hash stored?',
    ]) {
      const r = await client.chat.completions.create({
        model: 'default',
        messages: [{ role: 'user', content: q }],
      });
      expect(r.choices[0]?.message.content).toBeTruthy();
    }
    await tracesStored(3);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const latency = page.locator('[data-chart="latency"]');
    await expect.poll(async () => Number(await latency.getAttribute('data-points'))).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('.stat', { hasText: 'Requests' }).textContent())
      .toMatch(/Requests\s*3\b/);
    // uPlot drew its canvas (a chart with no data draws none of the series).
    expect(await latency.locator('canvas').count()).toBeGreaterThan(0);
    await shot('02-overview');
  });

  let completionId = '';

  it('asks in the playground and shows a streamed, cited answer', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    await page.getByLabel('App or model').selectOption('default');
    await page.getByLabel('Your message').fill('How do I create an API key?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.locator('article.msg.assistant').last();
    const sources = answer.getByRole('region', { name: 'Sources' });
    await sources.waitFor();
    expect(await sources.textContent()).toContain('API keys');
    expect(await answer.locator('.body').textContent()).toMatch(/keel keys create/);
    expect(await answer.locator('sup.cite').count()).toBeGreaterThan(0);
    completionId = (await answer.getAttribute('data-completion-id')) ?? '';
    expect(completionId).toMatch(/^chatcmpl-/);
    await shot('03-playground');
  });

  it('records a thumbs-down and shows it on the trace', async () => {
    const answer = page.locator('article.msg.assistant').last();
    await answer.getByRole('button', { name: 'Thumbs down' }).click();
    await answer.getByText('Feedback recorded.').waitFor();
    expect(await answer.getByRole('button', { name: 'Thumbs down' }).getAttribute('aria-pressed')).toBe(
      'true',
    );
    await tracesStored(4);

    // Find it from the traces page, filtered to thumbs-down.
    await page.getByRole('link', { name: 'Traces' }).click();
    await page.getByRole('heading', { level: 1, name: 'Traces' }).waitFor();
    await page.getByLabel('Feedback').selectOption('down');
    await page.getByRole('button', { name: 'Apply' }).click();
    const traceId = completionId.replace(/^chatcmpl-/, '');
    const row = page.locator(`tr[data-trace-id="${traceId}"]`);
    // Only the rated response is left once the filter applies (the unfiltered list has all four).
    await expect.poll(() => page.locator('table.traces tbody tr').count()).toBe(1);
    await row.waitFor();
    expect(await row.textContent()).toContain('thumbs down');
    await shot('04-traces');

    // The same trace found by its x-request-id (one Keel generated is the trace's id).
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => page.locator('table.traces tbody tr').count()).toBe(4);
    await page.getByLabel('Request id').fill(traceId);
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('table.traces tbody tr').count()).toBe(1);
    await row.waitFor();

    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: /Trace/ }).waitFor();
    const feedback = page.locator('[data-section="feedback"]');
    await expect.poll(() => feedback.textContent()).toContain('Thumbs down');
    const spans = page.locator('.waterfall .span-label');
    await expect
      .poll(() => spans.allTextContents())
      .toEqual(expect.arrayContaining(['retrieve', 'provider']));
    const chunks = page.getByRole('region', { name: 'Retrieved chunks' }).locator('tbody tr');
    expect(await chunks.count()).toBeGreaterThan(0);
    await shot('05-trace');
  });

  it('shows guard findings on a trace', async () => {
    const client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'I am jane.doe@example.com: how do I create an API key?' }],
    });
    await tracesStored(5);
    await page.goto(`${t.url}/#/traces/${encodeURIComponent(r.id)}`);
    const findings = page.getByRole('region', { name: 'Guard findings' });
    await findings.locator('tbody tr').first().waitFor();
    const text = await findings.textContent();
    expect(text).toContain('EMAIL');
    expect(text).toContain('input_guards');
    // Findings are offsets and types: the address itself is never in the trace view.
    expect(await page.locator('main').textContent()).not.toContain('jane.doe@example.com');
    await shot('06-trace-findings');
  });

  it('pages through thousands of traces without rendering them all', async () => {
    const now = Date.now();
    await insertTraces(
      t.keel.db,
      Array.from({ length: 2_000 }, (_, i) => ({
        id: `req_bulk${String(i).padStart(6, '0')}`,
        ts: new Date(now - 60_000 - i * 1_000),
        tenantId: t.keel.defaultTenantId,
        app: 'bulk',
        model: 'bulk',
        status: i % 10 === 0 ? 'error' : 'ok',
        latencyMs: 5 + (i % 50),
        stream: false,
        spans: [],
      })),
    );
    await page.goto(`${t.url}/#/traces?app=bulk`);
    const rows = page.locator('table.traces tbody tr');
    await expect.poll(() => rows.count()).toBe(50);
    const first = await rows.first().getAttribute('data-trace-id');
    await page.getByRole('button', { name: 'Older →' }).click();
    await expect.poll(() => rows.first().getAttribute('data-trace-id')).not.toBe(first);
    expect(await rows.count()).toBe(50);
    expect(await page.getByText('Page 2').count()).toBe(1);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(() => rows.first().getAttribute('data-trace-id')).toBe(first);
    // Filters combine: errors only.
    await page.getByLabel('Status').selectOption('error');
    await page.getByLabel('Since').selectOption('24h');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect
      .poll(() => page.locator('table.traces tbody tr .badge').allTextContents())
      .toEqual(Array(50).fill('error'));
  });

  it('lists eval runs and compares two', async () => {
    const { dataset } = await importDataset(t.keel.db, {
      tenantId: t.keel.defaultTenantId,
      name: 'faq',
      cases: [{ input: 'How do I create an API key?', goldIds: ['keys.md'] }],
    });
    const run = async (metrics: Record<string, number>) => {
      const id = await createRun(t.keel.db, {
        tenantId: t.keel.defaultTenantId,
        dataset,
        app: 'default',
        caseCount: 1,
      });
      await finishRun(t.keel.db, id, { status: 'completed', metrics, completedCases: 1 });
      return id;
    };
    const a = await run({ 'hit@5': 0.8, mrr: 0.7, token_f1: 0.61, latency_p95_ms: 12 });
    const b = await run({ 'hit@5': 0.9, mrr: 0.6, token_f1: 0.61, latency_p95_ms: 11 });

    await page.getByRole('link', { name: 'Eval runs' }).click();
    await page.getByRole('heading', { level: 1, name: 'Eval runs' }).waitFor();
    await page.getByLabel(`Select run ${a} for comparison`).check();
    await page.getByLabel(`Select run ${b} for comparison`).check();
    await shot('07-evals');
    await page.getByRole('button', { name: /Compare selected/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Compare runs' }).waitFor();
    const mrr = page.locator('tr', { has: page.locator('th', { hasText: /^mrr/ }) });
    await expect.poll(() => mrr.textContent()).toContain('regressed');
    expect(
      await page.locator('tr', { has: page.locator('th', { hasText: /^hit@5/ }) }).textContent(),
    ).toContain('improved');
    await shot('08-compare');
  });

  it("lists a collection's documents and shows what a search retrieves", async () => {
    await page.getByRole('link', { name: 'Documents' }).click();
    await page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    const rows = page.locator('table.data tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.allTextContents()).toEqual([
      expect.stringContaining('deploy.md'),
      expect.stringContaining('keys.md'),
    ]);
    await page.getByLabel('Question or words').fill('How do I scale out with a load balancer?');
    await page.getByRole('button', { name: 'Search' }).click();
    const first = page
      .getByRole('list', { name: 'What an app over default retrieves' })
      .locator('li')
      .first();
    await first.waitFor();
    expect(await first.locator('.result-head').textContent()).toContain('deploy.md');
    expect(await first.locator('.result-text').textContent()).toContain('several gateway replicas');
    expect(await first.locator('.result-ranks').textContent()).toMatch(/full-text #1\b/);
    // The search is in the URL: reloading or sharing it shows the same results.
    const [path, params] = new URL(page.url()).hash.split('?');
    expect(path).toBe('#/documents');
    expect(Object.fromEntries(new URLSearchParams(params))).toEqual({
      collection: 'default',
      q: 'How do I scale out with a load balancer?',
    });
    await shot('09-documents-search');
  });

  it('shows usage by app and where budgets stand', async () => {
    const put = await api(t, 'PUT', '/v1/admin/budgets/apps/default', { body: { budget: { daily_usd: 5 } } });
    expect(put.status).toBe(200);
    const [ledger] = await t.keel.db.query<{ n: number }>(
      "select count(*)::int as n from usage_ledger where app = 'default'",
    );
    await page.getByRole('link', { name: 'Usage & budgets' }).click();
    await page.getByRole('heading', { level: 1, name: 'Usage & budgets' }).waitFor();
    const row = page.locator('tbody tr', { has: page.locator('th', { hasText: /^default$/ }) });
    await row.waitFor();
    expect((await row.locator('td').first().textContent())?.trim()).toBe(String(ledger?.n));
    const budgets = page.getByRole('region', { name: 'Budgets' });
    await budgets.getByText('app default').waitFor();
    expect(await budgets.textContent()).toContain('of $5.00');
    expect(await page.locator('[data-chart="usage-cost"]').getAttribute('data-points')).not.toBe('0');
    await shot('10-usage');

    // Back on the overview, the thumbs-down counts in the feedback ratio.
    await page.getByRole('link', { name: 'Overview' }).click();
    const fb = page.locator('.stat', { hasText: 'Positive feedback' });
    await expect.poll(() => fb.textContent()).toContain('0 up · 1 down');
    await shot('11-overview-after');

    // A phone-sized window: the layout reflows instead of overflowing.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Traces' }).click();
    await page.locator('table.traces tbody tr').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, '12-phone-traces.png') });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(consoleErrors).toEqual([]);
  });
});
