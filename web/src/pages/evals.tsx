import { useState } from 'preact/hooks';
import { fmtMetric, fmtTime } from '../format.ts';
import { href, navigate } from '../router.ts';
import type { EvalRun } from '../types.ts';
import { Empty, ErrorBox, Loading, PageTitle, StatusBadge, useApi } from '../ui.tsx';

/** Eval runs, newest first; pick two to compare. */

/** Metrics shown as columns when a run has them (the rest are on the run's page). */
const HEADLINE = ['hit@5', 'mrr', 'ndcg@10', 'token_f1', 'groundedness', 'latency_p95_ms'] as const;

export function Evals() {
  const runs = useApi<{ data: EvalRun[] }>('/v1/eval/runs?limit=100');
  const [picked, setPicked] = useState<string[]>([]);
  const data = runs.data?.data ?? [];
  const columns = HEADLINE.filter((m) => data.some((r) => r.metrics[m] !== undefined));

  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id].slice(-2)));

  return (
    <>
      <PageTitle
        actions={
          <button
            type="button"
            class="primary"
            disabled={picked.length !== 2}
            onClick={() => navigate('/evals/compare', { a: picked[0], b: picked[1] })}
          >
            Compare selected ({picked.length}/2)
          </button>
        }
      >
        Eval runs
      </PageTitle>
      {runs.error && <ErrorBox error={runs.error} what="eval runs" />}
      {runs.loading && !runs.data && <Loading what="eval runs" />}
      {runs.data && data.length === 0 && (
        <Empty>
          No eval runs yet. Run <code>keel eval run --dataset NAME --app APP</code> to create one.
        </Empty>
      )}
      {data.length > 0 && (
        <div class="table-wrap">
          <table class="data">
            <caption class="sr-only">
              Eval runs, newest first. Select two to compare; the first selected is the baseline.
            </caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="sr-only">Select</span>
                </th>
                <th scope="col">Started</th>
                <th scope="col">Dataset</th>
                <th scope="col">App</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Cases
                </th>
                {columns.map((m) => (
                  <th scope="col" class="num" key={m}>
                    {m}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.map((r) => (
                <tr key={r.id} class={picked.includes(r.id) ? 'selected' : ''}>
                  <td>
                    <input
                      type="checkbox"
                      checked={picked.includes(r.id)}
                      onChange={() => toggle(r.id)}
                      aria-label={`Select run ${r.id} for comparison`}
                    />
                  </td>
                  <td>
                    <a href={href(`/evals/${encodeURIComponent(r.id)}`)}>{fmtTime(r.started_at)}</a>
                  </td>
                  <td>
                    {r.dataset.name} <span class="muted">v{r.dataset.version}</span>
                  </td>
                  <td>{r.app}</td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td class="num">
                    {r.completed_cases}/{r.case_count}
                  </td>
                  {columns.map((m) => (
                    <td class="num" key={m}>
                      {fmtMetric(m, r.metrics[m])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
