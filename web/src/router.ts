import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routing (`#/traces?app=x`): the gateway serves one `index.html` at `/` and never needs a
 * catch-all route that could shadow the API.
 */

export interface Route {
  /** `/traces/req_123`, without the query. */
  path: string;
  query: URLSearchParams;
}

function current(): Route {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  return {
    path: q >= 0 ? raw.slice(0, q) : raw,
    query: new URLSearchParams(q >= 0 ? raw.slice(q + 1) : ''),
  };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = () => setRoute(current());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** `href` for a dashboard page, with a query built from the non-empty params. */
export function href(path: string, params: Record<string, string | number | undefined | null> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function navigate(
  path: string,
  params: Record<string, string | number | undefined | null> = {},
): void {
  location.hash = href(path, params);
}
