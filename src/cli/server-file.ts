import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * `<dataDir>/server.json`: how CLI commands find a `keel serve` running on the same data dir.
 * PGlite allows one process per data folder, so while a server runs the CLI must go through it.
 */
export const ServerFileSchema = z.object({
  pid: z.number().int().positive(),
  url: z.string().url(),
  /** Per-process bootstrap admin token; the file is 0600 so only this user can read it. */
  localToken: z.string().min(16),
});
export type ServerFile = z.infer<typeof ServerFileSchema>;

export const serverFilePath = (dataDir: string): string => join(dataDir, 'server.json');

export function writeServerFile(dataDir: string, info: ServerFile): string {
  mkdirSync(dataDir, { recursive: true });
  const path = serverFilePath(dataDir);
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  // `mode` only applies when the file is created; an old file keeps its mode without this.
  chmodSync(path, 0o600);
  return path;
}

/** Removes the file if it still describes this process (a newer server may have replaced it). */
export function removeServerFile(dataDir: string, pid = process.pid): void {
  const current = readServerFile(dataDir);
  if (current && current.pid !== pid) return;
  rmSync(serverFilePath(dataDir), { force: true });
}

export function readServerFile(dataDir: string): ServerFile | undefined {
  let text: string;
  try {
    text = readFileSync(serverFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = ServerFileSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The server running on `dataDir`, if any: the file exists, its pid is alive and `/healthz`
 * answers. A stale file (crashed server) is ignored, not trusted.
 */
export async function findRunningServer(dataDir: string, timeoutMs = 2_000): Promise<ServerFile | undefined> {
  const info = readServerFile(dataDir);
  if (!info || !isPidAlive(info.pid)) return undefined;
  try {
    const res = await fetch(new URL('/healthz', info.url), { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `<dataDir>/keel.lock`: who has the embedded database open. PGlite does not guard its folder, and
 * two processes writing one data dir corrupt it, so `keel serve` holds this for its lifetime and a
 * direct-mode command for its run.
 */
export interface DataDirLock {
  pid: number;
  command: string;
}

export const lockPath = (dataDir: string): string => join(dataDir, 'keel.lock');

/** Takes the lock, or returns the live holder. A lock left by a dead process is taken over. */
export function tryLockDataDir(
  dataDir: string,
  command: string,
): { ok: true } | { ok: false; holder: DataDirLock } {
  mkdirSync(dataDir, { recursive: true });
  const path = lockPath(dataDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, JSON.stringify({ pid: process.pid, command }), { flag: 'wx', mode: 0o600 });
      return { ok: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readLock(path);
    if (holder && holder.pid !== process.pid && isPidAlive(holder.pid)) return { ok: false, holder };
    // Stale (or unreadable, e.g. half-written by a process that died): remove and retry.
    rmSync(path, { force: true });
  }
  const holder = readLock(path);
  return holder ? { ok: false, holder } : { ok: false, holder: { pid: 0, command: 'unknown' } };
}

export function unlockDataDir(dataDir: string): void {
  const holder = readLock(lockPath(dataDir));
  if (holder && holder.pid !== process.pid) return;
  rmSync(lockPath(dataDir), { force: true });
}

function readLock(path: string): DataDirLock | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<DataDirLock>;
    return typeof v.pid === 'number' ? { pid: v.pid, command: String(v.command ?? 'unknown') } : undefined;
  } catch {
    return undefined;
  }
}
