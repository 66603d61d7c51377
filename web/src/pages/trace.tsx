import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { fmtInt, fmtMs, fmtTime, fmtUsd } from '../format.ts';
import { href } from '../router.ts';
import type { Span, SpanEvent, Trace } from '../types.ts';
import { ErrorBox, Loading, PageTitle, StatusBadge, useApi } from '../ui.tsx';
import { FeedbackMark } from './traces.tsx';

/** One request: summary, span waterfall, retrieved chunks, guard findings and its feedback. */
export function TraceView({ id }: { id: string }) {
  const t = useApi<Trace>(`/v1/traces/${encodeURIComponent(id)}`);
  return (
    <>
      <p class="crumbs">
        <a href={href('/traces')}>← Traces</a>
      </p>
      <PageTitle>
        Trace <code class="trace-id">{id}</code>
      </PageTitle>
      {t.error && <ErrorBox error={t.error} what="this trace" />}
      {!t.data && t.loading && <Loading what="the trace" />}
      {t.data && <TraceBody trace={t.data} />}
    </>
  );
}

/** A span event with the span it belongs to. */
interface Located {
  span: string;
  event: SpanEvent;
}

function eventsNamed(t: Trace, name: string): Located[] {
  const out: Located[] = [];
  for (const s of t.spans)
    for (const e of s.events ?? []) if (e.name === name) out.push({ span: s.name, event: e });
  return out;
}

function TraceBody({ trace }: { trace: Trace }) {
  // Retrieval's chunks; guard spans also note chunks they flagged, without a rank.
  const chunks = eventsNamed(trace, 'chunk').filter((c) => c.event.attributes.rank !== undefined);
  const findings = eventsNamed(trace, 'finding');
  const fb = trace.feedback;
  const attrs = Object.entries(trace.attributes ?? {});
  return (
    <div class="trace">
      <section aria-labelledby="summary-h" class="panel">
        <h2 id="summary-h">Summary</h2>
        <dl class="kv">
          <dt>Time</dt>
          <dd>{fmtTime(trace.ts)}</dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={trace.status} /> {trace.http_status ?? ''} {trace.error_code ?? ''}
          </dd>
          <dt>App</dt>
          <dd>{trace.app ?? '—'}</dd>
          <dt>Model</dt>
          <dd>{trace.model ?? '—'}</dd>
          <dt>User</dt>
          <dd>{trace.user || '—'}</dd>
          <dt>Key</dt>
          <dd>{trace.key_id ? <code>{trace.key_id}</code> : '—'}</dd>
          <dt>Latency</dt>
          <dd>{fmtMs(trace.latency_ms)}</dd>
          <dt>Time to first token</dt>
          <dd>{fmtMs(trace.ttft_ms)}</dd>
          <dt>Tokens</dt>
          <dd>
            {fmtInt(trace.prompt_tokens)} in · {fmtInt(trace.completion_tokens)} out
          </dd>
          <dt>Cost</dt>
          <dd>{fmtUsd(trace.cost_usd)}</dd>
          <dt>Streamed</dt>
          <dd>{trace.stream ? 'yes' : 'no'}</dd>
        </dl>
      </section>

      <div class="side">
        <section aria-labelledby="feedback-h" class="panel" data-section="feedback">
          <h2 id="feedback-h">Feedback</h2>
          {fb ? (
            <p class="feedback-line">
              <FeedbackMark rating={fb.rating} />
              <strong>{fb.rating === 'up' ? 'Thumbs up' : 'Thumbs down'}</strong>
              <span class="muted small">{fmtTime(fb.created_at)}</span>
            </p>
          ) : (
            <p class="muted">No feedback on this response.</p>
          )}
          {fb?.comment && <blockquote class="comment-quote">{fb.comment}</blockquote>}
        </section>
        <Promote traceId={trace.id} suggested={fb?.rating === 'down' ? 'thumbs-down' : 'production'} />
        {attrs.length > 0 && (
          <section aria-labelledby="attrs-h" class="panel">
            <h2 id="attrs-h">Attributes</h2>
            <Attrs entries={attrs} />
          </section>
        )}
      </div>

      <section aria-labelledby="spans-h" class="panel wide">
        <h2 id="spans-h">Spans</h2>
        <Waterfall spans={trace.spans} total={trace.latency_ms} />
      </section>

      <section aria-labelledby="chunks-h" class="panel wide">
        <h2 id="chunks-h">Retrieved chunks</h2>
        {chunks.length === 0 ? (
          <p class="muted">No retrieval in this request.</p>
        ) : (
          <Chunks chunks={chunks} />
        )}
      </section>

      <section aria-labelledby="guard-h" class="panel wide">
        <h2 id="guard-h">Guard findings</h2>
        {findings.length === 0 ? <p class="muted">No guard findings.</p> : <Findings findings={findings} />}
      </section>
    </div>
  );
}

