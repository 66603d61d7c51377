import { createHash } from 'node:crypto';
import type { ChatMessage } from '../../providers/types.ts';
import type { ChatParams } from '../pipeline.ts';

/**
 * Request normalisation for the caches: two requests that must get the same answer hash the same,
 * whatever the key order of their JSON, the whitespace around their messages, or whether they
 * stream. Parameters that change the answer (temperature, tools, max_tokens...) are part of it.
 */

/** JSON with object keys sorted and undefined values dropped, so equal values serialise equally. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const obj = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const x = obj[k];
    if (x !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(x)}`);
  }
  return `{${parts.join(',')}}`;
}

export function normaliseMessage(m: ChatMessage): Record<string, unknown> {
  return {
    role: m.role,
    content: typeof m.content === 'string' ? m.content.trim() : m.content,
    name: m.name,
    tool_calls: m.tool_calls,
    tool_call_id: m.tool_call_id,
  };
}

/** The parameters that shape the answer: streaming and the end-user tag do not. */
export function answerParams(params: ChatParams): Record<string, unknown> {
  const { user: _user, extra, ...rest } = params;
  const { stream_options: _so, user: _u, ...other } = extra ?? {};
  return { ...rest, ...other };
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

/** The exact-cache key: tenant first, so no lookup can ever reach another tenant's entries. */
export function exactKey(
  tenantId: string,
  model: string,
  messages: readonly ChatMessage[],
  params: ChatParams,
): string {
  const body = canonicalJson({
    model,
    messages: messages.map(normaliseMessage),
    params: answerParams(params),
  });
  return `cx:${tenantId}:${sha256(body)}`;
}
