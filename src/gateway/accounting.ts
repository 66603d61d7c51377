import type { ChatRun } from '../ai/pipeline.ts';
import { estimateUsage } from '../ai/usage.ts';
import type { KeelError } from '../errors.ts';
import type { Usage } from '../providers/types.ts';
import type { UsageEntry } from '../store/queries/usage.ts';
import { RequestTrace } from '../telemetry/tracing.ts';
import type { Attributes } from '../telemetry/types.ts';
import type { Principal } from './auth.ts';
import type { PolicyTicket } from './policy/ticket.ts';
import type { StreamWatch } from './policy/watch.ts';
import type { GatewayDeps } from './server.ts';

export type Outcome = 'ok' | 'error' | 'aborted';

/**
 * What one model request did, gathered while it runs and turned into exactly one usage-ledger entry
 * and one trace at its end. The id is generated here, never taken from the client, so a reused
 * `x-request-id` can neither collide with nor suppress another request's charge.
 */
export class RequestAccount {
  readonly id: string;
  readonly ts: Date;
  readonly t0: number;
  /** The request's trace: add spans and attributes here (see src/telemetry/tracing.ts). */
  readonly tracer: RequestTrace;
  ttftMs: number | undefined;
  usage: Usage | undefined;
  /** USD this request cost (set once usage is final); goes to the ledger and the trace. */
  costUsd = 0;
  completion = '';
  run: ChatRun | undefined;
  /** Limits and budget held for this request (src/gateway/policy); `commit` settles them. */
  policy: PolicyTicket | undefined;
  /** Set on streams under a budget or cache: the pump shows it every part (src/gateway/policy/watch.ts). */
  watch: StreamWatch | undefined;
  /** The answer came from the cache: its ledger row costs nothing. */
  cacheHit: 'hit' | 'semantic-hit' | undefined;
  finishReason: string | undefined;
  hasToolCalls = false;

  constructor(
    private readonly deps: Pick<GatewayDeps, 'ledger' | 'traces' | 'policy'>,
    readonly principal: Principal,
    /** The name the client asked for. */
    readonly model: string,
    readonly stream: boolean,
    readonly requestId: string,
    t0: number,
    /** Started by the gateway's tracing hook when the request arrived; a fresh one otherwise. */
    tracer?: RequestTrace | null,
  ) {
    this.tracer = tracer ?? new RequestTrace(deps.traces, t0);
    if (this.tracer.attributes.request_id === undefined) this.tracer.set('request_id', requestId);
    this.t0 = this.tracer.t0;
    this.id = this.tracer.id;
    this.ts = this.tracer.ts;
  }

  /** Trace-level attributes of this request (the trace's own, so what is set here is stored with it). */
  get attributes(): Attributes {
    return this.tracer.attributes;
  }

  markFirstToken(): void {
    if (this.ttftMs === undefined) this.ttftMs = performance.now() - this.t0;
  }

  /** Upstream usage when it reported some, else Keel's own count (marked estimated). */
  finalUsage(): Usage {
    if (this.usage) return this.usage;
    this.usage = estimateUsage(this.run?.messages ?? [], this.completion);
    return this.usage;
  }

  /**
   * Settles the request's budget hold and limits and commits the ledger entry (group commit);
   * resolves once both are done. The settle is sent first: its SharedState commands leave in this
   * tick, while the ledger insert waits for the next batch, so a crash in between over-counts the
   * budget (safe) rather than under-counts it, without a round trip added to the response.
   */
  commit(status: Outcome): Promise<void> {
    // A failure that left neither usage nor text reached no model (or got nothing back): no charge.
    const charged =
      this.cacheHit === undefined && (status === 'ok' || this.usage !== undefined || this.completion !== '');
    const u = this.finalUsage();
    const run = this.run;
    if (charged && this.deps.policy) {
      this.costUsd = this.deps.policy.costUsd(run?.providerId ?? null, run?.upstreamModel ?? this.model, u);
    }
    const entry: UsageEntry = {
      id: this.id,
      tenantId: this.principal.tenantId,
      keyId: this.principal.keyId,
      userLabel: this.principal.userLabel,
      app: run?.app ?? null,
      model: run?.upstreamModel ?? this.model,
      provider: run?.providerId ?? null,
      promptTokens: u.promptTokens,
      completionTokens: u.completionTokens,
      costUsd: this.costUsd,
      estimated: u.estimated === true,
      status,
      cacheHit: this.cacheHit !== undefined,
    };
    const settled = this.policy?.finish(status, this, charged);
    const recorded = this.deps.ledger.record(entry);
    return settled ? Promise.all([settled, recorded]).then(() => undefined) : recorded;
  }

  /** Hands the finished request's trace to the sink (batched, off the request path). */
  trace(status: Outcome, httpStatus: number, error?: KeelError): void {
    const run = this.run;
    const t = this.tracer;
    if (run) {
      t.addStages(run.stages);
      // Without per-attempt spans from the router, the provider call is one span up to the end.
      if (t.providerAttempts === 0) {
        const start = t.spans.reduce((m, s) => Math.max(m, s.startMs + s.durationMs), 0);
        t.addSpan('provider', t.t0 + start, performance.now(), {
          provider: run.providerId,
          model: run.upstreamModel,
          ttft_ms: this.ttftMs ?? null,
          prompt_tokens: this.usage?.promptTokens ?? null,
          completion_tokens: this.usage?.completionTokens ?? null,
          cost_usd: this.costUsd,
          error: error?.code ?? null,
        });
      }
    }
    const p = this.principal;
    t.finish({
      status,
      httpStatus,
      errorCode: error?.code,
      caller: { tenantId: p.tenantId, keyId: p.keyId, userLabel: p.userLabel },
      app: run?.app,
      model: this.model,
      stream: this.stream,
      ttftMs: this.ttftMs,
      promptTokens: this.usage?.promptTokens,
      completionTokens: this.usage?.completionTokens,
      costUsd: this.costUsd,
    });
  }
}
