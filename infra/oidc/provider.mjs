// The development OpenID Connect provider of `make run` and `make test` (never deployed): the
// `oidc-provider` package (installed into .tools/node by infra/scripts/bootstrap.sh) with two
// users in two groups, the console as a public client (authorization code + PKCE), and access
// tokens as ES256 JWTs for the API's audience carrying the `groups` claim.
//
//   node infra/oidc/provider.mjs --port 9400 --state-dir <dir> --console-redirect <url>
//
// It binds 127.0.0.1 only. The signing key is made at start and written, with the users, to
// <state-dir>/oidc-keys.json (mode 0600) so the tests can also sign tokens the provider would
// never issue (expired, another audience).

import { createRequire } from 'node:module';
import { generateKeyPairSync, timingSafeEqual, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '9400' },
    'state-dir': { type: 'string' },
    'console-redirect': { type: 'string', multiple: true, default: [] },
    audience: { type: 'string', default: 'urn:trustfn:api' },
    modules: { type: 'string' },
  },
});
const modules = args.modules || path.join(path.dirname(new URL(import.meta.url).pathname), '../../.tools/node/node_modules');
const require = createRequire(path.join(modules, 'noop.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const issuer = `http://127.0.0.1:${args.port}`;
const audience = args.audience;

// Two people of two organizations' identity groups. Passwords are for this local provider only.
const USERS = {
  alice: { password: 'alice-local-password', name: 'Alice (PKI officer, DMV A)', email: 'alice@dmv-a.example', groups: ['dmv-a-pki-officers'] },
  bob: { password: 'bob-local-password', name: 'Bob (PKI officer, DMV B)', email: 'bob@dmv-b.example', groups: ['dmv-b-pki-officers'] },
};

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `dev-${Date.now()}`, alg: 'ES256', use: 'sig' };

const claimsOf = (id) => {
  const u = USERS[id];
  return { sub: id, name: u.name, email: u.email, email_verified: true, groups: u.groups };
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'trustfn-console',
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    redirect_uris: args['console-redirect'],
    post_logout_redirect_uris: args['console-redirect'].map((u) => new URL('./', u).href),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  }],
  pkce: { required: () => true },
  jwks: { keys: [jwk] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  findAccount: async (_ctx, id) => (USERS[id] ? { accountId: id, claims: async () => claimsOf(id) } : undefined),
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource: async (ctx, form) => {
      // One click, no page of our own: submit the provider's logout form at once.
      ctx.body = `<!DOCTYPE html><title>Signing out</title>${form}<script nonce="${ctx.state?.nonce ?? ''}">document.forms[0].submit()</script>`;
    } },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== audience) throw new Error(`unknown resource ${resource}`);
        return { scope: 'trustfn', audience, accessTokenTTL: 15 * 60, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  extraTokenClaims: async (_ctx, token) => {
    if (token.kind !== 'AccessToken' || !token.accountId || !USERS[token.accountId]) return undefined;
    const { email, email_verified, groups } = claimsOf(token.accountId);
    return { email, email_verified, groups };
  },
  ttl: { Session: 8 * 3600, Grant: 8 * 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 900 },
  cookies: { keys: [createHash('sha256').update(JSON.stringify(jwk)).digest('hex')] },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>Sign-in error</title><h1>Sign-in error</h1><pre>${esc(out.error)}: ${esc(out.error_description || '')}</pre>`;
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (trustfn development provider)</title>
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1.2rem}.err{color:#b00020}</style></head>
<body><h1>Sign in</h1><p>trustfn development identity provider: users <code>alice</code> (group dmv-a-pki-officers) and <code>bob</code> (group dmv-b-pki-officers); passwords in the README.</p>
${message ? `<p class="err" role="alert">${esc(message)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}"><label for="login">User</label><input id="login" name="login" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c) => { body += c; if (body.length > 8192) { reject(new Error('form too large')); req.destroy(); } });
    req.on('end', () => resolve(new URLSearchParams(body)));
  });
}

const same = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

async function finish(req, res, accountId, details) {
  const grant = details.grantId ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope('openid email profile groups');
  grant.addResourceScope(audience, 'trustfn');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction does not match');
  if (req.method === 'GET' && details.prompt.name === 'consent' && details.session?.accountId) {
    return finish(req, res, details.session.accountId, details); // our own client: no consent page
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(loginPage(uid));
  }
  const form = await readForm(req);
  const id = form.get('login') || '';
  const user = Object.hasOwn(USERS, id) ? USERS[id] : undefined;
  if (!user || !same(user.password, form.get('password') || '')) {
    res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(loginPage(uid, 'Unknown user or wrong password.'));
  }
  console.log(JSON.stringify({ msg: 'signed in', user: id }));
  return finish(req, res, id, details);
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url, issuer).pathname);
  if (m && (req.method === 'GET' || req.method === 'POST')) {
    interaction(req, res, m[1]).catch((e) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`sign-in failed: ${e.message}`);
    });
    return;
  }
  callback(req, res);
});

if (args['state-dir']) {
  const users = Object.fromEntries(Object.entries(USERS).map(([id, u]) => [id, { password: u.password, groups: u.groups, email: u.email }]));
  writeFileSync(path.join(args['state-dir'], 'oidc-keys.json'), JSON.stringify({ issuer, audience, jwk, users }), { mode: 0o600 });
}
server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'development OpenID Connect provider listening', issuer }));
});
