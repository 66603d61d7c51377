import { startOpenAIUpstream } from '../../test/peers/openai-upstream.ts';

// The benchmark's upstream in its own process, so its CPU never mixes with the proxy's.
const chunks = Number(process.env.BENCH_CHUNKS ?? 20);
const up = await startOpenAIUpstream({ chunks, record: false });
process.stdout.write(`${JSON.stringify({ port: up.port, url: up.url })}\n`);
process.on('SIGTERM', () => void up.close().then(() => process.exit(0)));
