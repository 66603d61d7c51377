import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Routing } from '../ai/router/wiring.ts';
import type { KeelConfig } from '../config/schema.ts';
import type { GuardRegistry } from '../guard/registry.ts';
import type { Db } from '../store/db.ts';
import { newId } from '../store/ids.ts';
import type { Auth } from './auth.ts';
import { clientErrorHandler, errorHandler, notFoundHandler, sendError } from './errors.ts';
import type { PolicyEngine } from './policy/engine.ts';
import { adminBreakerRoutes } from './routes/admin-breakers.ts';
import { adminBudgetRoutes } from './routes/admin-budgets.ts';
import { adminKeyRoutes } from './routes/admin-keys.ts';
import { chatRoutes } from './routes/chat.ts';
import { embeddingRoutes } from './routes/embeddings.ts';
import { evalRoutes } from './routes/eval.ts';
import { feedbackRoutes } from './routes/feedback.ts';
import { guardRoutes } from './routes/guard.ts';
import { healthRoutes } from './routes/health.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelRoutes } from './routes/models.ts';
import { statsRoutes } from './routes/stats.ts';
import { traceRoutes } from './routes/traces.ts';
import { usageRoutes } from './routes/usage.ts';
import type {
  AiService,
  IngestService,
  MonitoringService,
  TraceRecorder,
  UsageRecorder,
} from './services.ts';
import { dashboardRoutes } from './static.ts';
import { installTracing, spanHook } from './tracing-hooks.ts';

/** Everything the HTTP layer needs; built by `createKeel` (src/runtime.ts). */
export interface GatewayDeps {
  config: KeelConfig;
  db: Db;
  auth: Auth;
  ai: AiService;
  ledger: UsageRecorder;
  traces: TraceRecorder;
  /** Rate limits, budgets, access rules, residency and answer caches (src/gateway/policy). */
  policy?: PolicyEngine | undefined;
  ingest: IngestService;
  /** Metrics, stats, trace queries, feedback and evals; their routes exist only when set. */
  monitoring?: MonitoringService | undefined;
  /** Model routes and their circuit breakers (`GET /v1/admin/breakers`). */
  routing?: Routing | undefined;
  /** Guard profiles for `POST /v1/guard/scan` (default: the config's, in-memory attack index). */
  guard?: GuardRegistry | undefined;
}

export interface GatewayOptions {
  /** Fastify/pino logging (errors only; per-request logging stays off on the hot path). */
  logger?: boolean;
}

// Client-supplied ids are echoed only when short and printable, so they cannot smuggle anything into logs.
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The client's id when it sent a usable one; else a new trace-shaped id (`req_…`), see `installTracing`. */
function requestId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && REQUEST_ID.test(h) ? h : newId('req');
}

/**
 * The HTTP gateway. Public routes (health) sit at the root; everything under `/v1` is behind the
 * auth hook, and admin routes add a role check. Policies that come later (rate limits, budgets)
 * plug in as hooks of the authenticated scope, after auth.
 */
export function buildGateway(deps: GatewayDeps, opts: GatewayOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ? { level: 'warn' } : false,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.server.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestId,
    // Lets `close()` finish while idle keep-alive sockets are open; streams in flight may finish.
    forceCloseConnections: 'idle',
    clientErrorHandler,
    frameworkErrors: (err, req, reply) => {
      // Raised before the onRequest hooks run, so the request id header is set here.
      reply.header('x-request-id', req.id);
      sendError(reply, err);
    },
  });

  // JSON only: Fastify's text/plain parser would let a non-JSON body reach the routes.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  healthRoutes(app, deps);
  metricsRoutes(app, deps);
  dashboardRoutes(app);
  app.register(async (v1) => {
    v1.decorateRequest('principal');
    // Tracing first: requests that auth (or any later hook) rejects get a trace too.
    installTracing(v1, deps.traces);
    v1.addHook('onRequest', spanHook('auth', deps.auth.hook));
    chatRoutes(v1, deps);
    modelRoutes(v1, deps);
    embeddingRoutes(v1, deps);
    adminKeyRoutes(v1, deps);
    adminBreakerRoutes(v1, deps);
    ingestRoutes(v1, deps);
    guardRoutes(v1, deps);
    statsRoutes(v1, deps);
    traceRoutes(v1, deps);
    feedbackRoutes(v1, deps);
    evalRoutes(v1, deps);
    usageRoutes(v1, deps);
    adminBudgetRoutes(v1, deps);
  });
  return app;
}
