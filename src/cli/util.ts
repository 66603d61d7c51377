import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { KeelConfig } from '../config/schema.ts';
import { isKeelError } from '../errors.ts';

/** Status and progress go to stderr, so stdout carries only the result (answers, keys, config). */
export const info = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export const out = (text: string): void => {
  process.stdout.write(text);
};

/** A failure the CLI reports as one message and a non-zero exit, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The global `--config` option plus the environment. */
export function configFor(cmd: Command): KeelConfig {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig({ file: opts.config });
}

export function reportError(e: unknown): number {
  if (e instanceof CliError) {
    info(`error: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof ApiError) {
    info(`error: ${e.message} (${e.code}, HTTP ${e.status})`);
    return 1;
  }
  if (isKeelError(e)) {
    info(`error: ${e.message}`);
    return e.code === 'config_invalid' ? 2 : 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  info(`error: ${err.message}`);
  if (process.env.KEEL_DEBUG) info(err.stack ?? '');
  return 1;
}

/** An error answer of the HTTP API (OpenAI error shape), as the CLI reports it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  const err = (body as { error?: { message?: string; code?: string } } | undefined)?.error;
  return new ApiError(status, err?.code ?? 'http_error', err?.message ?? `HTTP ${status}`);
}

/**
 * A plain-text table: columns two spaces apart, each as wide as its widest cell; columns for which
 * `rightAligned(i)` holds (numbers) are padded on the left. Ends with a newline.
 */
export function formatTable(
  header: string[],
  rows: string[][],
  rightAligned: (column: number) => boolean = () => false,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
