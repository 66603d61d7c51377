import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChatParams } from '../../ai/pipeline.ts';
import type { ScreenedChat } from '../../ai/service.ts';
import { KeelError } from '../../errors.ts';
import type { ChatMessage } from '../../providers/types.ts';
import { RequestAccount } from '../accounting.ts';
import { assertModelAllowed } from '../auth.ts';
import { sendJsonCompletion } from '../chat-json.ts';
import { streamCompletion } from '../chat-stream.ts';
import { toHttpError } from '../errors.ts';
import { sendCachedAnswer } from '../policy/cache-reply.ts';
import { type ChatCompletionBody, ChatCompletionBodySchema, parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

/** Splits a validated body into the conversation and the generation parameters providers take. */
function toChatParams(body: ChatCompletionBody): { messages: ChatMessage[]; params: ChatParams } {
  const {
    model: _model,
    messages,
    stream: _stream,
    temperature,
    top_p,
    max_tokens,
    stop,
    tools,
    tool_choice,
    response_format,
    seed,
    user,
    ...extra
  } = body;
  const params: ChatParams = { extra };
  if (temperature != null) params.temperature = temperature;
  if (top_p != null) params.top_p = top_p;
  if (max_tokens != null) params.max_tokens = max_tokens;
  if (stop != null) params.stop = stop;
  if (tools !== undefined) params.tools = tools as ChatParams['tools'];
  if (tool_choice !== undefined) params.tool_choice = tool_choice;
  if (response_format !== undefined) params.response_format = response_format;
  if (seed != null) params.seed = seed;
  if (user !== undefined) params.user = user;
  // Extra keys (stream_options, n, logprobs, ...) are forwarded unchanged by OpenAI-compatible providers.
  return { messages: messages as ChatMessage[], params };
}

/**
 * `POST /v1/chat/completions`. Nothing before the first token waits on a database write: the
 * only write, the usage-ledger entry, is committed at the end, before the response's last bytes.
 */
async function chatCompletion(deps: GatewayDeps, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const t0 = performance.now();
  const body = parseBody(ChatCompletionBodySchema, req.body);
  const principal = req.principal;
  // The allow-list comes first, so a restricted key cannot probe which other models exist.
  assertModelAllowed(principal, body.model);
  const target = deps.ai.resolveChat(body.model);
  if (target.kind === 'app' && body.n != null && body.n > 1) {
    throw new KeelError('invalid_request', 'Apps answer with one choice: n must be 1', { param: 'n' });
  }
  const stream = body.stream === true;

  // A client that goes away aborts the upstream call: the provider cancels it from this signal.
  const ctl = new AbortController();
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) ctl.abort();
  });
  if (res.destroyed) ctl.abort();

  const acct = new RequestAccount(deps, principal, body.model, stream, req.id, t0, req.tracer);
  const { messages, params } = toChatParams(body);
  acct.tracer.captureMessages(messages);
  const policy = deps.policy;
  // The tenant's allow-list and residency first (cheap), then the input guardrails: a blocked
  // conversation is refused before limits are taken or a cache is read, and one that needed
  // redaction never reaches an answer cache (or its embedder). A caller over its request rate is
  // refused before the scanners run, by a check that changes no counter.
  const access = policy?.checkChatAccess(acct, target);
  let screened: ScreenedChat | undefined;
  if (deps.ai.screenChat) {
    try {
      screened = await deps.ai.screenChat(target, {
        messages,
        trace: acct.tracer,
        // A caller already past its request rate is refused before the scanners cost anything.
        beforeScan: policy && access ? () => policy.refuseOverRate(reply, access) : undefined,
      });
    } catch (e) {
      const err = toHttpError(e);
      acct.trace('error', err.status, err);
      throw err;
    }
  }
  // Cache, cost cap, rate limits and budget hold (src/gateway/policy).
  const admitted =
    policy && access
      ? await acct.tracer.span('limits', () =>
          policy.admitChat(acct, reply, {
            target,
            access,
            messages,
            params,
            headers: req.headers,
            signal: ctl.signal,
            uncacheable: screened?.redacted === true,
          }),
        )
      : undefined;
  if (admitted?.kind === 'cached') {
    const includeUsage = body.stream_options?.include_usage === true;
    return sendCachedAnswer(acct, reply, admitted.answer, admitted.outcome, includeUsage);
  }
  try {
    acct.run = await deps.ai.startChat(target, {
      tenantId: principal.tenantId,
      messages,
      params,
      signal: ctl.signal,
      stream,
      t0: acct.t0,
      trace: acct.tracer,
      regions: admitted?.regions,
      screened,
    });
  } catch (e) {
    // Retrieval or prompt building failed: nothing reached a model, so nothing is charged.
    void acct.policy?.finish('error', acct, false);
    const err = toHttpError(e);
    acct.trace('error', err.status, err);
    throw err;
  }

  if (stream) {
    await streamCompletion(acct, reply, {
      includeUsage: body.stream_options?.include_usage === true,
      signal: ctl.signal,
    });
  } else {
    await sendJsonCompletion(acct, reply, ctl.signal);
  }
}

export function chatRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.post('/v1/chat/completions', (req, reply) => chatCompletion(deps, req, reply));
}
