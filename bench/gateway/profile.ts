import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, createDatabase, freePort, start, startAnnounced, waitHttp } from './children.ts';
import { cannon } from './load.ts';

/**
 * Where Keel's CPU goes under the gateway benchmark's load: runs the test upstream and one
 * `keel serve` under `node --cpu-prof`, loads it with autocannon (JSON or SSE), stops it, and prints
 * the profile's self time by function and by module. Not part of `bench:gateway`; a tool for the
 * work behind its figures.
 *
 *   npx tsx bench/gateway/profile.ts [json|sse] [seconds]
 *
 * PROFILE_TOP=40 rows; PROFILE_PG=1 puts the store on a fresh database on DATABASE_URL's server
 * (dropped afterwards); PROFILE_KEEP=1 keeps the .cpuprofile (for Chrome DevTools or speedscope);
 * PROFILE_STDERR=1 prints the end of Keel's stderr; PROFILE_CONNECTIONS=1 profiles one connection
 * (where latency goes) instead of 32 (where CPU goes under load).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const mode = (process.argv[2] ?? 'json') as 'json' | 'sse';
const seconds = Number(process.argv[3] ?? 10);
const top = Number(process.env.PROFILE_TOP ?? 40);
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 32);
const PROMPT =
  'Summarise why a team puts a gateway between its product and the model providers, in twenty words.';
const body = JSON.stringify({
  model: 'gpt-test',
  messages: [{ role: 'user', content: PROMPT }],
  ...(mode === 'sse' ? { stream: true, stream_options: { include_usage: true } } : {}),
});

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function moduleOf(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  return src >= 0 ? url.slice(src + 1) : url;
}

/** Self time per node over the samples taken in [from, to] (µs of the monotonic clock, as V8 stamps them). */
function summarise(p: Profile, from: number, to: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let ts = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    ts += d;
    if (ts < from || ts > to) continue;
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + d);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${moduleOf(f.url)}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const m = moduleOf(f.url) || f.functionName;
    const mk = m === '(native)' ? f.functionName : m;
    mod.set(mk, (mod.get(mk) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `self time by function:\n${fmt(fn)}\n\nself time by module:\n${fmt(mod)}`;
}

const up = await startAnnounced<{ port: number; url: string }>(
  'upstream',
  ['--import', 'tsx', join(ROOT, 'bench/gateway/upstream.ts')],
  { ...process.env },
);
const dataDir = mkdtempSync(join(tmpdir(), 'keel-prof-'));
const profDir = mkdtempSync(join(tmpdir(), 'keel-prof-out-'));
const port = await freePort();
const adminKey = randomBytes(32).toString('base64url');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  KEEL_HOST: '127.0.0.1',
  KEEL_PORT: String(port),
  KEEL_DATA_DIR: dataDir,
  KEEL_ADMIN_KEY: adminKey,
  OPENAI_API_KEY: 'sk-bench-upstream-key',
  OPENAI_BASE_URL: up.info.url,
};
delete env.DATABASE_URL;
const database = process.env.PROFILE_PG === '1' ? await createDatabase('profile') : undefined;
if (database) env.DATABASE_URL = database.url;
delete env.REDIS_URL;
delete env.KEEL_CONFIG;
// The load's time window: start-up (migrations, module loading) stays out of the figures.
const window = [0, 0];
const keel = start(
  'keel',
  ['--cpu-prof', '--cpu-prof-dir', profDir, join(ROOT, 'bin/keel.js'), 'serve', '--no-seed'],
  env,
  'ignore',
);
try {
  const origin = `http://127.0.0.1:${port}`;
  await waitHttp(`${origin}/readyz`, keel);
  const res = await fetch(`${origin}/v1/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', role: 'member' }),
  });
  const { key } = (await res.json()) as { key: string };
  const t = { name: 'keel', origin, headers: { authorization: `Bearer ${key}` } };
  await cannon(t, body, connections, 2);
  const c0 = cpuMs(keel.pid);
  window[0] = Number(process.hrtime.bigint() / 1000n);
  const r = await cannon(t, body, connections, seconds);
  window[1] = Number(process.hrtime.bigint() / 1000n);
  const cpu = cpuMs(keel.pid) - c0;
  process.stdout.write(
    `${mode}: ${r.requests} requests, ${r.rps.toFixed(0)} rps, ${(cpu / Math.max(1, r.requests)).toFixed(3)} CPU ms/req, errors ${r.errors}\n\n`,
  );
} finally {
  await keel.stop();
  await up.child.stop();
  await database?.drop();
}
// CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main one (tsx's loader has its own).
const file = readdirSync(profDir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
if (!file) throw new Error(`no profile written: ${keel.stderrTail()}`);
if (process.env.PROFILE_STDERR === '1') process.stdout.write(`keel stderr (tail):\n${keel.stderrTail()}\n`);
process.stdout.write(
  `${summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile, window[0]!, window[1]!)}\n`,
);
if (process.env.PROFILE_KEEP === '1')
  process.stdout.write(`\nprofile: ${join(profDir, file)} (load window, µs: ${window[0]} ${window[1]})\n`);
else rmSync(profDir, { recursive: true, force: true });
rmSync(dataDir, { recursive: true, force: true });
