/** The console's shell: sign-in, navigation and hash routes (the api serves one static page). */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Api, type Session } from './api';
import { AttributionPage } from './pages/AttributionPage';
import { GatewayForm } from './pages/GatewayForm';
import { GatewayList } from './pages/GatewayList';
import { GatewayPage } from './pages/GatewayPage';
import { ResourcePage, RESOURCE_KINDS, type ResourceKindName } from './pages/ResourcePage';
import { SignIn } from './pages/SignIn';

const SESSION_KEY = 'natplane.console.session';

function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return s && s.token && s.project ? s : undefined;
  } catch {
    return undefined;
  }
}

function useHash(): string {
  const [hash, setHash] = useState(() => window.location.hash.replace(/^#/, '') || '/');
  useEffect(() => {
    const on = () => setHash(window.location.hash.replace(/^#/, '') || '/');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export function navigate(path: string): void {
  window.location.hash = path;
}

const NAV: { path: string; label: string }[] = [
  { path: '/networks', label: 'Networks' },
  { path: '/subnets', label: 'Subnets' },
  { path: '/endpoints', label: 'Endpoints' },
  { path: '/addresses', label: 'Addresses' },
  { path: '/gateways', label: 'NAT gateways' },
  { path: '/attribution', label: 'Attribution' },
];

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const api = useMemo(() => (session ? new Api(session) : undefined), [session]);
  const hash = useHash();
  const main = useRef<HTMLElement>(null);

  // a new page: focus its main region, so keyboard and screen-reader users start at the content
  useEffect(() => {
    main.current?.focus();
  }, [hash]);

  if (!session || !api) {
    return (
      <SignIn
        onSignIn={(s) => {
          sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
          setSession(s);
          navigate('/gateways');
        }}
      />
    );
  }

  const signOut = () => {
    sessionStorage.removeItem(SESSION_KEY);
    setSession(undefined);
  };

  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  let page: React.ReactNode;
  if (parts.length === 0) page = <Overview />;
  else if (parts[0] in RESOURCE_KINDS && parts.length === 1) page = <ResourcePage key={parts[0]} api={api} kind={parts[0] as ResourceKindName} />;
  else if (parts[0] === 'gateways' && parts.length === 1) page = <GatewayList api={api} />;
  else if (parts[0] === 'gateways' && parts[1] === 'new') page = <GatewayForm api={api} />;
  else if (parts[0] === 'gateways' && parts.length === 3 && parts[2] === 'edit') page = <GatewayForm key={parts[1]} api={api} name={parts[1]} />;
  else if (parts[0] === 'gateways' && parts.length === 2) page = <GatewayPage key={parts[1]} api={api} name={parts[1]} />;
  else if (parts[0] === 'attribution') page = <AttributionPage api={api} />;
  else page = <p>No such page: {hash}</p>;

  return (
    <>
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header>
        <span className="brand">natplane console</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a href={`#${n.path}`} aria-current={hash === n.path || hash.startsWith(`${n.path}/`) ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          project <strong data-testid="project">{session.project}</strong>{' '}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

function Overview() {
  return (
    <>
      <h1>natplane</h1>
      <p>Describe networks, subnets, VM endpoints and addresses, then NAT gateways over them.</p>
      <ul>
        {NAV.map((n) => (
          <li key={n.path}>
            <a href={`#${n.path}`}>{n.label}</a>
          </li>
        ))}
      </ul>
    </>
  );
}
