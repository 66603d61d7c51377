/**
 * The dashboard's only way to Keel: same-origin `fetch` with the admin key as a Bearer token.
 * The key lives in sessionStorage (gone when the tab closes) and never in a URL or a log.
 */

const STORAGE_KEY = 'keel.adminKey';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = (reason: string | undefined) => void;
const signOutListeners = new Set<Listener>();

export const session = {
  key(): string | null {
    try {
      return sessionStorage.getItem(STORAGE_KEY);
    } catch {
      return null;
    }
  },
  signIn(key: string): void {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  /** `reason` is shown on the sign-in page (absent when the user signed out themselves). */
  signOut(reason?: string): void {
    sessionStorage.removeItem(STORAGE_KEY);
    for (const l of signOutListeners) l(reason);
  },
  /** Called when the key stops working (revoked while signed in) or the user signs out. */
  onSignOut(l: Listener): () => void {
    signOutListeners.add(l);
    return () => signOutListeners.delete(l);
  },
};

function headers(key: string | null, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (key) h.authorization = `Bearer ${key}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

/** Turns an OpenAI-shaped error body (or anything else) into an ApiError. */
async function toError(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code = 'http_error';
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = body.error.message;
    if (body.error?.code) code = body.error.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message, res.status, code);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Use this key instead of the session's (sign-in checks a key before storing it). */
  key?: string;
}

/** JSON request to Keel. A 401 on the session's key signs out (the key was revoked or rotated). */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const key = opts.key ?? session.key();
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? 'GET',
      headers: headers(key, opts.body !== undefined),
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError('Keel could not be reached. Is the server running?', 0, 'network_error');
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && opts.key === undefined && key) {
      session.signOut('Keel no longer accepts this key (revoked or rotated?). Sign in again.');
    }
    throw err;
  }
  return (await res.json()) as T;
}

/** Builds `path?a=1&b=2`, leaving out empty values. */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** One parsed SSE `data:` payload of a streamed chat completion. */
export interface ChatChunk {
  id?: string;
  model?: string;
  choices?: { index: number; delta?: { content?: string | null }; finish_reason?: string | null }[];
  citations?: Citation[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  error?: { message?: string; code?: string };
}

export interface Citation {
  index: number;
  document: string;
  document_id: string;
  uri?: string | null;
  chunk_id: string;
  score: number;
}

/** POSTs a streaming chat completion and yields each event's JSON until `[DONE]`. */
export async function* streamChat(body: unknown, signal: AbortSignal): AsyncGenerator<ChatChunk> {
  let res: Response;
  try {
    res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { ...headers(session.key(), true), accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError('Keel could not be reached. Is the server running?', 0, 'network_error');
  }
  if (!res.ok || !res.body) throw await toError(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data) as ChatChunk;
        if (chunk.error)
          throw new ApiError(chunk.error.message ?? 'stream failed', 200, chunk.error.code ?? 'error');
        yield chunk;
      }
    }
  }
}
