import type { CountryCode } from 'libphonenumber-js';
import { createGroundingScanner } from './grounding.ts';
import type { AttackIndex } from './injection/attack-index.ts';
import { createCanaryScanner } from './injection/canary.ts';
import { createInjectionScanner } from './injection/scanner.ts';
import { createBannedScanner } from './output/banned.ts';
import { createJsonSchemaScanner } from './output/json-schema.ts';
import { createPromptLeakScanner } from './output/prompt-leak.ts';
import { createSecretsScanner } from './output/secrets.ts';
import { createPiiScanner } from './pii/scanner.ts';
import { PII_TYPES } from './pii/types.ts';
import {
  type BuiltinProfileName,
  type GuardProfileConfig,
  GuardProfileConfigSchema,
  type ParsedGuardProfileConfig,
  type ScannerId,
} from './profile-config.ts';
import type { Action, Scanner, Stage } from './types.ts';

/**
 * Guard profiles: which scanners run at each stage, the score threshold per finding type, the action
 * per finding type, and allow-lists. `off`, `standard` and `strict` are built in; a custom profile
 * (validated by `GuardProfileConfigSchema`, e.g. from `guardProfiles` in keel.yaml) extends one of them.
 */
export {
  type BuiltinProfileName,
  type GuardProfileConfig,
  GuardProfileConfigSchema,
  isBuiltinProfileName,
  SCANNER_IDS,
  type ScannerId,
} from './profile-config.ts';

type ParsedConfig = ParsedGuardProfileConfig;

/** A profile ready to run: scanners built, lookups precomputed. */
export interface GuardProfile {
  readonly name: string;
  readonly scanners: Readonly<Record<Stage, readonly Scanner[]>>;
  thresholdFor(type: string): number;
  actionFor(type: string): Action;
  /** True when the allow-list exempts this finding. */
  allows(type: string, value: string): boolean;
  /** How streamed answers meet the output scanners (see `streaming` in `GuardProfileConfigSchema`). */
  readonly streaming: 'live' | 'hold';
  /** The validated configuration it was compiled from (to derive per-app variants). */
  readonly config: ParsedGuardProfileConfig;
}

interface Base {
  stages: Record<Stage, ScannerId[]>;
  thresholds: Record<string, number>;
  actions: Record<string, Action>;
  names: 'lexicon' | 'nlp';
  grounding: { mode: 'flag' | 'remove' | 'refuse'; minSupport: number; minScore: number };
}

const PII_REDACT: Record<string, Action> = Object.fromEntries(PII_TYPES.map((t) => [t, 'redact' as const]));

const BASES: Record<BuiltinProfileName, Base> = {
  off: {
    stages: { input: [], context: [], output: [] },
    thresholds: {},
    actions: {},
    names: 'lexicon',
    grounding: { mode: 'flag', minSupport: 0.5, minScore: 0.5 },
  },
  standard: {
    stages: {
      input: ['injection', 'pii'],
      context: ['injection'],
      output: ['canary', 'secrets', 'prompt_leak', 'json_schema', 'grounding', 'banned'],
    },
    thresholds: { PROMPT_INJECTION: 0.7, PERSON: 0.6, SYSTEM_PROMPT_LEAK: 0.3 },
    actions: {
      ...PII_REDACT,
      PROMPT_INJECTION: 'block',
      CANARY_LEAK: 'block',
      UNGROUNDED: 'flag',
      SCHEMA_INVALID: 'flag',
      BANNED_CONTENT: 'block',
      SYSTEM_PROMPT_LEAK: 'flag',
    },
    names: 'lexicon',
    grounding: { mode: 'flag', minSupport: 0.5, minScore: 0.5 },
  },
  strict: {
    stages: {
      input: ['injection', 'pii'],
      context: ['injection', 'pii'],
      output: ['canary', 'secrets', 'prompt_leak', 'json_schema', 'grounding', 'banned'],
    },
    thresholds: { PROMPT_INJECTION: 0.5, PERSON: 0.45, SYSTEM_PROMPT_LEAK: 0.15 },
    actions: {
      ...PII_REDACT,
      PROMPT_INJECTION: 'block',
      CANARY_LEAK: 'block',
      UNGROUNDED: 'redact',
      SCHEMA_INVALID: 'block',
      BANNED_CONTENT: 'block',
      SYSTEM_PROMPT_LEAK: 'block',
    },
    names: 'nlp',
    grounding: { mode: 'remove', minSupport: 0.6, minScore: 0.5 },
  },
};

