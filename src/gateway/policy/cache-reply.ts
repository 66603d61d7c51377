import type { FastifyReply } from 'fastify';
import type { CachedAnswer } from '../../ai/cache/index.ts';
import { KeelError } from '../../errors.ts';
import type { RequestAccount } from '../accounting.ts';
import { usageJson } from '../chat-stream.ts';
import { SseWriter } from '../sse.ts';

async function* nothing() {}

/**
 * Answers from the cache: the stored answer as a `chat.completion` body, or replayed as SSE chunks
 * for a streaming client, with this request's own id. The ledger gets a row marked `cache_hit`
 * that costs nothing, committed before the body goes out like every other answer's.
 */
export async function sendCachedAnswer(
  acct: RequestAccount,
  reply: FastifyReply,
  a: CachedAnswer,
  outcome: 'hit' | 'semantic-hit',
  includeUsage: boolean,
): Promise<void> {
  acct.cacheHit = outcome;
  acct.completion = a.text;
  acct.finishReason = a.finishReason;
  acct.usage = {
    promptTokens: a.promptTokens,
    completionTokens: a.completionTokens,
    totalTokens: a.promptTokens + a.completionTokens,
  };
  acct.run = {
    app: a.app,
    providerId: a.provider,
    upstreamModel: a.model,
    forwardRaw: false,
    sources: [],
    messages: [],
    parts: nothing(),
    stages: [],
  };
  try {
    await acct.commit('ok');
  } catch (e) {
    const err = new KeelError('unavailable', 'The response could not be recorded; please retry', {
      cause: e,
    });
    acct.trace('error', err.status, err);
    throw err;
  }
  acct.markFirstToken();
  acct.trace('ok', 200);
  const created = Math.floor(acct.ts.getTime() / 1000);
  const u = acct.usage;
  if (!acct.stream) {
    const body: Record<string, unknown> = {
      id: `chatcmpl-${acct.id}`,
      object: 'chat.completion',
      created,
      model: acct.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: a.text, refusal: null },
          logprobs: null,
          finish_reason: a.finishReason,
        },
      ],
      usage: {
        prompt_tokens: u.promptTokens,
        completion_tokens: u.completionTokens,
        total_tokens: u.totalTokens,
      },
    };
    if (a.citations) body.citations = a.citations;
    reply.send(body);
    return;
  }
  const prefix = `data: {"id":"chatcmpl-${acct.id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(acct.model)},"choices":`;
  const close = ',"logprobs":null,"finish_reason":null}]}\n\n';
  let out = `${prefix}[{"index":0,"delta":{"role":"assistant","content":""}${close}`;
  out += `${prefix}[{"index":0,"delta":{"content":${JSON.stringify(a.text)}}${close}`;
  out += `${prefix}[{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(a.finishReason)}}]}\n\n`;
  if (a.citations) out += `${prefix}[],"citations":${JSON.stringify(a.citations)}}\n\n`;
  if (includeUsage) out += `${prefix}[],"usage":${usageJson(u)}}\n\n`;
  const w = new SseWriter(reply);
  w.done(out);
}
