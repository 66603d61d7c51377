import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, cpuMs, freePort, start, startAnnounced, waitHttp } from './children.ts';
import { cannon, fetchOnce, type LoadResult, type ProbeResult, probe, type Target } from './load.ts';

/**
 * Gateway overhead: the same OpenAI-style load (a) straight at the test upstream, (b) through a bare
 * node:http pass-through (the floor), (c) through Keel's pass-through with auth on. Each runs in its
 * own process; CPU per request comes from /proc. Cells alternate within each round so machine noise
 * hits every target alike; figures are medians over rounds. See bench/README.md.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const opts = {
  duration: num('BENCH_DURATION', 10),
  warmup: num('BENCH_WARMUP', 3),
  rounds: num('BENCH_ROUNDS', 2),
  connections: num('BENCH_CONNECTIONS', 32),
  probeSeconds: num('BENCH_PROBE_SECONDS', 3),
  chunks: num('BENCH_CHUNKS', 20),
  targets: (process.env.BENCH_TARGETS ?? 'direct,bare,provider,keel').split(','),
};

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

interface Runner extends Target {
  /** The process whose CPU counts as this target's (the upstream itself for `direct`). */
  pid: number;
}

interface Cell extends LoadResult {
  cpuPerReq: number;
  upstreamCpuPerReq: number;
  probe: ProbeResult;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

async function startKeel(upstreamUrl: string): Promise<{ child: Child; runner: Runner; dataDir: string }> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-bench-'));
  const adminKey = randomBytes(32).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_HOST: '127.0.0.1',
    KEEL_PORT: String(port),
    KEEL_DATA_DIR: dataDir,
    KEEL_ADMIN_KEY: adminKey,
    OPENAI_API_KEY: 'sk-bench-upstream-key',
    OPENAI_BASE_URL: upstreamUrl,
  };
  // The embedded defaults: what `npm start` gives a new user.
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.KEEL_CONFIG;
  const child = start('keel', [join(ROOT, 'bin/keel.js'), 'serve', '--no-seed'], env, 'ignore');
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${origin}/readyz`, child);
    const res = await fetch(`${origin}/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', role: 'member' }),
    });
    const created = (await res.json()) as { key?: string };
    if (!res.ok || !created.key)
      throw new Error(`creating a key failed: HTTP ${res.status} ${JSON.stringify(created)}`);
    return {
      child,
      dataDir,
      runner: { name: 'keel', origin, headers: { authorization: `Bearer ${created.key}` }, pid: child.pid },
    };
  } catch (e) {
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}

