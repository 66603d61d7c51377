import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { type Child, freePort, start, waitHttp } from './children.ts';

/**
 * Routes under faults: Keel in front of a route of two targets whose first fails a share of its
 * requests (default 5%) with 503, against a route of one healthy target, same process, same
 * upstream, alternating cells. Measures what the client sees (errors, which should be none, and the
 * latency the fallbacks add at p99), then how long the first target's circuit breaker takes to let
 * traffic back after the target heals. See bench/README.md ("Routes under faults").
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const opts = {
  duration: num('BENCH_DURATION', 10),
  warmup: num('BENCH_WARMUP', 2),
  rounds: num('BENCH_ROUNDS', 2),
  connections: num('BENCH_CONNECTIONS', 16),
  probeSeconds: num('BENCH_PROBE_SECONDS', 5),
  modes: (process.env.BENCH_MODES ?? 'json,sse').split(',') as Mode[],
  chunks: num('BENCH_CHUNKS', 20),
  failRate: num('BENCH_FAIL_RATE', 0.05),
  cooldownMs: num('BENCH_COOLDOWN_MS', 2_000),
};
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PROMPT = 'Summarise why a team puts a gateway between its product and the model providers.';
type Mode = 'json' | 'sse';
const body = (model: string, mode: Mode) =>
  JSON.stringify({
    model,
    messages: [{ role: 'user', content: PROMPT }],
    ...(mode === 'sse' ? { stream: true, stream_options: { include_usage: true } } : {}),
  });

// ---- the upstream, controlled over IPC ----

interface Upstream {
  proc: ChildProcess;
  url: string;
  send(m: object): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/gateway/flaky-upstream.ts')], {
    env: { ...process.env, BENCH_CHUNKS: String(opts.chunks) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const line = await new Promise<string>((res, rej) => {
    proc.once('exit', (c) => rej(new Error(`upstream exited (${c})`)));
    createInterface({ input: proc.stdout! }).once('line', res);
  });
  proc.stdout!.resume();
  const { url } = JSON.parse(line) as { url: string };
  return {
    proc,
    url,
    send: (m) =>
      new Promise((res) => {
        proc.once('message', (r) => res(r as Record<string, unknown>));
        proc.send(m);
      }),
    stop: () =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      }),
  };
}

// ---- Keel with the two routes ----

async function startKeel(upstreamUrl: string) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-routes-'));
  const adminKey = randomBytes(32).toString('base64url');
  const provider = { type: 'openai-compatible', baseUrl: upstreamUrl, apiKey: 'sk-bench-upstream-key' };
  writeFileSync(
    join(dir, 'keel.yaml'),
    stringify({
      providers: { a: provider, b: provider },
      routes: {
        healthy: { targets: [{ provider: 'a', model: 'steady' }] },
        // No same-target retry: a 503 goes straight to the second target, the cheapest recovery.
        flaky: {
          targets: [
            { provider: 'a', model: 'flaky' },
            { provider: 'b', model: 'backup' },
          ],
          retries: { max: 0 },
        },
      },
      breakers: { cooldownMs: opts.cooldownMs },
    }),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_CONFIG: join(dir, 'keel.yaml'),
    KEEL_HOST: '127.0.0.1',
    KEEL_PORT: String(port),
    KEEL_DATA_DIR: join(dir, 'data'),
    KEEL_ADMIN_KEY: adminKey,
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.OPENAI_API_KEY;
  delete env.OPENAI_BASE_URL;
  const child = start('keel', [join(ROOT, 'bin/keel.js'), 'serve', '--no-seed'], env, 'ignore');
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${origin}/readyz`, child);
  } catch (e) {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { child, dir, origin, headers: { authorization: `Bearer ${adminKey}` } };
}

// ---- load: N keep-alive connections, every response checked ----

type Verdict = 'ok' | 'fallback' | 'error';

function verdict(mode: Mode, status: number, text: string): Verdict {
  const complete =
    status === 200 &&
    (mode === 'json'
      ? text.includes('"finish_reason":"stop"')
      : text.endsWith('data: [DONE]\n\n') &&
        text.includes('"finish_reason":"stop"') &&
        !text.includes('{"error"'));
  if (!complete) return 'error';
  return text.includes('"model":"backup"') ? 'fallback' : 'ok';
}

function request(
  agent: http.Agent,
  origin: string,
  headers: Record<string, string>,
  payload: string,
): Promise<{ status: number; text: string; ms: number }> {
  const url = new URL(`${origin}/v1/chat/completions`);
  return new Promise((res) => {
    const t0 = performance.now();
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...headers,
        },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () =>
          res({
            status: r.statusCode ?? 0,
            text: Buffer.concat(chunks).toString(),
            ms: performance.now() - t0,
          }),
        );
        r.on('error', () => res({ status: 0, text: '', ms: performance.now() - t0 }));
      },
    );
    req.on('error', () => res({ status: 0, text: '', ms: performance.now() - t0 }));
    req.end(payload);
  });
}

interface Cell {
  /** One connection, sequential requests: latency without queueing. */
  probe: { requests: number; errors: number; fallbacks: number; p50: number; p99: number };
  requests: number;
  errors: number;
  fallbacks: number;
  rps: number;
  p50: number;
  p99: number;
  /** p50 of the requests the second target served, and of those the first served. */
  fallbackP50: number;
  directP50: number;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

