import type { FinishReason, StreamPart, ToolCall, Usage } from './types.ts';

/** A whole completion, as a non-streaming response needs it. */
export interface CollectedCompletion {
  id: string | undefined;
  model: string | undefined;
  created: number | undefined;
  text: string;
  toolCalls: ToolCall[];
  /** `undefined` only when the stream ended without a finish part. */
  finishReason: FinishReason | undefined;
  /** The last usage part seen (upstreams may repeat it cumulatively). */
  usage: Usage | undefined;
}

/** Non-streaming is a collected stream: folds parts into text, assembled tool calls, finish and usage. */
export async function collect(parts: AsyncIterable<StreamPart>): Promise<CollectedCompletion> {
  const out: CollectedCompletion = {
    id: undefined,
    model: undefined,
    created: undefined,
    text: '',
    toolCalls: [],
    finishReason: undefined,
    usage: undefined,
  };
  const texts: string[] = [];
  const calls = new Map<number, ToolCall>();
  for await (const p of parts) {
    switch (p.type) {
      case 'start':
        out.id ??= p.id;
        out.model ??= p.model;
        out.created ??= p.created;
        break;
      case 'text-delta':
        if (p.text.length > 0) texts.push(p.text);
        break;
      case 'tool-call-delta': {
        const d = p.toolCall;
        let call = calls.get(d.index);
        if (call === undefined) {
          call = { id: d.id ?? '', type: 'function', function: { name: d.name ?? '', arguments: '' } };
          calls.set(d.index, call);
        } else {
          if (d.id) call.id = d.id;
          // OpenAI sends the name whole in the call's first delta; later copies are repeats.
          if (d.name && !call.function.name) call.function.name = d.name;
        }
        if (d.argumentsDelta) call.function.arguments += d.argumentsDelta;
        break;
      }
      case 'finish':
        out.finishReason = p.finishReason;
        break;
      case 'usage':
        out.usage = p.usage;
        break;
    }
  }
  out.text = texts.join('');
  out.toolCalls = [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  return out;
}
