import { isCommonWord } from './pii/names-lexicon.ts';
import type { Finding, GuardSource, Scanner } from './types.ts';

/**
 * Groundedness of an answer in its numbered sources. Each sentence is checked against the sources
 * it cites (or all of them when it cites none): enough of its content words must occur there, and
 * every number and named entity in it must occur there too — an answer that gets one figure wrong
 * is unsupported however much wording it shares. A `[n]` that names no source, or a source that does
 * not support the sentence while another does, makes the sentence unsupported as well.
 */
export interface SentenceVerdict {
  start: number;
  end: number;
  citations: number[];
  /** False for sentences with nothing to check ("Here is what I found:"). */
  checked: boolean;
  supported: boolean;
  /** Share of the sentence's content words found in its sources, 0..1. */
  support: number;
  missingNumbers: number;
  missingEntities: number;
  reason:
    | 'ok'
    | 'trivial'
    | 'low-overlap'
    | 'number-not-in-sources'
    | 'entity-not-in-sources'
    | 'bad-citation'
    | 'misattributed';
}

export interface GroundingReport {
  sentences: SentenceVerdict[];
  /** Supported share of checked sentences (1 when nothing needed checking). */
  score: number;
  unsupported: number;
}

export interface GroundingOptions {
  /** Minimum content-word containment for a sentence to count as supported. */
  minSupport?: number;
}

const STOP = new Set(
  'a an the and or but of to in on at for with from by about as into over under than then that this these those there here is are was were be been being am do does did doing have has had having it its they them their he she his her we our you your i me my not no nor so too very can could would should will shall may might must also just only such which who whom whose what when where why how all any each both more most other some own same few der die das ein eine einer eines einem einen und oder aber zu im in an auf fur mit von bei aus nach ist sind war waren wird werden wurde hat haben es sie er wir ihr ich du nicht auch noch nur so wie was wer wo dass als um uber unter vor durch'.split(
    ' ',
  ),
);

function foldWord(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '');
}

function contentStems(text: string): string[] {
  const out: string[] = [];
  for (const w of foldWord(text).split(/[^\p{L}\p{N}]+/u)) {
    if (w.length < 2 || STOP.has(w) || /^\d+$/.test(w)) continue;
    out.push(w.length > 6 ? w.slice(0, 6) : w);
  }
  return out;
}

/** Numbers normalised so "1,200", "1.200" and "1200" meet; decimals keep their point. */
function numbersIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.replace(/\[\d+(?:\s*[,-]\s*\d+)*\]/g, ' ').matchAll(/\d+(?:[.,]\d+)*/g)) {
    const raw = m[0];
    const groups = raw.split(/[.,]/);
    if (groups.length > 1 && groups.slice(1).every((g) => g.length === 3)) out.push(groups.join(''));
    else out.push(raw.replace(',', '.'));
  }
  return out;
}

