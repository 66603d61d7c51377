import type { ChatRequest, StreamPart, Usage } from '../../providers/types.ts';
import { countChatTokens, countTextTokens } from '../../telemetry/cost.ts';

/**
 * Watches a stream's parts so that, when the upstream never reports usage (many self-hosted
 * servers, streams cut short), Keel can count it itself with the model's tokenizer and mark the
 * figure `estimated`. Observing costs an array push per text part; counting happens only when needed.
 */
export class UsageMeter {
  private readonly pieces: string[] = [];
  private reported: Usage | undefined;

  constructor(private readonly req: Pick<ChatRequest, 'model' | 'messages' | 'tools' | 'tool_choice'>) {}

  observe(p: StreamPart): void {
    switch (p.type) {
      case 'text-delta':
        if (p.text.length > 0) this.pieces.push(p.text);
        break;
      case 'tool-call-delta':
        if (p.toolCall.name) this.pieces.push(p.toolCall.name);
        if (p.toolCall.argumentsDelta) this.pieces.push(p.toolCall.argumentsDelta);
        break;
      case 'usage':
        this.reported = p.usage;
        break;
      default:
        break;
    }
  }

  /** The upstream's own figure, when it sent one. */
  get reportedUsage(): Usage | undefined {
    return this.reported;
  }

  /** The upstream's figure, or Keel's estimate of what the output so far used. */
  usage(): Usage {
    return this.reported ?? estimateChatUsage(this.req, this.pieces.join(''));
  }
}

/** Prompt tokens by OpenAI's chat counting rules, completion tokens of `completion`; `estimated: true`. */
export function estimateChatUsage(
  req: Pick<ChatRequest, 'model' | 'messages' | 'tools' | 'tool_choice'>,
  completion: string,
): Usage {
  const promptTokens = countChatTokens(req.messages, {
    model: req.model,
    tools: req.tools,
    toolChoice: req.tool_choice,
  });
  const completionTokens = countTextTokens(completion, req.model);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, estimated: true };
}
