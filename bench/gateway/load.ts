import http from 'node:http';
import autocannon from 'autocannon';

/** Load generation (autocannon) and a one-connection probe with microsecond timing. */

export interface Target {
  name: string;
  origin: string;
  headers: Record<string, string>;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

export async function cannon(
  t: Target,
  body: string,
  connections: number,
  seconds: number,
  /** Requests per second over all connections (a fixed offered load); unset, as fast as answered. */
  rate?: number,
): Promise<LoadResult> {
  const r = await autocannon({
    ...(rate ? { overallRate: rate } : {}),
    url: `${t.origin}/v1/chat/completions`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...t.headers },
    body,
    timeout: 10,
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts + r.non2xx,
  };
}

export interface ProbeResult {
  /** Full response time, µs. */
  p50: number;
  p99: number;
  /** Time to the first body byte, µs. */
  ttfbP50: number;
  ttfbP99: number;
  n: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

function once(
  agent: http.Agent,
  t: Target,
  body: string,
): Promise<{ ttfb: number; total: number; text: string; status: number }> {
  const url = new URL(`${t.origin}/v1/chat/completions`);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let ttfb = -1;
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...t.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (ttfb < 0) ttfb = Number(process.hrtime.bigint() - t0) / 1000;
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({
            ttfb,
            total: Number(process.hrtime.bigint() - t0) / 1000,
            text: Buffer.concat(chunks).toString(),
            status: res.statusCode ?? 0,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One request through `t`, returned whole: to check a target works before loading it. */
export async function fetchOnce(t: Target, body: string): Promise<{ status: number; text: string }> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    return await once(agent, t, body);
  } finally {
    agent.destroy();
  }
}

/** Sequential requests over one keep-alive connection for `seconds` (at most 20,000). */
export async function probe(t: Target, body: string, seconds: number): Promise<ProbeResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const totals: number[] = [];
  const ttfbs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  try {
    for (let i = 0; i < 20_000 && performance.now() < deadline; i++) {
      const r = await once(agent, t, body);
      if (r.status !== 200) throw new Error(`${t.name}: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      // The first requests warm the connection and JIT; leave them out.
      if (i < 50) continue;
      totals.push(r.total);
      ttfbs.push(r.ttfb);
    }
  } finally {
    agent.destroy();
  }
  return {
    p50: pct(totals, 50),
    p99: pct(totals, 99),
    ttfbP50: pct(ttfbs, 50),
    ttfbP99: pct(ttfbs, 99),
    n: totals.length,
  };
}
