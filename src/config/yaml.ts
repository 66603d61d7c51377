import { readFileSync } from 'node:fs';
import { type Document, isMap, isNode, isScalar, LineCounter, parse, parseDocument, visit } from 'yaml';
import { KeelError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

/** A parsed config file, kept with its YAML document so errors can point at lines. */
export interface YamlSource {
  file: string;
  doc: Document;
  lines: LineCounter;
  value: Record<string, unknown>;
}

/** Reads and parses `file`, interpolating `${VAR}` references in values from `env`. */
export function readYaml(file: string, env: Env): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(e);
    throw new KeelError('config_invalid', `Cannot read config file ${file}: ${reason}`, { cause: e });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0]?.line ?? lines.linePos(yamlError.pos[0]).line;
    const where = line ? `${file}:${line}` : file;
    throw new KeelError('config_invalid', `Invalid YAML in ${where}: ${yamlError.message.split('\n')[0]}`);
  }
  const missing: string[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const source = node.value;
      const at = node.range ? `${file}:${lines.linePos(node.range[0]).line}` : file;
      let replaced: string;
      try {
        replaced = interpolate(source, env, (name) => missing.push(`\${${name}} (${at})`));
      } catch (e) {
        throw new KeelError('config_invalid', `${(e as Error).message} (${at})`);
      }
      // `port: ${PORT}` should give a number, as if the value had been written there.
      const whole = /^\$\{[^}]+\}$/.test(source.trim());
      node.value = whole && node.type === 'PLAIN' ? retype(replaced) : replaced;
    },
  });
  if (missing.length > 0) {
    throw new KeelError(
      'config_invalid',
      `Config file ${file} uses environment variables that are not set: ${missing.join(', ')}. ` +
        `Set them, or give a default with \${NAME:-default}.`,
    );
  }
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new KeelError(
      'config_invalid',
      `Config file ${file} must be a mapping of settings at the top level`,
    );
  }
  return { file, doc, lines, value: value as Record<string, unknown> };
}

/** `${NAME}`, `${NAME:-default}` (default when unset or empty); `$${` escapes a literal `${`. */
export function interpolate(text: string, env: Env, onMissing: (name: string) => void): string {
  return text.replace(/\$(\$?)\{([^}]*)\}/g, (match, escaped: string, body: string) => {
    if (escaped) return match.slice(1);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
    if (!m) throw new KeelError('config_invalid', `Invalid variable reference ${match} in config file`);
    const [, name, fallback] = m as unknown as [string, string, string | undefined];
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    onMissing(name);
    return '';
  });
}

function retype(value: string): unknown {
  if (value === '') return value;
  try {
    const v: unknown = parse(value);
    return typeof v === 'number' || typeof v === 'boolean' ? v : value;
  } catch {
    return value;
  }
}

/** The line of the setting at `path` (or of its nearest ancestor present in the file). */
export function lineOf(src: YamlSource, path: (string | number)[]): number | undefined {
  // Walk up to the deepest node the file actually has; for a key, point at the key itself.
  for (let n = path.length; n >= 0; n--) {
    const parent = n > 0 ? src.doc.getIn(path.slice(0, n - 1), true) : undefined;
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[n - 1]);
      const key = pair?.key;
      if (isNode(key) && key.range) return src.lines.linePos(key.range[0]).line;
    }
    const node = n > 0 ? src.doc.getIn(path.slice(0, n), true) : src.doc.contents;
    if (isNode(node) && node.range && n > 0) return src.lines.linePos(node.range[0]).line;
  }
  return undefined;
}
