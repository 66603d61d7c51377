import { ProviderError } from '../errors.ts';
import type { ChatMessage, ChatRequest, ContentPart, ToolDefinition } from './types.ts';

/**
 * OpenAI chat requests → Anthropic Messages requests. System and developer messages become the
 * top-level `system`; tool calls become `tool_use` blocks and tool messages `tool_result` blocks in
 * the following user turn; consecutive turns of one role are merged (Anthropic alternates roles).
 */

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

// Anthropic-only parameters a client may send through `extra`; OpenAI-only ones are dropped.
const PASSTHROUGH = ['top_k', 'thinking', 'metadata', 'service_tier'] as const;

function bad(provider: string, message: string): ProviderError {
  return new ProviderError('upstream_bad_request', `Cannot send this request to ${provider}: ${message}`, {
    provider,
  });
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

function imageBlock(p: ContentPart, provider: string): Block {
  const img = (p as { image_url?: { url?: unknown } | string }).image_url;
  const url = typeof img === 'string' ? img : img?.url;
  if (typeof url !== 'string') throw bad(provider, 'an image_url part without a url');
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function userBlocks(content: ChatMessage['content'], provider: string): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const out: Block[] = [];
  for (const p of content) {
    if (p.type === 'text') {
      if (typeof p.text === 'string' && p.text !== '') out.push({ type: 'text', text: p.text });
    } else if (p.type === 'image_url') out.push(imageBlock(p, provider));
    else throw bad(provider, `content parts of type '${p.type}' are not supported`);
  }
  return out;
}

function toolInput(args: string, provider: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    throw bad(provider, 'a tool call whose arguments are not valid JSON');
  }
}

export function toAnthropicTools(tools: readonly ToolDefinition[]): Block[] {
  return tools.map((t) => {
    const out: Block = {
      name: t.function.name,
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    };
    if (t.function.description) out.description = t.function.description;
    return out;
  });
}

/** `auto` / `required` / `none` / `{type:'function', function:{name}}` → Anthropic's tool_choice. */
export function toAnthropicToolChoice(choice: unknown, parallel: unknown): Block | undefined {
  let out: Block | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'required') out = { type: 'any' };
  else if (choice === 'none') out = { type: 'none' };
  else if (typeof choice === 'object' && choice !== null) {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name === 'string') out = { type: 'tool', name };
  }
  if (parallel === false) {
    out ??= { type: 'auto' };
    if (out.type !== 'none') out.disable_parallel_tool_use = true;
  }
  return out;
}

function jsonInstruction(req: ChatRequest): string | undefined {
  const rf = req.response_format;
  if (rf?.type === 'json_schema' && rf.json_schema?.schema) {
    return `Respond with only a JSON value that conforms to this JSON Schema, with no other text:\n${JSON.stringify(rf.json_schema.schema)}`;
  }
  if (rf?.type === 'json_object') return 'Respond with only a JSON object, with no other text.';
  return undefined;
}

export function toAnthropicBody(
  req: ChatRequest,
  opts: { provider: string; maxTokens: number; stream: boolean },
): Record<string, unknown> {
  const { provider } = opts;
  const system: string[] = [];
  const turns: Turn[] = [];
  const push = (role: Turn['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (const m of req.messages) {
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = textOf(m.content);
        if (t) system.push(t);
        break;
      }
      case 'user':
        push('user', userBlocks(m.content, provider));
        break;
      case 'assistant': {
        const blocks: Block[] = [];
        const t = textOf(m.content);
        if (t) blocks.push({ type: 'text', text: t });
        for (const c of m.tool_calls ?? []) {
          blocks.push({
            type: 'tool_use',
            id: c.id,
            name: c.function.name,
            input: toolInput(c.function.arguments, provider),
          });
        }
        push('assistant', blocks);
        break;
      }
      case 'tool': {
        if (!m.tool_call_id) throw bad(provider, 'a tool message without tool_call_id');
        const block: Block = { type: 'tool_result', tool_use_id: m.tool_call_id, content: textOf(m.content) };
        // Tool results must open the user turn that follows the tool calls.
        const last = turns[turns.length - 1];
        if (last?.role === 'user') {
          const firstOther = last.content.findIndex((b) => b.type !== 'tool_result');
          if (firstOther === -1) last.content.push(block);
          else last.content.splice(firstOther, 0, block);
        } else turns.push({ role: 'user', content: [block] });
        break;
      }
    }
  }
  if (turns.length === 0) throw bad(provider, 'no user or assistant message');
  const instruction = jsonInstruction(req);
  if (instruction) system.push(instruction);

  const body: Record<string, unknown> = {
    model: req.model,
    max_tokens: req.max_tokens ?? numberOr(req.extra?.max_completion_tokens) ?? opts.maxTokens,
    messages: turns,
  };
  if (system.length > 0) body.system = system.join('\n\n');
  // OpenAI's temperature goes to 2, Anthropic's to 1.
  if (req.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, req.temperature));
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.stop !== undefined) body.stop_sequences = Array.isArray(req.stop) ? req.stop : [req.stop];
  if (req.tools && req.tools.length > 0) body.tools = toAnthropicTools(req.tools);
  const choice = toAnthropicToolChoice(req.tool_choice, req.extra?.parallel_tool_calls);
  if (choice && body.tools) body.tool_choice = choice;
  if (req.user !== undefined) body.metadata = { user_id: req.user };
  for (const k of PASSTHROUGH) if (req.extra?.[k] !== undefined) body[k] = req.extra[k];
  body.stream = opts.stream;
  return body;
}

function numberOr(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
