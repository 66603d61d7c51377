import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { checkRoutes } from '../ai/router/plan.ts';
import { KeelError } from '../errors.ts';
import { ConfigSchema, type KeelConfig } from './schema.ts';
import { type Env, lineOf, readYaml, type YamlSource } from './yaml.ts';

export type { Env };

export interface LoadConfigOptions {
  env?: Env;
  /** Explicit config file (`--config`); it must exist. */
  file?: string | undefined;
  /** Directory relative paths and `./keel.yaml` are resolved against (default: process.cwd()). */
  cwd?: string;
}

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** Which file `loadConfig` reads: `--config`, else `KEEL_CONFIG`, else `./keel.yaml` when it exists. */
export function resolveConfigPath(opts: LoadConfigOptions = {}): string | undefined {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? nonEmpty(env.KEEL_CONFIG);
  if (explicit) return resolve(cwd, explicit);
  const local = resolve(cwd, 'keel.yaml');
  return existsSync(local) ? local : undefined;
}

/**
 * The effective configuration: built-in defaults, then `keel.yaml` (with `${VAR}` and
 * `${VAR:-default}` interpolated from `env`), then environment variables, validated by the schema.
 * Throws `KeelError('config_invalid')` listing every bad field with its path and what was expected.
 */
export function loadConfig(opts: LoadConfigOptions = {}): KeelConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const file = resolveConfigPath({ ...opts, cwd, env });
  let raw: Record<string, unknown> = {};
  let doc: YamlSource | undefined;
  if (file) {
    doc = readYaml(file, env);
    raw = doc.value;
  }
  const fromEnv = applyEnv(raw, env);
  applyBuiltIns(raw);

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalid(
      file,
      parsed.error.issues.flatMap((i) => describeIssue(i, doc, fromEnv)),
    );
  }
  const config = parsed.data;
  const refErrors = checkReferences(config).map(({ path, message }) => locate(path, message, doc, fromEnv));
  if (refErrors.length > 0) throw invalid(file, refErrors);

  // A relative data dir in the file is relative to the file; from the environment or default, to cwd.
  const base =
    file && !fromEnv.has('dataDir') && typeof doc?.value.dataDir === 'string' ? dirname(file) : cwd;
  if (config.dataDir !== 'memory://') config.dataDir = resolve(base, config.dataDir);
  return config;
}

/** Applies environment variables over the file's values; returns which paths they set (for error messages). */
function applyEnv(raw: Record<string, unknown>, env: Env): Map<string, string> {
  const from = new Map<string, string>();
  const set = (path: string[], value: unknown, name: string): void => {
    let obj = raw;
    for (const k of path.slice(0, -1)) {
      const next = obj[k] ?? {};
      if (typeof next !== 'object' || next === null || Array.isArray(next)) return; // the schema will report it
      obj[k] = next;
      obj = next as Record<string, unknown>;
    }
    obj[path[path.length - 1]!] = value;
    from.set(path.join('.'), name);
  };
  const str = (name: string, path: string[]): void => {
    const v = nonEmpty(env[name]);
    if (v !== undefined) set(path, v, name);
  };
  str('KEEL_HOST', ['server', 'host']);
  const port = nonEmpty(env.KEEL_PORT);
  if (port !== undefined) set(['server', 'port'], /^\d+$/.test(port) ? Number(port) : port, 'KEEL_PORT');
  str('KEEL_DATA_DIR', ['dataDir']);
  str('KEEL_ADMIN_KEY', ['adminKey']);
  str('DATABASE_URL', ['databaseUrl']);
  str('REDIS_URL', ['redisUrl']);
  // The standard OpenTelemetry variable: a collector base URL turns on OTLP trace export.
  str('OTEL_EXPORTER_OTLP_ENDPOINT', ['telemetry', 'otlp', 'endpoint']);

  const apiKey = nonEmpty(env.OPENAI_API_KEY);
  const baseUrl = nonEmpty(env.OPENAI_BASE_URL);
  if (apiKey !== undefined || baseUrl !== undefined) {
    if (raw.providers === undefined) raw.providers = {};
    const providers = raw.providers;
    if (isRecord(providers)) {
      providers.openai ??= { type: 'openai-compatible', baseUrl: DEFAULT_OPENAI_BASE_URL };
      // A file that defines `openai` as some other kind of provider keeps it; the env only fills the openai kind.
      if (isRecord(providers.openai) && providers.openai.type === 'openai-compatible') {
        if (apiKey !== undefined) set(['providers', 'openai', 'apiKey'], apiKey, 'OPENAI_API_KEY');
        if (baseUrl !== undefined) set(['providers', 'openai', 'baseUrl'], baseUrl, 'OPENAI_BASE_URL');
      }
    }
    if (!('passthroughProvider' in raw)) raw.passthroughProvider = 'openai';
  }
  return from;
}

