import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { session } from './api.ts';
import { Documents } from './pages/documents.tsx';
import { EvalCompare } from './pages/eval-compare.tsx';
import { EvalRun } from './pages/eval-run.tsx';
import { Evals } from './pages/evals.tsx';
import { Overview } from './pages/overview.tsx';
import { Playground } from './pages/playground.tsx';
import { SignIn } from './pages/signin.tsx';
import { TraceView } from './pages/trace.tsx';
import { Traces } from './pages/traces.tsx';
import { Usage } from './pages/usage.tsx';
import { type Route, useRoute } from './router.ts';
import './styles.css';

const NAV = [
  { path: '/', label: 'Overview' },
  { path: '/traces', label: 'Traces' },
  { path: '/usage', label: 'Usage & budgets' },
  { path: '/documents', label: 'Documents' },
  { path: '/evals', label: 'Eval runs' },
  { path: '/playground', label: 'Playground' },
] as const;

function section(path: string): string {
  const first = `/${path.split('/')[1] ?? ''}`;
  return NAV.some((n) => n.path === first) ? first : '/';
}

function Page({ route }: { route: Route }) {
  const parts = route.path.split('/').filter(Boolean);
  const id = parts[1] ? decodeURIComponent(parts[1]) : undefined;
  switch (parts[0]) {
    case undefined:
      return <Overview query={route.query} />;
    case 'traces':
      return id ? <TraceView id={id} /> : <Traces query={route.query} />;
    case 'usage':
      return <Usage query={route.query} />;
    case 'evals':
      if (id === 'compare') return <EvalCompare query={route.query} />;
      return id ? <EvalRun id={id} /> : <Evals />;
    case 'documents':
      return <Documents query={route.query} />;
    case 'playground':
      return <Playground />;
    default:
      return (
        <div class="alert" role="alert">
          There is no page at <code>{route.path}</code>. <a href="#/">Go to the overview</a>.
        </div>
      );
  }
}

function App() {
  const [signedIn, setSignedIn] = useState(() => session.key() !== null);
  const [notice, setNotice] = useState<string | undefined>();
  const route = useRoute();
  useEffect(
    () =>
      session.onSignOut((reason) => {
        setNotice(reason);
        setSignedIn(false);
      }),
    [],
  );

  if (!signedIn) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={() => {
          setNotice(undefined);
          setSignedIn(true);
        }}
      />
    );
  }
  const active = section(route.path);
  return (
    <>
      <button type="button" class="skip" onClick={() => document.getElementById('main-content')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href="#/">
          Keel
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a href={`#${n.path}`} aria-current={active === n.path ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="ghost" onClick={() => session.signOut()}>
          Sign out
        </button>
      </header>
      <main id="main-content" tabIndex={-1}>
        <Page key={route.path} route={route} />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
