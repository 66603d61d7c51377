import { Ajv, type ValidateFunction } from 'ajv';
import { KeelError } from '../errors.ts';
import type { ChatMessage, ChatRequest, StreamPart, Usage } from '../providers/types.ts';

/**
 * Structured output: when a request asks for `response_format` `json_schema` (or `json_object`),
 * the answer is checked on the way back. An invalid answer gets one bounded repair: the model is
 * shown its reply and the validation error and asked again. If that fails too, the request ends
 * with `output_invalid` instead of handing the client JSON it cannot use.
 *
 * The answer must be whole before it can be checked, so a structured stream is buffered and
 * released once valid: the client sees the same parts, later.
 */

export type StructuredFormat =
  | { kind: 'json_schema'; name: string; schema: Record<string, unknown> }
  | { kind: 'json_object' };

export type Validation = { ok: true; value: unknown; text: string } | { ok: false; error: string };

// Client schemas use keywords and formats Ajv may not know (OpenAI's `strict` subset among them);
// validate what can be validated instead of refusing the schema.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false });
const compiled = new Map<string, ValidateFunction | Error>();
const COMPILED_MAX = 500;

function validator(schema: Record<string, unknown>): ValidateFunction | Error {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (v === undefined) {
    try {
      v = ajv.compile(schema);
    } catch (e) {
      v = e instanceof Error ? e : new Error(String(e));
    }
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(key, v);
  }
  return v;
}

export function structuredFormat(rf: ChatRequest['response_format']): StructuredFormat | undefined {
  if (rf?.type === 'json_schema' && rf.json_schema?.schema) {
    return { kind: 'json_schema', name: rf.json_schema.name ?? 'response', schema: rf.json_schema.schema };
  }
  if (rf?.type === 'json_object') return { kind: 'json_object' };
  return undefined;
}

/** Throws `invalid_request` (param `response_format`) when the schema itself cannot be compiled. */
export function checkSchema(fmt: StructuredFormat): void {
  if (fmt.kind !== 'json_schema') return;
  const v = validator(fmt.schema);
  if (v instanceof Error) {
    throw new KeelError('invalid_request', `Invalid JSON schema in response_format: ${v.message}`, {
      param: 'response_format',
    });
  }
}

/** The JSON inside `text`: as is, or inside one Markdown code fence (a habit of many models). */
function unwrap(text: string): string {
  const t = text.trim();
  const m = /^```[a-zA-Z0-9_-]*\s*\n([\s\S]*?)\n?```$/.exec(t);
  return m ? m[1]!.trim() : t;
}

export function validateStructured(text: string, fmt: StructuredFormat): Validation {
  const json = unwrap(text);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    return { ok: false, error: `the reply is not valid JSON (${(e as Error).message})` };
  }
  if (fmt.kind === 'json_object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, error: 'the reply is not a JSON object' };
    }
    return { ok: true, value, text: json };
  }
  const v = validator(fmt.schema);
  if (v instanceof Error) return { ok: false, error: `the schema cannot be compiled: ${v.message}` };
  if (v(value)) return { ok: true, value, text: json };
  const error = ajv.errorsText(v.errors, { dataVar: 'reply', separator: '; ' });
  return { ok: false, error: `the reply does not match schema '${fmt.name}': ${error}` };
}

function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const out: Usage = {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
  const cached = (a.cachedPromptTokens ?? 0) + (b.cachedPromptTokens ?? 0);
  if (cached > 0) out.cachedPromptTokens = cached;
  const written = (a.cacheWritePromptTokens ?? 0) + (b.cacheWritePromptTokens ?? 0);
  if (written > 0) out.cacheWritePromptTokens = written;
  if (a.estimated || b.estimated) out.estimated = true;
  return out;
}

export interface StructuredOptions {
  /** Re-asks after an invalid answer (default 1). */
  maxRepairs?: number;
  /** Called before each repair, with what was wrong (for traces). */
  onRepair?: (error: string, attempt: number) => void;
}

function repairMessages(req: ChatRequest, reply: string, error: string): ChatMessage[] {
  return [
    ...req.messages,
    { role: 'assistant', content: reply },
    {
      role: 'user',
      content: `Your reply could not be used: ${error}. Reply again with only the corrected JSON, no other text.`,
    },
  ];
}

/**
 * Runs `call` (a provider's or router's `stream`) with validation and repair. Without a JSON
 * `response_format` it is `call(req)` unchanged. Parts of the accepted answer come out as the
 * model sent them, except: a fenced answer is replaced by the bare JSON, and after a repair the
 * usage part sums every attempt (the ledger must charge what was really spent). An answer that
 * calls tools is passed through unchecked.
 */
export function withStructuredOutput(
  call: (req: ChatRequest) => AsyncIterable<StreamPart>,
  req: ChatRequest,
  opts: StructuredOptions = {},
): AsyncIterable<StreamPart> {
  const fmt = structuredFormat(req.response_format);
  if (fmt === undefined) return call(req);
  checkSchema(fmt);
  const maxRepairs = opts.maxRepairs ?? 1;
  return (async function* () {
    let current = req;
    let spent: Usage | undefined;
    let lastError = '';
    for (let attempt = 0; attempt <= maxRepairs; attempt++) {
      const parts: StreamPart[] = [];
      let text = '';
      let tools = false;
      let truncated = false;
      let usage: Usage | undefined;
      for await (const p of call(current)) {
        parts.push(p);
        if (p.type === 'text-delta') text += p.text;
        else if (p.type === 'tool-call-delta') tools = true;
        else if (p.type === 'finish') truncated = p.finishReason === 'length';
        else if (p.type === 'usage') usage = p.usage;
      }
      spent = addUsage(spent, usage);
      const v = tools ? undefined : validateStructured(text, fmt);
      if (v === undefined || v.ok) {
        const cleaned = v !== undefined && v.text !== text.trim();
        yield* finalParts(parts, cleaned ? v.text : undefined, attempt > 0 ? spent : undefined);
        return;
      }
      lastError = truncated ? `${v.error}; the reply was cut off at max_tokens` : v.error;
      if (attempt < maxRepairs) {
        opts.onRepair?.(lastError, attempt + 1);
        current = { ...req, messages: repairMessages(req, text, lastError) };
      }
    }
    throw new KeelError(
      'output_invalid',
      `The model did not produce valid structured output after ${maxRepairs + 1} attempt(s): ${lastError}`,
      { param: 'response_format' },
    );
  })();
}

/** The accepted attempt's parts, with the text replaced and/or the usage summed when needed. */
function* finalParts(
  parts: StreamPart[],
  text: string | undefined,
  usage: Usage | undefined,
): Generator<StreamPart> {
  let textDone = false;
  let usageDone = false;
  const rewrite = text !== undefined || usage !== undefined;
  for (const p of parts) {
    if (text !== undefined && p.type === 'text-delta') {
      if (!textDone) yield { type: 'text-delta', text };
      textDone = true;
      continue;
    }
    if (usage !== undefined && p.type === 'usage') {
      usageDone = true;
      yield { type: 'usage', usage };
      continue;
    }
    // Upstream bytes no longer match what we send once anything was rewritten.
    yield rewrite && p.raw !== undefined ? stripRaw(p) : p;
  }
  if (usage !== undefined && !usageDone) yield { type: 'usage', usage };
}

function stripRaw(p: StreamPart): StreamPart {
  const { raw: _raw, ...rest } = p;
  return rest as StreamPart;
}
