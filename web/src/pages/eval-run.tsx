import { useState } from 'preact/hooks';
import { fmtMetric, fmtMs, fmtTime } from '../format.ts';
import { href } from '../router.ts';
import type { EvalResult, EvalRun as Run } from '../types.ts';
import { Empty, ErrorBox, Loading, PageTitle, StatusBadge, useApi } from '../ui.tsx';

/** One eval run: its aggregate metrics and its cases (a page at a time). */

const PAGE = 50;

export function EvalRun({ id }: { id: string }) {
  const run = useApi<Run & { results?: EvalResult[] }>(`/v1/eval/runs/${encodeURIComponent(id)}`);
  const r = run.data;
  return (
    <>
      <p class="crumbs">
        <a href={href('/evals')}>← Eval runs</a>
      </p>
      <PageTitle>
        Eval run <code class="trace-id">{id}</code>
      </PageTitle>
      {run.error && <ErrorBox error={run.error} what="this run" />}
      {run.loading && !r && <Loading what="the run" />}
      {r && (
        <>
          <section class="panel" aria-labelledby="run-h">
            <h2 id="run-h">Run</h2>
            <dl class="kv">
              <dt>Dataset</dt>
              <dd>
                {r.dataset.name} v{r.dataset.version}
              </dd>
              <dt>App</dt>
              <dd>{r.app}</dd>
              <dt>Status</dt>
              <dd>
                <StatusBadge status={r.status} /> {r.error ?? ''}
              </dd>
              <dt>Cases</dt>
              <dd>
                {r.completed_cases}/{r.case_count}
              </dd>
              <dt>Started</dt>
              <dd>{fmtTime(r.started_at)}</dd>
              <dt>Finished</dt>
              <dd>{fmtTime(r.finished_at)}</dd>
            </dl>
          </section>
          <section class="panel" aria-labelledby="metrics-h">
            <h2 id="metrics-h">Metrics</h2>
            {Object.keys(r.metrics).length === 0 ? (
              <p class="muted">No metrics (yet).</p>
            ) : (
              <dl class="metrics">
                {Object.entries(r.metrics)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([k, v]) => (
                    <div key={k}>
                      <dt>{k}</dt>
                      <dd>{fmtMetric(k, v)}</dd>
                    </div>
                  ))}
              </dl>
            )}
          </section>
          {r.results && <Results results={r.results} />}
        </>
      )}
    </>
  );
}

function Results({ results }: { results: EvalResult[] }) {
  const [page, setPage] = useState(0);
  if (results.length === 0) return <Empty>No case results stored.</Empty>;
  const pages = Math.ceil(results.length / PAGE);
  const shown = results.slice(page * PAGE, (page + 1) * PAGE);
  const metricNames = [...new Set(shown.flatMap((r) => Object.keys(r.metrics)))].slice(0, 6);
  return (
    <section class="panel wide" aria-labelledby="cases-h">
      <h2 id="cases-h">Cases</h2>
      <div class="table-wrap">
        <table class="data">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">Input</th>
              <th scope="col">Output</th>
              {metricNames.map((m) => (
                <th scope="col" class="num" key={m}>
                  {m}
                </th>
              ))}
              <th scope="col" class="num">
                Latency
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.position}>
                <td class="num">{c.position + 1}</td>
                <td class="clip">{c.input}</td>
                <td class="clip">{c.error ? <span class="badge bad">{c.error}</span> : (c.output ?? '—')}</td>
                {metricNames.map((m) => (
                  <td class="num" key={m}>
                    {fmtMetric(m, c.metrics[m])}
                  </td>
                ))}
                <td class="num">{fmtMs(c.latency_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pages > 1 && (
        <nav class="pager" aria-label="Case pages">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            ← Previous
          </button>
          <span class="muted">
            Page {page + 1} of {pages}
          </span>
          <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            Next →
          </button>
        </nav>
      )}
    </section>
  );
}
