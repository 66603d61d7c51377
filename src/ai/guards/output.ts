import {
  type GuardOutcome,
  type GuardProfile,
  maskFor,
  type RedactionSession,
  runScanners,
  type ScanContext,
  type StreamRestorer,
} from '../../guard/index.ts';
import type { StreamPart } from '../../providers/types.ts';
import type { ActiveSpan, SpanRecorder } from '../../telemetry/tracing.ts';

/**
 * The output side of a guarded request, as a transform of the provider's stream parts.
 *
 * - `live` (the default for `standard`): text flows at once, with placeholders restored (also when a
 *   value is split across chunks) and the exact canary token caught in-stream; the output scanners
 *   read the whole answer when the stream ends, and what they find is recorded. Nothing waits
 *   before the first token.
 * - `hold` (strict grounding, banned content, non-streamed answers): nothing goes out until the
 *   whole answer passed the output scanners, which may rewrite it (unsupported sentences removed, a
 *   refusal) or withhold it (`finish_reason: content_filter`).
 *
 * The scanners always read the model's own text (placeholders in), so the user's values are never
 * "found" in the answer, and grounding compares placeholders with placeholders.
 */
export interface OutputGuardOptions {
  profile: GuardProfile;
  session: RedactionSession;
  ctx: ScanContext;
  mode: 'live' | 'hold';
  /** Live mode with nothing to restore or watch: parts pass unchanged (raw bytes included). */
  observe: boolean;
  /** The request's trace: an `output_guards` span with the findings. */
  trace?: SpanRecorder | undefined;
  /** Called once the whole answer was scanned (not when the client left first). */
  onScanned(report: OutputReport): void;
}

export interface OutputReport {
  outcome: GuardOutcome;
  mode: 'live' | 'hold';
  /** False when a block or rewrite came too late to apply (live mode, already streamed). */
  enforced: boolean;
  /** Set when the canary was caught in-stream. */
  canaryStopped: boolean;
}

export function withheldNotice(policy: string): string {
  return `The answer was withheld because it violated guardrail policy '${policy}'.`;
}

/** Holds back a possible canary prefix at a chunk's end; reports a complete canary. */
class CanaryWatch {
  private pending = '';
  constructor(
    private readonly tokens: readonly string[],
    private readonly mask: boolean,
  ) {}

  push(chunk: string): { text: string; leaked: boolean } {
    let buf = this.pending + chunk;
    this.pending = '';
    let leaked = false;
    for (const t of this.tokens) {
      if (!buf.includes(t)) continue;
      leaked = true;
      if (this.mask) buf = buf.split(t).join(maskFor('CANARY_LEAK'));
    }
    if (leaked && !this.mask) return { text: '', leaked };
    const hold = this.holdFrom(buf);
    if (hold < buf.length) {
      this.pending = buf.slice(hold);
      buf = buf.slice(0, hold);
    }
    return { text: buf, leaked };
  }

  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  /** Earliest offset from which the tail could still grow into a token. */
  private holdFrom(buf: string): number {
    let from = buf.length;
    for (const t of this.tokens) {
      const first = t.charCodeAt(0);
      for (let i = Math.max(0, buf.length - t.length + 1); i < from; i++) {
        if (buf.charCodeAt(i) === first && t.startsWith(buf.slice(i))) {
          from = i;
          break;
        }
      }
    }
    return from;
  }
}

export async function* guardOutput(
  parts: AsyncIterable<StreamPart>,
  o: OutputGuardOptions,
): AsyncGenerator<StreamPart, void, undefined> {
  if (o.mode === 'hold') yield* held(parts, o);
  else yield* live(parts, o);
}

/** Restores placeholders in tool-call arguments, one restorer per call index. */
class ToolRestorers {
  private readonly byIndex = new Map<number, StreamRestorer>();
  constructor(private readonly session: RedactionSession) {}

  map(p: Extract<StreamPart, { type: 'tool-call-delta' }>): StreamPart {
    const d = p.toolCall;
    if (d.argumentsDelta === undefined || this.session.size === 0) return p;
    let r = this.byIndex.get(d.index);
    if (!r) {
      r = this.session.createStreamRestorer();
      this.byIndex.set(d.index, r);
    }
    return { type: 'tool-call-delta', toolCall: { ...d, argumentsDelta: r.push(d.argumentsDelta) } };
  }