/** The built-ins every install has; a file may redefine them (e.g. other hashing dimensions). */
function applyBuiltIns(raw: Record<string, unknown>): void {
  if (raw.providers === undefined || isRecord(raw.providers)) {
    raw.providers = {
      extractive: { type: 'extractive' },
      hashing: { type: 'hashing' },
      ...(raw.providers ?? {}),
    };
  }
  if (raw.apps === undefined || isRecord(raw.apps)) {
    raw.apps = {
      default: {
        description:
          'Answers over collection "default" with the built-in extractive answerer, citing sources.',
        model: 'extractive',
        collections: ['default'],
      },
      ...(raw.apps ?? {}),
    };
  }
}

interface RefError {
  path: (string | number)[];
  message: string;
}

/** References between settings that the schema alone cannot check. */
function checkReferences(c: KeelConfig): RefError[] {
  const errors: RefError[] = [];
  const providerIds = Object.keys(c.providers);
  const knownProvider = (id: string): boolean => id in c.providers;
  const checkModelRef = (path: (string | number)[], ref: string): void => {
    if (ref === 'extractive' || ref in c.models || ref in c.routes || c.providers[ref]?.type === 'extractive')
      return;
    const slash = ref.indexOf('/');
    if (slash > 0 && knownProvider(ref.slice(0, slash)) && slash < ref.length - 1) return;
    const provider = slash > 0 ? ref.slice(0, slash) : undefined;
    errors.push({
      path,
      message: provider
        ? `unknown provider "${provider}" in "${ref}" (expected one of: ${providerIds.join(', ')})`
        : `unknown model "${ref}" (expected "<provider>/<model>", a key of models or routes, or extractive)`,
    });
  };
  for (const [name, app] of Object.entries(c.apps)) checkModelRef(['apps', name, 'model'], app.model);
  for (const [name, alias] of Object.entries(c.models)) {
    if (!knownProvider(alias.provider)) {
      errors.push({
        path: ['models', name, 'provider'],
        message: `unknown provider "${alias.provider}" (expected one of: ${providerIds.join(', ')})`,
      });
    }
  }
  errors.push(...checkRoutes(c));
  if (c.passthroughProvider !== undefined && !knownProvider(c.passthroughProvider)) {
    errors.push({
      path: ['passthroughProvider'],
      message: `unknown provider "${c.passthroughProvider}" (expected one of: ${providerIds.join(', ')})`,
    });
  }
  const embedder = c.rag.embedder;
  const embedderProvider = embedder.includes('/') ? embedder.slice(0, embedder.indexOf('/')) : embedder;
  if (!knownProvider(embedderProvider)) {
    errors.push({
      path: ['rag', 'embedder'],
      message: `unknown provider "${embedderProvider}" (expected hashing or "<provider>/<model>")`,
    });
  }
  if (c.rag.chunkOverlapTokens >= c.rag.chunkTokens) {
    errors.push({ path: ['rag', 'chunkOverlapTokens'], message: 'must be smaller than rag.chunkTokens' });
  }
  return errors;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  src: YamlSource | undefined,
  fromEnv: Map<string, string>,
): string[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => locate([...path, k], 'unknown setting', src, fromEnv));
  }
  return [locate(path, explain(issue), src, fromEnv)];
}

function explain(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = issue.message.match(/received (\w+)/)?.[1];
    return received === 'undefined'
      ? `required (expected ${issue.expected})`
      : `expected ${issue.expected}, got ${received ?? 'something else'}`;
  }
  if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options)) {
    return `expected one of: ${issue.options.join(', ')}`;
  }
  if (issue.code === 'invalid_format') return `expected a valid ${issue.format}`;
  if (issue.code === 'invalid_value') return `expected one of: ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'invalid_key') return `invalid name (${issue.issues[0]?.message ?? 'bad format'})`;
  return issue.message.replace(/^Too (big|small): /, '');
}

/** `apps.support.topK: expected … (keel.yaml:12)` or `… (from KEEL_PORT)`. */
function locate(
  path: (string | number)[],
  message: string,
  src: YamlSource | undefined,
  fromEnv: Map<string, string>,
): string {
  const dotted = path.length > 0 ? path.join('.') : '(top level)';
  const envName = fromEnv.get(dotted);
  if (envName) return `${dotted}: ${message} (from ${envName})`;
  const line = src ? lineOf(src, path) : undefined;
  return `${dotted}: ${message}${line ? ` (${src?.file}:${line})` : ''}`;
}

function invalid(file: string | undefined, problems: string[]): KeelError {
  const head = file ? `Invalid configuration (${file}):` : 'Invalid configuration:';
  return new KeelError('config_invalid', `${head}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
