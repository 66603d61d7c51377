import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, type Citation, streamChat } from '../api.ts';
import { fmtMs } from '../format.ts';
import { ThumbIcon } from '../icons.tsx';
import { href } from '../router.ts';
import type { ModelEntry } from '../types.ts';
import { ErrorBox, Loading, PageTitle, useApi } from '../ui.tsx';

/**
 * Chat against any app or model the key may use, streamed as a client would see it, with the
 * app's citations and thumbs up/down recorded as feedback on the response (and so on its trace).
 */

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  /** Assistant turns: the completion id (`chatcmpl-…`), feedback target. */
  id?: string;
  citations?: Citation[];
  streaming?: boolean;
  error?: string;
  ttftMs?: number;
  totalMs?: number;
  rating?: 'up' | 'down';
  feedbackError?: string;
  commentSaved?: boolean;
}

/** The completion id is `chatcmpl-<trace id>`. */
export function traceIdOf(completionId: string): string {
  return completionId.replace(/^chatcmpl-/, '');
}

export function Playground() {
  const models = useApi<{ data: ModelEntry[] }>('/v1/models');
  const [model, setModel] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState(false);
  const [announce, setAnnounce] = useState('');
  const abort = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);

  const list = models.data?.data ?? [];
  const apps = list.filter((m) => m.keel?.kind === 'app');
  const others = list.filter((m) => m.keel?.kind !== 'app');
  const firstChoice = (apps[0] ?? list[0])?.id ?? '';
  useEffect(() => {
    if (!model && firstChoice) setModel(firstChoice);
  }, [firstChoice, model]);
  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [turns]);

  const update = (i: number, patch: Partial<Turn>) =>
    setTurns((ts) => ts.map((t, j) => (j === i ? { ...t, ...patch } : t)));

  async function send(e?: Event) {
    e?.preventDefault();
    const text = draft.trim();
    if (!text || busy || !model) return;
    const history = [
      ...turns.filter((t) => !t.error && !t.streaming),
      { role: 'user' as const, content: text },
    ];
    const at = history.length;
    setTurns([...history, { role: 'assistant', content: '', streaming: true }]);
    setDraft('');
    setBusy(true);
    setAnnounce('');
    const ctl = new AbortController();
    abort.current = ctl;
    const t0 = performance.now();
    let content = '';
    let id: string | undefined;
    let citations: Citation[] | undefined;
    let ttftMs: number | undefined;
    try {
      const body = {
        model,
        stream: true,
        messages: history.map((t) => ({ role: t.role, content: t.content })),
      };
      for await (const chunk of streamChat(body, ctl.signal)) {
        id ??= chunk.id;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          ttftMs ??= performance.now() - t0;
          content += delta;
          update(at, { content, id });
        }
        if (chunk.citations) citations = chunk.citations;
      }
      update(at, { content, id, citations, streaming: false, ttftMs, totalMs: performance.now() - t0 });
      setAnnounce(`Answer complete${citations?.length ? ` with ${citations.length} citations` : ''}.`);
    } catch (err) {
      const aborted = err instanceof DOMException && err.name === 'AbortError';
      const msg = aborted ? 'Stopped.' : err instanceof ApiError ? err.message : String(err);
      update(at, { content, id, streaming: false, error: msg });
      setAnnounce(aborted ? 'Stopped.' : `Error: ${msg}`);
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  async function rate(i: number, rating: 'up' | 'down', comment?: string) {
    const t = turns[i];
    if (!t?.id) return;
    try {
      await api('/v1/feedback', {
        method: 'POST',
        body: comment === undefined ? { response_id: t.id, rating } : { response_id: t.id, rating, comment },
      });
      update(i, { rating, feedbackError: undefined, commentSaved: comment !== undefined });
      setAnnounce(comment === undefined ? `Recorded thumbs ${rating}.` : 'Comment saved.');
    } catch (err) {
      update(i, { feedbackError: err instanceof ApiError ? err.message : String(err) });
    }
  }

  return (
    <>
      <PageTitle
        actions={
          <button type="button" onClick={() => setTurns([])} disabled={busy || turns.length === 0}>
            New conversation
          </button>
        }
      >
        Playground
      </PageTitle>
      {models.error && <ErrorBox error={models.error} what="the apps" />}
      {models.loading && !models.data && <Loading what="apps" />}
      <div class="playground">
        <label class="inline">
          App or model{' '}
          <select
            value={model}
            onChange={(e) => setModel((e.currentTarget as HTMLSelectElement).value)}
            disabled={busy}
          >
            {apps.length > 0 && (
              <optgroup label="Apps">
                {apps.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.id}
                  </option>
                ))}
              </optgroup>
            )}
            {others.length > 0 && (
              <optgroup label="Models">
                {others.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.id}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </label>
        <div class="chat-log" ref={log} role="log" aria-label="Conversation">
          {turns.length === 0 && <p class="muted">Ask something to see a streamed, cited answer.</p>}
          {turns.map((t, i) =>
            t.role === 'user' ? (
              <div key={i} class="msg user">
                <div class="who">You</div>
                <div class="body">{t.content}</div>
              </div>
            ) : (
              <Answer key={i} turn={t} onRate={(r, c) => rate(i, r, c)} />
            ),
          )}
        </div>
        <div class="sr-only" role="status" aria-live="polite">
          {announce}
        </div>
        <form class="composer" onSubmit={send}>
          <label for="prompt">Your message</label>
          <textarea
            id="prompt"
            rows={3}
            value={draft}
            placeholder="Ask a question (Enter to send, Shift+Enter for a new line)"
            onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
            }}
          />
          <div class="composer-actions">
            {busy ? (
              <button type="button" onClick={() => abort.current?.abort()}>
                Stop
              </button>
            ) : (
              <button type="submit" class="primary" disabled={!draft.trim() || !model}>
                Send
              </button>
            )}
          </div>
        </form>
      </div>
    </>
  );
}

