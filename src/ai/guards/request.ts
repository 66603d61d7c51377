import {
  type AppliedFinding,
  type Canary,
  createCanary,
  type Decision,
  GuardBlockedError,
  type GuardProfile,
  RedactionSession,
  runScanners,
  type Scanner,
} from '../../guard/index.ts';
import type { ChatMessage, ContentPart } from '../../providers/types.ts';
import type { RetrievalHit } from '../../rag/types.ts';
import type { SpanRecorder } from '../../telemetry/tracing.ts';
import type { Guards } from './guards.ts';

const RANK: Record<Decision, number> = { allow: 0, flag: 1, redact: 2, block: 3 };

/** The profile with the input stage reduced to the scanners that may run on any role's text. */
const piiOnly = new WeakMap<GuardProfile, GuardProfile>();
function nonUserProfile(p: GuardProfile): GuardProfile {
  let q = piiOnly.get(p);
  if (!q) {
    const input: readonly Scanner[] = p.scanners.input.filter((s) => s.id !== 'injection');
    q = Object.freeze({ ...p, scanners: { ...p.scanners, input } });
    piiOnly.set(p, q);
  }
  return q;
}

/**
 * One request's guardrails before the model call: the input stage over the conversation, the
 * context stage over retrieved chunks, and the canary planted in the system prompt. Holds the
 * request's redaction session (the only place original values live) and its running decision.
 */
export class RequestGuard {
  readonly session = new RedactionSession();
  readonly canary: Canary | undefined;
  decision: Decision = 'allow';
  /** Chunks dropped from the context (injections), for the trace. */
  dropped = 0;

  constructor(
    readonly profile: GuardProfile,
    private readonly guards: Guards,
    private readonly trace: SpanRecorder | undefined,
  ) {
    if (profile.scanners.output.some((s) => s.id === 'canary')) this.canary = createCanary();
    trace?.set('guard_profile', profile.name);
  }

  /** Raises the request's decision to `d` when stronger. */
  note(d: Decision): void {
    if (RANK[d] > RANK[this.decision]) this.decision = d;
  }

  /**
   * Scans every message: injection rules only on the user's turns (the developer's system prompt and
   * the model's own turns are not attacks), PII redaction on all of them, since earlier answers came
   * back to the client restored and now return in the history. Throws `GuardBlockedError` on a block.
   */
  async screenInput(messages: readonly ChatMessage[]): Promise<ChatMessage[]> {
    const p = this.profile;
    if (p.scanners.input.length === 0) return [...messages];
    const span = this.trace?.start('input_guards');
    const findings: AppliedFinding[] = [];
    const flagged: number[] = [];
    const out: ChatMessage[] = [];
    let injection = 0;
    let lastUser: string | undefined;
    const scanText = async (text: string, user: boolean, i: number): Promise<string> => {
      if (text.length === 0) return text;
      const o = await runScanners(user ? p : nonUserProfile(p), 'input', text, { session: this.session });
      if (o.findings.length > 0) {
        findings.push(...o.findings);
        flagged.push(i);
      }
      injection = Math.max(injection, o.metrics['injection.score'] ?? 0);
      this.note(o.decision);
      if (o.decision === 'block') {
        span?.findings(findings).end(this.spanAttributes(findings, flagged, injection, true));
        this.trace?.set('guard_decision', 'block');
        throw new GuardBlockedError(o.blockedBy ?? 'unknown', p.name, 'input');
      }
      return o.text;
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const user = m.role === 'user';
      let content = m.content;
      if (typeof content === 'string') content = await scanText(content, user, i);
      else if (Array.isArray(content)) {
        const parts: ContentPart[] = [];
        for (const part of content) {
          parts.push(
            part.type === 'text' && typeof part.text === 'string'
              ? { ...part, type: 'text', text: await scanText(part.text, user, i) }
              : part,
          );
        }
        content = parts;
      }
      let toolCalls = m.tool_calls;
      if (toolCalls?.length) {
        const calls = [];
        for (const c of toolCalls) {
          const args = await scanText(c.function.arguments, false, i);
          calls.push(
            args === c.function.arguments ? c : { ...c, function: { ...c.function, arguments: args } },
          );
        }
        toolCalls = calls;
      }
      const changed = content !== m.content || toolCalls !== m.tool_calls;
      const msg = changed ? { ...m, content, ...(toolCalls ? { tool_calls: toolCalls } : {}) } : m;
      if (user && typeof msg.content === 'string') lastUser = msg.content;
      out.push(msg);
    }
    span?.findings(findings).end(this.spanAttributes(findings, flagged, injection, false));
    // What the trace keeps of the input is what the provider saw.
    if (this.session.size > 0 && lastUser !== undefined) this.trace?.setInput(lastUser);
    return out;
  }

  private spanAttributes(findings: AppliedFinding[], flagged: number[], injection: number, blocked: boolean) {
    return {
      profile: this.profile.name,
      decision: this.decision,
      findings: findings.length,
      redacted: this.session.size,
      messages_with_findings: [...new Set(flagged)].join(','),
      injection_score: Math.round(injection * 1000) / 1000,
      blocked,
    };
  }

  /**
   * The context stage over retrieved chunks: a chunk that scores as an injection (a block) is
   * dropped from the context; redactions (strict profiles) use the request's placeholders, so the
   * answer is restored like the user's own values.
   */
  screenHits = async (hits: RetrievalHit[]): Promise<RetrievalHit[]> => {
    const p = this.profile;
    if (p.scanners.context.length === 0 || hits.length === 0) return hits;
    const span = this.trace?.start('context_guards', { profile: p.name, chunks: hits.length });
    const cache = this.guards.contextCache(p);
    const outcomes = await Promise.all(
      hits.map(async (h) => {
        const c = cache.get(h.chunkId);
        if (c && c.text === h.text) return c.outcome;
        const o = await runScanners(p, 'context', h.text, { session: this.session });
        if (o.text === h.text) cache.set(h.chunkId, { text: h.text, outcome: o });
        return o;
      }),
    );
    const kept: RetrievalHit[] = [];
    let findings = 0;
    outcomes.forEach((o, i) => {
      const h = hits[i]!;
      // A dropped chunk is the guard working, not a problem with the answer: it counts as a flag.
      this.note(o.decision === 'block' ? 'flag' : o.decision);
      if (o.findings.length > 0) {
        findings += o.findings.length;
        span?.findings(o.findings);
        span?.event('chunk', {
          chunk_id: h.chunkId,
          decision: o.decision === 'block' ? 'dropped' : o.decision,
          findings: o.findings.length,
          injection_score: Math.round((o.metrics['injection.score'] ?? 0) * 1000) / 1000,
        });
      }
      if (o.decision === 'block') this.dropped++;
      else kept.push(o.text === h.text ? h : { ...h, text: o.text });
    });
    span?.end({ dropped: this.dropped, findings });
    if (this.dropped > 0) this.trace?.set('guard_context_dropped', this.dropped);
    return kept;
  };
}
