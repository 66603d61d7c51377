import { withQuery } from '../api.ts';
import { fmtMetric, fmtTime } from '../format.ts';
import { href } from '../router.ts';
import type { Comparison, EvalRun } from '../types.ts';
import { ErrorBox, Loading, PageTitle, useApi } from '../ui.tsx';

/** Two runs side by side: each metric's baseline, candidate, change and verdict (the CI gate's view). */
export function EvalCompare({ query }: { query: URLSearchParams }) {
  const a = query.get('a') ?? '';
  const b = query.get('b') ?? '';
  const cmp = useApi<Comparison>(a && b ? withQuery('/v1/eval/compare', { a, b }) : null);
  const c = cmp.data;
  return (
    <>
      <p class="crumbs">
        <a href={href('/evals')}>← Eval runs</a>
      </p>
      <PageTitle>Compare runs</PageTitle>
      <div class="run-pair">
        <RunCard label="Baseline (a)" id={a} run={c?.a} />
        <span aria-hidden="true" class="arrow">
          →
        </span>
        <RunCard label="Candidate (b)" id={b} run={c?.b} />
      </div>
      {(!a || !b) && <p class="alert">Pick two runs on the eval runs page.</p>}
      {cmp.error && <ErrorBox error={cmp.error} what="the comparison" />}
      {cmp.loading && !c && <Loading what="the comparison" />}
      {c && (
        <>
          <div class={`alert ${c.regressed ? 'error' : 'ok'}`} role="status">
            {c.regressed
              ? `${c.rows.filter((r) => r.status === 'regressed').length} metric(s) regressed beyond tolerance: CI would fail.`
              : 'No metric regressed beyond its tolerance.'}
          </div>
          <div class="table-wrap">
            <table class="data compare">
              <thead>
                <tr>
                  <th scope="col">Metric</th>
                  <th scope="col" class="num">
                    Baseline
                  </th>
                  <th scope="col" class="num">
                    Candidate
                  </th>
                  <th scope="col" class="num">
                    Change
                  </th>
                  <th scope="col" class="num">
                    Tolerance
                  </th>
                  <th scope="col">Verdict</th>
                </tr>
              </thead>
              <tbody>
                {c.rows.map((r) => (
                  <tr key={r.metric} class={r.status}>
                    <th scope="row">
                      {r.metric} <span class="muted small">({r.better} is better)</span>
                    </th>
                    <td class="num">{fmtMetric(r.metric, r.a)}</td>
                    <td class="num">{fmtMetric(r.metric, r.b)}</td>
                    <td class="num">
                      {r.delta > 0 ? '+' : r.delta < 0 ? '−' : ''}
                      {fmtMetric(r.metric, Math.abs(r.delta))}
                    </td>
                    <td class="num">±{fmtMetric(r.metric, r.tolerance)}</td>
                    <td>
                      <span
                        class={`badge ${r.status === 'regressed' ? 'bad' : r.status === 'improved' ? 'ok' : 'neutral'}`}
                      >
                        {r.status === 'regressed'
                          ? '▼ regressed'
                          : r.status === 'improved'
                            ? '▲ improved'
                            : '= unchanged'}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {(c.only_in_a.length > 0 || c.only_in_b.length > 0) && (
            <p class="muted">
              Not compared: {c.only_in_a.length > 0 && <>only in baseline: {c.only_in_a.join(', ')}. </>}
              {c.only_in_b.length > 0 && <>only in candidate: {c.only_in_b.join(', ')}.</>}
            </p>
          )}
        </>
      )}
    </>
  );
}

function RunCard({ label, id, run }: { label: string; id: string; run: EvalRun | undefined }) {
  return (
    <div class="run-card">
      <div class="muted small">{label}</div>
      <a href={href(`/evals/${encodeURIComponent(id)}`)}>
        <code>{id}</code>
      </a>
      {run && (
        <div class="small">
          {run.dataset.name} v{run.dataset.version} · {run.app} · {fmtTime(run.started_at)}
        </div>
      )}
    </div>
  );
}
