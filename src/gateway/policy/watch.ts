import type { StreamPart } from '../../providers/types.ts';
import type { BudgetDenied } from '../../state/types.ts';
import { countTextTokens, microsToUsd } from '../../telemetry/cost.ts';
import type { RequestAccount } from '../accounting.ts';
import type { PolicyTicket } from './ticket.ts';

/** The budget side of a stream: prices in micro-USD per token, and what the hold covers. */
export interface StreamBudget {
  model: string;
  promptTokens: number;
  /** Micro-USD per prompt token and per output token. */
  inRate: number;
  outRate: number;
  /** What the hold grows by each time it runs out. */
  stepMicros: number;
}

export interface StopNotice {
  code: 'budget_exceeded';
  message: string;
}

/**
 * Watches a streamed answer part by part: records the finish reason and tool calls (for the
 * cache) and, under a budget, counts output tokens as they arrive. When the next part would take
 * the running cost past what the hold covers, it grows the hold (one SharedState call per
 * `reserveStepTokens`); when the budget has nothing left to give, `see` answers false and the
 * gateway stops the stream: the upstream call is aborted and the client gets `finish_reason:
 * "length"` with a `notice`. `see` is synchronous except at those rare decision points.
 */
export class StreamWatch {
  readonly #acct: RequestAccount;
  readonly #ticket: PolicyTicket;
  readonly #budget: StreamBudget | undefined;
  #tokens = 0;
  #allowed = Number.POSITIVE_INFINITY;
  /** Set when the budget stopped the stream. */
  notice: StopNotice | undefined;

  constructor(acct: RequestAccount, ticket: PolicyTicket, budget: StreamBudget | undefined) {
    this.#acct = acct;
    this.#ticket = ticket;
    this.#budget = budget;
    if (budget) this.#allowed = this.#allowedFor(ticket.heldMicros);
  }

  /** Output tokens counted so far. */
  get tokens(): number {
    return this.#tokens;
  }

  #allowedFor(held: number): number {
    const b = this.#budget!;
    if (b.outRate <= 0) return Number.POSITIVE_INFINITY;
    return Math.floor((held - b.promptTokens * b.inRate) / b.outRate);
  }

  /** True to forward the part; false (or a promise of false) to stop the stream here. */
  see(p: StreamPart): boolean | Promise<boolean> {
    switch (p.type) {
      case 'text-delta':
        if (this.#budget === undefined || p.text.length === 0) return true;
        this.#tokens += countTextTokens(p.text, this.#budget.model);
        return this.#tokens <= this.#allowed || this.#grow();
      case 'tool-call-delta': {
        this.#acct.hasToolCalls = true;
        if (this.#budget === undefined) return true;
        const t = p.toolCall;
        this.#tokens += countTextTokens((t.name ?? '') + (t.argumentsDelta ?? ''), this.#budget.model);
        return this.#tokens <= this.#allowed || this.#grow();
      }
      case 'finish':
        this.#acct.finishReason = p.finishReason;
        return true;
      default:
        return true;
    }
  }

  async #grow(): Promise<boolean> {
    const b = this.#budget!;
    for (let i = 0; i < 3; i++) {
      const need = Math.ceil((this.#tokens - this.#allowed) * b.outRate);
      const r = await this.#ticket.grow(need, Math.max(need, b.stepMicros));
      if (!r.ok) {
        this.#stop(r.denied);
        return false;
      }
      this.#allowed = this.#allowedFor(this.#ticket.heldMicros);
      if (this.#tokens <= this.#allowed) return true;
    }
    this.#stop(undefined);
    return false;
  }

  #stop(denied: BudgetDenied | undefined): void {
    const rule = denied ? this.#ticket.ruleAt(denied.index) : undefined;
    const what = rule
      ? `the ${rule.window === 'day' ? 'daily' : 'monthly'} budget of ${rule.subject.label} ($${rule.limitUsd}) is used up` +
        ` ($${microsToUsd(denied!.spent).toFixed(6)} spent, $${microsToUsd(denied!.reserved).toFixed(6)} held by requests in flight)`
      : 'the budget hold of this request could not be extended';
    this.notice = {
      code: 'budget_exceeded',
      message: `Stopped after ${this.#tokens} output tokens: ${what}. The answer is incomplete.`,
    };
    const acct = this.#acct;
    acct.finishReason = 'length';
    acct.attributes.budget_stopped = true;
    // The upstream is aborted before its usage report: charge what was counted.
    acct.usage ??= {
      promptTokens: this.#budget!.promptTokens,
      completionTokens: this.#tokens,
      totalTokens: this.#budget!.promptTokens + this.#tokens,
      estimated: true,
    };
  }
}

/** The extra JSON fields of the final chunk of a stopped stream: `,"notice":{...}`. */
export function noticeJson(n: StopNotice | undefined): string {
  return n ? `,"notice":${JSON.stringify(n)}` : '';
}
