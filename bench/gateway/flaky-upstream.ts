import { startOpenAIUpstream } from '../../test/peers/openai-upstream.ts';

/**
 * The routes benchmark's upstream, in its own process: the OpenAI test peer with a 503 rate per
 * upstream model, changed at run time over IPC (`{ rates: { model: 0.05 } }` → `{ ok: true }`), and
 * per-model call counts on request (`{ stats: true }` → `{ counts }`).
 */
const chunks = Number(process.env.BENCH_CHUNKS ?? 20);
const up = await startOpenAIUpstream({ chunks, record: false });
const rates = new Map<string, number>();
const counts: Record<string, number> = {};

up.script((rec) => {
  const model = (rec.body as { model?: string } | undefined)?.model ?? '';
  counts[model] = (counts[model] ?? 0) + 1;
  const rate = rates.get(model) ?? 0;
  return rate > 0 && Math.random() < rate
    ? { kind: 'status', status: 503, message: 'Scripted outage' }
    : undefined;
});

process.on('message', (m: { rates?: Record<string, number>; stats?: boolean }) => {
  if (m.rates) for (const [model, r] of Object.entries(m.rates)) rates.set(model, r);
  process.send?.(m.stats ? { counts: { ...counts } } : { ok: true });
});
process.stdout.write(`${JSON.stringify({ port: up.port, url: up.url })}\n`);
process.on('SIGTERM', () => void up.close().then(() => process.exit(0)));
