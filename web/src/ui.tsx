import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api } from './api.ts';

/** Small shared pieces: data loading, error and empty states, stat cards. */

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * GETs `path` (or POSTs `body` to it) whenever either changes (null: nothing to load). A newer
 * request aborts the older one, so a fast filter change never shows a stale answer.
 */
export function useApi<T>(path: string | null, body?: unknown): Loaded<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    if (path === null) {
      setState({ loading: false });
      return;
    }
    const ctl = new AbortController();
    setState((s) => ({ data: s.data, loading: true }));
    const send = payload === undefined ? {} : { method: 'POST', body: JSON.parse(payload) as unknown };
    api<T>(path, { ...send, signal: ctl.signal }).then(
      (data) => setState({ data, loading: false }),
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setState({ loading: false, error: e instanceof ApiError ? e : new ApiError(String(e), 0, 'error') });
      },
    );
    return () => ctl.abort();
  }, [path, payload, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function ErrorBox({ error, what }: { error: ApiError; what: string }) {
  const hint =
    error.status === 404 && error.code === 'not_found'
      ? ' This Keel may not have this API yet.'
      : error.status === 403
        ? ' The signed-in key is not allowed to see this.'
        : '';
  return (
    <div class="alert error" role="alert">
      <strong>Could not load {what}.</strong> {error.message}
      {hint}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Stat({ label, value, hint }: { label: string; value: string; hint?: string | undefined }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>
        <span class="stat-value">{value}</span>
        {hint && <span class="stat-hint">{hint}</span>}
      </dd>
    </div>
  );
}

/** Moves focus to the page heading on navigation, so keyboard and screen-reader users land on it. */
export function PageTitle({
  children,
  actions,
}: {
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <div class="page-head">
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const cls =
    status === 'ok' || status === 'completed'
      ? 'ok'
      : status === 'error' || status === 'failed'
        ? 'bad'
        : 'warn';
  return <span class={`badge ${cls}`}>{status}</span>;
}
