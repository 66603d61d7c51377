import type { FastifyInstance } from 'fastify';
import { KeelError } from '../../errors.ts';
import type { GatewayDeps } from '../server.ts';

const READY_TIMEOUT_MS = 2_000;

/** Liveness (the process answers) and readiness (the store answers), both without auth. */
export function healthRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/healthz', (_req, reply) => {
    reply.send({ status: 'ok' });
  });

  app.get('/readyz', async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('store ping timed out')), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([deps.db.query('select 1'), timeout]);
    } catch (e) {
      throw new KeelError('unavailable', 'Store unreachable', { cause: e });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', store: deps.db.engine };
  });
}
