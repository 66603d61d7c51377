import { withQuery } from '../api.ts';
import { Chart } from '../chart.tsx';
import { fmtInt, fmtPct, fmtUsd } from '../format.ts';
import { navigate } from '../router.ts';
import type { BudgetPolicy, UsageReport } from '../types.ts';
import { Empty, ErrorBox, Loading, PageTitle, Stat, useApi } from '../ui.tsx';

/** Spend and tokens from the usage ledger by app/key/user/model, per day, and budgets against limits. */

const GROUPS = [
  { id: 'app', label: 'App' },
  { id: 'key', label: 'Key' },
  { id: 'user', label: 'User' },
  { id: 'model', label: 'Model' },
  { id: 'provider', label: 'Provider' },
  { id: 'tenant', label: 'Tenant' },
] as const;

const RANGES = [
  { id: '1d', label: 'Today', days: 1 },
  { id: '7d', label: '7 days', days: 7 },
  { id: '30d', label: '30 days', days: 30 },
] as const;

export function Usage({ query }: { query: URLSearchParams }) {
  const group = GROUPS.find((g) => g.id === query.get('group_by')) ?? GROUPS[0];
  const range = RANGES.find((r) => r.id === query.get('range')) ?? RANGES[1];
  // Whole UTC days (the server's default `to` is the end of today), so every view covers the same span.
  const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  const from = new Date(today - (range.days - 1) * 86_400_000).toISOString().slice(0, 10);
  const byGroup = useApi<UsageReport>(withQuery('/v1/usage', { group_by: group.id, from }));
  const byDay = useApi<UsageReport>(withQuery('/v1/usage', { group_by: 'day', from }));
  const u = byGroup.data;
  const days = fillDays(byDay.data, from, range.days);

  const go = (p: { group_by?: string; range?: string }) =>
    navigate('/usage', { group_by: p.group_by ?? group.id, range: p.range ?? range.id });

  return (
    <>
      <PageTitle
        actions={
          <>
            <label class="inline">
              Range{' '}
              <select
                value={range.id}
                onChange={(e) => go({ range: (e.currentTarget as HTMLSelectElement).value })}
              >
                {RANGES.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.label}
                  </option>
                ))}
              </select>
            </label>
            <label class="inline">
              Group by{' '}
              <select
                value={group.id}
                onChange={(e) => go({ group_by: (e.currentTarget as HTMLSelectElement).value })}
              >
                {GROUPS.map((g) => (
                  <option key={g.id} value={g.id}>
                    {g.label}
                  </option>
                ))}
              </select>
            </label>
          </>
        }
      >
        Usage & budgets
      </PageTitle>
      {byGroup.error && <ErrorBox error={byGroup.error} what="usage" />}
      {byGroup.loading && !u && <Loading what="usage" />}
      {u && (
        <div aria-busy={byGroup.loading}>
          <dl class="stats">
            <Stat label="Requests" value={fmtInt(u.totals.requests)} />
            <Stat label="Prompt tokens" value={fmtInt(u.totals.prompt_tokens)} />
            <Stat label="Completion tokens" value={fmtInt(u.totals.completion_tokens)} />
            <Stat label="Cost" value={fmtUsd(u.totals.cost_usd)} />
          </dl>
          <div class="charts">
            <Chart
              id="usage-cost"
              title="Cost per day"
              daily
              minTop={0.01}
              x={days.x}
              series={[{ label: 'cost', color: '#7c3aed', values: days.cost, kind: 'bars' }]}
              format={fmtUsd}
              summary={`${fmtUsd(u.totals.cost_usd)} over ${range.label.toLowerCase()} (UTC days).`}
            />
            <Chart
              id="usage-tokens"
              title="Tokens per day"
              daily
              grouped
              x={days.x}
              series={[
                { label: 'prompt', color: '#2563eb', values: days.prompt, kind: 'bars' },
                { label: 'completion', color: '#0e7490', values: days.completion, kind: 'bars' },
              ]}
              integer
              format={(v) => fmtInt(v)}
              summary={`${fmtInt(u.totals.prompt_tokens)} prompt and ${fmtInt(u.totals.completion_tokens)} completion tokens.`}
            />
          </div>
          <section class="panel wide spaced" aria-labelledby="groups-h">
            <h2 id="groups-h">By {group.label.toLowerCase()}</h2>
            {u.data.length === 0 ? (
              <Empty>No usage in this range.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="data">
                  <thead>
                    <tr>
                      <th scope="col">{group.label}</th>
                      <th scope="col" class="num">
                        Requests
                      </th>
                      <th scope="col" class="num">
                        Prompt tokens
                      </th>
                      <th scope="col" class="num">
                        Completion tokens
                      </th>
                      <th scope="col" class="num">
                        Cost
                      </th>
                      <th scope="col" class="num">
                        Share of cost
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {u.data.map((g) => {
                      const name = g[group.id];
                      return (
                        <tr key={`${g.tenant_id ?? ''}/${name ?? ''}`}>
                          <th scope="row">
                            {name === null || name === '' ? <span class="muted">(none)</span> : name}
                          </th>
                          <td class="num">{fmtInt(g.requests)}</td>
                          <td class="num">{fmtInt(g.prompt_tokens)}</td>
                          <td class="num">{fmtInt(g.completion_tokens)}</td>
                          <td class="num">{fmtUsd(g.cost_usd)}</td>
                          <td class="num">
                            {u.totals.cost_usd > 0 ? fmtPct(g.cost_usd / u.totals.cost_usd, 0) : '—'}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </div>
      )}
      <Budgets />
    </>
  );
}

/** One point per UTC day of the range, zero-usage days included. */
function fillDays(r: UsageReport | undefined, from: string, n: number) {
  const byDay = new Map((r?.data ?? []).map((d) => [String(d.day), d]));
  const start = Date.parse(`${from}T00:00:00Z`);
  const x: number[] = [];
  const cost: (number | null)[] = [];
  const prompt: (number | null)[] = [];
  const completion: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    const t = start + i * 86_400_000;
    const d = byDay.get(new Date(t).toISOString().slice(0, 10));
    x.push(t / 1000);
    cost.push(d ? d.cost_usd : null);
    prompt.push(d?.prompt_tokens || null);
    completion.push(d?.completion_tokens || null);
  }
  return { x, cost, prompt, completion };
}

function Budgets() {
  const b = useApi<{ data: BudgetPolicy[] }>('/v1/admin/budgets');
  const rows = (b.data?.data ?? []).flatMap((p) => p.effective.budgets.map((s) => ({ p, s })));
  return (
    <section class="panel wide spaced" aria-labelledby="budgets-h">
      <h2 id="budgets-h">Budgets</h2>
      {b.error && b.error.status === 404 ? (
        <p class="muted">Budgets are not enabled on this Keel.</p>
      ) : b.error ? (
        <ErrorBox error={b.error} what="budgets" />
      ) : b.loading && !b.data ? (
        <Loading what="budgets" />
      ) : rows.length === 0 ? (
        <p class="muted">
          No budgets set. Set them in <code>keel.yaml</code> or with <code>PUT /v1/admin/budgets/…</code>.
        </p>
      ) : (
        <ul class="budgets">
          {rows.map(({ p, s }) => {
            const used = s.spent_usd + s.reserved_usd;
            const share = s.limit_usd > 0 ? used / s.limit_usd : 0;
            const level = share >= 1 ? 'bad' : share >= 0.8 ? 'warn' : 'ok';
            const name = `${p.scope} ${p.subject}`;
            return (
              <li key={`${p.scope}/${p.subject}/${s.window}`}>
                <div class="budget-head">
                  <strong>{name}</strong>
                  <span class="muted">
                    per {s.window} · {s.mode}
                  </span>
                  <span class="budget-num">
                    {fmtUsd(used)} of {fmtUsd(s.limit_usd)} ({fmtPct(share, 0)})
                  </span>
                </div>
                <progress
                  class={`budget ${level}`}
                  max={1}
                  value={Math.min(1, share)}
                  aria-label={`${name} budget per ${s.window}: ${fmtPct(share, 0)} used`}
                />
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
