import { z } from 'zod';
import type { Finding, Scanner } from '../types.ts';

/**
 * JSON Schema validity of an answer (for `response_format: json_schema`). zod converts the schema
 * once per schema object; the finding's reason names the first failing path's issue code, never the
 * offending value.
 */
const compiled = new WeakMap<object, z.ZodType | null>();

function compile(schema: Record<string, unknown>): z.ZodType | null {
  if (compiled.has(schema)) return compiled.get(schema)!;
  let out: z.ZodType | null;
  try {
    out = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    out = null;
  }
  compiled.set(schema, out);
  return out;
}

/** Strips a Markdown code fence, which models often wrap JSON in. */
function unfence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/.exec(text);
  return m ? m[1]! : text;
}

export interface SchemaCheck {
  valid: boolean;
  reason: string;
  path?: string;
}

export function validateJson(text: string, schema: Record<string, unknown> | undefined): SchemaCheck {
  let value: unknown;
  try {
    value = JSON.parse(unfence(text));
  } catch {
    return { valid: false, reason: 'not-json' };
  }
  if (!schema) return { valid: true, reason: 'ok' };
  const zs = compile(schema);
  if (!zs) return { valid: false, reason: 'unsupported-schema' };
  const r = zs.safeParse(value);
  if (r.success) return { valid: true, reason: 'ok' };
  const issue = r.error.issues[0]!;
  return { valid: false, reason: `schema:${issue.code}`, path: issue.path.map(String).join('.') };
}

export function createJsonSchemaScanner(id = 'json_schema'): Scanner {
  return {
    id,
    stage: 'output',
    scan(text, ctx) {
      if (!ctx.responseSchema) return { findings: [] };
      const check = validateJson(text, ctx.responseSchema);
      const findings: Finding[] = check.valid
        ? []
        : [
            {
              type: 'SCHEMA_INVALID',
              start: 0,
              end: text.length,
              score: 1,
              reason: check.reason,
              scanner: id,
            },
          ];
      return { findings };
    },
  };
}
