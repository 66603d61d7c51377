import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ZodError } from 'zod';
import { isKeelError } from '../../errors.ts';
import { SCANNER_IDS, type ScannerId } from '../../guard/profile-config.ts';
import type { GuardScanRequest } from '../../guard/scan.ts';
import { CliError, configFor, info } from '../util.ts';

interface ScanOptions {
  profile: string;
  stage: string;
  scanners?: string;
}

/** Fields a JSONL record may carry besides `text`; anything else (labels, metadata) is ignored. */
const RECORD_FIELDS = ['sources', 'system_prompt', 'canaries', 'response_schema'] as const;

function parseScanners(list: string | undefined): ScannerId[] | undefined {
  if (list === undefined) return undefined;
  const ids = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of ids) {
    if (!(SCANNER_IDS as readonly string[]).includes(id))
      throw new CliError(`unknown scanner '${id}' (known: ${SCANNER_IDS.join(', ')})`, 2);
  }
  return ids as ScannerId[];
}

function errorOf(e: unknown): { message: string; code: string } {
  if (isKeelError(e)) return { message: e.message, code: e.code };
  if (e instanceof ZodError) {
    const i = e.issues[0];
    return {
      message: `${i?.path.join('.') || 'record'}: ${i?.message ?? 'invalid'}`,
      code: 'invalid_request',
    };
  }
  return { message: e instanceof Error ? e.message : String(e), code: 'invalid_request' };
}

/**
 * `keel guard scan`: JSONL in (a `text` field per line), one JSON result per line out, in order.
 * Runs in this process with the config's profiles and the in-memory attack index: no server, no
 * store. A bad line gets an `error` result and the exit code becomes 1; the rest still runs.
 */
async function scanStdin(opts: ScanOptions, cmd: Command): Promise<void> {
  const config = configFor(cmd);
  // The scanners load only for this command, so every other `keel` command starts without them.
  const [{ InMemoryAttackIndex, KNOWN_ATTACKS }, { GuardRegistry }, { scanText }] = await Promise.all([
    import('../../guard/index.ts'),
    import('../../guard/registry.ts'),
    import('../../guard/scan.ts'),
  ]);
  const attackIndex = new InMemoryAttackIndex([...KNOWN_ATTACKS, ...config.guard.attacks]);
  const registry = new GuardRegistry({ profiles: config.guardProfiles, attackIndex });
  if (!registry.has(opts.profile)) {
    throw new CliError(`unknown guard profile '${opts.profile}' (known: ${registry.names().join(', ')})`, 2);
  }
  if (!['input', 'context', 'output'].includes(opts.stage))
    throw new CliError(`--stage must be input, context or output`, 2);
  const scanners = parseScanners(opts.scanners);
  const counts: Record<string, number> = { allow: 0, flag: 0, redact: 0, block: 0, error: 0 };
  let n = 0;
  const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    n++;
    if (line.trim() === '') continue;
    let result: Record<string, unknown>;
    let id: unknown;
    try {
      const rec: unknown = JSON.parse(line);
      if (rec === null || typeof rec !== 'object' || Array.isArray(rec))
        throw new CliError('each line must be a JSON object with a "text" field');
      const r = rec as Record<string, unknown>;
      id = r.id;
      if (typeof r.text !== 'string') throw new CliError('missing string field "text"');
      const req: Record<string, unknown> = { text: r.text, profile: opts.profile, stage: opts.stage };
      if (scanners) req.scanners = scanners;
      for (const k of RECORD_FIELDS) if (r[k] !== undefined) req[k] = r[k];
      const scanned = await scanText(registry, req as GuardScanRequest);
      counts[scanned.decision] = (counts[scanned.decision] ?? 0) + 1;
      result = { line: n, ...(id === undefined ? {} : { id }), ...scanned };
    } catch (e) {
      counts.error = (counts.error ?? 0) + 1;
      result = { line: n, ...(id === undefined ? {} : { id }), error: errorOf(e) };
    }
    if (!process.stdout.write(`${JSON.stringify(result)}\n`))
      await new Promise<void>((r) => process.stdout.once('drain', () => r()));
  }
  info(
    `scanned ${n} line(s) with profile ${opts.profile}: ` +
      Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
  );
  if ((counts.error ?? 0) > 0) process.exitCode = 1;
}

export function registerGuard(program: Command): void {
  const guard = program.command('guard').description('Guardrails: test a profile on your own data');
  guard
    .command('scan')
    .description(
      'Scan JSONL from stdin (one {"text": ...} per line) and print one JSON result per line: decision, findings, transformed text',
    )
    .option(
      '-p, --profile <name>',
      'guard profile: off, standard, strict or a guardProfiles name',
      'standard',
    )
    .option('-s, --stage <stage>', 'input, context or output', 'input')
    .option('--scanners <list>', `run only these scanners (comma-separated: ${SCANNER_IDS.join(', ')})`)
    .action((opts: ScanOptions, cmd: Command) => scanStdin(opts, cmd));
}
