import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, cpuMs, createDatabase, freePort, start, startAnnounced, waitHttp } from './children.ts';
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
  rate: num('BENCH_RATE', 0),
  kinds: (process.env.BENCH_KINDS ?? 'json,sse')
    .split(',')
    .filter((k): k is Mode => k === 'json' || k === 'sse'),
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
  /** For a Keel on PostgreSQL: the server processes serving its database (their CPU is the store's). */
  storePids?: () => Promise<number[]>;
}

interface Cell extends LoadResult {
  cpuPerReq: number;
  upstreamCpuPerReq: number;
  /** CPU of the PostgreSQL backends serving the target's database; NaN without one. */
  storeCpuPerReq: number;
  probe: ProbeResult;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * A Keel target: `keel` (embedded PGlite, what `npm start` gives a new user), `keel-pg` (the store on
 * PostgreSQL: a fresh database on `DATABASE_URL`'s server, dropped afterwards), and the same two from
 * another checkout (`BENCH_BASELINE_ROOT`) as `base` / `base-pg`, to compare two versions in one run.
 */
interface KeelSpec {
  name: string;
  root: string;
  postgres: boolean;
}

function keelSpecs(): KeelSpec[] {
  const base = process.env.BENCH_BASELINE_ROOT;
  const all: KeelSpec[] = [
    { name: 'keel', root: ROOT, postgres: false },
    { name: 'keel-pg', root: ROOT, postgres: true },
  ];
  if (base) {
    all.push({ name: 'base', root: resolve(base), postgres: false });
    all.push({ name: 'base-pg', root: resolve(base), postgres: true });
  }
  return all.filter((k) => opts.targets.includes(k.name));
}

async function startKeel(
  spec: KeelSpec,
  upstreamUrl: string,
): Promise<{ child: Child; runner: Runner; cleanup: () => Promise<void> }> {
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
  // The defaults otherwise: no Redis, no config file (unless BENCH_KEEL_CONFIG names one).
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.KEEL_CONFIG;
  if (process.env.BENCH_KEEL_CONFIG) env.KEEL_CONFIG = resolve(process.env.BENCH_KEEL_CONFIG);
  const database = spec.postgres ? await createDatabase(spec.name) : undefined;
  if (database) env.DATABASE_URL = database.url;
  const cleanup = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
  };
  const child = start(spec.name, [join(spec.root, 'bin/keel.js'), 'serve', '--no-seed'], env, 'ignore');
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
      cleanup,
      runner: {
        name: spec.name,
        origin,
        headers: { authorization: `Bearer ${created.key}` },
        pid: child.pid,
        ...(database ? { storePids: database.pids } : {}),
      },
    };
  } catch (e) {
    await child.stop();
    await cleanup();
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

/** CPU ms of each live process in `pids` (a process that has exited counts as 0). */
function cpuOf(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    try {
      m.set(pid, cpuMs(pid));
    } catch {
      // gone
    }
  }
  return m;
}