function Answer({ turn, onRate }: { turn: Turn; onRate: (r: 'up' | 'down', comment?: string) => void }) {
  const [comment, setComment] = useState('');
  return (
    <article class="msg assistant" aria-busy={turn.streaming} data-completion-id={turn.id}>
      <div class="who">Keel</div>
      <div class="body">
        {turn.content ? (
          <AnswerText text={turn.content} />
        ) : turn.streaming ? (
          <span class="muted">Thinking…</span>
        ) : null}
        {turn.streaming && <span class="caret" aria-hidden="true" />}
      </div>
      {turn.error && (
        <div class="alert error" role="alert">
          {turn.error}
        </div>
      )}
      {turn.citations && turn.citations.length > 0 && (
        <section class="citations" aria-label="Sources">
          <h3>Sources</h3>
          <ol>
            {turn.citations.map((c) => (
              <li key={`${c.index}-${c.chunk_id}`} value={c.index}>
                <strong>{c.document}</strong>
                {c.uri && <span class="muted small"> · {c.uri}</span>}
                <span class="muted small"> · score {c.score.toFixed(3)}</span>
              </li>
            ))}
          </ol>
        </section>
      )}
      {!turn.streaming && turn.id && (
        <div class="answer-foot">
          <fieldset class="thumbs">
            <legend class="sr-only">Rate this answer</legend>
            <button
              type="button"
              class="thumb"
              aria-pressed={turn.rating === 'up'}
              onClick={() => onRate('up')}
              title="Good answer"
            >
              <ThumbIcon />
              <span class="sr-only">Thumbs up</span>
            </button>
            <button
              type="button"
              class="thumb"
              aria-pressed={turn.rating === 'down'}
              onClick={() => onRate('down')}
              title="Bad answer"
            >
              <ThumbIcon down />
              <span class="sr-only">Thumbs down</span>
            </button>
          </fieldset>
          {turn.rating && <span class="muted small">Feedback recorded.</span>}
          <a class="small" href={href(`/traces/${encodeURIComponent(traceIdOf(turn.id))}`)}>
            View trace
          </a>
          {turn.ttftMs !== undefined && (
            <span class="muted small">
              first token {fmtMs(turn.ttftMs)} · total {fmtMs(turn.totalMs)}
            </span>
          )}
        </div>
      )}
      {turn.feedbackError && (
        <div class="alert error" role="alert">
          Feedback was not recorded: {turn.feedbackError}
        </div>
      )}
      {turn.rating === 'down' && !turn.commentSaved && (
        <form
          class="comment"
          onSubmit={(e) => {
            e.preventDefault();
            if (comment.trim()) onRate('down', comment.trim());
          }}
        >
          <label>
            What was wrong? (optional)
            <input
              value={comment}
              maxLength={2000}
              onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" disabled={!comment.trim()}>
            Save comment
          </button>
        </form>
      )}
    </article>
  );
}

/** Renders `[n]` citation markers as superscripts; everything else is plain text (never HTML). */
function AnswerText({ text }: { text: string }) {
  const parts = text.split(/(\[\d+\])/g);
  return (
    <p class="answer">
      {parts.map((p, i) =>
        /^\[\d+\]$/.test(p) ? (
          <sup key={i} class="cite">
            {p}
          </sup>
        ) : (
          p
        ),
      )}
    </p>
  );
}
