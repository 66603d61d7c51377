import type { FastifyReply } from 'fastify';
import { citationsFor } from '../ai/citations.ts';
import { partialUsage } from '../ai/router/errors.ts';
import { KeelError } from '../errors.ts';
import type { StreamPart, ToolCallDelta, Usage } from '../providers/types.ts';
import type { RequestAccount } from './accounting.ts';
import { toHttpError } from './errors.ts';
import { noticeJson } from './policy/watch.ts';
import { SseWriter } from './sse.ts';

export interface StreamOptions {
  /** The client asked for `stream_options.include_usage`. */
  includeUsage: boolean;
  signal: AbortSignal;
}

export function usageJson(u: Usage): string {
  const cached =
    u.cachedPromptTokens === undefined
      ? ''
      : `,"prompt_tokens_details":{"cached_tokens":${u.cachedPromptTokens}}`;
  return `{"prompt_tokens":${u.promptTokens},"completion_tokens":${u.completionTokens},"total_tokens":${u.totalTokens}${cached}}`;
}

const aborted = () => new KeelError('aborted', 'The client closed the connection');

/** The request failed before any byte went out: charge what it cost, then answer with a real HTTP error. */
export async function failBeforeHeaders(
  acct: RequestAccount,
  reply: FastifyReply,
  e: unknown,
  signal: AbortSignal,
) {
  if (signal.aborted) {
    acct.commit('aborted').catch((err: unknown) => reply.log.error({ err }, 'usage ledger write failed'));
    acct.trace('aborted', 499);
    reply.hijack();
    return;
  }
  const err = toHttpError(e);
  acct.usage ??= partialUsage(e);
  await acct
    .commit('error')
    .catch((err2: unknown) => reply.log.error({ err: err2 }, 'usage ledger write failed'));
  acct.trace('error', err.status, err);
  throw err;
}

/**
 * Streams a completion as OpenAI SSE. Headers go out with the first part, so an upstream that
 * fails before answering still gets a proper HTTP status. The usage entry is committed before the
 * final `[DONE]`; a failure after headers ends the stream with an in-band error event.
 */
export async function streamCompletion(
  acct: RequestAccount,
  reply: FastifyReply,
  opts: StreamOptions,
): Promise<void> {
  const run = acct.run!;
  const it = run.parts[Symbol.asyncIterator]();
  let first: IteratorResult<StreamPart>;
  try {
    first = await it.next();
  } catch (e) {
    return failBeforeHeaders(acct, reply, e, opts.signal);
  }
  const w = new SseWriter(reply);
  let tail: string;
  try {
    tail = run.forwardRaw
      ? await pumpRaw(acct, w, it, first, opts)
      : await pumpSerialised(acct, w, it, first, opts);
  } catch (e) {
    if (opts.signal.aborted || w.closed) {
      acct.commit('aborted').catch((err: unknown) => reply.log.error({ err }, 'usage ledger write failed'));
      acct.trace('aborted', 499);
      return;
    }
    const err = toHttpError(e);
    // Cut off mid-answer: a failed request, charged for what the partial answer used.
    acct.usage ??= partialUsage(e);
    await acct
      .commit('error')
      .catch((err2: unknown) => reply.log.error({ err: err2 }, 'usage ledger write failed'));
    acct.trace('error', 200, err);
    w.fail(err);
    return;
  } finally {
    // Stops the provider's generator (and its upstream request) if we left early.
    void it.return?.(undefined)?.catch(() => undefined);
  }
  try {
    await acct.commit('ok');
  } catch (e) {
    reply.log.error({ err: e }, 'usage ledger write failed');
    const err = new KeelError('unavailable', 'The response could not be recorded; please retry', {
      cause: e,
    });
    acct.trace('error', 200, err);
    w.fail(err);
    return;
  }
  acct.trace('ok', 200);
  w.done(tail);
}

/**
 * Pass-through: forwards each upstream event's JSON as-is. Parts without `raw` belong to an event
 * whose last part carries it. The usage-only event is dropped unless the client asked for usage
 * (Keel always asks the upstream, for the ledger). Returns what to write before `[DONE]`.
 */