async function load(
  k: { origin: string; headers: Record<string, string> },
  model: string,
  mode: Mode,
  seconds: number,
  connections = opts.connections,
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const payload = body(model, mode);
  const ms: number[] = [];
  const direct: number[] = [];
  const viaFallback: number[] = [];
  let errors = 0;
  let fallbacks = 0;
  let firstError: string | undefined;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = await request(agent, k.origin, k.headers, payload);
      const v = verdict(mode, r.status, r.text);
      if (v === 'error') {
        errors++;
        firstError ??= `HTTP ${r.status}: ${r.text.slice(-300)}`;
      }
      if (v === 'fallback') fallbacks++;
      ms.push(r.ms);
      (v === 'fallback' ? viaFallback : direct).push(r.ms);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  for (const xs of [ms, direct, viaFallback]) xs.sort((x, y) => x - y);
  if (firstError) log(`  first error (${model} ${mode}): ${firstError}`);
  return {
    requests: ms.length,
    errors,
    fallbacks,
    rps: ms.length / seconds,
    p50: pct(ms, 0.5),
    p99: pct(ms, 0.99),
    fallbackP50: pct(viaFallback, 0.5),
    directP50: pct(direct, 0.5),
  };
}

// ---- recovery: open the breaker, heal the target, time until it serves again ----

async function breakerState(k: { origin: string; headers: Record<string, string> }, target: string) {
  const res = await fetch(`${k.origin}/v1/admin/breakers`, { headers: k.headers });
  const data = ((await res.json()) as { data: { target: string; state: string }[] }).data;
  return data.find((b) => b.target === target)?.state;
}

async function recovery(k: { origin: string; headers: Record<string, string> }, up: Upstream) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const payload = body('flaky', 'json');
  let errors = 0;
  let requests = 0;
  await up.send({ rates: { flaky: 1 } });
  for (let i = 0; i < 1_000 && (await breakerState(k, 'a/flaky')) !== 'open'; i++) {
    const r = await request(agent, k.origin, k.headers, payload);
    requests++;
    if (verdict('json', r.status, r.text) === 'error') errors++;
  }
  const before = ((await up.send({ stats: true })).counts as Record<string, number>).flaky ?? 0;
  await up.send({ rates: { flaky: 0 } });
  const healed = performance.now();
  let back: number | undefined;
  // Sequential requests every 5 ms: the recovery time is accurate to about that.
  while (performance.now() - healed < opts.cooldownMs * 3 + 5_000) {
    const r = await request(agent, k.origin, k.headers, payload);
    requests++;
    const v = verdict('json', r.status, r.text);
    if (v === 'error') errors++;
    if (v === 'ok') {
      back = performance.now() - healed;
      break;
    }
    await sleep(5);
  }
  const after = ((await up.send({ stats: true })).counts as Record<string, number>).flaky ?? 0;
  const state = await breakerState(k, 'a/flaky');
  agent.destroy();
  return { recoveryMs: back, requests, errors, callsToTargetWhileOpen: after - before, stateAfter: state };
}

