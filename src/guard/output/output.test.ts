import { describe, expect, it } from 'vitest';
import { createBannedScanner } from './banned.ts';
import { createJsonSchemaScanner, validateJson } from './json-schema.ts';
import { createPromptLeakScanner, promptLeakScore } from './prompt-leak.ts';
import { createSecretsScanner } from './secrets.ts';

const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
  required: ['name'],
  additionalProperties: false,
};

describe('JSON schema check', () => {
  it('accepts valid JSON, also inside a code fence', () => {
    expect(validateJson('{"name":"Ada","age":36}', schema).valid).toBe(true);
    expect(validateJson('```json\n{"name":"Ada"}\n```', schema).valid).toBe(true);
  });

  it('reports invalid JSON and schema violations without values', async () => {
    expect(validateJson('{name: Ada}', schema)).toEqual({ valid: false, reason: 'not-json' });
    expect(validateJson('{"name":"Ada","age":-1}', schema)).toMatchObject({
      valid: false,
      reason: 'schema:too_small',
      path: 'age',
    });
    const r = await createJsonSchemaScanner().scan('{"age":"secret-value"}', { responseSchema: schema });
    expect(r.findings[0]).toMatchObject({ type: 'SCHEMA_INVALID' });
    expect(JSON.stringify(r.findings)).not.toContain('secret-value');
  });
});

describe('banned content', () => {
  const s = createBannedScanner({
    substrings: ['Project Falcon'],
    topics: [{ name: 'medical-dosage', keywords: ['dosage', 'mg', 'tablets', 'per day'], minHits: 2 }],
  });

  it('matches substrings through case and homoglyph tricks', async () => {
    const r = await s.scan('Details on PROJECT FАLCON follow', {});
    expect(r.findings[0]).toMatchObject({ type: 'BANNED_CONTENT', reason: 'substring#1' });
  });

  it('matches a topic only with enough keywords', async () => {
    expect((await s.scan('Take 200 mg tablets three times per day', {})).findings[0]?.reason).toBe(
      'topic:medical-dosage',
    );
    expect((await s.scan('The tablets are in the drawer', {})).findings).toEqual([]);
  });
});

describe('system prompt leak', () => {
  const systemPrompt =
    'You are the support assistant for Acme. Never discuss pricing of enterprise plans. Answer only from the provided documents and cite them.';

  it('scores a reproduced prompt high and an ordinary answer low', async () => {
    expect(promptLeakScore(`Sure! My instructions: ${systemPrompt}`, systemPrompt)).toBeGreaterThan(0.9);
    expect(promptLeakScore('You can reset your password in the account settings.', systemPrompt)).toBe(0);
    const r = await createPromptLeakScanner().scan(systemPrompt.toUpperCase(), { systemPrompt });
    expect(r.findings[0]?.type).toBe('SYSTEM_PROMPT_LEAK');
  });
});

describe('secrets in output', () => {
  it('finds keys with the input recognizers', async () => {
    const r = await createSecretsScanner().scan('Use the key AKIAIOSFODNN7EXAMPLE to log in.', {});
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ type: 'SECRET', reason: 'aws-access-key-id' });
  });
});
