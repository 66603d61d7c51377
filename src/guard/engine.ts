import { KeelError } from '../errors.ts';
import { type BuiltinProfileName, builtinProfile, type GuardProfile } from './profiles.ts';
import { maskFor } from './redact.ts';
import type { Action, AppliedFinding, ScanContext, Stage } from './types.ts';

/**
 * Runs a profile's scanners for one stage, in order, and applies the profile's decisions.
 *
 * - Findings below their type's threshold are dropped; allow-listed ones are kept with action `allow`.
 * - `redact` replaces the span: with a session placeholder (`<EMAIL_1>`) at the input and context
 *   stages, with an irreversible mask (`[EMAIL]`) at the output stage, where nothing is restored.
 * - `block` stops the run. At the input stage the caller throws `guardBlockedError(outcome)`; at the
 *   context stage it drops the chunk; at the output stage it replaces the answer.
 * - A scanner that returns its own `text` (grounding in `remove` mode) has already applied itself.
 *
 * Each scanner sees the text as left by the scanners before it, and its spans refer to that text.
 */
export type Decision = Action;

export interface GuardOutcome {
  decision: Decision;
  findings: AppliedFinding[];
  text: string;
  /** Policy that blocked (the finding type in lower case, e.g. `prompt_injection`). */
  blockedBy?: string;
  /** Profile name, for error messages and traces. */
  profile: string;
  stage: Stage;
  metrics: Record<string, number>;
}

const RANK: Record<Decision, number> = { allow: 0, flag: 1, redact: 2, block: 3 };

export function policyName(type: string): string {
  return type.toLowerCase();
}

function applyRedactions(text: string, redact: AppliedFinding[], stage: Stage, ctx: ScanContext): string {
  const sorted = [...redact].sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let pos = 0;
  for (const f of sorted) {
    if (f.start < pos || f.end <= f.start) continue; // overlaps an earlier replacement
    const value = text.slice(f.start, f.end);
    const replacement =
      stage !== 'output' && ctx.session ? ctx.session.placeholder(f.type, value) : maskFor(f.type);
    out += text.slice(pos, f.start) + replacement;
    pos = f.end;
  }
  return out + text.slice(pos);
}

export async function runScanners(
  profile: GuardProfile | BuiltinProfileName,
  stage: Stage,
  text: string,
  ctx: ScanContext = {},
): Promise<GuardOutcome> {
  const p = typeof profile === 'string' ? builtinProfile(profile) : profile;
  const outcome: GuardOutcome = {
    decision: 'allow',
    findings: [],
    text,
    profile: p.name,
    stage,
    metrics: {},
  };
  let current = text;
  for (const scanner of p.scanners[stage]) {
    const res = await scanner.scan(current, ctx);
    if (res.metrics) Object.assign(outcome.metrics, res.metrics);
    const applied: AppliedFinding[] = [];
    for (const f of res.findings) {
      if (f.score < p.thresholdFor(f.type)) continue;
      const action: Action = p.allows(f.type, current.slice(f.start, f.end)) ? 'allow' : p.actionFor(f.type);
      applied.push({ ...f, action });
    }
    outcome.findings.push(...applied);
    let blocked: AppliedFinding | undefined;
    for (const f of applied) {
      if (RANK[f.action] > RANK[outcome.decision]) outcome.decision = f.action;
      if (f.action === 'block' && !blocked) blocked = f;
    }
    if (blocked) {
      outcome.blockedBy = policyName(blocked.type);
      outcome.text = current;
      return outcome;
    }
    if (res.text !== undefined) current = res.text;
    else {
      const redact = applied.filter((f) => f.action === 'redact');
      if (redact.length > 0) current = applyRedactions(current, redact, stage, ctx);
    }
  }
  outcome.text = current;
  return outcome;
}

/** A block as an error: 400, code `guardrail_blocked`, naming the policy and never the matched text. */
export class GuardBlockedError extends KeelError {
  readonly policy: string;
  readonly profile: string;

  constructor(policy: string, profile: string, stage: Stage = 'input') {
    const what = stage === 'output' ? 'Response' : 'Request';
    super('guardrail_blocked', `${what} blocked by guardrail policy '${policy}' (profile '${profile}').`, {
      param: stage === 'input' ? 'messages' : null,
    });
    this.name = 'GuardBlockedError';
    this.policy = policy;
    this.profile = profile;
  }
}

export function guardBlockedError(outcome: GuardOutcome): GuardBlockedError {
  return new GuardBlockedError(outcome.blockedBy ?? 'unknown', outcome.profile, outcome.stage);
}
