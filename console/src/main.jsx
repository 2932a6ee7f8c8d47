// The trustfn operator console: sign in at the organization's identity provider, then walk and
// run the PKI and the status lists through the public API.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { completeSignIn, current, loadConfig, signIn, signOut, useToken } from './auth.js';
import { whenUnauthorized } from './api.js';
import { TreePage } from './tree.jsx';
import { X509Page } from './x509.jsx';
import { KmsPage, StatusPage, StorePage } from './services.jsx';
import { AccessPage, AuditPage } from './access.jsx';
import { Failure } from './ui.jsx';

// Route parts become parts of API paths: only target-shaped words pass (no `..`, `/`, `?`).
const SAFE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const parse = () => {
  let parts;
  try {
    parts = (location.hash.replace(/^#\/?/, '') || '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return [];
  }
  return parts.every((p) => SAFE.test(p)) ? parts : [];
};

function useRoute() {
  const [route, setRoute] = useState(parse());
  useEffect(() => {
    const f = () => setRoute(parse());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}

function SignIn({ error, onSignedIn }) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(error);
  const [showKey, setShowKey] = useState(false);
  return (
    <main class="signin">
      <h1>trustfn console</h1>
      <p>Sign in with your organization's identity provider to manage its certificates and status lists.</p>
      <button type="button" class="primary" disabled={busy} aria-busy={busy}
        onClick={() => { setBusy(true); signIn().catch((e) => { setBusy(false); setFailure(e); }); }}>
        {busy ? 'Redirecting…' : 'Sign in'}
      </button>
      <Failure error={failure} />
      <p><button type="button" class="link" onClick={() => setShowKey(!showKey)}>Use an API key instead</button></p>
      {showKey && (
        <form class="card" onSubmit={(e) => { e.preventDefault(); useToken(new FormData(e.currentTarget).get('key').trim()); onSignedIn(); }}>
          <label class="field"><span>API key (kept in this tab's memory only)</span><input name="key" type="password" autocomplete="off" required /></label>
          <button type="submit">Continue</button>
        </form>
      )}
    </main>
  );
}

function OrgChooser({ org }) {
  return (
    <form class="org" onSubmit={(e) => { e.preventDefault(); location.hash = `#/o/${new FormData(e.currentTarget).get('org').trim()}`; }}>
      <label for="org-input" class="sr-only">Organization</label>
      <input id="org-input" name="org" placeholder="organization id" value={org || ''} required />
      <button type="submit" class="small">Open</button>
    </form>
  );
}

function Page({ route }) {
  const [kind, ...rest] = route;
  const path = rest.join('/');
  switch (kind) {
    case 'o': return <TreePage org={path} />;
    case 'access': return <AccessPage org={path} />;
    case 'audit': return <AuditPage org={path} />;
    case 's': {
      const [type, ...id] = rest;
      const service = id.join('/');
      if (type === 'x509-service') return <X509Page service={service} />;
      if (type === 'kms') return <KmsPage service={service} />;
      if (type === 'x509-store') return <StorePage service={service} />;
      if (type === 'credential-status') return <StatusPage service={service} />;
      return <p>The console does not show {type} services yet; use the API.</p>;
    }
    default:
      return (
        <section>
          <h2>Welcome</h2>
          <p>Open an organization you belong to: its resource tree, access and audit log.</p>
        </section>
      );
  }
}

function Shell() {
  const route = useRoute();
  const s = current();
  const org = ['o', 'access', 'audit'].includes(route[0]) ? route[1] : route[0] === 's' ? route[2]?.split('.')[0] : null;
  const who = s.claims.email || s.claims.sub || 'API key';
  return (
    <>
      <header>
        <a class="brand" href="#/">trustfn</a>
        <OrgChooser org={org} />
        {org && (
          <nav aria-label="Organization">
            <a href={`#/o/${org}`}>Resources</a>
            <a href={`#/access/${org}`}>Access</a>
            <a href={`#/audit/${org}`}>Audit log</a>
          </nav>
        )}
        <span class="who" title={s.claims.iss || ''}>{who}</span>
        <button type="button" class="small" onClick={() => signOut()}>Sign out</button>
      </header>
      <main><Page route={route} /></main>
    </>
  );
}

function App() {
  const [state, setState] = useState({ ready: false, error: null });
  useEffect(() => {
    whenUnauthorized(() => setState({ ready: true, error: new Error('Your session ended; sign in again.'), signedOut: true }));
    (async () => {
      await loadConfig();
      if (location.pathname === '/console/callback') {
        const back = await completeSignIn();
        history.replaceState(null, '', `/console${back}`);
      }
      setState({ ready: true, error: null });
    })().catch((error) => setState({ ready: true, error }));
  }, []);
  if (!state.ready) return <p class="boot">Loading…</p>;
  if (!current() || state.signedOut) {
    return <SignIn error={state.error} onSignedIn={() => setState({ ready: true, error: null })} />;
  }
  return <Shell />;
}

render(<App />, document.getElementById('app'));
