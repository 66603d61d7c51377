import { z } from 'zod';
import { PII_TYPES } from './pii/types.ts';

/**
 * The configuration side of guard profiles: zod schemas only, no scanners. `src/config/schema.ts`
 * imports this module, so loading a config never pulls in the recognizers (compromise,
 * libphonenumber), which only the gateway and `keel guard` need.
 */
export const SCANNER_IDS = [
  'pii',
  'secrets',
  'injection',
  'canary',
  'grounding',
  'json_schema',
  'banned',
  'prompt_leak',
] as const;
export type ScannerId = (typeof SCANNER_IDS)[number];
export type BuiltinProfileName = 'off' | 'standard' | 'strict';
export const BUILTIN_PROFILES: readonly BuiltinProfileName[] = ['off', 'standard', 'strict'];

export function isBuiltinProfileName(name: string): name is BuiltinProfileName {
  return name === 'off' || name === 'standard' || name === 'strict';
}

/** A profile name: a built-in one or a key of `guardProfiles`. */
export const ProfileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'profile names are letters, digits, _ and - (at most 64)');

const TypeKey = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'finding types are UPPER_SNAKE_CASE');
const ActionSchema = z.enum(['allow', 'flag', 'redact', 'block']);
const RegexString = z.string().refine(
  (s) => {
    try {
      new RegExp(s, 'u');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);
const StageList = z.array(z.enum(SCANNER_IDS)).optional();

/** Findings a profile never acts on: exact values, whole-value patterns, or whole types. */
export const GuardAllowSchema = z
  .object({
    /** Exact values never treated as findings (e.g. the app's own support address). */
    values: z.array(z.string().min(1)).default([]),
    /** Regular expressions matched against the whole finding value. */
    patterns: z.array(RegexString).default([]),
    /** Finding types ignored altogether. */
    types: z.array(TypeKey).default([]),
  })
  .strict();
export type GuardAllow = z.input<typeof GuardAllowSchema>;

const ProfileBody = z
  .object({
    extends: z.enum(['off', 'standard', 'strict']).default('standard'),
    input: StageList,
    context: StageList,
    output: StageList,
    thresholds: z.record(TypeKey, z.number().min(0).max(1)).default({}),
    actions: z.record(TypeKey, ActionSchema).default({}),
    allow: GuardAllowSchema.optional(),
    /**
     * How a streamed answer meets the output scanners. `live` streams at once (placeholders restored
     * and canaries caught in-stream; other findings are recorded when the stream ends); `hold` sends
     * nothing until the whole answer passed them. Default: `hold` when grounding removes or refuses
     * or banned content is configured, else `live`.
     */
    streaming: z.enum(['live', 'hold']).optional(),
    pii: z
      .object({
        entities: z.array(z.enum(PII_TYPES)).optional(),
        names: z.enum(['lexicon', 'nlp']).optional(),
        defaultCountries: z.array(z.string().regex(/^[A-Z]{2}$/)).optional(),
      })
      .strict()
      .optional(),
    grounding: z
      .object({
        mode: z.enum(['flag', 'remove', 'refuse']).optional(),
        minSupport: z.number().min(0).max(1).optional(),
        minScore: z.number().min(0).max(1).optional(),
        refusal: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    banned: z
      .object({
        substrings: z.array(z.string().min(1)).default([]),
        topics: z
          .array(
            z
              .object({
                name: z.string().min(1),
                keywords: z.array(z.string().min(1)).min(1),
                minHits: z.number().int().min(1).optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A custom profile as `guardProfiles.<name>` in keel.yaml (the key is its name). */
export const GuardProfileBodySchema = ProfileBody;
export type GuardProfileBody = z.input<typeof ProfileBody>;

/** A custom profile with its name, as `compileProfile` takes it. */
export const GuardProfileConfigSchema = ProfileBody.extend({ name: ProfileNameSchema }).strict();
export type GuardProfileConfig = z.input<typeof GuardProfileConfigSchema>;
export type ParsedGuardProfileConfig = z.output<typeof GuardProfileConfigSchema>;

/** An app's `guard`: a profile name, or a profile plus the app's own allow-list. */
export const GuardRefSchema = z.union([
  ProfileNameSchema,
  z
    .object({
      profile: ProfileNameSchema.default('standard'),
      allow: GuardAllowSchema.optional(),
    })
    .strict(),
]);
export type GuardRef = z.output<typeof GuardRefSchema>;

/** A known attack added by configuration (on top of the curated list in `injection/attacks.ts`). */
export const KnownAttackSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/),
    text: z.string().min(8).max(2_000),
  })
  .strict();

export const GUARD_SETTINGS_DEFAULTS = {
  defaultProfile: 'standard',
  passthrough: 'off',
  attackIndex: 'store' as const,
  attacks: [],
};

/** The top-level `guard` section. */
export const GuardSettingsSchema = z
  .object({
    /** Profile of apps that name none. */
    defaultProfile: ProfileNameSchema.default('standard'),
    /**
     * Profile of requests that name a model rather than an app (pass-through, aliases). `off` by
     * default: such requests are a proxy, and rewriting their prompts would surprise the caller.
     */
    passthrough: ProfileNameSchema.default('off'),
    /** Similarity to known attacks: the store's pgvector index, or the built-in in-memory one. */
    attackIndex: z.enum(['store', 'memory']).default('store'),
    /** More known attacks (ids must not clash with the curated ones). */
    attacks: z.array(KnownAttackSchema).default([]),
  })
  .strict();
export type GuardSettings = z.output<typeof GuardSettingsSchema>;

/** Every profile name a config uses must exist: for `ConfigSchema.superRefine`. */
export function undefinedProfiles(config: {
  guardProfiles?: Record<string, unknown>;
  guard?: { defaultProfile?: string; passthrough?: string };
  apps?: Record<string, { guard?: GuardRef | undefined }>;
}): Array<{ path: (string | number)[]; name: string }> {
  const known = (n: string) => isBuiltinProfileName(n) || Object.hasOwn(config.guardProfiles ?? {}, n);
  const out: Array<{ path: (string | number)[]; name: string }> = [];
  for (const key of ['defaultProfile', 'passthrough'] as const) {
    const n = config.guard?.[key];
    if (n !== undefined && !known(n)) out.push({ path: ['guard', key], name: n });
  }
  for (const [app, a] of Object.entries(config.apps ?? {})) {
    const ref = a.guard;
    const n = typeof ref === 'string' ? ref : ref?.profile;
    if (n !== undefined && !known(n)) out.push({ path: ['apps', app, 'guard'], name: n });
  }
  for (const n of Object.keys(config.guardProfiles ?? {})) {
    if (isBuiltinProfileName(n)) out.push({ path: ['guardProfiles', n], name: n });
  }
  return out;
}
