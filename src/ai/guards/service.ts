import type { ScanContext } from '../../guard/index.ts';
import type { ChatRun } from '../pipeline.ts';
import { DEFAULT_SYSTEM_PROMPT, retrievalQuery } from '../prompt.ts';
import type { AiService, ChatInput, ChatTarget, ScreenedChat } from '../service.ts';
import type { Guards } from './guards.ts';
import { guardOutput } from './output.ts';
import { RequestGuard } from './request.ts';

/**
 * Guardrails around the AI service, as a decorator: `startChat` screens the conversation (a block
 * throws before anything is retrieved or charged), plants a canary in an app's system prompt,
 * screens retrieved chunks through the pipeline's `screenHits` hook, and wraps the answer's stream
 * with the output stage. Targets whose profile runs no scanner go through untouched. The gateway
 * screens first (`screenChat`), before limits and caches, and hands the result to `startChat`.
 */
export function withGuards(inner: AiService, guards: Guards): AiService {
  // A screening's guard (its redaction session and decision), for the `startChat` it is handed to.
  const screenings = new WeakMap<ScreenedChat, RequestGuard>();
  return {
    ...inner,
    async screenChat(t, input) {
      const profile = guards.profileFor(t);
      if (!profile) return { messages: input.messages, redacted: false };
      if (profile.scanners.input.length > 0) await input.beforeScan?.();
      const g = new RequestGuard(profile, guards, input.trace);
      const screened: ScreenedChat = {
        messages: await g.screenInput(input.messages),
        redacted: g.session.size > 0,
      };
      screenings.set(screened, g);
      return screened;
    },
    async startChat(t, input) {
      const profile = guards.profileFor(t);
      if (!profile) return inner.startChat(t, input);
      const earlier = input.screened ? screenings.get(input.screened) : undefined;
      const g = earlier?.profile === profile ? earlier : new RequestGuard(profile, guards, input.trace);
      const messages = g === earlier ? input.screened!.messages : await g.screenInput(input.messages);
      let target: ChatTarget = t;
      const next: ChatInput = { ...input, messages, screened: undefined };
      if (t.kind === 'app') {
        if (g.canary) {
          const base = t.app.systemPrompt?.trim() || DEFAULT_SYSTEM_PROMPT;
          target = { ...t, app: { ...t.app, systemPrompt: `${base}\n\n${g.canary.instruction}` } };
        }
        next.screenHits = g.screenHits;
        // Retrieval stays in the process with a local embedder: the original question finds more.
        if (guards.localRetrieval && g.session.size > 0) next.retrievalQuery = retrievalQuery(input.messages);
      }
      const run = await inner.startChat(target, next);
      return guardRun(run, g, t, input);
    },
  };
}

function guardRun(run: ChatRun, g: RequestGuard, t: ChatTarget, input: ChatInput): ChatRun {
  const p = g.profile;
  const trace = input.trace;
  const finish = () => trace?.set('guard_decision', g.decision);
  if (p.scanners.output.length === 0 && g.session.size === 0) {
    finish();
    return run;
  }
  // A non-streamed answer is whole before it is sent anyway: it always gets the full output stage.
  const hold = !input.stream || p.streaming === 'hold';
  const transforms = hold || g.session.size > 0 || g.canary !== undefined;
  const app = t.kind === 'app' ? t.app : undefined;
  const ctx: ScanContext = { session: g.session };
  if (run.app !== null) ctx.app = run.app;
  if (g.canary) ctx.canaries = [g.canary.token];
  if (app?.systemPrompt) ctx.systemPrompt = app.systemPrompt;
  // Grounding applies to answers over documents: an app with collections (the sources as the model saw them).
  if (app && app.collections.length > 0)
    ctx.sources = run.sources.map((s) => ({ index: s.index, text: s.text }));
  const schema = input.params.response_format?.json_schema?.schema;
  if (schema) ctx.responseSchema = schema;
  run.parts = guardOutput(run.parts, {
    profile: p,
    session: g.session,
    ctx,
    mode: hold ? 'hold' : 'live',
    observe: !transforms,
    trace,
    onScanned(r) {
      g.note(r.outcome.decision);
      const score = r.outcome.metrics['grounding.score'];
      if (score !== undefined && trace) {
        trace.set('grounding_score', score);
        trace.set('grounding_unsupported', r.outcome.metrics['grounding.unsupported'] ?? 0);
      }
      finish();
    },
  });
  // Rewritten text cannot go out as the upstream's bytes.
  if (transforms) run.forwardRaw = false;
  return run;
}
