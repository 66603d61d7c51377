import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderSchema } from '../src/config/schema.ts';
import { contextPrecision, createLlmJudge, parseVerdict } from '../src/eval/judge.ts';
import { runEval } from '../src/eval/runner.ts';
import {
  createOpenAICompatibleProvider,
  type OpenAICompatibleConfig,
  type OpenAICompatibleProvider,
} from '../src/providers/openai-compatible.ts';
import type { Db } from '../src/store/db.ts';
import { openStore } from '../src/store/open.ts';
import { getRunResults } from '../src/store/queries/eval-runs.ts';
import { type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

/** LLM-as-judge over a real OpenAI-wire HTTP server on loopback. */

const KEY = 'sk-judge-test-key';
const VERDICT = {
  faithfulness: 0.9,
  answer_relevance: 0.8,
  context_relevance: [1, 0, 1],
  context_recall: 0.5,
  reasons: { faithfulness: 'one claim unsupported' },
};

let up: OpenAIUpstream;
let provider: OpenAICompatibleProvider;
let db: Db;

beforeAll(async () => {
  up = await startOpenAIUpstream({ apiKey: KEY });
  provider = createOpenAICompatibleProvider(
    'judge',
    ProviderSchema.parse({
      type: 'openai-compatible',
      baseUrl: up.url,
      apiKey: KEY,
    }) as OpenAICompatibleConfig,
  );
  db = await openStore({ dataDir: 'memory://' });
});
afterAll(async () => {
  await provider?.close();
  await up?.close();
  await db?.close();
});

const input = {
  question: 'How long are traces kept?',
  answer: 'Traces are kept for 30 days.',
  contexts: [
    'Retention defaults to 30 days.',
    'The dashboard has charts.',
    'Traces older than that are deleted.',
  ],
  reference: 'Thirty days by default.',
};

describe('LLM judge', () => {
  it('sends one grading prompt and turns the verdict into metrics', async () => {
    up.script({
      kind: 'reply',
      content: `Here is my verdict:\n\`\`\`json\n${JSON.stringify(VERDICT)}\n\`\`\``,
    });
    const judge = createLlmJudge({ provider, model: 'gpt-4o-mini' });
    expect(judge.model).toBe('judge/gpt-4o-mini');
    const out = await judge.judge(input);
    expect(out.metrics).toEqual({
      judge_faithfulness: 0.9,
      judge_answer_relevance: 0.8,
      // relevant at ranks 1 and 3: (1/1 + 2/3) / 2
      judge_context_precision: (1 + 2 / 3) / 2,
      judge_context_recall: 0.5,
    });
    expect(out.verdict).toEqual(VERDICT);
    const sent = up.requests.at(-1)?.body as {
      model: string;
      temperature: number;
      response_format: { type: string };
      messages: { role: string; content: string }[];
    };
    expect(sent.model).toBe('gpt-4o-mini');
    expect(sent.temperature).toBe(0);
    expect(sent.response_format).toEqual({ type: 'json_object' });
    expect(sent.messages.map((m) => m.role)).toEqual(['system', 'user']);
    const user = sent.messages[1]?.content ?? '';
    expect(user).toContain('Question:\nHow long are traces kept?');
    expect(user).toContain('[2] The dashboard has charts.');
    expect(user).toContain('Reference answer:\nThirty days by default.');
    // The stored prompt is what was sent.
    expect(out.prompt).toContain(user);
    expect(out.prompt.startsWith('system:\nYou are a strict evaluator')).toBe(true);
  });

  it('records the prompt and verdict per case in a stored run; a bad verdict keeps the other metrics', async () => {
    up.script([
      { kind: 'reply', content: JSON.stringify({ ...VERDICT, context_relevance: [true, false] }) },
      { kind: 'reply', content: 'I think it is fine.' },
    ]);
    const dataset = { id: 'ds_none', name: 'judged', version: 1 };
    await db.query(
      "insert into eval_datasets (id, tenant_id, name, version, content_hash, case_count) values ($1, 'ten_default', 'judged', 1, 'x', 2)",
      [dataset.id],
    );
    const report = await runEval({
      cases: [{ input: input.question, reference: input.reference }, { input: 'Second question?' }],
      concurrency: 1,
      judge: createLlmJudge({ provider, model: 'gpt-4o-mini' }),
      ask: async (q) => ({
        answer: q === input.question ? input.answer : 'No idea.',
        retrievedIds: ['d1', 'd2'],
        latencyMs: 1,
        costUsd: 0,
        contexts: input.contexts.slice(0, 2),
      }),
      store: { db, tenantId: 'ten_default', dataset, app: 'default' },
    });
    const [first, second] = await getRunResults(db, report.runId as string);
    expect(first?.judgePrompt).toContain('How long are traces kept?');
    expect(first?.judgeVerdict).toMatchObject({ faithfulness: 0.9, context_relevance: [1, 0] });
    expect(first?.metrics).toMatchObject({ judge_faithfulness: 0.9, judge_context_precision: 1 });
    expect(second?.judgePrompt).toBeUndefined();
    expect(second?.judgeVerdict).toEqual({ error: 'the judge did not reply with a JSON object' });
    expect(second?.metrics).toHaveProperty('answer_relevance');
    expect(second?.metrics).not.toHaveProperty('judge_faithfulness');
    expect(report.metrics.judge_faithfulness).toBe(0.9);
  });

  it('surfaces upstream failures as the case verdict error', async () => {
    up.script({ kind: 'status', status: 500 });
    const report = await runEval({
      cases: [{ input: 'q' }],
      judge: createLlmJudge({ provider, model: 'gpt-4o-mini' }),
      ask: async () => ({ answer: 'a', retrievedIds: [], latencyMs: 1, costUsd: 0 }),
    });
    expect(report.results[0]?.judge?.verdict.error).toMatch(/500|server/i);
    expect(report.failed).toBe(0);
  });
});

describe('verdict parsing', () => {
  it('clamps scores, pads context relevance and needs JSON', () => {
    const v = parseVerdict('{"faithfulness": 1.4, "answer_relevance": "0.5", "context_relevance": [1]}', 3);
    expect(v).toEqual({
      faithfulness: 1,
      answer_relevance: 0.5,
      context_relevance: [1, 0, 0],
      context_recall: null,
    });
    expect(() => parseVerdict('no json here', 1)).toThrow(/JSON object/);
    expect(() => parseVerdict('{"faithfulness": }', 1)).toThrow(/malformed/);
    expect(() => parseVerdict('{"answer_relevance": 1}', 0)).toThrow(/faithfulness/);
    expect(contextPrecision([0, 0])).toBe(0);
    expect(contextPrecision([0, 1])).toBe(0.5);
  });
});
