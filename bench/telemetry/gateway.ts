import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, cpuMs, freePort, start, startAnnounced, waitHttp } from '../gateway/children.ts';
import { cannon, type LoadResult, type Target } from '../gateway/load.ts';
import { log, median } from './common.ts';

/**
 * Tracing's cost on the gateway: the same pass-through JSON load through two `keel serve`
 * processes (embedded PGlite each) that differ only in `telemetry.traces`, alternating within each
 * round. Reported as ratios (on / off) of RPS, p99 and CPU per request, plus how many of the
 * requests served under load ended up as stored traces (the sink keeping up: 100% means no drops).
 */

interface Keel {
  name: 'traces on' | 'traces off';
  child: Child;
  target: Target;
  adminKey: string;
  dir: string;
}

async function startKeel(root: string, upstreamUrl: string, traces: boolean): Promise<Keel> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-tel-'));
  const adminKey = randomBytes(32).toString('base64url');
  const config = join(dir, 'keel.yaml');
  writeFileSync(config, `seedDocs: false\ntelemetry:\n  traces: ${traces}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_CONFIG: config,
    KEEL_HOST: '127.0.0.1',
    KEEL_PORT: String(port),
    KEEL_DATA_DIR: join(dir, 'data'),
    KEEL_ADMIN_KEY: adminKey,
    OPENAI_API_KEY: 'sk-bench-upstream-key',
    OPENAI_BASE_URL: upstreamUrl,
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const name = traces ? 'traces on' : 'traces off';
  const child = start(name, [join(root, 'bin/keel.js'), 'serve', '--no-seed'], env, 'ignore');
  const origin = `http://127.0.0.1:${port}`;
  await waitHttp(`${origin}/readyz`, child);
  const res = await fetch(`${origin}/v1/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', role: 'member' }),
  });
  const key = ((await res.json()) as { key?: string }).key;
  if (!key) throw new Error(`${name}: creating a key failed (HTTP ${res.status})`);
  return {
    name,
    child,
    dir,
    adminKey,
    target: { name, origin, headers: { authorization: `Bearer ${key}` } },
  };
}

async function storedTraces(k: Keel): Promise<number> {
  const from = new Date(Date.now() - 86_400_000).toISOString();
  const res = await fetch(`${k.target.origin}/v1/stats?bucket=none&from=${from}`, {
    headers: { authorization: `Bearer ${k.adminKey}` },
  });
  const body = (await res.json()) as { data: { requests: number }[] };
  return body.data[0]?.requests ?? 0;
}

export interface GatewayTracingResult {
  rounds: number;
  seconds: number;
  connections: number;
  on: { rps: number; p50Ms: number; p99Ms: number; cpuMsPerReq: number; errors: number };
  off: { rps: number; p50Ms: number; p99Ms: number; cpuMsPerReq: number; errors: number };
  ratio: { rps: number; p99: number; cpuPerReq: number };
  served: number;
  stored: number;
}

export async function benchGatewayTracing(
  root: string,
  opts: { seconds: number; warmup: number; rounds: number; connections: number },
): Promise<GatewayTracingResult> {
  const body = JSON.stringify({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Summarise tracing in ten words.' }],
  });
  const up = await startAnnounced<{ url: string }>(
    'upstream',
    ['--import', 'tsx', join(root, 'bench/gateway/upstream.ts')],
    {
      ...process.env,
      BENCH_CHUNKS: '5',
    },
  );
  const keels: Keel[] = [];
  try {
    keels.push(await startKeel(root, up.info.url, true), await startKeel(root, up.info.url, false));
    const cells = new Map<string, Array<LoadResult & { cpu: number }>>();
    let served = 0;
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? keels : [...keels].reverse();
      for (const k of order) {
        if (opts.warmup > 0) {
          const w = await cannon(k.target, body, opts.connections, opts.warmup);
          if (k.name === 'traces on') served += w.requests;
        }
        const c0 = cpuMs(k.child.pid);
        const load = await cannon(k.target, body, opts.connections, opts.seconds);
        const cpu = (cpuMs(k.child.pid) - c0) / Math.max(1, load.requests);
        if (k.name === 'traces on') served += load.requests;
        log(
          `  round ${r + 1} ${k.name}: ${load.rps.toFixed(0)} rps, p99 ${load.p99} ms, ${cpu.toFixed(3)} CPU ms/req`,
        );
        cells.set(k.name, [...(cells.get(k.name) ?? []), { ...load, cpu }]);
      }
    }
    // The sink writes at least once a second: give the last batch time to land.
    await new Promise((r) => setTimeout(r, 3_000));
    const stored = await storedTraces(keels[0] as Keel);
    const sum = (name: string) => {
      const cs = cells.get(name) ?? [];
      return {
        rps: median(cs.map((c) => c.rps)),
        p50Ms: median(cs.map((c) => c.p50)),
        p99Ms: median(cs.map((c) => c.p99)),
        cpuMsPerReq: median(cs.map((c) => c.cpu)),
        errors: cs.reduce((n, c) => n + c.errors, 0),
      };
    };
    const on = sum('traces on');
    const off = sum('traces off');
    return {
      rounds: opts.rounds,
      seconds: opts.seconds,
      connections: opts.connections,
      on,
      off,
      ratio: {
        rps: on.rps / off.rps,
        p99: on.p99Ms / off.p99Ms,
        cpuPerReq: on.cpuMsPerReq / off.cpuMsPerReq,
      },
      served,
      stored,
    };
  } finally {
    for (const k of keels) {
      await k.child.stop();
      rmSync(k.dir, { recursive: true, force: true });
    }
    await up.child.stop();
  }
}