async function pumpRaw(
  acct: RequestAccount,
  w: SseWriter,
  it: AsyncIterator<StreamPart>,
  first: IteratorResult<StreamPart>,
  opts: StreamOptions,
): Promise<string> {
  let pending = false;
  let usageSent = false;
  let start: StreamPart | undefined;
  const watch = acct.watch;
  for (let r = first; !r.done; r = await it.next()) {
    const p = r.value;
    if (p.type === 'text-delta') acct.completion += p.text;
    else if (p.type === 'usage') acct.usage = p.usage;
    else if (p.type === 'start') start = p;
    // Budget and cache bookkeeping (src/gateway/policy/watch.ts); false: the budget is used up.
    if (watch !== undefined) {
      const go = watch.see(p);
      if (go !== true && !(await go)) break;
    }
    const raw = p.raw;
    if (raw !== undefined) {
      if (p.type !== 'usage' || opts.includeUsage || pending) {
        if (opts.signal.aborted) throw aborted();
        const drain = w.write('data: ' + raw + '\n\n');
        if (acct.ttftMs === undefined) acct.markFirstToken();
        if (p.type === 'usage') usageSent = true;
        if (drain) await drain;
      }
      pending = false;
    } else if (p.type !== 'start') pending = true;
  }
  // The client sees the upstream's id: feedback quoting it finds this trace.
  if (start?.type === 'start' && start.id) acct.tracer.set('response_id', start.id);
  const notice = watch?.notice;
  if (notice === undefined && (!opts.includeUsage || usageSent)) return '';
  const s = start?.type === 'start' ? start : undefined;
  const head = JSON.stringify({
    id: s?.id ?? 'chatcmpl-' + acct.id,
    object: 'chat.completion.chunk',
    created: s?.created ?? Math.floor(Date.now() / 1000),
    model: s?.model ?? acct.model,
    choices: [],
  });
  // Stopped by the budget: the upstream never finished, so Keel ends the answer, saying why.
  let tail = notice
    ? 'data: ' +
      head.slice(0, -3) +
      '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]' +
      noticeJson(notice) +
      '}\n\n'
    : '';
  // The upstream reported no usage: send Keel's own count in the same shape.
  if (opts.includeUsage && !usageSent)
    tail += 'data: ' + head.slice(0, -1) + ',"usage":' + usageJson(acct.finalUsage()) + '}\n\n';
  return tail;
}

function toolCallJson(d: ToolCallDelta): string {
  const fn: Record<string, string> = {};
  if (d.name !== undefined) fn.name = d.name;
  if (d.argumentsDelta !== undefined) fn.arguments = d.argumentsDelta;
  const call: Record<string, unknown> = { index: d.index };
  if (d.id !== undefined) {
    call.id = d.id;
    call.type = 'function';
  }
  call.function = fn;
  return JSON.stringify(call);
}

/** Keel-made chunks (apps, non-OpenAI providers): Keel's id and model name, citations at the end. */
async function pumpSerialised(
  acct: RequestAccount,
  w: SseWriter,
  it: AsyncIterator<StreamPart>,
  first: IteratorResult<StreamPart>,
  opts: StreamOptions,
): Promise<string> {
  const run = acct.run!;
  const created = Math.floor(acct.ts.getTime() / 1000);
  const prefix = `data: {"id":"chatcmpl-${acct.id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(acct.model)},"choices":`;
  const open = '[{"index":0,"delta":';
  const close = ',"logprobs":null,"finish_reason":null}]}\n\n';
  let finish = 'stop';
  let drain = w.write(prefix + open + '{"role":"assistant","content":""}' + close);
  if (drain) await drain;
  const watch = acct.watch;
  for (let r = first; !r.done; r = await it.next()) {
    if (opts.signal.aborted) throw aborted();
    const p = r.value;
    // Budget and cache bookkeeping (src/gateway/policy/watch.ts); false: the budget is used up.
    if (watch !== undefined) {
      const go = watch.see(p);
      if (go !== true && !(await go)) {
        finish = 'length';
        break;
      }
    }
    switch (p.type) {
      case 'text-delta':
        if (p.text.length === 0) continue;
        acct.completion += p.text;
        acct.markFirstToken();
        drain = w.write(prefix + open + '{"content":' + JSON.stringify(p.text) + '}' + close);
        break;
      case 'tool-call-delta':
        acct.markFirstToken();
        drain = w.write(prefix + open + '{"tool_calls":[' + toolCallJson(p.toolCall) + ']}' + close);
        break;
      case 'finish':
        finish = p.finishReason === 'error' ? 'stop' : p.finishReason;
        continue;
      case 'usage':
        acct.usage = p.usage;
        continue;
      default:
        continue;
    }
    if (drain) await drain;
  }
  let tail =
    prefix +
    `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}]${noticeJson(watch?.notice)}}\n\n`;
  if (run.app !== null) {
    tail += prefix + '[],"citations":' + JSON.stringify(citationsFor(run.sources, acct.completion)) + '}\n\n';
  }
  if (opts.includeUsage) tail += prefix + '[],"usage":' + usageJson(acct.finalUsage()) + '}\n\n';
  return tail;
}