const DEFAULT_THRESHOLD = 0.5;

export interface CompileOptions {
  /** Replaces the built-in in-memory attack index (e.g. a pgvector-backed one). */
  attackIndex?: AttackIndex;
}

export function compileProfile(
  input: GuardProfileConfig | BuiltinProfileName,
  options: CompileOptions = {},
): GuardProfile {
  const cfg: ParsedConfig =
    typeof input === 'string'
      ? GuardProfileConfigSchema.parse({ name: input, extends: input })
      : GuardProfileConfigSchema.parse(input);
  const base = BASES[cfg.extends];
  const stages: Record<Stage, ScannerId[]> = {
    input: cfg.input ?? base.stages.input,
    context: cfg.context ?? base.stages.context,
    output: cfg.output ?? base.stages.output,
  };
  const thresholds = { ...base.thresholds, ...cfg.thresholds };
  const actions = { ...base.actions, ...cfg.actions };
  const grounding = { ...base.grounding, ...cfg.grounding };
  const allowValues = new Set((cfg.allow?.values ?? []).map((v) => v.toLowerCase()));
  const allowPatterns = (cfg.allow?.patterns ?? []).map((p) => new RegExp(`^(?:${p})$`, 'iu'));
  const allowTypes = new Set(cfg.allow?.types ?? []);

  const build = (id: ScannerId, stage: Stage): Scanner | null => {
    switch (id) {
      case 'pii':
        return createPiiScanner({
          stage,
          names: cfg.pii?.names ?? base.names,
          ...(cfg.pii?.entities ? { entities: cfg.pii.entities } : {}),
          ...(cfg.pii?.defaultCountries
            ? { defaultCountries: cfg.pii.defaultCountries as CountryCode[] }
            : {}),
        });
      case 'secrets':
        return createSecretsScanner('secrets', stage);
      case 'injection':
        return createInjectionScanner({
          stage,
          ...(options.attackIndex ? { index: options.attackIndex } : {}),
        });
      case 'canary':
        return stage === 'output' ? createCanaryScanner() : null;
      case 'grounding':
        return stage === 'output' ? createGroundingScanner(grounding) : null;
      case 'json_schema':
        return stage === 'output' ? createJsonSchemaScanner() : null;
      case 'prompt_leak':
        return stage === 'output' ? createPromptLeakScanner() : null;
      case 'banned': {
        const b = cfg.banned;
        if (!b || (b.substrings.length === 0 && b.topics.length === 0)) return null;
        return createBannedScanner({ stage, substrings: b.substrings, topics: b.topics });
      }
    }
  };
  const scanners = {} as Record<Stage, Scanner[]>;
  for (const stage of ['input', 'context', 'output'] as const) {
    scanners[stage] = stages[stage].map((id) => build(id, stage)).filter((s): s is Scanner => s !== null);
  }

  const banned = scanners.output.some((s) => s.id === 'banned');
  const streaming =
    cfg.streaming ??
    ((stages.output.includes('grounding') && grounding.mode !== 'flag') || banned ? 'hold' : 'live');

  return {
    name: cfg.name,
    scanners,
    streaming,
    config: cfg,
    thresholdFor: (type) => thresholds[type] ?? DEFAULT_THRESHOLD,
    actionFor: (type) => actions[type] ?? 'flag',
    allows(type, value) {
      if (allowTypes.has(type)) return true;
      if (allowValues.size > 0 && allowValues.has(value.toLowerCase())) return true;
      return allowPatterns.some((re) => re.test(value));
    },
  };
}

const builtins = new Map<BuiltinProfileName, GuardProfile>();

/** The built-in profiles, compiled once. */
export function builtinProfile(name: BuiltinProfileName): GuardProfile {
  let p = builtins.get(name);
  if (!p) {
    p = compileProfile(name);
    builtins.set(name, p);
  }
  return p;
}
