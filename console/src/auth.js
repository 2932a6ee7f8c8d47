// Sign-in at the configured OpenID Connect provider: authorization code with PKCE (S256) for a
// public client. The access token lives in this module's memory only (never in localStorage or a
// cookie); sessionStorage holds only the one-time state and PKCE verifier across the redirect.

const PENDING = 'trustfn.console.signin';
let session = null; // { token, claims, expiresAt }
let config = null;
let discovery = null;

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function random(n = 32) {
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  return b64url(bytes);
}

export async function loadConfig() {
  if (!config) {
    const r = await fetch('/console/config.json', { cache: 'no-store' });
    if (!r.ok) throw new Error(`console configuration: HTTP ${r.status}`);
    config = await r.json();
  }
  return config;
}

async function provider() {
  if (!discovery) {
    const cfg = await loadConfig();
    const r = await fetch(`${cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (!r.ok) throw new Error(`identity provider: HTTP ${r.status}`);
    discovery = await r.json();
    if (discovery.issuer !== cfg.issuer) throw new Error('the identity provider names another issuer');
  }
  return discovery;
}

export const redirectUri = () => `${location.origin}/console/callback`;

export async function signIn() {
  const cfg = await loadConfig();
  const d = await provider();
  const verifier = random(48);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, back: location.hash || '#/' }));
  const q = new URLSearchParams({
    client_id: cfg.clientId, response_type: 'code', redirect_uri: redirectUri(), scope: cfg.scope,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  if (cfg.resource) q.set('resource', cfg.resource);
  location.assign(`${d.authorization_endpoint}?${q}`);
}

/** On /console/callback: trades the code for a token; returns where to go back to. */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  // The state first: an answer this tab did not ask for is dropped unread.
  if (!pending || params.get('state') !== pending.state) throw new Error('sign-in answer does not belong to this browser tab; sign in again');
  if (params.get('error')) throw new Error(`sign-in refused: ${params.get('error_description') || params.get('error')}`);
  const cfg = await loadConfig();
  const d = await provider();
  const body = new URLSearchParams({
    grant_type: 'authorization_code', code: params.get('code') || '', redirect_uri: redirectUri(),
    client_id: cfg.clientId, code_verifier: pending.verifier,
  });
  if (cfg.resource) body.set('resource', cfg.resource);
  const r = await fetch(d.token_endpoint, { method: 'POST', body });
  const out = await r.json().catch(() => ({}));
  if (!r.ok || !out.access_token) throw new Error(`token request failed: ${out.error_description || out.error || r.status}`);
  useToken(out.access_token);
  return pending.back;
}

/** Uses a bearer token (an access token, or an API key pasted by the operator). */
export function useToken(token) {
  let claims = {};
  try { claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch { /* an API key */ }
  session = { token, claims, expiresAt: claims.exp ? claims.exp * 1000 : null };
}

export const current = () => session;

/** Forgets the token (the API said it is no longer valid). */
export function forget() {
  session = null;
}

export async function signOut() {
  const had = session;
  session = null;
  sessionStorage.clear();
  const cfg = config;
  if (had && had.claims.iss && cfg) {
    const d = await provider().catch(() => null);
    if (d?.revocation_endpoint) {
      // The token stops working now, not at its exp (best effort: the page forgets it anyway).
      const body = new URLSearchParams({ token: had.token, token_type_hint: 'access_token', client_id: cfg.clientId });
      await fetch(d.revocation_endpoint, { method: 'POST', body }).catch(() => {});
    }
    if (d?.end_session_endpoint) {
      const q = new URLSearchParams({ client_id: cfg.clientId, post_logout_redirect_uri: `${location.origin}/console/` });
      location.assign(`${d.end_session_endpoint}?${q}`);
      return;
    }
  }
  location.assign('/console');
}
