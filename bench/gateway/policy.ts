import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { type Child, cpuMs, freePort, start, startAnnounced, waitHttp } from './children.ts';
import { cannon, fetchOnce, type LoadResult, type ProbeResult, probe, type Target } from './load.ts';

/**
 * What Keel's policy chain costs per request: the same pass-through load against Keel with auth
 * only (the baseline: auth, pass-through, usage ledger), with the full chain (auth + RPM + TPM +
 * concurrency + daily budget hold/settle, on the key and on the tenant, + the priced ledger entry)
 * on the in-process SharedState and on Redis, and with every request answered by the exact cache.
 * Each Keel runs in its own process; cells alternate within a round. See bench/README.md.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const opts = {
  duration: num('BENCH_DURATION', 8),
  warmup: num('BENCH_WARMUP', 2),
  rounds: num('BENCH_ROUNDS', 2),
  connections: num('BENCH_CONNECTIONS', 16),
  probeSeconds: num('BENCH_PROBE_SECONDS', 3),
  chunks: num('BENCH_CHUNKS', 20),
  targets: (process.env.BENCH_TARGETS ?? 'auth,chain-memory,chain-redis,cache-hit').split(','),
};
const REDIS_URL = process.env.REDIS_URL;
const log = (s: string) => process.stderr.write(`${s}\n`);

const PROMPT =
  'Summarise why a team puts a gateway between its product and the model providers, in twenty words.';
const BODIES = {
  json: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: PROMPT }] }),
  sse: JSON.stringify({
    model: 'gpt-test',
    messages: [{ role: 'user', content: PROMPT }],
    stream: true,
    stream_options: { include_usage: true },
  }),
};
type Mode = keyof typeof BODIES;

// Limits far above the load, so every request runs the whole chain and none is refused. `chain-*`:
// the key's requests/min, tokens/min and daily budget (the chain the issue names); `wide-redis`: the
// same on the key and its tenant, plus a concurrency limit on each (8 checks instead of 3).
const KEY_CHAIN = { limits: { rpm: 100_000_000, tpm: 1_000_000_000_000 }, budget: { dailyUsd: 1_000_000 } };
const WIDE = { limits: { ...KEY_CHAIN.limits, concurrency: 100_000 }, budget: KEY_CHAIN.budget };

function configFor(target: string, upstreamUrl: string, prefix: string): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    providers: { openai: { type: 'openai-compatible', baseUrl: upstreamUrl, apiKey: 'sk-bench' } },
    passthroughProvider: 'openai',
    prices: { 'openai/*': { input: 0.15, output: 0.6 } },
  };
  if (target.startsWith('chain')) cfg.policy = { keys: KEY_CHAIN };
  if (target === 'wide-redis') cfg.policy = { keys: WIDE, tenants: { '*': WIDE } };
  if (target.endsWith('redis')) {
    cfg.redisUrl = REDIS_URL;
    cfg.redisPrefix = prefix;
  }
  if (target === 'cache-hit') cfg.cache = { exact: { enabled: true, ttlMs: 3_600_000 } };
  return cfg;
}

interface Runner extends Target {
  pid: number;
}

async function startKeel(target: string, upstreamUrl: string, prefix: string) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `keel-bench-${target}-`));
  const adminKey = randomBytes(32).toString('base64url');
  writeFileSync(join(dir, 'keel.yaml'), stringify(configFor(target, upstreamUrl, prefix)));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_CONFIG: join(dir, 'keel.yaml'),
    KEEL_HOST: '127.0.0.1',
    KEEL_PORT: String(port),
    KEEL_DATA_DIR: join(dir, 'data'),
    KEEL_ADMIN_KEY: adminKey,
  };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'OPENAI_API_KEY', 'OPENAI_BASE_URL']) delete env[k];
  const child = start(target, [join(ROOT, 'bin/keel.js'), 'serve', '--no-seed'], env, 'ignore');
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${origin}/readyz`, child);
    const res = await fetch(`${origin}/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', role: 'member', user: 'bench-user' }),
    });
    const created = (await res.json()) as { key?: string };
    if (!created.key) throw new Error(`creating a key failed: HTTP ${res.status}`);
    const runner: Runner = {
      name: target,
      origin,
      headers: { authorization: `Bearer ${created.key}` },
      pid: child.pid,
    };
    return { child, dir, runner };
  } catch (e) {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function check(r: Runner): Promise<void> {
  for (const mode of ['json', 'sse'] as const) {
    const res = await fetchOnce(r, BODIES[mode]);
    const ok =
      mode === 'json'
        ? res.text.includes('You said')
        : res.text.includes('"usage":{') && res.text.endsWith('data: [DONE]\n\n');
    if (res.status !== 200 || !ok) {
      throw new Error(`${r.name} ${mode}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
    }
  }
}

interface Cell extends LoadResult {
  cpuPerReq: number;
  probe: ProbeResult;
}

async function cell(r: Runner, mode: Mode): Promise<Cell> {
  if (opts.warmup > 0) await cannon(r, BODIES[mode], opts.connections, opts.warmup);
  const c0 = cpuMs(r.pid);
  const load = await cannon(r, BODIES[mode], opts.connections, opts.duration);
  const cpu = cpuMs(r.pid) - c0;
  const p = await probe(r, BODIES[mode], opts.probeSeconds);
  return { ...load, cpuPerReq: cpu / Math.max(1, load.requests), probe: p };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function summarise(cells: Cell[]) {
  const m = (f: (c: Cell) => number) => median(cells.map(f));
  return {
    rps: m((c) => c.rps),
    errors: cells.reduce((n, c) => n + c.errors, 0),
    cpuMsPerReq: m((c) => c.cpuPerReq),
    oneConnP50Us: m((c) => c.probe.p50),
    oneConnP99Us: m((c) => c.probe.p99),
    ttfbP50Us: m((c) => c.probe.ttfbP50),
  };
}
type Summary = ReturnType<typeof summarise>;

function table(mode: Mode, s: Record<string, Summary>): string {
  const base = s.auth;
  const lines = [
    `### ${mode === 'json' ? 'Non-streaming JSON' : `SSE (${opts.chunks} content chunks)`}`,
    '',
    '| Keel | RPS | errors | CPU ms/req | CPU vs auth | 1-conn p50 µs | added p50 µs | 1-conn p99 µs | added p99 µs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, x] of Object.entries(s)) {
    const vs = (f: (y: Summary) => number, d = 0) =>
      base && name !== 'auth' ? (f(x) - f(base)).toFixed(d) : '—';
    const ratio = base && name !== 'auth' ? `${(x.cpuMsPerReq / base.cpuMsPerReq).toFixed(2)}x` : '—';
    lines.push(
      `| ${name} | ${x.rps.toFixed(0)} | ${x.errors} | ${x.cpuMsPerReq.toFixed(3)} | ${ratio} | ${x.oneConnP50Us.toFixed(0)} | ${vs((y) => y.oneConnP50Us)} | ${x.oneConnP99Us.toFixed(0)} | ${vs((y) => y.oneConnP99Us)} |`,
    );
  }
  const redis = s['chain-redis'];
  if (redis && base) {
    const added = (redis.oneConnP50Us - base.oneConnP50Us) / 1000;
    lines.push(
      '',
      `Full chain on Redis adds **${added.toFixed(2)} ms** at p50 over auth only (target < 1 ms).`,
    );
  }
  return lines.join('\n');
}

async function dropPrefix(prefix: string): Promise<void> {
  if (!REDIS_URL) return;
  const r = new Redis(REDIS_URL, { lazyConnect: true });
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await r.quit();
  }
}

async function main() {
  log(`bench:policy ${JSON.stringify(opts)}`);
  const children: Child[] = [];
  const dirs: string[] = [];
  const notes: string[] = [];
  const prefix = `keel_bench_${randomBytes(4).toString('hex')}:`;
  try {
    const up = await startAnnounced<{ port: number; url: string }>(
      'upstream',
      ['--import', 'tsx', join(ROOT, 'bench/gateway/upstream.ts')],
      { ...process.env, BENCH_CHUNKS: String(opts.chunks) },
    );
    children.push(up.child);
    const runners: Runner[] = [];
    for (const target of opts.targets) {
      if (target.endsWith('redis') && !REDIS_URL) {
        notes.push(`${target} skipped: REDIS_URL is not set`);
        continue;
      }
      try {
        const k = await startKeel(target, up.info.url, prefix);
        children.push(k.child);
        dirs.push(k.dir);
        await check(k.runner);
        runners.push(k.runner);
        log(`${target} ready`);
      } catch (e) {
        notes.push(`${target} skipped: ${(e as Error).message.split('\n')[0]}`);
        log(notes.at(-1)!);
      }
    }
    const cells: Record<Mode, Record<string, Cell[]>> = { json: {}, sse: {} };
    for (let round = 0; round < opts.rounds; round++) {
      const order = runners.map((_, i) => runners[(i + round) % runners.length]!);
      for (const mode of ['json', 'sse'] as const) {
        for (const r of order) {
          const c = await cell(r, mode);
          const list = cells[mode][r.name] ?? [];
          list.push(c);
          cells[mode][r.name] = list;
          log(
            `round ${round + 1} ${mode} ${r.name}: ${c.rps.toFixed(0)} rps, cpu ${c.cpuPerReq.toFixed(3)} ms/req, ` +
              `1-conn p50 ${c.probe.p50.toFixed(0)} µs, p99 ${c.probe.p99.toFixed(0)} µs, errors ${c.errors}`,
          );
        }
      }
    }
    const summary: Record<Mode, Record<string, Summary>> = { json: {}, sse: {} };
    for (const mode of ['json', 'sse'] as const) {
      for (const r of runners) summary[mode][r.name] = summarise(cells[mode][r.name]!);
    }
    const report = [
      table('json', summary.json),
      '',
      table('sse', summary.sse),
      ...notes.map((n) => `\n> ${n}`),
    ];
    process.stdout.write(`${report.join('\n')}\n`);
    const out = join(ROOT, 'bench/results');
    mkdirSync(out, { recursive: true });
    const file = join(out, `policy-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ opts, node: process.version, summary, cells, notes }, null, 2));
    log(`results: ${file}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await dropPrefix(prefix).catch(() => undefined);
  }
}

await main();
