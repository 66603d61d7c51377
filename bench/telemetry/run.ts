/**
 * Telemetry benchmark (see bench/README.md): trace sink throughput, tracing's cost on the gateway
 * (traces on / off), the dashboard's queries over a million traces on PGlite and PostgreSQL, and
 * the default app's retrieval quality on CACM through `keel eval`.
 * Parts: BENCH_PARTS=sink,gateway,overview,cacm (default all).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCacm } from './cacm.ts';
import { drivers, log, num, openBenchStore } from './common.ts';
import { benchGatewayTracing } from './gateway.ts';
import { benchOverview } from './overview.ts';
import { benchSink } from './sink.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const parts = new Set((process.env.BENCH_PARTS ?? 'sink,gateway,overview,cacm').split(','));
const results: Record<string, unknown> = { date: new Date().toISOString() };
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

if (parts.has('sink')) {
  const out = [];
  for (const d of drivers()) {
    const store = await openBenchStore(d);
    try {
      out.push(await benchSink(store, num('BENCH_SINK_TRACES', 20_000)));
    } finally {
      await store.close();
    }
  }
  results.sink = out;
  console.log(
    '\n| sink | traces | stored/s | hub µs/trace (input redaction + metrics) | hub µs/trace, captureInput off | dropped |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of out) {
    console.log(
      `| ${r.driver} | ${r.traces} | ${fmt(r.tracesPerSecond, 0)} | ${fmt(r.hubMicrosPerTrace)} | ${fmt(r.hubMicrosNoCapture)} | ${r.dropped} |`,
    );
  }
}

if (parts.has('gateway')) {
  const r = await benchGatewayTracing(ROOT, {
    seconds: num('BENCH_DURATION', 10),
    warmup: num('BENCH_WARMUP', 3),
    rounds: num('BENCH_ROUNDS', 3),
    connections: num('BENCH_CONNECTIONS', 32),
  });
  results.gateway = r;
  console.log('\n| pass-through JSON | RPS | p50 ms | p99 ms | CPU ms/req | errors |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, x] of [
    ['traces off', r.off],
    ['traces on', r.on],
  ] as const) {
    console.log(
      `| ${name} | ${fmt(x.rps, 0)} | ${x.p50Ms} | ${x.p99Ms} | ${fmt(x.cpuMsPerReq, 3)} | ${x.errors} |`,
    );
  }
  console.log(
    `| on / off | ${fmt(r.ratio.rps, 2)}x | | ${fmt(r.ratio.p99, 2)}x | ${fmt(r.ratio.cpuPerReq, 2)}x | |`,
  );
  console.log(`traces stored ${r.stored} of ${r.served} requests served with traces on`);
}

if (parts.has('overview')) {
  const out = [];
  for (const d of drivers()) {
    const store = await openBenchStore(d);
    try {
      out.push(await benchOverview(store, num('BENCH_TRACES', 1_000_000), num('BENCH_QUERY_RUNS', 5)));
    } finally {
      await store.close();
    }
  }
  results.overview = out;
  const names = Object.keys(out[0]?.queries ?? {});
  console.log(
    `\n| query over ${out[0]?.traces.toLocaleString()} traces | ${out.map((o) => `${o.driver} ms`).join(' | ')} |`,
  );
  console.log(`| --- | ${out.map(() => '---:').join(' | ')} |`);
  for (const n of names)
    console.log(`| ${n} | ${out.map((o) => fmt(o.queries[n]?.medianMs ?? Number.NaN)).join(' | ')} |`);
  console.log(`| (generating the rows, s) | ${out.map((o) => fmt(o.generateSeconds)).join(' | ')} |`);
}

if (parts.has('cacm')) {
  const data = resolve(process.env.KEEL_BENCH_CACM ?? join(ROOT, '../shared/data/ir-cacm'));
  const r = await benchCacm(ROOT, data);
  results.cacm = r;
  if (r) {
    console.log('\n| CACM, default app via keel eval | value |');
    console.log('| --- | ---: |');
    console.log(`| judged queries | ${r.cases} |`);
    console.log(`| MAP (top 1000) | ${fmt(r.map, 4)} (published BM25: ${r.publishedBm25Map}) |`);
    console.log(`| nDCG@10 | ${fmt(r.ndcg10, 4)} |`);
    console.log(`| MRR | ${fmt(r.mrr, 4)} |`);
    console.log(`| recall@10 | ${fmt(r.recallAt10, 4)} |`);
    console.log(`| answer latency p50 / p95 ms | ${fmt(r.latencyP50Ms)} / ${fmt(r.latencyP95Ms)} |`);
    console.log(`| ingest s / eval s | ${fmt(r.ingestSeconds)} / ${fmt(r.evalSeconds)} |`);
  }
}

const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `telemetry-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log(`results: ${file}`);
