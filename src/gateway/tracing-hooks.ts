import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { RequestTrace, type TraceRecorder } from '../telemetry/tracing.ts';
import { toHttpError } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's trace on traced routes (chat completions, embeddings); null elsewhere. */
    tracer: RequestTrace | null;
  }
}

/** Routes that get a trace per request: the model endpoints. */
const TRACED: Record<string, 'chat' | 'embeddings'> = {
  '/v1/chat/completions': 'chat',
  '/v1/embeddings': 'embeddings',
};

type CallbackHook = (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
type AsyncHook = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Starts a trace for every request to a traced route, before any other hook of the scope (so a
 * request rejected by auth, validation or limits is traced too), and finishes it when the response
 * is sent if the route did not (errors thrown before the chat route's account existed). Call it on
 * the `/v1` scope before adding the auth hook.
 */
export function installTracing(scope: FastifyInstance, recorder: TraceRecorder): void {
  scope.decorateRequest('tracer', null);
  scope.addHook('onRequest', (req, _reply, done) => {
    const op = TRACED[req.routeOptions.url ?? ''];
    if (op !== undefined) {
      // A request id Keel generated is the trace's id too, so `x-request-id` finds the trace; a
      // client's own id (which may repeat) is only recorded with it.
      const generated = req.headers['x-request-id'] !== req.id;
      const t = new RequestTrace(recorder, undefined, generated ? req.id : undefined);
      if (op === 'embeddings') t.set('operation', op);
      t.set('request_id', req.id);
      req.tracer = t;
    }
    done();
  });
  scope.addHook('onError', (req, _reply, err, done) => {
    if (req.tracer && !req.tracer.finished) req.tracer.error = err;
    done();
  });
  scope.addHook('onResponse', (req, reply, done) => {
    const t = req.tracer;
    if (t && !t.finished) finishFromResponse(t, req, reply.statusCode);
    done();
  });
}

const MAX_MODEL_CHARS = 200;

function finishFromResponse(t: RequestTrace, req: FastifyRequest, status: number): void {
  const body = req.body as { model?: unknown; stream?: unknown } | undefined;
  const model =
    typeof body?.model === 'string' && body.model.length <= MAX_MODEL_CHARS ? body.model : undefined;
  const p = req.principal as FastifyRequest['principal'] | undefined;
  t.finish({
    status: status >= 400 ? 'error' : 'ok',
    httpStatus: status,
    errorCode: t.error === undefined ? undefined : toHttpError(t.error).code,
    caller: p ? { tenantId: p.tenantId, keyId: p.keyId, userLabel: p.userLabel } : undefined,
    model,
    stream: body?.stream === true,
  });
}

/**
 * Wraps a hook so its run is one span of the request's trace (`auth`, `limits`, ...); a hook that
 * fails records its error code on the span. Untraced routes run the hook unchanged.
 */
export function spanHook(name: string, hook: CallbackHook): CallbackHook;
export function spanHook(name: string, hook: AsyncHook): AsyncHook;
export function spanHook(name: string, hook: CallbackHook | AsyncHook): CallbackHook | AsyncHook {
  if (hook.length >= 3) {
    const cb = hook as CallbackHook;
    return (req, reply, done) => {
      const t = req.tracer;
      if (!t) {
        cb(req, reply, done);
        return;
      }
      const s = t.start(name);
      cb(req, reply, (err?: Error) => {
        if (err) s.error(err);
        s.end();
        done(err);
      });
    };
  }
  const fn = hook as AsyncHook;
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const t = req.tracer;
    if (!t) return fn(req, reply);
    return t.span(name, () => fn(req, reply));
  };
}
