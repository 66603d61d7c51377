import type { ChatMessage, Usage } from '../providers/types.ts';
import { countTokens } from '../tokens.ts';
import { contentText } from './prompt.ts';

// Chat formats add a few tokens per message (role markers); OpenAI documents about 3 plus 3 for the reply.
const PER_MESSAGE = 3;
const PER_REPLY = 3;

/** Token usage counted by Keel when an upstream did not report it; marked `estimated`. */
export function estimateUsage(messages: readonly ChatMessage[], completion: string): Usage {
  let prompt = PER_REPLY;
  for (const m of messages) prompt += PER_MESSAGE + countTokens(contentText(m.content));
  const completionTokens = completion ? countTokens(completion) : 0;
  return {
    promptTokens: prompt,
    completionTokens,
    totalTokens: prompt + completionTokens,
    estimated: true,
  };
}