// ---- main ----

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main() {
  log(`bench:routes ${JSON.stringify(opts)}`);
  const up = await startUpstream();
  let keel: Awaited<ReturnType<typeof startKeel>> | undefined;
  const children: Child[] = [];
  try {
    keel = await startKeel(up.url);
    children.push(keel.child);
    await up.send({ rates: { flaky: opts.failRate } });
    const cells: Record<string, Cell[]> = {};
    for (const mode of opts.modes) {
      for (const m of ['healthy', 'flaky']) if (opts.warmup > 0) await load(keel, m, mode, opts.warmup);
      for (let round = 0; round < opts.rounds; round++) {
        const order = round % 2 === 0 ? ['healthy', 'flaky'] : ['flaky', 'healthy'];
        for (const m of order) {
          const loaded = await load(keel, m, mode, opts.duration);
          const p = await load(keel, m, mode, opts.probeSeconds, 1);
          const c: Cell = {
            ...loaded,
            probe: { requests: p.requests, errors: p.errors, fallbacks: p.fallbacks, p50: p.p50, p99: p.p99 },
          };
          if (keel.child.proc.exitCode !== null || keel.child.proc.signalCode !== null) {
            throw new Error(
              `Keel exited (${keel.child.proc.exitCode ?? keel.child.proc.signalCode}): ${keel.child.stderrTail()}`,
            );
          }
          const list = cells[`${mode} ${m}`] ?? [];
          list.push(c);
          cells[`${mode} ${m}`] = list;
          log(
            `round ${round + 1} ${mode} ${m}: ${c.requests} req, ${c.errors} errors, ${c.fallbacks} fallbacks, ` +
              `p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms, fallback p50 ${c.fallbackP50.toFixed(2)} ms; ` +
              `1-conn ${c.probe.requests} req, ${c.probe.errors} errors, p50 ${c.probe.p50.toFixed(2)} ms, ` +
              `p99 ${c.probe.p99.toFixed(2)} ms`,
          );
        }
      }
    }
    const breakersUnderNoise = await breakerState(keel, 'a/flaky');
    const rec = await recovery(keel, up);
    log(`recovery: ${JSON.stringify(rec)}`);

    const lines: string[] = [];
    for (const mode of opts.modes) {
      const sum = (name: string) => {
        const cs = cells[`${mode} ${name}`]!;
        const requests = cs.reduce((n, c) => n + c.requests + c.probe.requests, 0);
        return {
          requests,
          errors: cs.reduce((n, c) => n + c.errors + c.probe.errors, 0),
          fallbacks: cs.reduce((n, c) => n + c.fallbacks + c.probe.fallbacks, 0),
          probeP50: median(cs.map((c) => c.probe.p50)),
          probeP99: median(cs.map((c) => c.probe.p99)),
          rps: median(cs.map((c) => c.rps)),
          p50: median(cs.map((c) => c.p50)),
          p99: median(cs.map((c) => c.p99)),
          fallbackP50: median(cs.map((c) => c.fallbackP50)),
          directP50: median(cs.map((c) => c.directP50)),
        };
      };
      const h = sum('healthy');
      const f = sum('flaky');
      lines.push(
        `### ${mode === 'json' ? 'Non-streaming JSON' : `SSE (${opts.chunks} chunks)`}, ${opts.connections} connections`,
        '',
        '| route | requests | client errors | served by fallback | RPS | p50 ms | p99 ms | 1-conn p50 ms | 1-conn p99 ms |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [name, x] of [
        ['healthy (1 target)', h],
        [`flaky (${(opts.failRate * 100).toFixed(0)}% 503 → fallback)`, f],
      ] as const) {
        lines.push(
          `| ${name} | ${x.requests} | ${x.errors} (${((100 * x.errors) / Math.max(1, x.requests)).toFixed(2)}%) | ${x.fallbacks} (${((100 * x.fallbacks) / Math.max(1, x.requests)).toFixed(2)}%) | ${x.rps.toFixed(0)} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.probeP50.toFixed(2)} | ${x.probeP99.toFixed(2)} |`,
        );
      }
      lines.push(
        '',
        `Flaky route vs healthy, one connection: p50 ${(f.probeP50 - h.probeP50).toFixed(2)} ms, ` +
          `p99 **${(f.probeP99 - h.probeP99).toFixed(2)} ms** added; under load (${opts.connections} connections): ` +
          `p50 ${(f.p50 - h.p50).toFixed(2)} ms, p99 ${(f.p99 - h.p99).toFixed(2)} ms. ` +
          `Within the flaky cells, a request served by the fallback took ${(f.fallbackP50 - f.directP50).toFixed(2)} ms ` +
          `longer at p50 than one served by the first target.`,
        '',
      );
    }
    lines.push(
      `Breaker of the flaky target after the load: ${breakersUnderNoise} (5% noise must not open it).`,
      '',
      `Recovery: target down until its breaker opened, then healed: traffic back on it after ` +
        `**${rec.recoveryMs?.toFixed(0) ?? 'never'} ms** (cool-down ${opts.cooldownMs} ms); calls to it while open: ` +
        `${rec.callsToTargetWhileOpen}; client errors during outage and recovery: ${rec.errors} of ${rec.requests}; ` +
        `breaker afterwards: ${rec.stateAfter}.`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `routes-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({ opts, node: process.version, cells, breakersUnderNoise, recovery: rec }, null, 2),
    );
    log(`results: ${file}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await up.stop();
    if (keel) rmSync(keel.dir, { recursive: true, force: true });
  }
}

await main();
