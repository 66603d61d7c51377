import type { FastifyReply } from 'fastify';
import { citationsFor } from '../ai/citations.ts';
import { KeelError } from '../errors.ts';
import { type CollectedCompletion, collect } from '../providers/collect.ts';
import type { StreamPart } from '../providers/types.ts';
import type { RequestAccount } from './accounting.ts';
import { failBeforeHeaders } from './chat-stream.ts';

/** Passes parts through while remembering the last `raw` (for a pass-through, the whole upstream body). */
async function* tapRaw(parts: AsyncIterable<StreamPart>, seen: { raw: string | undefined }) {
  for await (const p of parts) {
    if (p.raw !== undefined) seen.raw = p.raw;
    yield p;
  }
}

function completionBody(acct: RequestAccount, c: CollectedCompletion): Record<string, unknown> {
  const run = acct.run!;
  const u = acct.finalUsage();
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: c.text.length > 0 || c.toolCalls.length === 0 ? c.text : null,
    refusal: null,
  };
  if (c.toolCalls.length > 0) message.tool_calls = c.toolCalls;
  const body: Record<string, unknown> = {
    id: `chatcmpl-${acct.id}`,
    object: 'chat.completion',
    created: Math.floor(acct.ts.getTime() / 1000),
    model: acct.model,
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: c.finishReason === undefined || c.finishReason === 'error' ? 'stop' : c.finishReason,
      },
    ],
    usage: {
      prompt_tokens: u.promptTokens,
      completion_tokens: u.completionTokens,
      total_tokens: u.totalTokens,
      ...(u.cachedPromptTokens === undefined
        ? {}
        : { prompt_tokens_details: { cached_tokens: u.cachedPromptTokens } }),
    },
  };
  if (run.app !== null) body.citations = citationsFor(run.sources, c.text);
  return body;
}

/**
 * A non-streaming completion: the collected stream as one `chat.completion` body. A pass-through
 * forwards the upstream's body verbatim when it reported usage (else Keel rebuilds it, with usage).
 * The usage entry is committed before the body is sent.
 */
export async function sendJsonCompletion(
  acct: RequestAccount,
  reply: FastifyReply,
  signal: AbortSignal,
): Promise<void> {
  const run = acct.run!;
  const seen: { raw: string | undefined } = { raw: undefined };
  let c: CollectedCompletion;
  try {
    c = await collect(run.forwardRaw ? tapRaw(run.parts, seen) : run.parts);
  } catch (e) {
    return failBeforeHeaders(acct, reply, e, signal);
  }
  acct.completion = c.text;
  acct.usage = c.usage;
  acct.finishReason = c.finishReason;
  acct.hasToolCalls = c.toolCalls.length > 0;
  // A pass-through answers with the upstream's id: feedback quoting it finds this trace.
  if (run.forwardRaw && c.id) acct.tracer.set('response_id', c.id);
  try {
    await acct.commit('ok');
  } catch (e) {
    const err = new KeelError('unavailable', 'The response could not be recorded; please retry', {
      cause: e,
    });
    acct.trace('error', err.status, err);
    throw err;
  }
  acct.trace('ok', 200);
  // An estimated usage (a route's count when the upstream sent none) is not in the upstream body.
  if (run.forwardRaw && seen.raw !== undefined && c.usage !== undefined && !c.usage.estimated) {
    reply.type('application/json').send(seen.raw);
    return;
  }
  reply.send(completionBody(acct, c));
}
