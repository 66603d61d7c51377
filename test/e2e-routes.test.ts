import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.ts';
import { KeelError } from '../src/errors.ts';
import { api, startKeel, type TestKeel } from './helpers/keel.ts';
import { type AnthropicUpstream, startAnthropicUpstream } from './peers/anthropic-upstream.ts';
import { type Fault, type OpenAIUpstream, startOpenAIUpstream } from './peers/openai-upstream.ts';

/**
 * Model routes end to end: the official OpenAI client → Keel (routes from keel.yaml) → fault-injecting
 * OpenAI-protocol peers (and an Anthropic one). For every fault: what the router did (retry,
 * fallback, breaker), what the client saw (a complete answer or one clear error; a mid-stream
 * failure is an in-band error then [DONE]) and that the ledger holds exactly one entry per request.
 *
 * Each fault case has its own route and upstream model names, hence its own breakers: cases cannot
 * open each other's circuits. Faults are scripted per upstream model.
 */

interface Case {
  name: string;
  /** Faults for the first target (upstream A), consumed one per request; then normal replies. */
  a: Fault[];
  b?: Fault[];
  stream: boolean;
  /** `answer`: complete; `midstream`: content then an in-band error; a number: HTTP error status. */
  outcome: 'answer' | 'midstream' | number;
  servedBy?: 'a' | 'b';
  calls: { a: number; b: number };
}

const CASES: Case[] = [
  {
    name: '429 with retry-after-ms: retried on the same target after the asked wait',
    a: [{ kind: 'status', status: 429, headers: { 'retry-after-ms': '30' } }],
    stream: true,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 2, b: 0 },
  },
  {
    name: '500 then 503: retries used up, falls back to the second target',
    a: [
      { kind: 'status', status: 500 },
      { kind: 'status', status: 503 },
    ],
    stream: true,
    outcome: 'answer',
    servedBy: 'b',
    calls: { a: 2, b: 1 },
  },
  {
    name: 'hang with no bytes: the first-token timeout ends the attempt, the retry answers',
    a: [{ kind: 'hang' }],
    stream: true,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 2, b: 0 },
  },
  {
    name: 'slow drip: content keeps coming, so the answer completes without a retry',
    a: [{ kind: 'drip', intervalMs: 30 }],
    stream: true,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 1, b: 0 },
  },
  {
    name: 'connection reset before headers: retried',
    a: [{ kind: 'reset-before-headers' }],
    stream: true,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 2, b: 0 },
  },
  {
    name: 'malformed SSE before any content: retried',
    a: [{ kind: 'malformed-sse', afterChunks: 1 }],
    stream: true,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 2, b: 0 },
  },
  {
    name: 'truncated JSON body (non-streaming): retried',
    a: [{ kind: 'truncated-json' }],
    stream: false,
    outcome: 'answer',
    servedBy: 'a',
    calls: { a: 2, b: 0 },
  },
  {
    name: 'connection reset mid-stream: in-band error and [DONE], never retried',
    a: [{ kind: 'reset-mid-stream', afterChunks: 3 }],
    stream: true,
    outcome: 'midstream',
    calls: { a: 1, b: 0 },
  },
  {
    name: 'malformed SSE after content: in-band error and [DONE], never retried',
    a: [{ kind: 'malformed-sse', afterChunks: 3 }],
    stream: true,
    outcome: 'midstream',
    calls: { a: 1, b: 0 },
  },
  {
    name: '400 from the upstream: the request is at fault, no retry and no fallback',
    a: [{ kind: 'status', status: 400, message: 'max_tokens is too large' }],
    stream: true,
    outcome: 400,
    calls: { a: 1, b: 0 },
  },
  {
    name: 'every target fails (non-streaming): one clear 502 error',
    a: [
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
    ],
    b: [
      { kind: 'status', status: 502 },
      { kind: 'status', status: 502 },
    ],
    stream: false,
    outcome: 502,
    calls: { a: 2, b: 2 },
  },
];

const ANTHROPIC_KEY = 'sk-ant-routes-e2e-secret';
const RETRIES = { max: 1, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 2_000 };

let a: OpenAIUpstream;
let b: OpenAIUpstream;
let claude: AnthropicUpstream;
let t: TestKeel;
let client: OpenAI;
let dir: string;
const faults = { a: new Map<string, Fault[]>(), b: new Map<string, Fault[]>() };