async function cell(r: Runner, upstreamPid: number, mode: Mode): Promise<Cell> {
  if (opts.warmup > 0) await cannon(r, BODIES[mode], opts.connections, opts.warmup);
  const s0 = r.storePids ? cpuOf(await r.storePids()) : undefined;
  const c0 = cpuMs(r.pid);
  const u0 = cpuMs(upstreamPid);
  const load = await cannon(r, BODIES[mode], opts.connections, opts.duration, opts.rate);
  const cpu = cpuMs(r.pid) - c0;
  const ucpu = cpuMs(upstreamPid) - u0;
  let store = Number.NaN;
  if (r.storePids && s0) {
    // Backends that connected during the cell count from zero.
    const s1 = cpuOf([...new Set([...s0.keys(), ...(await r.storePids())])]);
    store = 0;
    for (const [pid, ms] of s1) store += ms - (s0.get(pid) ?? 0);
  }
  const p = await probe(r, BODIES[mode], opts.probeSeconds);
  const n = Math.max(1, load.requests);
  return { ...load, cpuPerReq: cpu / n, upstreamCpuPerReq: ucpu / n, storeCpuPerReq: store / n, probe: p };
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
    storeCpuMsPerReq: m((c) => c.storeCpuPerReq),
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
    '| target | RPS | p50 ms | p99 ms | errors | CPU ms/req (process) | PostgreSQL CPU ms/req | upstream CPU ms/req | 1-conn p50 µs | added µs | first byte p50 µs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, x] of Object.entries(s)) {
    const added = d && name !== 'direct' ? (x.oneConnP50Us - d.oneConnP50Us).toFixed(0) : '—';
    lines.push(
      `| ${name} | ${x.rps.toFixed(0)} | ${x.p50Ms.toFixed(0)} | ${x.p99Ms.toFixed(0)} | ${x.errors} | ${x.cpuMsPerReq.toFixed(3)} | ${Number.isNaN(x.storeCpuMsPerReq) ? '—' : x.storeCpuMsPerReq.toFixed(3)} | ${x.upstreamCpuMsPerReq.toFixed(3)} | ${x.oneConnP50Us.toFixed(0)} | ${added} | ${x.ttfbP50Us.toFixed(0)} |`,
    );
  }
  const b = s.bare;
  const keels = Object.keys(s).filter((n) => n.startsWith('keel') || n.startsWith('base'));
  if (b && keels.length > 0) lines.push('');
  for (const name of b ? keels : []) {
    const k = s[name]!;
    const withStore = Number.isNaN(k.storeCpuMsPerReq)
      ? ''
      : `, **${((k.cpuMsPerReq + k.storeCpuMsPerReq) / b!.cpuMsPerReq).toFixed(2)}x** with its PostgreSQL backends`;
    lines.push(
      `${name} / bare proxy CPU per request: **${(k.cpuMsPerReq / b!.cpuMsPerReq).toFixed(2)}x**${withStore} (target ≤ 3x); ` +
        `first byte ${((k.ttfbP50Us - b!.ttfbP50Us) / 1000).toFixed(2)} ms after the bare proxy's (target ≤ 1 ms).`,
    );
  }
  return lines.join('\n');
}

async function main() {
  log(`bench:gateway ${JSON.stringify(opts)}`);
  const children: Child[] = [];
  const cleanup: (() => Promise<void>)[] = [];
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
    for (const spec of keelSpecs()) {
      try {
        const k = await startKeel(spec, up.info.url);
        children.push(k.child);
        cleanup.push(k.cleanup);
        runners.push(k.runner);
      } catch (e) {
        const msg = `${spec.name} could not be benchmarked: ${(e as Error).message.split('\n')[0]}`;
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
      for (const mode of opts.kinds) {
        for (const r of order) {
          const c = await cell(r, up.child.pid, mode);
          const list = cells[mode][r.name] ?? [];
          list.push(c);
          cells[mode][r.name] = list;
          const store = Number.isNaN(c.storeCpuPerReq) ? '' : ` (+${c.storeCpuPerReq.toFixed(3)} PostgreSQL)`;
          log(
            `round ${round + 1} ${mode} ${r.name}: ${c.rps.toFixed(0)} rps, p50 ${c.p50} ms, p99 ${c.p99} ms, ` +
              `cpu ${c.cpuPerReq.toFixed(3)}${store} ms/req, 1-conn p50 ${c.probe.p50.toFixed(0)} µs, ttfb ${c.probe.ttfbP50.toFixed(0)} µs, errors ${c.errors}`,
          );
        }
      }
    }
    const summary: Record<Mode, Record<string, Summary>> = { json: {}, sse: {} };
    for (const mode of opts.kinds) {
      for (const r of runners) summary[mode][r.name] = summarise(cells[mode][r.name]!);
    }
    const report = [
      ...opts.kinds.flatMap((mode) => [table(mode, summary[mode]), '']),
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
    for (const f of cleanup) await f().catch((e: Error) => log(`cleanup: ${e.message}`));
  }
}

await main();
