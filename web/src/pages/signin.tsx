import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, session } from '../api.ts';

/**
 * Admin-key sign-in. The key is checked against an admin-only endpoint before it is kept, so a
 * mistyped, revoked or non-admin key gets a clear message here instead of failing on every page.
 */
export function SignIn({ onSignedIn, notice }: { onSignedIn: () => void; notice?: string | undefined }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  async function submit(e: Event) {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Enter an admin API key.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await api('/v1/admin/keys', { key: k });
      session.signIn(k);
      onSignedIn();
    } catch (err) {
      const e2 = err instanceof ApiError ? err : undefined;
      if (e2?.status === 401) setError(`Keel did not accept this key: ${e2.message}`);
      else if (e2?.status === 403)
        setError('This key is valid but is not an admin key. Sign in with an admin key.');
      else setError(e2?.message ?? String(err));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin" id="main-content">
      <form class="card" onSubmit={submit} aria-describedby="signin-help" noValidate>
        <h1>Keel dashboard</h1>
        <p id="signin-help" class="muted">
          Sign in with an admin API key (<code>keel keys create --role admin</code>, or the key{' '}
          <code>keel serve</code> printed at first start). It stays in this tab only.
        </p>
        {notice && !error && (
          <div class="alert" role="status">
            {notice}
          </div>
        )}
        <label for="admin-key">Admin API key</label>
        <input
          ref={input}
          id="admin-key"
          name="admin-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
          onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
        />
        {error && (
          <div id="signin-error" class="alert error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
