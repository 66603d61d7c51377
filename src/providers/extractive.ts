import { ProviderError } from '../errors.ts';
import { countTokens } from '../tokens.ts';
import { contentTerms, sourceUnits, type Unit } from './extractive-text.ts';
import type {
  CallOptions,
  ChatMessage,
  ChatProvider,
  ChatRequest,
  FinishReason,
  Source,
  StreamPart,
} from './types.ts';

/**
 * The built-in answerer that needs no model: it quotes the retrieved sentences most relevant to the
 * question (BM25 over the candidate sentences plus a small retrieval-rank prior), controls redundancy
 * with MMR, orders the picks as they appear in the sources, and cites every one as `[n]`. When
 * nothing clears the relevance floor it says so instead of answering. Same input, same output.
 */

export const NOTHING_FOUND = 'I could not find anything relevant to this question in the documents.';

export interface ExtractiveOptions {
  /** Default answer budget when the request sets no `max_tokens`. */
  defaultMaxTokens?: number;
  /** MMR trade-off between relevance (1) and novelty (0). */
  lambda?: number;
  /** Share of the question's weighted terms the best sentence must cover. */
  relevanceFloor?: number;
  /** Words per streamed text delta. */
  wordsPerDelta?: number;
}

const K1 = 1.2;
const B = 0.5;
/** Sentences scoring below this share of the best one are not worth quoting. */
const RELATIVE_FLOOR = 0.35;
/** ...and so are those covering much less of the question than the best one. */
const COVERAGE_SHARE = 0.6;

interface Scored {
  unit: Unit;
  rel: number;
  coverage: number;
  /** Weighted query terms this unit covers. */
  hits: [string, number][];
}

function messageText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (!Array.isArray(m.content)) return '';
  let s = '';
  for (const p of m.content)
    if (p.type === 'text' && typeof p.text === 'string') s += (s ? '\n' : '') + p.text;
  return s;
}

function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [t, x] of a) {
    na += x * x;
    const y = b.get(t);
    if (y !== undefined) dot += x * y;
  }
  for (const y of b.values()) nb += y * y;
  return dot === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Context (heading) terms count this much of an own occurrence. */
const CONTEXT_WEIGHT = 0.5;

// Questions that ask for something to run or type, whose answer may well start with code.
const PROCEDURAL =
  /\b(how\s+(do|can|could|should|would|to)\b|what\s+(command|flag|option|setting)s?\b|commands?\b|examples?\b|snippets?\b|syntax\b|curl\b|code\b|run\b|install\b|configure\b|set\s+up\b)/i;

/** BM25 of every unit against the query terms, with IDF over the candidate units themselves. */
function score(units: Unit[], query: string[], nSources: number): { scored: Scored[]; qMass: number } {
  const n = units.length;
  const df = new Map<string, number>();
  let total = 0;
  for (const u of units) {
    total += u.length;
    for (const t of u.terms.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    for (const t of u.context.keys()) if (!u.terms.has(t)) df.set(t, (df.get(t) ?? 0) + 1);
  }
  const avgdl = total / Math.max(1, n);
  const q = [...new Set(query)];
  const idf = new Map<string, number>();
  let qMass = 0;
  for (const t of q) {
    const d = df.get(t) ?? 0;
    const w = Math.log(1 + (n - d + 0.5) / (d + 0.5));
    idf.set(t, w);
    qMass += w;
  }
  const out: Scored[] = [];
  for (const u of units) {
    let s = 0;
    let covered = 0;
    const hits: [string, number][] = [];
    for (const t of q) {
      const own = u.terms.get(t) ?? 0;
      const tf = own + (own === 0 && u.context.has(t) ? CONTEXT_WEIGHT : 0);
      if (tf === 0) continue;
      const w = idf.get(t)!;
      const c = own > 0 ? w : w * CONTEXT_WEIGHT;
      covered += c;
      hits.push([t, c]);
      s += (w * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * u.length) / avgdl));
    }
    // A sentence must say something about the question itself, not only sit under a matching heading.
    if (s <= 0 || !q.some((t) => u.terms.has(t) || (u.leadIn && u.context.has(t)))) continue;
    // Earlier sources ranked higher in retrieval; a mild prior breaks near-ties in their favour.
    const prior = 1 + 0.15 * (1 - u.source / Math.max(1, nSources));
    out.push({ unit: u, rel: s * prior, coverage: qMass > 0 ? covered / qMass : 0, hits });
  }
  return { scored: out, qMass };
}

