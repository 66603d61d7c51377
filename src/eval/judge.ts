import { z } from 'zod';
import { KeelError } from '../errors.ts';
import { collect } from '../providers/collect.ts';
import type { ChatMessage, ChatProvider } from '../providers/types.ts';

/**
 * LLM-as-judge: one call per case grades faithfulness (is every claim of the answer supported by
 * the contexts), answer relevance (does it answer the question), the relevance of each retrieved
 * context (→ context precision) and, with a reference, context recall (how much of the reference
 * the contexts support). The prompt and the verdict are kept per case so a reviewer can check them.
 */

export interface JudgeInput {
  question: string;
  answer: string;
  /** Retrieved passages in rank order. */
  contexts: readonly string[];
  reference?: string | undefined;
}

export interface JudgeVerdict {
  faithfulness: number;
  answer_relevance: number;
  /** 1 (relevant) or 0 per context, in rank order. */
  context_relevance: number[];
  /** Null without a reference. */
  context_recall: number | null;
  reasons?: Record<string, string> | undefined;
}

export interface JudgeOutcome {
  /** The prompt as sent (messages joined with their roles). */
  prompt: string;
  verdict: JudgeVerdict;
  /** `judge_faithfulness`, `judge_answer_relevance`, `judge_context_precision`, `judge_context_recall`. */
  metrics: Record<string, number>;
}

export interface Judge {
  /** What judged, e.g. `openai/gpt-4o-mini`, for the run's config. */
  readonly model: string;
  judge(input: JudgeInput, opts?: { signal?: AbortSignal | undefined }): Promise<JudgeOutcome>;
}

const SYSTEM = `You are a strict evaluator of answers produced by a retrieval-augmented assistant.
Grade only from the material given. Reply with one JSON object and nothing else:
{"faithfulness": <0..1>, "answer_relevance": <0..1>, "context_relevance": [<0 or 1 per context>],
 "context_recall": <0..1 or null>, "reasons": {"faithfulness": "...", "answer_relevance": "...", "context_recall": "..."}}
- faithfulness: share of the answer's claims that the contexts support (1 = every claim supported).
- answer_relevance: how directly and completely the answer addresses the question (1 = fully).
- context_relevance: for each numbered context, in order, 1 if it is useful for answering the question, else 0.
- context_recall: share of the reference answer's statements that the contexts support; null when no reference is given.`;

const score = z.coerce.number().transform((n) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0));

const VerdictSchema = z.object({
  faithfulness: score,
  answer_relevance: score,
  context_relevance: z
    .array(
      z.union([
        z.boolean().transform((b) => (b ? 1 : 0)),
        z.coerce.number().transform((n) => (n > 0 ? 1 : 0)),
      ]),
    )
    .default([]),
  context_recall: score.nullable().default(null),
  reasons: z.record(z.string(), z.string()).optional(),
});

export function buildJudgeMessages(input: JudgeInput, maxContextChars = 4_000): ChatMessage[] {
  const contexts = input.contexts.length
    ? input.contexts
        .map((c, i) => `[${i + 1}] ${c.length > maxContextChars ? `${c.slice(0, maxContextChars)}…` : c}`)
        .join('\n\n')
    : '(no contexts were retrieved)';
  const user = [
    `Question:\n${input.question}`,
    `Contexts:\n${contexts}`,
    `Answer:\n${input.answer}`,
    `Reference answer:\n${input.reference ?? '(none)'}`,
  ].join('\n\n');
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
  ];
}

/** Extracts the JSON object from a judge reply (tolerating code fences and surrounding prose). */
export function parseVerdict(text: string, contextCount: number): JudgeVerdict {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start)
    throw new KeelError('upstream_protocol', 'the judge did not reply with a JSON object');
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(start, end + 1));
  } catch {
    throw new KeelError('upstream_protocol', 'the judge replied with malformed JSON');
  }
  const parsed = VerdictSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeelError(
      'upstream_protocol',
      `the judge's verdict is invalid: ${issue?.path.join('.')} ${issue?.message}`,
    );
  }
  const v = parsed.data;
  // A judge that lists more or fewer contexts than it was given is trimmed/padded (missing = not relevant).
  const relevance = Array.from({ length: contextCount }, (_, i) => v.context_relevance[i] ?? 0);
  const verdict: JudgeVerdict = {
    faithfulness: v.faithfulness,
    answer_relevance: v.answer_relevance,
    context_relevance: relevance,
    context_recall: v.context_recall,
  };
  if (v.reasons) verdict.reasons = v.reasons;
  return verdict;
}

/**
 * Context precision as RAGAS defines it: the mean of precision@k over the ranks k that hold a
 * relevant context (rewards relevant contexts ranked first); 0 when none is relevant.
 */
export function contextPrecision(relevance: readonly number[]): number {
  let hits = 0;
  let sum = 0;
  relevance.forEach((r, i) => {
    if (r > 0) {
      hits++;
      sum += hits / (i + 1);
    }
  });
  return hits > 0 ? sum / hits : 0;
}

export function verdictMetrics(v: JudgeVerdict, input: JudgeInput): Record<string, number> {
  const m: Record<string, number> = {
    judge_faithfulness: v.faithfulness,
    judge_answer_relevance: v.answer_relevance,
  };
  if (input.contexts.length > 0) m.judge_context_precision = contextPrecision(v.context_relevance);
  if (input.reference !== undefined && v.context_recall !== null) m.judge_context_recall = v.context_recall;
  return m;
}

export interface LlmJudgeOptions {
  provider: ChatProvider;
  /** The upstream model name the provider is asked for. */
  model: string;
  /** Per-context cap in the prompt (default 4000 characters). */
  maxContextChars?: number | undefined;
}

export function createLlmJudge(opts: LlmJudgeOptions): Judge {
  return {
    model: `${opts.provider.id}/${opts.model}`,
    async judge(input, callOpts = {}) {
      const messages = buildJudgeMessages(input, opts.maxContextChars);
      const prompt = messages.map((m) => `${m.role}:\n${m.content as string}`).join('\n\n');
      const reply = await collect(
        opts.provider.stream(
          { model: opts.model, messages, temperature: 0, response_format: { type: 'json_object' } },
          callOpts.signal ? { signal: callOpts.signal } : {},
        ),
      );
      const verdict = parseVerdict(reply.text, input.contexts.length);
      return { prompt, verdict, metrics: verdictMetrics(verdict, input) };
    },
  };
}
