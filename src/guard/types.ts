/**
 * The `Scanner` seam. A scanner looks at one text at one stage of the request path and returns
 * findings (what it saw, where, how sure) and optionally a transformed text. Scanners never decide
 * what happens: the profile maps finding types to actions and the engine applies them.
 *
 * Findings are value-free by design: a span and a type, never the matched text. The matched value
 * can be recovered by slicing the scanned text while it is still in memory (redaction does that);
 * what goes to traces and logs is the finding itself. `reason` is always a constant phrase chosen
 * by the recognizer, never built from the input.
 */
import type { RedactionSession } from './redact.ts';

/** Where a scanner runs: the user's messages, retrieved chunks (indirect injection), the answer. */
export type Stage = 'input' | 'context' | 'output';

export type Action = 'allow' | 'flag' | 'redact' | 'block';

export interface Finding {
  /** Upper-snake entity or policy type: `EMAIL`, `PERSON`, `PROMPT_INJECTION`, `UNGROUNDED`, ... */
  type: string;
  /** Character offsets (UTF-16 code units, as JavaScript strings count) into the scanned text. */
  start: number;
  end: number;
  /** Confidence in 0..1. The profile's threshold for `type` decides whether it counts. */
  score: number;
  /** Constant, value-free explanation (e.g. `luhn+iin`, `rule:instruction_override`). */
  reason: string;
  /** Id of the scanner that produced it. */
  scanner: string;
}

/** A finding after the profile decided on it. */
export interface AppliedFinding extends Finding {
  action: Action;
}

/** A numbered source given to the model; `[n]` in the answer refers to `index`. */
export interface GuardSource {
  index: number;
  text: string;
}

/** Per-request facts a scanner may need. Everything is optional; scanners skip what is absent. */
export interface ScanContext {
  /** App name, for allow-lists and traces. */
  app?: string;
  /** Reversible redaction for the input and context stages (placeholders are restored later). */
  session?: RedactionSession;
  /** The app's system prompt, for the prompt-leak check. */
  systemPrompt?: string;
  /** Canary tokens planted in the system prompt; their appearance in the output is a leak. */
  canaries?: readonly string[];
  /** Retrieved sources the answer should be grounded in. */
  sources?: readonly GuardSource[];
  /** JSON Schema the answer must satisfy (from `response_format.json_schema.schema`). */
  responseSchema?: Record<string, unknown>;
}

export interface ScanResult {
  findings: Finding[];
  /** Set when the scanner rewrote the text itself (e.g. grounding removed unsupported sentences). */
  text?: string;
  /** Numeric measurements worth recording on the trace (e.g. `grounding.score`). */
  metrics?: Record<string, number>;
}

export type MaybePromise<T> = T | Promise<T>;

export interface Scanner {
  readonly id: string;
  readonly stage: Stage;
  scan(text: string, ctx: ScanContext): MaybePromise<ScanResult>;
}

/** The trace-safe view of a finding: exactly these fields, nothing a recognizer might have added. */
export interface TraceFinding {
  type: string;
  start: number;
  end: number;
  score: number;
  reason: string;
  scanner: string;
  action?: Action;
}

export function redactFindingForTrace(f: Finding | AppliedFinding): TraceFinding {
  const out: TraceFinding = {
    type: f.type,
    start: f.start,
    end: f.end,
    score: Math.round(f.score * 1000) / 1000,
    reason: f.reason,
    scanner: f.scanner,
  };
  if ('action' in f) out.action = f.action;
  return out;
}