/**
 * Leaves out sentences that point back at a unit the answer does not quote ("Both list every key..."
 * without the two commands): quoted alone they refer to nothing. Unless that would leave nothing.
 */
function dropDangling(chosen: Scored[]): void {
  const kept = [...chosen];
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = kept.length - 1; i >= 0; i--) {
      const u = kept[i]!.unit;
      if (u.after === undefined) continue;
      if (kept.some((k) => k.unit.source === u.source && k.unit.position === u.after)) continue;
      kept.splice(i, 1);
      changed = true;
    }
  }
  if (kept.length > 0) chosen.splice(0, chosen.length, ...kept);
}

function cite(u: Unit, n: number): string {
  const m = /^(.*?)([.!?:;]+)$/s.exec(u.text);
  return m ? `${m[1]} [${n}]${m[2]}` : `${u.text} [${n}]`;
}

interface Selection {
  text: string;
  finishReason: FinishReason;
}

/** Picks, orders and renders the answer for `question` over `sources`. Exported for tests and `keel ask`. */
export function extractAnswer(
  question: string,
  sources: readonly Source[],
  maxTokens: number,
  opts: ExtractiveOptions = {},
): Selection {
  const lambda = opts.lambda ?? 0.7;
  const floor = opts.relevanceFloor ?? 0.4;
  const query = contentTerms(question);
  if (sources.length === 0 || query.length === 0) return { text: NOTHING_FOUND, finishReason: 'stop' };
  const units: Unit[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < sources.length; i++) {
    for (const u of sourceUnits(sources[i]!.text, i, sources[i]!.heading)) {
      // Overlapping chunks repeat sentences; quote each once, from the best-ranked source.
      const key = (u.own ?? u.text).toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      units.push(u);
    }
  }
  const { scored, qMass } = score(units, query, sources.length);
  let best = 0;
  let bestCoverage = 0;
  for (const s of scored) {
    if (s.rel > best) best = s.rel;
    if (s.coverage > bestCoverage) bestCoverage = s.coverage;
  }
  const strong = scored.filter(
    (s) => s.rel >= best * RELATIVE_FLOOR && s.coverage >= bestCoverage * COVERAGE_SHARE,
  );
  const strongTerms = new Set(strong.flatMap((s) => s.hits.map(([t]) => t)));
  // A weaker sentence stays when it is the only one about some part of the question.
  let pool = scored
    .filter((s) => strong.includes(s) || s.hits.some(([t]) => !strongTerms.has(t) && s.unit.terms.has(t)))
    .map((s) => ({ ...s, rel: s.rel / best }));
  // The floor applies to what the candidates cover together, so a question about three things that three
  // sentences answer one each still gets an answer, while one shared common word never does.
  const covered = new Map<string, number>();
  for (const s of pool) for (const [t, w] of s.hits) covered.set(t, Math.max(w, covered.get(t) ?? 0));
  let mass = 0;
  for (const w of covered.values()) mass += w;
  if (pool.length === 0 || qMass <= 0 || mass / qMass < floor)
    return { text: NOTHING_FOUND, finishReason: 'stop' };
  // Sentences about the documents themselves ("This page explains...") answer only when nothing else does.
  if (pool.some((s) => !s.unit.meta)) pool = pool.filter((s) => !s.unit.meta);

  const chosen: Scored[] = [];
  let used = 0;
  let finishReason: FinishReason = 'stop';
  while (pool.length > 0) {
    let pick = -1;
    let pickScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < pool.length; i++) {
      const c = pool[i]!;
      let sim = 0;
      for (const s of chosen) sim = Math.max(sim, cosine(c.unit.terms, s.unit.terms));
      const mmr = lambda * c.rel - (1 - lambda) * sim;
      if (mmr > pickScore) {
        pickScore = mmr;
        pick = i;
      }
    }
    const c = pool.splice(pick, 1)[0]!;
    // Near-duplicates of what is already chosen add nothing.
    if (chosen.length > 0 && pickScore <= 0) break;
    let cost = countTokens(c.unit.text) + 4;
    if (used + cost > maxTokens) {
      if (chosen.length > 0) continue;
      // Even the best sentence is over budget: quote its start and say the answer was cut.
      const words = c.unit.text.split(/\s+/);
      while (words.length > 1 && countTokens(words.join(' ')) + 4 > maxTokens) words.pop();
      c.unit = { ...c.unit, text: `${words.join(' ')}…` };
      cost = countTokens(c.unit.text) + 4;
      finishReason = 'length';
    }
    used += cost;
    chosen.push(c);
  }
  dropDangling(chosen);
  chosen.sort((a, b) => a.unit.source - b.unit.source || a.unit.position - b.unit.position);
  // A question about what something is or how it works opens with a sentence, not with a code block
  // that only mentions its words; "how do I..." may open with the command.
  const lead = chosen.findIndex((c) => !c.unit.fromCode);
  if (lead > 0 && !PROCEDURAL.test(question)) chosen.unshift(...chosen.splice(lead, 1));
  let text = '';
  let prev: 'prose' | 'item' | 'code' | undefined;
  for (const c of chosen) {
    const n = sources[c.unit.source]!.index;
    const kind = c.unit.code ? 'code' : c.unit.item ? 'item' : 'prose';
    if (kind === 'code') {
      // A block cannot carry a marker inside it: its citation is the line after it.
      text += `${text ? '\n\n' : ''}${c.unit.text}\n[${n}]`;
    } else {
      const line = cite(c.unit, n);
      if (kind === 'item') text += `${text === '' ? '' : prev === 'code' ? '\n\n' : '\n'}- ${line}`;
      else text += text === '' ? line : prev === 'prose' ? ` ${line}` : `\n\n${line}`;
    }
    prev = kind;
  }
  return { text, finishReason };
}

