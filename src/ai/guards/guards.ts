import type { KeelConfig } from '../../config/schema.ts';
import { KeelError } from '../../errors.ts';
import { StoreAttackIndex, seedAttacks } from '../../guard/attack-store.ts';
import {
  type AttackIndex,
  type GuardOutcome,
  type GuardProfile,
  InMemoryAttackIndex,
  KNOWN_ATTACKS,
} from '../../guard/index.ts';
import { GUARD_SETTINGS_DEFAULTS, type GuardSettings } from '../../guard/profile-config.ts';
import { GuardRegistry } from '../../guard/registry.ts';
import type { Queryable } from '../../store/db.ts';
import type { ChatTarget } from '../service.ts';

/**
 * A Keel process's guardrails: the profile registry, the settings, the attack index, and a cache of
 * context-stage outcomes per retrieved chunk (chunks are immutable and popular ones come back on
 * every request, so screening each once per profile is enough).
 */
export interface Guards {
  readonly registry: GuardRegistry;
  readonly settings: GuardSettings;
  readonly attackIndex: AttackIndex;
  /**
   * True when retrieval embeds locally (hashing, ONNX, GGUF): the original question may then be used
   * to retrieve, since it never leaves the process. With a remote embedder the redacted one is used.
   */
  readonly localRetrieval: boolean;
  /** The profile a chat target runs under; null when guards are off for it. */
  profileFor(t: ChatTarget): GuardProfile | null;
  /** Context-stage outcomes by profile and chunk id (only outcomes that left the text unchanged). */
  contextCache(profile: GuardProfile): Map<string, { text: string; outcome: GuardOutcome }>;
}

export interface CreateGuardsOptions {
  /** The store, for the pgvector attack index (`guard.attackIndex: store`); absent: in memory. */
  db?: Queryable | undefined;
}

const LOCAL_EMBEDDERS = new Set(['hashing', 'onnx-embeddings', 'llama-cpp']);
const CONTEXT_CACHE_MAX = 5_000;

function hasScanners(p: GuardProfile): boolean {
  return p.scanners.input.length + p.scanners.context.length + p.scanners.output.length > 0;
}

function isLocalEmbedder(config: KeelConfig): boolean {
  const ref = config.rag.embedder;
  if (ref === 'hashing') return true;
  const provider = ref.split('/')[0] ?? '';
  const type = config.providers[provider]?.type ?? (provider === 'hashing' ? 'hashing' : '');
  return LOCAL_EMBEDDERS.has(type);
}

export async function createGuards(config: KeelConfig, opts: CreateGuardsOptions = {}): Promise<Guards> {
  const settings: GuardSettings = { ...GUARD_SETTINGS_DEFAULTS, ...config.guard };
  const builtinIds = new Set(KNOWN_ATTACKS.map((a) => a.id));
  const clash = settings.attacks.find((a) => builtinIds.has(a.id));
  if (clash) {
    throw new KeelError(
      'config_invalid',
      `guard.attacks: id '${clash.id}' is taken by a curated attack; choose another id`,
    );
  }
  const memory = new InMemoryAttackIndex([...KNOWN_ATTACKS, ...settings.attacks]);
  let attackIndex: AttackIndex = memory;
  if (opts.db && settings.attackIndex === 'store') {
    await seedAttacks(opts.db, settings.attacks);
    attackIndex = new StoreAttackIndex(opts.db, { fallback: memory });
  }
  const registry = new GuardRegistry({ profiles: config.guardProfiles, attackIndex });
  // Names were checked when the config was loaded; resolving them here fails fast on a config built in code.
  registry.get(settings.defaultProfile, 'guard.defaultProfile');
  const passthrough = settings.passthrough === 'off' ? null : registry.get(settings.passthrough);
  const caches = new WeakMap<GuardProfile, Map<string, { text: string; outcome: GuardOutcome }>>();
  const localRetrieval = isLocalEmbedder(config);

  return {
    registry,
    settings,
    attackIndex,
    localRetrieval,
    profileFor(t) {
      const p =
        t.kind === 'app' ? registry.forApp(t.name, t.app.guard, settings.defaultProfile) : passthrough;
      return p && hasScanners(p) ? p : null;
    },
    contextCache(profile) {
      let c = caches.get(profile);
      if (!c) {
        c = new Map();
        caches.set(profile, c);
      }
      if (c.size >= CONTEXT_CACHE_MAX) {
        const oldest = c.keys().next().value;
        if (oldest !== undefined) c.delete(oldest);
      }
      return c;
    },
  };
}