function Attrs({ entries }: { entries: [string, string | number | boolean | null][] }) {
  return (
    <dl class="kv small">
      {entries.map(([k, v]) => (
        <Fragment key={k}>
          <dt>{k}</dt>
          <dd>{v === null ? '—' : String(v)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

function Waterfall({ spans, total }: { spans: Span[]; total: number }) {
  if (spans.length === 0) return <p class="muted">This trace has no spans.</p>;
  const end = Math.max(total, ...spans.map((s) => s.start_ms + s.duration_ms), 0.001);
  return (
    <>
      <div class="waterfall-scale" aria-hidden="true">
        <span />
        <div class="ticks">
          <span>0</span>
          <span>{fmtMs(end / 2)}</span>
          <span>{fmtMs(end)}</span>
        </div>
        <span />
      </div>
      <ol class="waterfall">
        {spans.map((s, i) => {
          const left = Math.min(99.6, (Math.max(0, s.start_ms) / end) * 100);
          const width = Math.min(100 - left, Math.max(0.4, (s.duration_ms / end) * 100));
          const attrs = Object.entries(s.attributes ?? {});
          const events = s.events ?? [];
          return (
            <li key={`${s.name}-${i}`} class={`span span-${s.name.replace(/[^a-z_]/g, '')}`}>
              {attrs.length > 0 || events.length > 0 ? (
                <details>
                  <summary class="span-row">
                    <SpanRow span={s} left={left} width={width} events={events.length} />
                  </summary>
                  <Attrs entries={attrs} />
                  {events.length > 0 && (
                    <ul class="events small">
                      {events.map((e, k) => (
                        <li key={`${e.name}-${k}`}>
                          <strong>{e.name}</strong>{' '}
                          {Object.entries(e.attributes)
                            .map(([ak, av]) => `${ak}=${av}`)
                            .join(' · ')}
                        </li>
                      ))}
                    </ul>
                  )}
                </details>
              ) : (
                <div class="span-row">
                  <SpanRow span={s} left={left} width={width} events={0} />
                </div>
              )}
            </li>
          );
        })}
      </ol>
    </>
  );
}

function SpanRow({
  span: s,
  left,
  width,
  events,
}: {
  span: Span;
  left: number;
  width: number;
  events: number;
}) {
  return (
    <>
      <span class="span-name">
        <span class="span-label">{s.name}</span>
        {events > 0 && <span class="muted small"> ({events})</span>}
      </span>
      <span class="span-track" aria-hidden="true">
        <span class="span-bar" style={{ left: `${left}%`, width: `${width}%` }} />
      </span>
      <span class="span-time">
        <span class="sr-only">starts at {fmtMs(s.start_ms)}, takes </span>
        {fmtMs(s.duration_ms)}
      </span>
    </>
  );
}

function num(v: unknown, digits: number): string {
  return typeof v === 'number' ? v.toFixed(digits) : '—';
}

function Chunks({ chunks }: { chunks: Located[] }) {
  return (
    <div class="table-wrap">
      <table class="data">
        <thead>
          <tr>
            <th scope="col" class="num">
              Rank
            </th>
            <th scope="col">Document</th>
            <th scope="col">Collection</th>
            <th scope="col">Chunk</th>
            <th scope="col" class="num">
              Score
            </th>
            <th scope="col" class="num">
              Full-text rank
            </th>
            <th scope="col" class="num">
              Vector rank
            </th>
          </tr>
        </thead>
        <tbody>
          {chunks.map(({ event: { attributes: a } }, i) => (
            <tr key={`${a.chunk_id}-${i}`}>
              <td class="num">{a.rank ?? i + 1}</td>
              <td>{a.document_id ?? '—'}</td>
              <td>{a.collection ?? '—'}</td>
              <td>
                <code>{a.chunk_id}</code>
              </td>
              <td class="num">{num(a.score, 4)}</td>
              <td class="num">{a.fts_rank ?? '—'}</td>
              <td class="num">{a.vector_rank ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Findings({ findings }: { findings: Located[] }) {
  return (
    <div class="table-wrap">
      <table class="data">
        <thead>
          <tr>
            <th scope="col">Stage</th>
            <th scope="col">Type</th>
            <th scope="col">Action</th>
            <th scope="col">Scanner</th>
            <th scope="col">Reason</th>
            <th scope="col" class="num">
              Offsets
            </th>
            <th scope="col" class="num">
              Score
            </th>
          </tr>
        </thead>
        <tbody>
          {findings.map(({ span, event: { attributes: a } }, i) => (
            <tr key={`${span}-${a.type}-${a.start}-${i}`}>
              <td>{span}</td>
              <td>
                <strong>{a.type ?? '—'}</strong>
              </td>
              <td>
                {a.action ? (
                  <span class={`badge ${a.action === 'block' ? 'bad' : 'warn'}`}>{a.action}</span>
                ) : (
                  '—'
                )}
              </td>
              <td>{a.scanner ?? '—'}</td>
              <td>{a.reason ?? '—'}</td>
              <td class="num">
                {a.start ?? '?'}–{a.end ?? '?'}
              </td>
              <td class="num">{num(a.score, 2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface PromoteResult {
  dataset: { name: string; version: number };
  added: number;
  skipped: { trace_id: string; reason: string }[];
}

/** Copies this request's (redacted) input into an eval dataset as a new case, for regression runs. */
function Promote({ traceId, suggested }: { traceId: string; suggested: string }) {
  const [name, setName] = useState(suggested);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | undefined>();
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setMsg(undefined);
    try {
      const r = await api<PromoteResult>(`/v1/eval/datasets/${encodeURIComponent(name.trim())}/cases`, {
        method: 'POST',
        body: { trace_ids: [traceId] },
      });
      setMsg({
        ok: true,
        text:
          r.added > 0
            ? `Added to dataset ${r.dataset.name} (now version ${r.dataset.version}).`
            : `Already in dataset ${r.dataset.name} v${r.dataset.version}.`,
      });
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="promote-h" class="panel">
      <h2 id="promote-h">Add to an eval dataset</h2>
      <form class="promote" onSubmit={submit}>
        <label>
          Dataset name
          <input
            value={name}
            required
            pattern="[\w.\-]{1,100}"
            onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={busy || !name.trim()}>
          {busy ? 'Adding…' : 'Add case'}
        </button>
      </form>
      {msg && (
        <p class={`alert ${msg.ok ? 'ok' : 'error'}`} role={msg.ok ? 'status' : 'alert'}>
          {msg.text}
        </p>
      )}
    </section>
  );
}
