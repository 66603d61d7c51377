import type { IncomingHttpHeaders } from 'node:http';
import type { ChatParams } from '../../ai/pipeline.ts';
import type { ChatTarget } from '../../ai/service.ts';
import type { ChatMessage } from '../../providers/types.ts';
import { countChatTokens, countTextTokens } from '../../telemetry/cost.ts';

/** What the policies read from (and write to) a chat request's parameters. */

export function maxTokensOf(p: ChatParams): number | undefined {
  const extra = p.extra?.max_completion_tokens;
  return p.max_tokens ?? (typeof extra === 'number' ? extra : undefined);
}

export function setMaxTokens(p: ChatParams, n: number): void {
  if (p.max_tokens === undefined && typeof p.extra?.max_completion_tokens === 'number') {
    p.extra.max_completion_tokens = n;
  } else p.max_tokens = n;
}

export function bypassesCache(h: IncomingHttpHeaders): boolean {
  const cc = h['cache-control'];
  return typeof cc === 'string' && /\bno-(cache|store)\b/i.test(cc);
}

/** Prompt tokens before the call: the client's messages, plus for an app its system prompt and sources. */
export function countPrompt(t: ChatTarget, messages: readonly ChatMessage[], params: ChatParams): number {
  let n = countChatTokens(messages, {
    model: t.target.model,
    tools: params.tools,
    toolChoice: params.tool_choice,
  });
  // An app adds its system prompt and up to `contextTokens` of retrieved sources to the prompt.
  if (t.kind === 'app')
    n += t.app.contextTokens + countTextTokens(t.app.systemPrompt ?? '', t.target.model) + 64;
  return n;
}