class ExtractiveProvider implements ChatProvider {
  constructor(
    readonly id: string,
    private readonly opts: ExtractiveOptions,
  ) {}

  async *stream(req: ChatRequest, call: CallOptions = {}): AsyncGenerator<StreamPart> {
    const signal = call.signal;
    const check = () => {
      if (signal?.aborted) throw new ProviderError('aborted', 'Request was cancelled', { provider: this.id });
    };
    check();
    let question = '';
    for (let i = req.messages.length - 1; i >= 0; i--) {
      if (req.messages[i]!.role === 'user') {
        question = messageText(req.messages[i]!);
        break;
      }
    }
    const budget = req.max_tokens ?? this.opts.defaultMaxTokens ?? 200;
    const answer = extractAnswer(question, req.sources ?? [], budget, this.opts);
    yield { type: 'start', model: req.model || 'extractive' };
    const per = this.opts.wordsPerDelta ?? 4;
    const pieces = answer.text.match(/\s*\S+/g) ?? [];
    for (let i = 0; i < pieces.length; i += per) {
      check();
      yield { type: 'text-delta', text: pieces.slice(i, i + per).join('') };
    }
    check();
    yield { type: 'finish', finishReason: answer.finishReason };
    let prompt = 0;
    for (const m of req.messages) prompt += countTokens(messageText(m));
    const completion = countTokens(answer.text);
    yield {
      type: 'usage',
      usage: {
        promptTokens: prompt,
        completionTokens: completion,
        totalTokens: prompt + completion,
        estimated: false,
      },
    };
  }
}

export function createExtractiveProvider(id = 'extractive', opts: ExtractiveOptions = {}): ChatProvider {
  return new ExtractiveProvider(id, opts);
}