const modelOf = (body: unknown) => (body as { model?: string }).model ?? '';
const callsTo = (up: OpenAIUpstream, model: string) =>
  up.requests.filter((r) => modelOf(r.body) === model).length;

interface LedgerRow {
  id: string;
  status: string;
  provider: string | null;
  model: string;
  app: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  estimated: boolean;
}

const ledger = (): Promise<LedgerRow[]> =>
  t.keel.db.query<LedgerRow>(
    'select id, status, provider, model, app, prompt_tokens, completion_tokens, estimated from usage_ledger order by ts, id',
  );

/** Runs `fn` and returns the ledger rows it added; the test fails unless it added exactly one. */
async function oneEntry(fn: () => Promise<void>): Promise<LedgerRow> {
  const before = (await ledger()).length;
  await fn();
  const rows = await ledger();
  expect(rows.length - before).toBe(1);
  return rows.at(-1)!;
}

function config(): Record<string, unknown> {
  const timeouts = { connectMs: 1_000, firstByteMs: 3_000, totalMs: 8_000 };
  const routes: Record<string, unknown> = {};
  CASES.forEach((_, i) => {
    routes[`case-${i}`] = {
      targets: [
        { provider: 'a', model: `a-${i}`, timeouts: { firstByteMs: 500 } },
        { provider: 'b', model: `b-${i}` },
      ],
      retries: RETRIES,
    };
  });
  Object.assign(routes, {
    guarded: {
      targets: [
        { provider: 'a', model: 'guarded-a' },
        { provider: 'b', model: 'guarded-b' },
      ],
      retries: { max: 0 },
    },
    lonely: { targets: [{ provider: 'a', model: 'lonely' }], retries: RETRIES },
    mixed: {
      targets: [
        { provider: 'a', model: 'mixed-a' },
        { provider: 'claude', model: 'claude-test' },
      ],
      retries: { max: 0 },
    },
    counted: { targets: [{ provider: 'quiet', model: 'counted' }] },
    structured: { targets: [{ provider: 'a', model: 'json-a' }] },
    inner: { targets: [{ provider: 'a', model: 'inner-a' }], retries: { max: 0 } },
    outer: { targets: [{ route: 'inner' }, { provider: 'b', model: 'outer-b' }] },
  });
  return {
    providers: {
      a: { type: 'openai-compatible', baseUrl: a.url, timeouts },
      b: { type: 'openai-compatible', baseUrl: b.url, timeouts },
      // A server that rejects `stream_options`, so it never reports usage: Keel counts it.
      quiet: {
        type: 'openai-compatible',
        baseUrl: a.url,
        timeouts,
        includeUsage: false,
        unsupportedParams: ['stream_options'],
      },
      claude: { type: 'anthropic', baseUrl: claude.url, apiKey: ANTHROPIC_KEY, timeouts, maxTokens: 256 },
    },
    routes,
    // Long enough that a busy machine cannot let a probe through between two requests of a test.
    breakers: { consecutiveFailures: 3, cooldownMs: 1_000 },
    apps: { helper: { model: 'case-1', systemPrompt: 'Be brief.' } },
  };
}