function entitiesIn(sentence: string): string[] {
  const out: string[] = [];
  for (const m of sentence.matchAll(/(?<![\p{L}\p{N}])\p{Lu}[\p{L}\p{M}\p{N}'’-]*/gu)) {
    const w = m[0].replace(/['’]s$/, '');
    const allCaps = w.length > 1 && w === w.toUpperCase() && /\p{L}/u.test(w);
    const initial = /^[\s"“'([*-]*$/.test(sentence.slice(0, m.index));
    if (initial && !allCaps) continue;
    if (!allCaps && isCommonWord(w.toLowerCase())) continue;
    out.push(foldWord(w));
  }
  return out;
}

function citationsIn(sentence: string): number[] {
  const out: number[] = [];
  for (const m of sentence.matchAll(/\[(\d+(?:\s*[,-]\s*\d+)*)\]/g)) {
    for (const part of m[1]!.split(',')) {
      const [a, b] = part.split('-').map((x) => Number(x.trim()));
      if (b === undefined) out.push(a!);
      else for (let i = a!; i <= b && i - a! < 50; i++) out.push(i);
    }
  }
  return [...new Set(out)];
}

const ABBREV =
  /\b(?:e\.g|i\.e|etc|vs|mr|mrs|ms|dr|prof|st|no|fig|approx|ca|bzw|z\.b|d\.h|u\.a|usw|nr|inc|ltd|jr|sr)\.$/i;

/** Sentence spans; citation markers after a full stop belong to the sentence before them. */
export function splitSentences(text: string): Array<{ start: number; end: number }> {
  const spans: Array<{ start: number; end: number }> = [];
  const re = /[.!?]+(?=\s+(?:[\p{Lu}\p{N}"“'([*-]|$))|\n+/gu;
  let start = 0;
  for (const m of text.matchAll(re)) {
    const end = m.index + m[0].length;
    if (m[0][0] !== '\n' && ABBREV.test(text.slice(Math.max(start, m.index - 6), end))) continue;
    spans.push({ start, end });
    start = end;
  }
  if (start < text.length) spans.push({ start, end: text.length });
  const merged: Array<{ start: number; end: number }> = [];
  for (const s of spans) {
    const seg = text.slice(s.start, s.end);
    const lead = /^\s*(?:\[\d+(?:\s*[,-]\s*\d+)*\]\s*)+/.exec(seg);
    const prev = merged[merged.length - 1];
    if (lead && prev) {
      prev.end = s.start + lead[0].trimEnd().length;
      s.start += lead[0].length;
    }
    while (s.start < s.end && /\s/.test(text[s.start]!)) s.start++;
    let e = s.end;
    while (e > s.start && /\s/.test(text[e - 1]!)) e--;
    if (e > s.start) merged.push({ start: s.start, end: e });
  }
  return merged;
}

interface SourceIndex {
  stems: Set<string>;
  numbers: Set<string>;
  folded: string;
}

function indexSource(text: string): SourceIndex {
  return { stems: new Set(contentStems(text)), numbers: new Set(numbersIn(text)), folded: foldWord(text) };
}

function supportAgainst(
  sentence: string,
  src: SourceIndex[],
): Omit<SentenceVerdict, 'start' | 'end' | 'citations' | 'checked'> {
  const stems = [...new Set(contentStems(sentence.replace(/\[\d+[^\]]*\]/g, ' ')))];
  const hit = stems.filter((s) => src.some((x) => x.stems.has(s))).length;
  const support = stems.length === 0 ? 1 : hit / stems.length;
  const missingNumbers = numbersIn(sentence).filter((n) => !src.some((x) => x.numbers.has(n))).length;
  const missingEntities = entitiesIn(sentence).filter((e) => !src.some((x) => x.folded.includes(e))).length;
  return { support, missingNumbers, missingEntities, supported: false, reason: 'ok' };
}

export function checkGrounding(
  answer: string,
  sources: readonly GuardSource[],
  opts: GroundingOptions = {},
): GroundingReport {
  const minSupport = opts.minSupport ?? 0.5;
  const byIndex = new Map(sources.map((s) => [s.index, indexSource(s.text)]));
  const all = [...byIndex.values()];
  const sentences: SentenceVerdict[] = [];
  for (const { start, end } of splitSentences(answer)) {
    const text = answer.slice(start, end);
    const citations = citationsIn(text);
    const words = contentStems(text.replace(/\[\d+[^\]]*\]/g, ' '));
    const numbers = numbersIn(text);
    const trivial = citations.length === 0 && numbers.length === 0 && words.length < 3;
    if (trivial) {
      sentences.push({
        start,
        end,
        citations,
        checked: false,
        supported: true,
        support: 1,
        missingNumbers: 0,
        missingEntities: 0,
        reason: 'trivial',
      });
      continue;
    }
    const bad = citations.filter((c) => !byIndex.has(c));
    const cited = citations.filter((c) => byIndex.has(c)).map((c) => byIndex.get(c)!);
    const v = supportAgainst(text, cited.length > 0 ? cited : all);
    const ok = v.support >= minSupport && v.missingNumbers === 0 && v.missingEntities === 0;
    let reason: SentenceVerdict['reason'] = ok
      ? 'ok'
      : v.missingNumbers > 0
        ? 'number-not-in-sources'
        : v.missingEntities > 0
          ? 'entity-not-in-sources'
          : 'low-overlap';
    if (bad.length > 0) reason = 'bad-citation';
    else if (!ok && cited.length > 0) {
      const elsewhere = supportAgainst(text, all);
      if (
        elsewhere.support >= minSupport &&
        elsewhere.missingNumbers === 0 &&
        elsewhere.missingEntities === 0
      )
        reason = 'misattributed';
    }
    sentences.push({ ...v, start, end, citations, checked: true, supported: reason === 'ok', reason });
  }
  const checked = sentences.filter((s) => s.checked);
  const unsupported = checked.filter((s) => !s.supported).length;
  return {
    sentences,
    score: checked.length === 0 ? 1 : (checked.length - unsupported) / checked.length,
    unsupported,
  };
}

export interface GroundingScannerOptions extends GroundingOptions {
  id?: string;
  /** `flag` records; `remove` drops unsupported sentences (refusing when too little is left); `refuse` refuses on any. */
  mode?: 'flag' | 'remove' | 'refuse';
  /** In `remove` mode, refuse when the supported share falls below this. */
  minScore?: number;
  refusal?: string;
}

export const DEFAULT_REFUSAL = "I can't answer that reliably: the available sources do not support it.";

/** Applies `remove`/`refuse` to an answer; exported so streaming callers can reuse it on the full text. */
export function enforceGrounding(
  answer: string,
  report: GroundingReport,
  opts: GroundingScannerOptions,
): string | undefined {
  const mode = opts.mode ?? 'flag';
  if (mode === 'flag' || report.unsupported === 0) return undefined;
  const refusal = opts.refusal ?? DEFAULT_REFUSAL;
  if (mode === 'refuse' || report.score < (opts.minScore ?? 0.5)) return refusal;
  let out = '';
  let pos = 0;
  for (const s of report.sentences) {
    if (s.supported) continue;
    out += answer.slice(pos, s.start);
    pos = s.end;
    while (pos < answer.length && answer[pos] === ' ') pos++;
  }
  out += answer.slice(pos);
  const n = report.unsupported;
  return `${out.trimEnd()}\n\n(Note: ${n} statement${n === 1 ? ' was' : 's were'} removed because the sources do not support ${n === 1 ? 'it' : 'them'}.)`;
}

export function createGroundingScanner(options: GroundingScannerOptions = {}): Scanner {
  const id = options.id ?? 'grounding';
  return {
    id,
    stage: 'output',
    scan(text, ctx) {
      if (!ctx.sources) return { findings: [] };
      const report = checkGrounding(text, ctx.sources, options);
      const findings: Finding[] = report.sentences
        .filter((s) => !s.supported)
        .map((s) => ({
          type: 'UNGROUNDED',
          start: s.start,
          end: s.end,
          score: s.reason === 'low-overlap' ? 1 - s.support : 0.9,
          reason: s.reason,
          scanner: id,
        }));
      const rewritten = enforceGrounding(text, report, options);
      return {
        findings,
        metrics: {
          'grounding.score': Math.round(report.score * 1000) / 1000,
          'grounding.unsupported': report.unsupported,
        },
        ...(rewritten === undefined ? {} : { text: rewritten }),
      };
    },
  };
}
