/** Keel's guardrails: the public surface the AI pipeline, the gateway and the CLI use. */
export {
  type Decision,
  GuardBlockedError,
  type GuardOutcome,
  guardBlockedError,
  policyName,
  runScanners,
} from './engine.ts';
export {
  checkGrounding,
  createGroundingScanner,
  enforceGrounding,
  type GroundingReport,
  type SentenceVerdict,
  splitSentences,
} from './grounding.ts';
export { type AttackIndex, type AttackMatch, InMemoryAttackIndex } from './injection/attack-index.ts';
export { KNOWN_ATTACKS, type KnownAttack } from './injection/attacks.ts';
export { type Canary, createCanary, createCanaryScanner, findCanaryLeaks } from './injection/canary.ts';
export { normalizeForDetection } from './injection/normalize.ts';
export { createInjectionScanner } from './injection/scanner.ts';
export { createBannedScanner } from './output/banned.ts';
export { createJsonSchemaScanner, validateJson } from './output/json-schema.ts';
export { createPromptLeakScanner, promptLeakScore } from './output/prompt-leak.ts';
export { createSecretsScanner } from './output/secrets.ts';
export { createPiiScanner, detectPii } from './pii/scanner.ts';
export { PII_TYPES, type PiiType } from './pii/types.ts';
export {
  type GuardProfileBody,
  GuardProfileBodySchema,
  type GuardRef,
  GuardRefSchema,
  type GuardSettings,
  GuardSettingsSchema,
  type ScannerId,
} from './profile-config.ts';
export {
  type BuiltinProfileName,
  builtinProfile,
  compileProfile,
  type GuardProfile,
  type GuardProfileConfig,
  GuardProfileConfigSchema,
  isBuiltinProfileName,
  SCANNER_IDS,
} from './profiles.ts';
export { maskFor, RedactionSession, type StreamRestorer } from './redact.ts';
export { GuardRegistry, type GuardRegistryOptions } from './registry.ts';
export { type GuardScanRequest, GuardScanRequestSchema, type GuardScanResult, scanText } from './scan.ts';
export {
  type Action,
  type AppliedFinding,
  type Finding,
  type GuardSource,
  redactFindingForTrace,
  type ScanContext,
  type Scanner,
  type ScanResult,
  type Stage,
  type TraceFinding,
} from './types.ts';
