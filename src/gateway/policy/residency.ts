import type { ChatTarget } from '../../ai/service.ts';
import type { KeelConfig } from '../../config/schema.ts';
import { KeelError } from '../../errors.ts';
import type { ChatProvider } from '../../providers/types.ts';

/**
 * Data residency: a tenant or key pinned to regions only ever reaches providers in them. A provider
 * is in the region its config names (a route target may override it); one that runs inside Keel
 * (extractive, hashing, local GGUF or ONNX models) sends nothing anywhere and qualifies unless it
 * names a region outside the pin; a remote provider without a region never qualifies for a pinned
 * request, since nobody can say where it sends data.
 */

const LOCAL_TYPES = new Set(['extractive', 'hashing', 'llama-cpp', 'onnx-embeddings']);

interface Leaf {
  provider: string;
  region: string | undefined;
}

interface RouterLike extends ChatProvider {
  leaves(): { provider: ChatProvider; region: string | undefined }[];
}

function isRouter(p: ChatProvider): p is RouterLike {
  return typeof (p as Partial<RouterLike>).leaves === 'function';
}

export function providerRegion(config: KeelConfig, providerId: string): string | undefined {
  const p = config.providers[providerId] as { region?: string } | undefined;
  return p?.region;
}

export function qualifies(config: KeelConfig, leaf: Leaf, regions: readonly string[]): boolean {
  if (leaf.region !== undefined) return regions.includes(leaf.region);
  const type = config.providers[leaf.provider]?.type ?? (leaf.provider === 'extractive' ? 'extractive' : '');
  return LOCAL_TYPES.has(type);
}

/** The concrete targets a chat target can reach (a route's leaves, else the one provider). */
export function leavesOf(config: KeelConfig, provider: ChatProvider): Leaf[] {
  if (isRouter(provider))
    return provider.leaves().map((l) => ({ provider: l.provider.id, region: l.region }));
  return [{ provider: provider.id, region: providerRegion(config, provider.id) }];
}

const describe = (l: Leaf) => `${l.provider} (${l.region ?? 'no region'})`;

/**
 * Throws 403 when no target of `target` lies in `regions`. For apps the retrieval embedder counts
 * too, since the question goes to it. Routes with some qualifying targets pass: the router skips
 * the others (it gets `regions` with the call).
 */
export function checkResidency(
  config: KeelConfig,
  target: ChatTarget,
  regions: readonly string[],
  pinnedBy: string,
): void {
  const where = regions.length > 0 ? `region(s) ${regions.join(', ')}` : 'no region at all';
  const leaves = leavesOf(config, target.target.provider);
  if (!leaves.some((l) => qualifies(config, l, regions))) {
    throw new KeelError(
      'permission_denied',
      `Data residency: ${pinnedBy} is pinned to ${where}, and no target of '${target.name}' is there ` +
        `(${leaves.map(describe).join(', ')}); the request was not sent anywhere`,
      { param: 'model' },
    );
  }
  if (target.kind === 'app' && target.app.collections.length > 0) {
    const ref = config.rag.embedder;
    const provider = ref.includes('/') ? ref.slice(0, ref.indexOf('/')) : ref;
    const leaf = { provider, region: providerRegion(config, provider) };
    if (!qualifies(config, leaf, regions)) {
      throw new KeelError(
        'permission_denied',
        `Data residency: ${pinnedBy} is pinned to ${where}, and app '${target.name}' embeds questions ` +
          `with ${describe(leaf)}; the request was not sent anywhere`,
        { param: 'model' },
      );
    }
  }
}

/** Whether an embedder reference (`hashing`, `<provider>/<model>`) may see a pinned request's text. */
export function embedderQualifies(config: KeelConfig, ref: string, regions: readonly string[]): boolean {
  const provider = ref.includes('/') ? ref.slice(0, ref.indexOf('/')) : ref;
  return qualifies(config, { provider, region: providerRegion(config, provider) }, regions);
}
