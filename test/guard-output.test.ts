import { describe, expect, it } from 'vitest';
import { guardOutput, type OutputReport } from '../src/ai/guards/output.ts';
import { loadConfig } from '../src/config/load.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { compileProfile, createCanary, GuardRegistry, RedactionSession } from '../src/guard/index.ts';
import type { StreamPart } from '../src/providers/types.ts';

async function* partsOf(chunks: string[], extra: StreamPart[] = []): AsyncGenerator<StreamPart> {
  yield { type: 'start', id: 'x' };
  for (const text of chunks) yield { type: 'text-delta', text };
  yield* extra;
  yield { type: 'finish', finishReason: 'stop' };
  yield { type: 'usage', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } };
}

async function run(parts: AsyncIterable<StreamPart>) {
  const out: StreamPart[] = [];
  for await (const p of parts) out.push(p);
  const text = out.map((p) => (p.type === 'text-delta' ? p.text : '')).join('');
  const finish = out.find((p) => p.type === 'finish') as { finishReason: string } | undefined;
  return { out, text, finish: finish?.finishReason };
}

function split(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

const standard = compileProfile('standard');
const strict = compileProfile('strict');

function session(): RedactionSession {
  const s = new RedactionSession();
  s.placeholder('EMAIL', 'jane@example.com');
  s.placeholder('PERSON', 'Jane Doe');
  return s;
}

describe('output stage over a stream', () => {
  it('live: restores placeholders split at every offset and scans the whole answer at the end', async () => {
    const answer = 'Mail <EMAIL_1> now, <PERSON_1>. Also <NOT_A_PLACEHOLDER> and a < sign.';
    for (const size of [1, 2, 3, 5, 8]) {
      const reports: OutputReport[] = [];
      const r = await run(
        guardOutput(partsOf(split(answer, size)), {
          profile: standard,
          session: session(),
          ctx: {},
          mode: 'live',
          observe: false,
          onScanned: (x) => reports.push(x),
        }),
      );
      expect(r.text).toBe('Mail jane@example.com now, Jane Doe. Also <NOT_A_PLACEHOLDER> and a < sign.');
      expect(r.finish).toBe('stop');
      expect(reports).toHaveLength(1);
      expect(reports[0]!.mode).toBe('live');
    }
  });

  it('live: catches a canary split across chunks before any of it goes out', async () => {
    const canary = createCanary();
    for (const size of [1, 4, 7]) {
      const reports: OutputReport[] = [];
      const r = await run(
        guardOutput(partsOf(split(`Sure! The marker is ${canary.token} and more text.`, size)), {
          profile: standard,
          session: new RedactionSession(),
          ctx: { canaries: [canary.token] },
          mode: 'live',
          observe: false,
          onScanned: (x) => reports.push(x),
        }),
      );
      expect(r.text).not.toContain(canary.token.slice(0, 5));
      expect(r.text).toContain('Sure! The marker is');
      expect(r.finish).toBe('content_filter');
      expect(reports[0]!.canaryStopped).toBe(true);
    }
  });

  it('live: a canary-like prefix that never completes is released at the end', async () => {
    const canary = createCanary();
    const r = await run(
      guardOutput(partsOf(['Ends with K', 'C-']), {
        profile: standard,
        session: new RedactionSession(),
        ctx: { canaries: [canary.token] },
        mode: 'live',
        observe: false,
        onScanned: () => {},
      }),
    );
    expect(r.text).toBe('Ends with KC-');
    expect(r.finish).toBe('stop');
  });

  it('observe: passes parts through unchanged (raw bytes kept) and still reports', async () => {
    const reports: OutputReport[] = [];
    const parts: StreamPart[] = [{ type: 'text-delta', text: 'hello', raw: '{"x":1}' }];
    const r = await run(
      guardOutput(
        (async function* () {
          yield* parts;
        })(),
        {
          profile: standard,
          session: new RedactionSession(),
          ctx: {},
          mode: 'live',
          observe: true,
          onScanned: (x) => reports.push(x),
        },
      ),
    );
    expect(r.out[0]).toBe(parts[0]);
    expect(reports).toHaveLength(1);
  });

  it('hold: rewrites with grounding, then restores; finish and usage follow the text', async () => {
    const s = session();
    const sources = [{ index: 1, text: 'Write to <EMAIL_1> to get a refund within 30 days.' }];
    const r = await run(
      guardOutput(
        partsOf(split('Write to <EMAIL_1> for a refund within 30 days [1]. It takes 45 days [1].', 4)),
        {
          profile: strict,
          session: s,
          ctx: { sources },
          mode: 'hold',
          observe: false,
          onScanned: () => {},
        },
      ),
    );
    expect(r.text).toContain('Write to jane@example.com for a refund within 30 days [1].');
    expect(r.text).not.toContain('45');
    expect(r.text).toMatch(/1 statement was removed/);
    const kinds = r.out.map((p) => p.type);
    expect(kinds.indexOf('text-delta')).toBeLessThan(kinds.indexOf('finish'));
    expect(kinds.at(-1)).toBe('usage');
  });

  it('hold: masks secrets and withholds blocked answers with content_filter', async () => {
    const masked = await run(
      guardOutput(partsOf(['Your key: sk-proj-', 'abcdefghijklmnopqrstuvwxyz012345']), {
        profile: standard,
        session: new RedactionSession(),
        ctx: {},
        mode: 'hold',
        observe: false,
        onScanned: () => {},
      }),
    );
    expect(masked.text).toBe('Your key: [SECRET]');
    const banned = compileProfile({ name: 'b', banned: { substrings: ['Project Falcon'] } });
    expect(banned.streaming).toBe('hold');
    const blocked = await run(
      guardOutput(partsOf(['About project ', 'falcon: it ships.']), {
        profile: banned,
        session: new RedactionSession(),
        ctx: {},
        mode: 'hold',
        observe: false,
        onScanned: () => {},
      }),
    );
    expect(blocked.text).toBe(
      "The answer was withheld because it violated guardrail policy 'banned_content'.",
    );
    expect(blocked.finish).toBe('content_filter');
  });

  it('restores placeholders in streamed tool-call arguments', async () => {
    const r = await run(
      guardOutput(
        partsOf(
          [],
          [
            {
              type: 'tool-call-delta',
              toolCall: { index: 0, id: 'c1', name: 'send', argumentsDelta: '{"to":"<EMA' },
            },
            { type: 'tool-call-delta', toolCall: { index: 0, argumentsDelta: 'IL_1>"}' } },
          ],
        ),
        { profile: standard, session: session(), ctx: {}, mode: 'live', observe: false, onScanned: () => {} },
      ),
    );
    const args = r.out
      .filter((p) => p.type === 'tool-call-delta')
      .map((p) => (p.type === 'tool-call-delta' ? (p.toolCall.argumentsDelta ?? '') : ''))
      .join('');
    expect(args).toBe('{"to":"jane@example.com"}');
  });
});

describe('guard configuration', () => {
  it('accepts app profiles, custom profiles and allow-lists', () => {
    const c = ConfigSchema.parse({
      guardProfiles: { medical: { extends: 'strict', grounding: { mode: 'refuse' } } },
      guard: { defaultProfile: 'standard', passthrough: 'medical' },
      apps: {
        a: { model: 'extractive', guard: 'medical' },
        b: { model: 'extractive', guard: { profile: 'standard', allow: { values: ['help@acme.com'] } } },
      },
    });
    const reg = new GuardRegistry({ profiles: c.guardProfiles });
    expect(reg.get('medical').streaming).toBe('hold');
    expect(reg.get('standard').streaming).toBe('live');
    const b = reg.forApp('b', c.apps.b!.guard, 'standard');
    expect(b.allows('EMAIL', 'help@acme.com')).toBe(true);
    expect(reg.get('standard').allows('EMAIL', 'help@acme.com')).toBe(false);
    expect(reg.forApp('b', c.apps.b!.guard, 'standard')).toBe(b);
  });

  it('names the path of an undefined or redefined profile', () => {
    const bad = ConfigSchema.safeParse({ apps: { a: { model: 'extractive', guard: 'nope' } } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['apps', 'a', 'guard']);
    expect(bad.error?.issues[0]?.message).toMatch(/'nope' is not defined/);
    const redefined = ConfigSchema.safeParse({ guardProfiles: { strict: {} } });
    expect(redefined.error?.issues[0]?.message).toMatch(/built in/);
    expect(ConfigSchema.safeParse({ guard: { passthrough: 'x' } }).success).toBe(false);
  });

  it('defaults: apps run standard, pass-through runs off, attacks come from the store', () => {
    const c = loadConfig({ env: {}, cwd: '/nonexistent-keel-dir' });
    expect(c.guard).toMatchObject({ defaultProfile: 'standard', passthrough: 'off', attackIndex: 'store' });
  });
});
