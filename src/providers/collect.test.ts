import { describe, expect, it } from 'vitest';
import { collect } from './collect.ts';
import type { StreamPart } from './types.ts';

async function* from(parts: StreamPart[]): AsyncGenerator<StreamPart> {
  yield* parts;
}

describe('collect', () => {
  it('folds text, tool calls by index, the finish and the last usage', async () => {
    const c = await collect(
      from([
        { type: 'start', id: 'a', model: 'm', created: 5 },
        { type: 'text-delta', text: 'Hel' },
        { type: 'text-delta', text: 'lo' },
        { type: 'tool-call-delta', toolCall: { index: 1, id: 't2', name: 'b', argumentsDelta: '{}' } },
        { type: 'tool-call-delta', toolCall: { index: 0, id: 't1', name: 'a', argumentsDelta: '{"x"' } },
        { type: 'tool-call-delta', toolCall: { index: 0, argumentsDelta: ':1}' } },
        { type: 'finish', finishReason: 'tool_calls' },
        { type: 'usage', usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } },
        { type: 'usage', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } },
      ]),
    );
    expect(c).toEqual({
      id: 'a',
      model: 'm',
      created: 5,
      text: 'Hello',
      toolCalls: [
        { id: 't1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } },
        { id: 't2', type: 'function', function: { name: 'b', arguments: '{}' } },
      ],
      finishReason: 'tool_calls',
      usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
    });
  });

  it('leaves finish and usage undefined when the stream had none', async () => {
    const c = await collect(from([{ type: 'text-delta', text: 'x' }]));
    expect(c).toMatchObject({ text: 'x', finishReason: undefined, usage: undefined, id: undefined });
  });
});
