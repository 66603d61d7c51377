import { useState } from 'preact/hooks';
import { withQuery } from '../api.ts';
import { fmtInt, fmtMs, fmtTime, fmtUsd } from '../format.ts';
import { ThumbIcon } from '../icons.tsx';
import { href, navigate } from '../router.ts';
import type { TraceList } from '../types.ts';
import { Empty, ErrorBox, Loading, PageTitle, StatusBadge, useApi } from '../ui.tsx';

/**
 * Traces, newest first, one page at a time (the server pages with a cursor, so ten thousand
 * traces cost the browser no more than fifty). Filters live in the URL, so a view can be shared.
 */

const PAGE_SIZE = 50;

const FILTERS = [
  'request_id',
  'app',
  'status',
  'user',
  'key_id',
  'min_latency_ms',
  'feedback',
  'guard',
  'since',
] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

const SINCE: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

function filtersOf(q: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

export function Traces({ query }: { query: URLSearchParams }) {
  const filters = filtersOf(query);
  const cursor = query.get('cursor') ?? '';
  // Cursors of the pages before this one, for "Newer"; kept in the URL so Back works too.
  const prev = query.get('prev')?.split(',').filter(Boolean) ?? [];
  const since = filters.since ? SINCE[filters.since] : undefined;
  const path = withQuery('/v1/traces', {
    limit: PAGE_SIZE,
    cursor,
    request_id: filters.request_id,
    app: filters.app,
    status: filters.status,
    user: filters.user,
    key_id: filters.key_id,
    min_latency_ms: filters.min_latency_ms,
    feedback: filters.feedback,
    guard_findings: filters.guard === 'flagged' ? 'true' : undefined,
    // Whole minutes: the path (and so the request) stays the same from one render to the next.
    from: since ? new Date(Math.floor(Date.now() / 60_000) * 60_000 - since).toISOString() : undefined,
  });
  const list = useApi<TraceList>(path);
  const rows = list.data?.data ?? [];

  return (
    <>
      <PageTitle
        actions={
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        }
      >
        Traces
      </PageTitle>
      <FilterForm key={JSON.stringify(filters)} initial={filters} />
      {list.error && <ErrorBox error={list.error} what="traces" />}
      {!list.data && list.loading && <Loading what="traces" />}
      {list.data && rows.length === 0 && (
        <Empty>No traces match. Send a request through Keel, or clear the filters.</Empty>
      )}
      {rows.length > 0 && (
        <div class="table-wrap" aria-busy={list.loading}>
          <table class="data traces">
            <caption class="sr-only">Traces, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Status</th>
                <th scope="col">App / model</th>
                <th scope="col">User</th>
                <th scope="col" class="num">
                  Latency
                </th>
                <th scope="col" class="num">
                  TTFT
                </th>
                <th scope="col" class="num">
                  Tokens
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
                <th scope="col">Feedback</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.id} data-trace-id={t.id}>
                  <td>
                    <a href={href(`/traces/${encodeURIComponent(t.id)}`)}>{fmtTime(t.ts)}</a>
                  </td>
                  <td>
                    <StatusBadge status={t.status} />
                    {t.error_code && <span class="muted small"> {t.error_code}</span>}
                  </td>
                  <td>
                    {t.app ?? '—'}
                    {t.model && t.model !== t.app && <div class="muted small">{t.model}</div>}
                  </td>
                  <td>{t.user || '—'}</td>
                  <td class="num">{fmtMs(t.latency_ms)}</td>
                  <td class="num">{fmtMs(t.ttft_ms)}</td>
                  <td class="num">{fmtInt((t.prompt_tokens ?? 0) + (t.completion_tokens ?? 0))}</td>
                  <td class="num">{fmtUsd(t.cost_usd)}</td>
                  <td>
                    <FeedbackMark rating={t.feedback?.rating} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Trace pages">
        <button
          type="button"
          disabled={prev.length === 0 && !cursor}
          onClick={() =>
            navigate('/traces', { ...filters, cursor: prev.at(-1), prev: prev.slice(0, -1).join(',') })
          }
        >
          ← Newer
        </button>
        <span class="muted">
          Page {prev.length + (cursor ? 2 : 1)} · {rows.length} shown
        </span>
        <button
          type="button"
          disabled={!list.data?.next_cursor}
          onClick={() =>
            navigate('/traces', {
              ...filters,
              cursor: list.data?.next_cursor ?? '',
              prev: [...prev, cursor].join(','),
            })
          }
        >
          Older →
        </button>
      </nav>
    </>
  );
}

export function FeedbackMark({ rating }: { rating: 'up' | 'down' | undefined }) {
  if (rating === undefined) return <span class="muted">—</span>;
  return (
    <span class={`fb ${rating}`} title={rating === 'up' ? 'Thumbs up' : 'Thumbs down'}>
      <ThumbIcon down={rating === 'down'} />
      <span class="sr-only"> thumbs {rating}</span>
    </span>
  );
}

function FilterForm({ initial }: { initial: Filters }) {
  const [f, setF] = useState<Filters>(initial);
  const set = (k: keyof Filters) => (e: Event) =>
    setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <form
      class="filters"
      aria-label="Filter traces"
      onSubmit={(e) => {
        e.preventDefault();
        navigate('/traces', f);
      }}
    >
      <label>
        Request id
        <input value={f.request_id ?? ''} onInput={set('request_id')} placeholder="x-request-id" />
      </label>
      <label>
        App
        <input value={f.app ?? ''} onInput={set('app')} placeholder="any" />
      </label>
      <label>
        Status
        <select value={f.status ?? ''} onChange={set('status')}>
          <option value="">any</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
          <option value="aborted">aborted</option>
        </select>
      </label>
      <label>
        User
        <input value={f.user ?? ''} onInput={set('user')} placeholder="any" />
      </label>
      <label>
        Key id
        <input value={f.key_id ?? ''} onInput={set('key_id')} placeholder="any" />
      </label>
      <label>
        Slower than (ms)
        <input
          type="number"
          min="0"
          inputMode="numeric"
          value={f.min_latency_ms ?? ''}
          onInput={set('min_latency_ms')}
        />
      </label>
      <label>
        Feedback
        <select value={f.feedback ?? ''} onChange={set('feedback')}>
          <option value="">any</option>
          <option value="down">thumbs down</option>
          <option value="up">thumbs up</option>
        </select>
      </label>
      <label>
        Guard
        <select value={f.guard ?? ''} onChange={set('guard')}>
          <option value="">any</option>
          <option value="flagged">with findings</option>
        </select>
      </label>
      <label>
        Since
        <select value={f.since ?? ''} onChange={set('since')}>
          <option value="">all time</option>
          <option value="1h">last hour</option>
          <option value="24h">24 hours</option>
          <option value="7d">7 days</option>
        </select>
      </label>
      <div class="filter-actions">
        <button type="submit" class="primary">
          Apply
        </button>
        <button type="button" onClick={() => navigate('/traces')}>
          Clear
        </button>
      </div>
    </form>
  );
}