beforeAll(async () => {
  [a, b, claude] = await Promise.all([
    startOpenAIUpstream({ chunks: 4 }),
    startOpenAIUpstream({ chunks: 4 }),
    startAnthropicUpstream({ apiKey: ANTHROPIC_KEY, chunks: 3 }),
  ]);
  a.script((r) => faults.a.get(modelOf(r.body))?.shift());
  b.script((r) => faults.b.get(modelOf(r.body))?.shift());
  dir = mkdtempSync(join(tmpdir(), 'keel-routes-'));
  const file = join(dir, 'keel.yaml');
  writeFileSync(file, stringify(config()));
  t = await startKeel({ env: { KEEL_CONFIG: file } });
  client = new OpenAI({ apiKey: t.adminKey, baseURL: t.baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await t?.close();
  await Promise.all([a?.close(), b?.close(), claude?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ask = (model: string, content = 'hello route') => ({
  model,
  messages: [{ role: 'user' as const, content }],
});

describe('faults on a two-target route, through the openai client', () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const model = `case-${i}`;
    faults.a.set(`a-${i}`, [...c.a]);
    faults.b.set(`b-${i}`, [...(c.b ?? [])]);
    let text = '';
    let error: unknown;
    let done = false;
    const row = await oneEntry(async () => {
      try {
        if (c.stream) {
          const stream = await client.chat.completions.create({
            ...ask(model),
            stream: true,
            stream_options: { include_usage: true },
          });
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
          done = true;
        } else {
          const r = await client.chat.completions.create(ask(model));
          text = r.choices[0]?.message.content ?? '';
          done = true;
        }
      } catch (e) {
        error = e;
      }
    });

    if (c.outcome === 'answer') {
      expect(error).toBeUndefined();
      expect(done).toBe(true);
      expect(text).toBe('You said: hello route');
      expect(row).toMatchObject({
        status: 'ok',
        provider: c.servedBy,
        model: `${c.servedBy}-${i}`,
        estimated: false,
      });
      expect(row.completion_tokens).toBeGreaterThan(0);
    } else if (c.outcome === 'midstream') {
      // Part of the answer arrived, then the stream ended with an error event the client raises.
      expect(done).toBe(false);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect(text.length).toBeGreaterThan(0);
      expect('You said: hello route'.startsWith(text)).toBe(true);
      expect(text).not.toBe('You said: hello route');
      expect(row.status).toBe('error');
      expect(row.provider).toBe('a');
      expect(row.completion_tokens).toBeGreaterThan(0);
    } else {
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(c.outcome);
      expect(text).toBe('');
      expect(row.status).toBe('error');
    }
    expect(callsTo(a, `a-${i}`)).toBe(c.calls.a);
    expect(callsTo(b, `b-${i}`)).toBe(c.calls.b);
  });

  it('a mid-stream failure ends the raw SSE with one error event and [DONE]', async () => {
    faults.a.set('a-7', [{ kind: 'reset-mid-stream', afterChunks: 3 }]);
    const res = await api(t, 'POST', '/v1/chat/completions', { body: { ...ask('case-7'), stream: true } });
    expect(res.status).toBe(200);
    const events = String(res.body)
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice(6));
    expect(events.at(-1)).toBe('[DONE]');
    const error = JSON.parse(events.at(-2)!) as { error: { code: string } };
    expect(error.error.code).toBe('upstream_network');
    expect(events.filter((e) => e.includes('"error"'))).toHaveLength(1);
  });
});

describe('route behaviour through Keel', () => {
  it('falls back from an OpenAI target to Anthropic, with tools, streamed', async () => {
    faults.a.set('mixed-a', [{ kind: 'status', status: 503 }]);
    claude.script([
      {
        kind: 'reply',
        text: '',
        toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }],
      },
    ]);
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    let name = '';
    let args = '';
    let finish: string | null | undefined;
    const row = await oneEntry(async () => {
      const stream = await client.chat.completions.create({
        ...ask('mixed', 'weather?'),
        tools,
        stream: true,
      });
      for await (const chunk of stream) {
        // Keel's own chunks (the targets speak different protocols): the route's name as the model.
        expect(chunk.model).toBe('mixed');
        for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
          if (tc.function?.name) name = tc.function.name;
          args += tc.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
    });
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: 'Oslo' });
    expect(finish).toBe('tool_calls');
    expect(row).toMatchObject({ status: 'ok', provider: 'claude', model: 'claude-test' });
    expect(claude.requests.at(-1)!.body).toMatchObject({
      model: 'claude-test',
      tools: [{ name: 'get_weather' }],
    });
  });

  it('opens the breaker after consecutive failures, skips the target, shows it, and closes after a probe', async () => {
    faults.a.set(
      'guarded-a',
      Array.from({ length: 3 }, () => ({ kind: 'status', status: 503 }) as Fault),
    );
    for (let n = 0; n < 4; n++) {
      const row = await oneEntry(async () => {
        const r = await client.chat.completions.create(ask('guarded'));
        expect(r.choices[0]?.message.content).toBe('You said: hello route');
      });
      expect(row).toMatchObject({ status: 'ok', provider: 'b', model: 'guarded-b' });
    }
    // Three failures opened it; the fourth request went straight to the second target.
    expect(callsTo(a, 'guarded-a')).toBe(3);
    expect(callsTo(b, 'guarded-b')).toBe(4);

    const view = await api(t, 'GET', '/v1/admin/breakers');
    expect(view.status).toBe(200);
    const data = (view.body as { data: Record<string, unknown>[] }).data;
    expect(data.find((x) => x.target === 'a/guarded-a')).toMatchObject({
      state: 'open',
      routes: ['guarded'],
      consecutive_failures: 3,
      opens: 1,
    });
    expect(data.find((x) => x.target === 'b/guarded-b')).toMatchObject({ state: 'closed', opens: 0 });
    // Targets that never failed are listed too.
    expect(data.find((x) => x.target === 'a/json-a')).toMatchObject({ state: 'closed' });
    const member = (await api(t, 'POST', '/v1/admin/keys', { body: { name: 'member', role: 'member' } }))
      .body as {
      key: string;
    };
    expect((await api(t, 'GET', '/v1/admin/breakers', { key: member.key })).status).toBe(403);

    const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text());
    expect(metrics).toContain('keel_circuit_breaker_state{target="a/guarded-a"} 2');

    // The skipped target and the serving one are both spans of the last request's trace.
    const last = (await ledger()).at(-1)!;
    await t.keel.telemetry.flush();
    const trace = (await api(t, 'GET', `/v1/traces/${last.id}`)).body as {
      spans: { name: string; attributes?: Record<string, unknown> }[];
    };
    const attempts = trace.spans.filter((s) => s.name === 'provider').map((s) => s.attributes);
    expect(attempts).toMatchObject([
      { target: 'a/guarded-a', outcome: 'skipped' },
      { target: 'b/guarded-b', outcome: 'ok' },
    ]);

    // Healed and past the cool-down: one probe goes to the first target, succeeds, and closes it.
    await new Promise((r) => setTimeout(r, 1_100));
    const row = await oneEntry(async () => {
      await client.chat.completions.create(ask('guarded'));
    });
    expect(row.provider).toBe('a');
    const after = (await api(t, 'GET', '/v1/admin/breakers')).body as { data: Record<string, unknown>[] };
    expect(after.data.find((x) => x.target === 'a/guarded-a')).toMatchObject({ state: 'closed', opens: 1 });
    expect(await fetch(`${t.url}/metrics`).then((r) => r.text())).toContain(
      'keel_circuit_breaker_state{target="a/guarded-a"} 0',
    );
  });

  it('a single target: Retry-After passed on, then 503 with Retry-After while its circuit is open', async () => {
    faults.a.set('lonely', [
      { kind: 'status', status: 429, headers: { 'retry-after': '30' } },
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
    ]);
    // Asked to wait 30 s (over maxRetryAfterMs): no retry, the client gets the 429 and the wait.
    const first = await api(t, 'POST', '/v1/chat/completions', { body: ask('lonely') });
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('30');
    const second = await api(t, 'POST', '/v1/chat/completions', { body: { ...ask('lonely'), stream: true } });
    expect(second.status).toBe(502);
    expect(second.body).toMatchObject({ error: { code: 'upstream_5xx' } });
    expect(callsTo(a, 'lonely')).toBe(3);
    // Three consecutive failures: open. Nothing is sent; the client learns when to come back.
    const third = await api(t, 'POST', '/v1/chat/completions', { body: ask('lonely') });
    expect(third.status).toBe(503);
    expect(third.body).toMatchObject({ error: { code: 'unavailable' } });
    expect(third.headers.get('retry-after')).toBe('1');
    expect(callsTo(a, 'lonely')).toBe(3);
    const rows = (await ledger()).slice(-3);
    expect(rows.map((r) => r.status)).toEqual(['error', 'error', 'error']);
  });

  it('a nested route falls back from the inner route to its own target', async () => {
    faults.a.set('inner-a', [{ kind: 'status', status: 500 }]);
    const row = await oneEntry(async () => {
      const r = await client.chat.completions.create(ask('outer'));
      expect(r.choices[0]?.message.content).toBe('You said: hello route');
    });
    expect(row).toMatchObject({ status: 'ok', provider: 'b', model: 'outer-b' });
  });

  it('an app whose model is a route answers through it', async () => {
    faults.a.set('a-1', [
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
    ]);
    const row = await oneEntry(async () => {
      const r = await client.chat.completions.create(ask('helper'));
      expect(r.model).toBe('helper');
      expect(r.choices[0]?.message.content).toBe('You said: hello route');
    });
    expect(row).toMatchObject({ status: 'ok', app: 'helper', provider: 'b', model: 'b-1' });
    const sent = b.requests.at(-1)!.body as { messages: { role: string; content: string }[] };
    expect(sent.messages[0]).toMatchObject({ role: 'system' });
  });

  it('records Keel’s own token count, marked estimated, when the upstream reports no usage', async () => {
    let usage: OpenAI.CompletionUsage | null | undefined;
    const row = await oneEntry(async () => {
      const stream = await client.chat.completions.create({
        ...ask('counted'),
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    });
    const sent = a.requests.at(-1)!.body as { stream_options?: unknown };
    expect(sent.stream_options).toBeUndefined();
    expect(row).toMatchObject({ status: 'ok', provider: 'quiet', estimated: true });
    expect(row.prompt_tokens).toBeGreaterThan(0);
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(usage).toMatchObject({
      prompt_tokens: row.prompt_tokens,
      completion_tokens: row.completion_tokens,
    });
  });

  it('lists routes among the models', async () => {
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['guarded', 'outer', 'counted']));
  });
});