async function check(r: Runner): Promise<void> {
  for (const mode of ['json', 'sse'] as const) {
    const res = await fetchOnce(r, BODIES[mode]);
    const ok =
      res.status === 200 &&
      (mode === 'json'
        ? res.text.includes('You said')
        : res.text.includes('"usage":{') && res.text.endsWith('data: [DONE]\n\n'));
    if (!ok) throw new Error(`${r.name} ${mode}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  }
}

async function cell(r: Runner, upstreamPid: number, mode: Mode): Promise<Cell> {
  if (opts.warmup > 0) await cannon(r, BODIES[mode], opts.connections, opts.warmup);
  const c0 = cpuMs(r.pid);
  const u0 = cpuMs(upstreamPid);
  const load = await cannon(r, BODIES[mode], opts.connections, opts.duration);
  const cpu = cpuMs(r.pid) - c0;
  const ucpu = cpuMs(upstreamPid) - u0;
  const p = await probe(r, BODIES[mode], opts.probeSeconds);
  const n = Math.max(1, load.requests);
  return { ...load, cpuPerReq: cpu / n, upstreamCpuPerReq: ucpu / n, probe: p };
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
    p50Ms: m((c) => c.p50),
    p99Ms: m((c) => c.p99),
    errors: cells.reduce((n, c) => n + c.errors, 0),
    cpuMsPerReq: m((c) => c.cpuPerReq),
    upstreamCpuMsPerReq: m((c) => c.upstreamCpuPerReq),
    oneConnP50Us: m((c) => c.probe.p50),
    oneConnP99Us: m((c) => c.probe.p99),
    ttfbP50Us: m((c) => c.probe.ttfbP50),
    ttfbP99Us: m((c) => c.probe.ttfbP99),
  };
}
type Summary = ReturnType<typeof summarise>;

function table(mode: Mode, s: Record<string, Summary>): string {
  const d = s.direct;
  const lines = [
    `### ${mode === 'json' ? 'Non-streaming JSON' : `SSE streaming (${opts.chunks} content chunks + role, finish, usage)`}`,
    '',
    '| target | RPS | p50 ms | p99 ms | errors | CPU ms/req (process) | upstream CPU ms/req | 1-conn p50 µs | added µs | first byte p50 µs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, x] of Object.entries(s)) {
    const added = d && name !== 'direct' ? (x.oneConnP50Us - d.oneConnP50Us).toFixed(0) : '—';
    lines.push(
      `| ${name} | ${x.rps.toFixed(0)} | ${x.p50Ms.toFixed(0)} | ${x.p99Ms.toFixed(0)} | ${x.errors} | ${x.cpuMsPerReq.toFixed(3)} | ${x.upstreamCpuMsPerReq.toFixed(3)} | ${x.oneConnP50Us.toFixed(0)} | ${added} | ${x.ttfbP50Us.toFixed(0)} |`,
    );
  }
  const k = s.keel;
  const b = s.bare;
  if (k && b) {
    lines.push(
      '',
      `Keel / bare proxy CPU per request: **${(k.cpuMsPerReq / b.cpuMsPerReq).toFixed(2)}x** (target ≤ 3x); ` +
        `first byte: Keel ${((k.ttfbP50Us - b.ttfbP50Us) / 1000).toFixed(2)} ms after the bare proxy (target ≤ 1 ms).`,
    );
  }
  return lines.join('\n');
}

async function main() {
  log(`bench:gateway ${JSON.stringify(opts)}`);
  const children: Child[] = [];
  const cleanup: (() => void)[] = [];
  const notes: string[] = [];
  try {
    const up = await startAnnounced<{ port: number; url: string }>(
      'upstream',
      ['--import', 'tsx', join(ROOT, 'bench/gateway/upstream.ts')],
      {
        ...process.env,
        BENCH_CHUNKS: String(opts.chunks),
      },
    );
    children.push(up.child);
    const runners: Runner[] = [];
    if (opts.targets.includes('direct')) {
      runners.push({
        name: 'direct',
        origin: `http://127.0.0.1:${up.info.port}`,
        headers: {},
        pid: up.child.pid,
      });
    }
    if (opts.targets.includes('bare')) {
      const bare = await startAnnounced<{ port: number }>(
        'bare',
        ['--import', 'tsx', join(ROOT, 'bench/gateway/bare-proxy.ts')],
        {
          ...process.env,
          UPSTREAM_URL: `http://127.0.0.1:${up.info.port}`,
        },
      );
      children.push(bare.child);
      runners.push({
        name: 'bare',
        origin: `http://127.0.0.1:${bare.info.port}`,
        headers: {},
        pid: bare.child.pid,
      });
    }
    if (opts.targets.includes('provider')) {
      const pp = await startAnnounced<{ port: number }>(
        'provider',
        ['--import', 'tsx', join(ROOT, 'bench/gateway/provider-proxy.ts')],
        {
          ...process.env,
          UPSTREAM_URL: up.info.url,
        },
      );
      children.push(pp.child);
      runners.push({
        name: 'provider',
        origin: `http://127.0.0.1:${pp.info.port}`,
        headers: {},
        pid: pp.child.pid,
      });
    }
    if (opts.targets.includes('keel')) {
      try {
        const k = await startKeel(up.info.url);
        children.push(k.child);
        cleanup.push(() => rmSync(k.dataDir, { recursive: true, force: true }));
        runners.push(k.runner);
      } catch (e) {
        const msg = `Keel could not be benchmarked: ${(e as Error).message.split('\n')[0]}`;
        notes.push(msg);
        log(msg);
      }
    }
    for (const r of [...runners]) {
      try {
        await check(r);
      } catch (e) {
        notes.push(`${r.name} skipped: ${(e as Error).message}`);
        log(notes.at(-1)!);
        runners.splice(runners.indexOf(r), 1);
      }
    }
    const cells: Record<Mode, Record<string, Cell[]>> = { json: {}, sse: {} };
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate the order every round so no target always runs first (or last) on a warming machine.
      const order = runners.map((_, i) => runners[(i + round) % runners.length]!);
      for (const mode of ['json', 'sse'] as const) {
        for (const r of order) {
          const c = await cell(r, up.child.pid, mode);
          const list = cells[mode][r.name] ?? [];
          list.push(c);
          cells[mode][r.name] = list;
          log(
            `round ${round + 1} ${mode} ${r.name}: ${c.rps.toFixed(0)} rps, p50 ${c.p50} ms, p99 ${c.p99} ms, ` +
              `cpu ${c.cpuPerReq.toFixed(3)} ms/req, 1-conn p50 ${c.probe.p50.toFixed(0)} µs, ttfb ${c.probe.ttfbP50.toFixed(0)} µs, errors ${c.errors}`,
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
    ].join('\n');
    process.stdout.write(`${report}\n`);
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ opts, node: process.version, summary, cells, notes }, null, 2));
    log(`results: ${file}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    for (const f of cleanup) f();
  }
}

await main();
