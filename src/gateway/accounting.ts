import type { ChatRun } from '../ai/pipeline.ts';
import { estimateUsage } from '../ai/usage.ts';
import type { KeelError } from '../errors.ts';
import type { Usage } from '../providers/types.ts';
import { newId } from '../store/ids.ts';
import type { UsageEntry } from '../store/queries/usage.ts';
import type { Span, Trace } from '../telemetry/types.ts';
import type { Principal } from './auth.ts';
import type { GatewayDeps } from './server.ts';

export type Outcome = 'ok' | 'error' | 'aborted';

/**
 * What one model request did, gathered while it runs and turned into exactly one usage-ledger entry
 * and one trace at its end. The id is generated here, never taken from the client, so a reused
 * `x-request-id` can neither collide with nor suppress another request's charge.
 */
export class RequestAccount {
  readonly id = newId('req');
  readonly ts = new Date();
  readonly t0: number;
  ttftMs: number | undefined;
  usage: Usage | undefined;
  completion = '';
  run: ChatRun | undefined;

  constructor(
    private readonly deps: Pick<GatewayDeps, 'ledger' | 'traces'>,
    readonly principal: Principal,
    /** The name the client asked for. */
    readonly model: string,
    readonly stream: boolean,
    readonly requestId: string,
    t0: number,
  ) {
    this.t0 = t0;
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

  /** Commits the ledger entry (group commit); resolves once it is durable. */
  commit(status: Outcome): Promise<void> {
    const u = this.finalUsage();
    const run = this.run;
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
      costUsd: 0,
      estimated: u.estimated === true,
      status,
    };
    return this.deps.ledger.record(entry);
  }

  /** Hands the finished request's trace to the sink (batched, off the request path). */
  trace(status: Outcome, httpStatus: number, error?: KeelError): void {
    const latencyMs = performance.now() - this.t0;
    const run = this.run;
    const spans: Span[] = run ? run.stages.map((s) => ({ ...s })) : [];
    if (run) {
      const start = spans.reduce((m, s) => Math.max(m, s.startMs + s.durationMs), 0);
      spans.push({
        name: 'provider',
        startMs: start,
        durationMs: latencyMs - start,
        attributes: {
          provider: run.providerId,
          model: run.upstreamModel,
          ttft_ms: this.ttftMs ?? null,
          prompt_tokens: this.usage?.promptTokens ?? null,
          completion_tokens: this.usage?.completionTokens ?? null,
          error: error?.code ?? null,
        },
      });
    }
    const trace: Trace = {
      id: this.id,
      ts: this.ts,
      tenantId: this.principal.tenantId,
      keyId: this.principal.keyId ?? undefined,
      userLabel: this.principal.userLabel,
      app: run?.app ?? undefined,
      model: this.model,
      status,
      httpStatus,
      errorCode: error?.code,
      latencyMs,
      ttftMs: this.ttftMs,
      promptTokens: this.usage?.promptTokens,
      completionTokens: this.usage?.completionTokens,
      costUsd: 0,
      stream: this.stream,
      spans,
      attributes: { request_id: this.requestId },
    };
    this.deps.traces.write(trace);
  }
}
