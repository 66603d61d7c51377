import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import pg from 'pg';

/** Child processes of the benchmark and their CPU time, read from /proc. */

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** The last lines the child wrote to stderr, for error reports. */
  stderrTail(): string;
  stop(): Promise<void>;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU milliseconds the process has used so far (all its threads). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function start(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdout: 'pipe' | 'ignore' = 'pipe',
): Child {
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', stdout, 'pipe'] });
  let tail = '';
  proc.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  return {
    name,
    pid: proc.pid!,
    proc,
    stderrTail: () => tail,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Starts a child that announces itself with one JSON line on stdout, and returns that line parsed. */
export async function startAnnounced<T>(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: Child; info: T }> {
  const child = start(name, args, env);
  const lines = createInterface({ input: child.proc.stdout! });
  const info = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${child.stderrTail()}`)), 30_000);
    child.proc.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${child.stderrTail()}`)));
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve(JSON.parse(l) as T);
    });
  });
  // Keep draining so a chatty child never blocks on a full pipe.
  child.proc.stdout!.resume();
  return { child, info };
}

/** Polls `url` until it answers 200. */
export async function waitHttp(url: string, child: Child, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null)
      throw new Error(`${child.name} exited (${child.proc.exitCode}): ${child.stderrTail()}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${child.name} not ready at ${url}: ${child.stderrTail()}`);
}

/** A fresh database next to `DATABASE_URL`'s, so the run never touches existing data. */
export async function createDatabase(
  name: string,
): Promise<{ url: string; pids: () => Promise<number[]>; drop: () => Promise<void> }> {
  const admin = process.env.DATABASE_URL;
  if (!admin) throw new Error('DATABASE_URL is not set');
  const db = `keel_bench_${process.pid}_${name.replace(/[^a-z0-9]/g, '_')}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`drop database if exists ${db}`);
  await run(`create database ${db}`);
  const url = new URL(admin);
  url.pathname = `/${db}`;
  const pids = async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      const r = await c.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [db]);
      return r.rows.map((x) => x.pid);
    } finally {
      await c.end();
    }
  };
  return { url: url.toString(), pids, drop: () => run(`drop database if exists ${db} with (force)`) };
}