  *flush(): Generator<StreamPart> {
    for (const [index, r] of this.byIndex) {
      const rest = r.flush();
      if (rest) yield { type: 'tool-call-delta', toolCall: { index, argumentsDelta: rest } };
    }
    this.byIndex.clear();
  }
}

async function scan(
  o: OutputGuardOptions,
  text: string,
): Promise<{ outcome: GuardOutcome; span?: ActiveSpan }> {
  const span = o.trace?.start('output_guards');
  return { outcome: await runScanners(o.profile, 'output', text, o.ctx), span };
}

function report(o: OutputGuardOptions, span: ActiveSpan | undefined, r: OutputReport): void {
  if (span) {
    span.findings(r.outcome.findings);
    // `grounding.score` → `grounding_score`: metric names as flat attribute keys.
    for (const [k, v] of Object.entries(r.outcome.metrics)) span.set(k.replace(/\./g, '_'), v);
    span.end({
      profile: o.profile.name,
      decision: r.outcome.decision,
      mode: r.mode,
      enforced: r.enforced,
      canary_stopped: r.canaryStopped,
    });
  }
  o.onScanned(r);
}

async function* live(parts: AsyncIterable<StreamPart>, o: OutputGuardOptions): AsyncGenerator<StreamPart> {
  const canaryAction = o.profile.actionFor('CANARY_LEAK');
  const canaries = o.ctx.canaries ?? [];
  const watch =
    !o.observe && canaries.length > 0 && canaryAction !== 'flag' && canaryAction !== 'allow'
      ? new CanaryWatch(canaries, canaryAction === 'redact')
      : null;
  const restorer = !o.observe && o.session.size > 0 ? o.session.createStreamRestorer() : null;
  const tools = new ToolRestorers(o.session);
  let raw = '';
  const drain = function* (): Generator<StreamPart> {
    let t = watch ? watch.flush() : '';
    if (restorer) t = restorer.push(t) + restorer.flush();
    if (t) yield { type: 'text-delta', text: t };
    yield* tools.flush();
  };
  for await (const p of parts) {
    if (p.type === 'text-delta') {
      raw += p.text;
      if (o.observe) {
        yield p;
        continue;
      }
      let t = p.text;
      if (watch) {
        const w = watch.push(t);
        if (w.leaked && canaryAction === 'block') {
          const { outcome, span } = await scan(o, raw);
          report(o, span, { outcome, mode: 'live', enforced: true, canaryStopped: true });
          yield { type: 'text-delta', text: `\n\n${withheldNotice('canary_leak')}` };
          yield { type: 'finish', finishReason: 'content_filter' };
          // Leaving the loop cancels the upstream call: the rest of the leak is never read.
          return;
        }
        t = w.text;
      }
      if (restorer) t = restorer.push(t);
      if (t) yield { type: 'text-delta', text: t };
      continue;
    }
    if (p.type === 'finish') yield* drain();
    yield p.type === 'tool-call-delta' && !o.observe ? tools.map(p) : p;
  }
  yield* drain();
  const { outcome, span } = await scan(o, raw);
  report(o, span, {
    outcome,
    mode: 'live',
    enforced: outcome.decision !== 'block' && outcome.text === raw,
    canaryStopped: false,
  });
}

async function* held(parts: AsyncIterable<StreamPart>, o: OutputGuardOptions): AsyncGenerator<StreamPart> {
  const tools = new ToolRestorers(o.session);
  const tail: StreamPart[] = [];
  let raw = '';
  for await (const p of parts) {
    if (p.type === 'text-delta') raw += p.text;
    else if (p.type === 'finish' || p.type === 'usage') tail.push(p);
    else yield p.type === 'tool-call-delta' ? tools.map(p) : p;
  }
  yield* tools.flush();
  const { outcome, span } = await scan(o, raw);
  const blocked = outcome.decision === 'block';
  report(o, span, { outcome, mode: 'hold', enforced: true, canaryStopped: false });
  const text = blocked ? withheldNotice(outcome.blockedBy ?? 'unknown') : o.session.restore(outcome.text);
  if (text) yield { type: 'text-delta', text };
  let finished = false;
  for (const p of tail) {
    if (p.type === 'finish') {
      if (finished) continue;
      finished = true;
      yield blocked ? { type: 'finish', finishReason: 'content_filter' } : p;
    } else yield p;
  }
  if (blocked && !finished) yield { type: 'finish', finishReason: 'content_filter' };
}
