import { z } from 'zod';
import { runScanners } from './engine.ts';
import { ProfileNameSchema, SCANNER_IDS } from './profile-config.ts';
import { RedactionSession } from './redact.ts';
import type { GuardRegistry } from './registry.ts';
import { type GuardSource, redactFindingForTrace, type ScanContext, type TraceFinding } from './types.ts';

/**
 * Scanning as a service: one text through one stage of a profile (or of an ad-hoc scanner list),
 * without a model call. Shared by `POST /v1/guard/scan` and `keel guard scan`, so both give the same
 * answer for the same text.
 */
/** Longest text one scan takes (about 50,000 tokens): scanning is CPU work on the event loop. */
export const MAX_SCAN_CHARS = 200_000;

export const GuardScanRequestSchema = z
  .object({
    text: z.string().max(MAX_SCAN_CHARS),
    /** A built-in or configured profile (default `standard`). */
    profile: ProfileNameSchema.optional(),
    /** Runs exactly these scanners at `stage` (the profile still decides thresholds and actions). */
    scanners: z.array(z.enum(SCANNER_IDS)).min(1).optional(),
    stage: z.enum(['input', 'context', 'output']).default('input'),
    /** Output stage: the numbered sources an answer should be grounded in (`[n]` refers to `index`). */
    sources: z
      .array(
        z.union([
          z.string(),
          z.object({ index: z.number().int().min(1).optional(), text: z.string() }).strict(),
        ]),
      )
      .max(200)
      .optional(),
    /** Output stage: the system prompt, for the prompt-leak check. */
    system_prompt: z.string().optional(),
    /** Output stage: canary tokens that must not appear. */
    canaries: z.array(z.string().min(8).max(200)).max(20).optional(),
    /** Output stage: a JSON Schema the text must satisfy. */
    response_schema: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type GuardScanRequest = z.input<typeof GuardScanRequestSchema>;

export interface GuardScanResult {
  object: 'guard.scan';
  profile: string;
  stage: 'input' | 'context' | 'output';
  /** The strongest action taken: `allow`, `flag`, `redact` or `block`. */
  decision: 'allow' | 'flag' | 'redact' | 'block';
  /** The policy that blocked (`prompt_injection`, ...), or null. */
  blocked_by: string | null;
  /** The text after redaction (input/context: `<TYPE_n>` placeholders; output: `[TYPE]` masks or rewrites). */
  text: string;
  /** Value-free findings: type, span, score, reason, scanner, action. */
  findings: TraceFinding[];
  metrics: Record<string, number>;
  /** Placeholders made, per type. */
  redactions: Record<string, number>;
}

function sourcesOf(list: NonNullable<z.output<typeof GuardScanRequestSchema>['sources']>): GuardSource[] {
  return list.map((s, i) =>
    typeof s === 'string' ? { index: i + 1, text: s } : { index: s.index ?? i + 1, text: s.text },
  );
}

/** Scans `req.text`; throws a 400 `KeelError` (param `profile`) for an unknown profile. */
export async function scanText(registry: GuardRegistry, input: GuardScanRequest): Promise<GuardScanResult> {
  const req = GuardScanRequestSchema.parse(input);
  const base = req.profile ?? 'standard';
  const profile = req.scanners ? registry.withScanners(base, req.stage, req.scanners) : registry.get(base);
  const session = new RedactionSession();
  const ctx: ScanContext = { session };
  if (req.sources) ctx.sources = sourcesOf(req.sources);
  if (req.system_prompt) ctx.systemPrompt = req.system_prompt;
  if (req.canaries) ctx.canaries = req.canaries;
  if (req.response_schema) ctx.responseSchema = req.response_schema;
  const out = await runScanners(profile, req.stage, req.text, ctx);
  return {
    object: 'guard.scan',
    profile: base,
    stage: req.stage,
    decision: out.decision,
    blocked_by: out.blockedBy ?? null,
    text: out.text,
    findings: out.findings.map(redactFindingForTrace),
    metrics: out.metrics,
    redactions: session.summary(),
  };
}