describe('structured output through a route', () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string' }, temp: { type: 'number' } },
    required: ['city', 'temp'],
    additionalProperties: false,
  };
  const format = { type: 'json_schema' as const, json_schema: { name: 'weather', schema } };

  it('repairs an invalid answer once and returns valid JSON (streamed)', async () => {
    faults.a.set('json-a', [
      { kind: 'reply', content: 'It is 3 degrees in Oslo.' },
      { kind: 'reply', content: '{"city":"Oslo","temp":3}' },
    ]);
    let text = '';
    const row = await oneEntry(async () => {
      const stream = await client.chat.completions.create({
        ...ask('structured', 'Weather in Oslo?'),
        response_format: format,
        stream: true,
      });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    });
    expect(JSON.parse(text)).toEqual({ city: 'Oslo', temp: 3 });
    expect(callsTo(a, 'json-a')).toBe(2);
    expect(row.status).toBe('ok');
  });

  it('ends with one clear error when the model never produces valid JSON', async () => {
    const before = callsTo(a, 'json-a');
    faults.a.set('json-a', [
      { kind: 'reply', content: 'no' },
      { kind: 'reply', content: '{"city":"Oslo"}' },
    ]);
    const row = await oneEntry(async () => {
      const err = await client.chat.completions
        .create({ ...ask('structured'), response_format: format })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('output_invalid');
    });
    expect(row.status).toBe('error');
    expect(callsTo(a, 'json-a') - before).toBe(2);
  });

  it('refuses a schema that cannot compile with 400, before any call and without a charge', async () => {
    const before = { calls: callsTo(a, 'json-a'), rows: (await ledger()).length };
    const res = await api(t, 'POST', '/v1/chat/completions', {
      body: {
        ...ask('structured'),
        stream: true,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'bad', schema: { type: 'no-such-type' } },
        },
      },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_request', param: 'response_format' } });
    expect(callsTo(a, 'json-a')).toBe(before.calls);
    expect((await ledger()).length).toBe(before.rows);
  });
});

describe('routes in keel.yaml', () => {
  it('reports every bad route reference at load, and accepts a route as an app model', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      stringify({
        providers: { a: { type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' } },
        routes: {
          one: { targets: [{ provider: 'nope', model: 'x' }, { route: 'two' }] },
          two: { targets: [{ route: 'one' }, { provider: 'hashing', model: 'h' }] },
          ok: { targets: [{ provider: 'a', model: 'm' }] },
        },
        apps: { good: { model: 'ok' }, bad: { model: 'missing-route' } },
      }),
    );
    const err = (() => {
      try {
        loadConfig({ file, env: {}, cwd: dir });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KeelError);
    const msg = (err as KeelError).message;
    expect(msg).toContain('routes.one.targets.0.provider: unknown provider "nope"');
    expect(msg).toContain('routes.two.targets.1.provider: provider "hashing" only embeds');
    expect(msg).toMatch(/routes\.one: routes refer to each other in a loop: one → two → one/);
    expect(msg).toContain('apps.bad.model: unknown model "missing-route"');
    expect(msg).not.toContain('apps.good');
  });
});
