import { KeelError } from '../errors.ts';
import type { AttackIndex } from './injection/attack-index.ts';
import {
  type GuardAllow,
  type GuardProfileBody,
  type GuardRef,
  isBuiltinProfileName,
  type ParsedGuardProfileConfig,
  type ScannerId,
} from './profile-config.ts';
import { compileProfile, type GuardProfile } from './profiles.ts';
import type { Stage } from './types.ts';

/**
 * The profiles one Keel process knows: the built-ins and `guardProfiles` from keel.yaml, compiled
 * once with the process's attack index. Per-app variants (an app's own allow-list) and ad-hoc
 * scanner lists (the scan API) are compiled on first use and cached.
 */
export interface GuardRegistryOptions {
  /** `guardProfiles` from keel.yaml: custom profiles by name. */
  profiles?: Record<string, GuardProfileBody> | undefined;
  /** Similarity to known attacks for every injection scanner (default: the in-memory index). */
  attackIndex?: AttackIndex | undefined;
}

const ADHOC_MAX = 256;

function mergeAllow(a: ParsedGuardProfileConfig['allow'], b: GuardAllow): GuardAllow {
  return {
    values: [...(a?.values ?? []), ...(b.values ?? [])],
    patterns: [...(a?.patterns ?? []), ...(b.patterns ?? [])],
    types: [...(a?.types ?? []), ...(b.types ?? [])],
  };
}

export class GuardRegistry {
  private readonly custom: Record<string, GuardProfileBody>;
  private readonly attackIndex: AttackIndex | undefined;
  private readonly compiled = new Map<string, GuardProfile>();
  private readonly apps = new Map<string, { ref: GuardRef | undefined; profile: GuardProfile }>();
  private readonly adhoc = new Map<string, GuardProfile>();

  constructor(opts: GuardRegistryOptions = {}) {
    this.custom = opts.profiles ?? {};
    this.attackIndex = opts.attackIndex;
    // Compile everything configured up front: a bad pattern fails at start-up, not on a request.
    for (const name of this.names()) this.get(name);
  }

  /** Built-in and configured profile names. */
  names(): string[] {
    return ['off', 'standard', 'strict', ...Object.keys(this.custom).filter((n) => !isBuiltinProfileName(n))];
  }

  has(name: string): boolean {
    return isBuiltinProfileName(name) || Object.hasOwn(this.custom, name);
  }

  /** A profile by name; an unknown name is a 400 naming `param` (default `profile`). */
  get(name: string, param = 'profile'): GuardProfile {
    let p = this.compiled.get(name);
    if (p) return p;
    if (isBuiltinProfileName(name)) p = compileProfile(name, this.options());
    else if (Object.hasOwn(this.custom, name))
      p = compileProfile({ ...this.custom[name], name }, this.options());
    else {
      throw new KeelError(
        'invalid_request',
        `Unknown guard profile '${name}' (known: ${this.names().join(', ')})`,
        { param },
      );
    }
    this.compiled.set(name, p);
    return p;
  }

  /** An app's profile: the one its `guard` names (or `fallback`), with the app's allow-list merged in. */
  forApp(app: string, ref: GuardRef | undefined, fallback: string): GuardProfile {
    const cached = this.apps.get(app);
    if (cached && cached.ref === ref) return cached.profile;
    const name = ref === undefined ? fallback : typeof ref === 'string' ? ref : ref.profile;
    const base = this.get(name, 'guard');
    const allow = typeof ref === 'object' ? ref.allow : undefined;
    const profile = allow
      ? compileProfile({ ...base.config, allow: mergeAllow(base.config.allow, allow) }, this.options())
      : base;
    this.apps.set(app, { ref, profile });
    return profile;
  }

  /** `base` with `stage` running exactly `scanners` (the scan API's scanner list). */
  withScanners(base: string, stage: Stage, scanners: readonly ScannerId[]): GuardProfile {
    const key = `${base}|${stage}|${scanners.join(',')}`;
    let p = this.adhoc.get(key);
    if (p) return p;
    const cfg = this.get(base).config;
    p = compileProfile({ ...cfg, [stage]: [...scanners] }, this.options());
    if (this.adhoc.size >= ADHOC_MAX) this.adhoc.clear();
    this.adhoc.set(key, p);
    return p;
  }

  private options() {
    return this.attackIndex ? { attackIndex: this.attackIndex } : {};
  }
}
