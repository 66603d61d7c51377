import type { FastifyInstance } from 'fastify';
import { KeelError } from '../../errors.ts';
import { newId } from '../../store/ids.ts';
import { assertModelAllowed } from '../auth.ts';
import { EmbeddingsBodySchema, parseBody } from '../schemas.ts';
import type { GatewayDeps } from '../server.ts';

/** Little-endian float32 bytes, base64: what `encoding_format: "base64"` means (the openai client's default). */
function toBase64(v: readonly number[]): string {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** `POST /v1/embeddings` through the configured embedder (`hashing`, ...) or a provider's model. */
export function embeddingRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.post('/v1/embeddings', async (req, reply) => {
    const body = parseBody(EmbeddingsBodySchema, req.body);
    const p = req.principal;
    assertModelAllowed(p, body.model);
    const { provider, model } = deps.ai.resolveEmbedder(body.model);
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    const mismatch = (dims: number) =>
      new KeelError(
        'invalid_request',
        `Model '${body.model}' returns ${dims}-dimensional embeddings; 'dimensions' must be ${dims} or omitted`,
        { param: 'dimensions' },
      );
    // Fixed-size embedders cannot resize: refuse before doing (and charging for) the work.
    if (
      body.dimensions !== undefined &&
      provider.dimensions !== undefined &&
      body.dimensions !== provider.dimensions
    ) {
      throw mismatch(provider.dimensions);
    }

    const ctl = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ctl.abort();
    });
    // Tenant allow-list, residency, rate limits and budget hold (src/gateway/policy).
    const settle = deps.policy
      ? await deps.policy.admitEmbeddings(p, reply, {
          model: body.model,
          provider: provider.id,
          upstreamModel: model,
          texts: input,
          attributes: req.tracer?.attributes ?? {},
        })
      : undefined;
    let result: Awaited<ReturnType<typeof provider.embed>>;
    try {
      result = await provider.embed(input, { model, signal: ctl.signal });
    } catch (e) {
      await settle?.(undefined);
      throw e;
    }
    const costUsd = settle ? await settle(result.usage.promptTokens) : 0;
    const dims = result.vectors[0]?.length ?? 0;
    if (body.dimensions !== undefined && body.dimensions !== dims) throw mismatch(dims);
    // Embeddings cost tokens too: one ledger entry, committed before the body goes out.
    await deps.ledger.record({
      id: newId('req'),
      tenantId: p.tenantId,
      keyId: p.keyId,
      userLabel: p.userLabel,
      app: null,
      model,
      provider: provider.id,
      promptTokens: result.usage.promptTokens,
      completionTokens: 0,
      costUsd,
      status: 'ok',
    });
    const b64 = body.encoding_format === 'base64';
    return {
      object: 'list',
      data: result.vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: b64 ? toBase64(v) : v,
      })),
      model: body.model,
      usage: { prompt_tokens: result.usage.promptTokens, total_tokens: result.usage.totalTokens },
    };
  });
}
