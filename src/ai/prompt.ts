import type { ChatMessage, ContentPart, Source } from '../providers/types.ts';
import { countTokens, decode, encode } from '../tokens.ts';

/** The fields of a retrieval hit a prompt needs. */
export interface PromptHit {
  chunkId: string;
  documentId: string;
  title: string;
  uri: string;
  text: string;
  score: number;
  heading?: string;
}

export const DEFAULT_SYSTEM_PROMPT =
  'You are a helpful assistant that answers questions about the documents provided to you.';

const CITE_INSTRUCTION =
  'Answer using only the numbered sources below. Cite the source of every statement with its number in ' +
  'square brackets, like [1] or [2][3]. If the sources do not contain the answer, say so plainly instead ' +
  'of guessing.';

const NO_SOURCES =
  'No document matched this question. Say that the available documents do not cover it; do not guess.';

// The chunk's section (its heading path, when it says more than the title) tells the model what the
// passage is about: reference docs often describe "DELETE /v1/admin/keys/{id}" in sentences that
// never name it.
function sourceBlock(index: number, title: string, uri: string, text: string, heading = ''): string {
  const head =
    uri && uri !== title ? `[${index}] ${title || uri} (${uri})` : `[${index}] ${title || 'Untitled'}`;
  const section = heading && heading !== title ? `Section: ${heading}\n` : '';
  return `${head}\n${section}${text}`;
}

/**
 * Numbers hits in rank order and keeps as many as fit in `budgetTokens` (counted with the
 * o200k tokenizer, headers included). A hit that does not fit is skipped so a later, shorter one
 * can still be used; when not even the first fits, its text is truncated to the budget.
 */
export function packSources(hits: readonly PromptHit[], budgetTokens: number): Source[] {
  const out: Source[] = [];
  let used = 0;
  for (const h of hits) {
    const index = out.length + 1;
    const cost = countTokens(sourceBlock(index, h.title, h.uri, h.text, h.heading)) + 2;
    let text = h.text;
    if (used + cost > budgetTokens) {
      if (out.length > 0) continue;
      const headCost = countTokens(sourceBlock(index, h.title, h.uri, '', h.heading)) + 2;
      const room = budgetTokens - headCost;
      if (room <= 0) break;
      text = decode(encode(h.text).slice(0, room));
      used += headCost + room;
    } else {
      used += cost;
    }
    out.push({
      index,
      chunkId: h.chunkId,
      documentId: h.documentId,
      title: h.title,
      uri: h.uri,
      text,
      score: h.score,
      ...(h.heading ? { heading: h.heading } : {}),
    });
  }
  return out;
}

/** The system message for an app: its own instructions, how to cite, and the numbered sources. */
export function systemMessage(systemPrompt: string | undefined, sources: readonly Source[]): string {
  const base = systemPrompt?.trim() || DEFAULT_SYSTEM_PROMPT;
  if (sources.length === 0) return `${base}\n\n${NO_SOURCES}`;
  const blocks = sources.map((s) => sourceBlock(s.index, s.title, s.uri, s.text, s.heading)).join('\n\n');
  return `${base}\n\n${CITE_INSTRUCTION}\n\nSources:\n\n${blocks}`;
}

/** The app's system message first, then the client's conversation unchanged. */
export function buildMessages(
  systemPrompt: string | undefined,
  sources: readonly Source[],
  conversation: readonly ChatMessage[],
): ChatMessage[] {
  return [{ role: 'system', content: systemMessage(systemPrompt, sources) }, ...conversation];
}

export function contentText(content: string | ContentPart[] | null | undefined): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  let out = '';
  for (const p of content)
    if (p.type === 'text' && typeof p.text === 'string') out += (out ? '\n' : '') + p.text;
  return out;
}

/** What to retrieve for: the latest user message. */
export function retrievalQuery(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return contentText(m.content);
  }
  return '';
}
