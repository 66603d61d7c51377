import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `keel` executable of this checkout, run as a real child process. */
export const KEEL_BIN = fileURLToPath(new URL('../../bin/keel.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * An environment for the child with nothing inherited that changes Keel's behaviour (so a
 * developer's OPENAI_API_KEY or the CI's DATABASE_URL do not leak in), plus `env`.
 */
export function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT'])
    if (process.env[k]) base[k] = process.env[k];
  return { ...base, NO_COLOR: '1', ...env };
}

/** Runs `keel <args>` to completion (bounded by `timeoutMs`). */
export function runKeel(
  args: string[],
  opts: { cwd: string; env: Record<string, string | undefined>; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KEEL_BIN, ...args], {
      cwd: opts.cwd,
      env: cliEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keel ${args.join(' ')} timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `keel serve` child; resolves once it has started (URL printed, start-up done). */
export interface ServeHandle {
  child: ChildProcess;
  url: string;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then waits for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function startServe(
  args: string[],
  opts: { cwd: string; env: Record<string, string | undefined>; timeoutMs?: number },
): Promise<ServeHandle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KEEL_BIN, 'serve', ...args], {
      cwd: opts.cwd,
      env: cliEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const handle = (url: string): ServeHandle => ({
      child,
      url,
      stdout: () => stdout,
      stderr: () => stderr,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return exited;
      },
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keel serve did not start\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    // Ready once both the URL (stdout) and the last start-up line (stderr) are out.
    const check = () => {
      const m = /running at (http:\/\/\S+)/.exec(stdout);
      if (m?.[1] && stderr.includes('press Ctrl-C to stop')) {
        clearTimeout(timer);
        resolve(handle(m[1]));
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      check();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      check();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`keel serve exited with ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  });
}
