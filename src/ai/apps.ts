import type { AppConfig, KeelConfig } from '../config/schema.ts';

export interface ResolvedApp extends AppConfig {
  name: string;
  /**
   * Retrieve this many chunks instead of `topK` (evals score retrieval ten deep and more); the
   * answer still sees only the first `topK`, as in production.
   */
  retrievalDepth?: number | undefined;
}

/**
 * The built-in app: answers over the caller's collection `default` with the extractive answerer,
 * so Keel answers questions with no model configured. `apps.default` in config replaces it.
 */
export const DEFAULT_APP: Readonly<AppConfig> = Object.freeze({
  description: 'Answers over collection "default" with the built-in extractive answerer, citing sources.',
  model: 'extractive',
  collections: ['default'],
  topK: 6,
  contextTokens: 3_000,
});

export function resolveApp(config: KeelConfig, name: string): ResolvedApp | undefined {
  const app = Object.hasOwn(config.apps, name)
    ? config.apps[name]
    : name === 'default'
      ? DEFAULT_APP
      : undefined;
  return app ? { ...app, collections: [...app.collections], name } : undefined;
}

/** Every app a client may select, the built-in `default` included. */
export function listApps(config: KeelConfig): ResolvedApp[] {
  const names = new Set(['default', ...Object.keys(config.apps)]);
  return [...names].map((n) => resolveApp(config, n)).filter((a): a is ResolvedApp => a !== undefined);
}
