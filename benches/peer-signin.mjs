// The peer for benches/signin.sh: panva/node-oidc-provider (the version
// ../shared/bench-peer pins) as an authorization server for a public MCP
// client: authorization code + PKCE S256, refresh tokens rotated on every
// use, the resource as an ES256 JWT access token (as server.mjs issues
// them). Run from WORKDIR so that `oidc-provider` and `jose` resolve.
//
//   POST /token  grant_type=authorization_code&code&redirect_uri&code_verifier&client_id&resource
//   POST /token  grant_type=refresh_token&refresh_token&client_id
//   POST /bench/mint?codes=N&refresh=M   NOT oidc-provider's: creates, through
//                the provider's own models, N sign-ins (a Grant each, with
//                an AuthorizationCode carrying a fresh PKCE S256 challenge)
//                and M more with a RefreshToken each, and answers text lines
//                "code verifier" then "refresh_token" (outside the
//                measurement: the bench's stand-in for the login and consent
//                pages, which the peer would render).
//   GET  /healthz  200 (answers nothing else; the wrk scripts' idle request)
//
// Storage: oidc-provider's own in-memory adapter (not persistent, no
// audit), with room for the bench's codes: the default store keeps only
// 1,000 entries. Prints READY when listening. PORT (3000).
import http from 'node:http';
import crypto from 'node:crypto';

import Provider, { errors } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import * as jose from 'jose';

const PORT = Number(process.env.PORT || 3000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT_ID = process.env.CLIENT_ID || 'bench-mcp';
const REDIRECT_URI = 'http://127.0.0.1/callback';
const RESOURCE = process.env.RESOURCE || 'https://mcp.bench.example';
const SCOPE = 'orders:read';

const { privateKey: esPriv } = await jose.generateKeyPair('ES256', { extractable: true });
const esJwk = { ...(await jose.exportJWK(esPriv)), kid: 'peer-es256-1', alg: 'ES256', use: 'sig' };
const { privateKey: rsPriv } = await jose.generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
const rsJwk = { ...(await jose.exportJWK(rsPriv)), kid: 'peer-rs256-1', alg: 'RS256', use: 'sig' };

const store = new LRU({ maxSize: 5_000_000 });
const rsInfo = {
  [RESOURCE]: {
    scope: SCOPE, audience: RESOURCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
  },
};

const provider = new Provider(ISSUER, {
  adapter: (model) => new MemoryAdapter(model, store),
  clients: [{
    client_id: CLIENT_ID,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: `openid offline_access ${SCOPE}`,
  }],
  jwks: { keys: [esJwk, rsJwk] },
  cookies: { keys: ['perf-peer-signin-cookie-key-0123'] },
  scopes: ['openid', 'offline_access', SCOPE],
  pkce: { required: () => true },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  // A refresh token with every code (no offline_access consent step here),
  // a new one on every use (the old one then refused, its grant revoked).
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, RefreshToken: 8 * 3600,
    Grant: 24 * 3600, Session: 24 * 3600, Interaction: 600, ClientCredentials: 600,
  },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        const info = rsInfo[resourceIndicator];
        if (!info) throw new errors.InvalidTarget();
        return info;
      },
    },
  },
});

let accounts = 0;
async function signedIn(client) {
  accounts += 1;
  const accountId = `bench-user-${accounts}`;
  const grant = new provider.Grant({ accountId, clientId: client.clientId });
  grant.addResourceScope(RESOURCE, SCOPE);
  const grantId = await grant.save();
  const now = Math.floor(Date.now() / 1000);
  return {
    accountId, grantId, client, authTime: now, scope: SCOPE, resource: RESOURCE,
  };
}

async function mint(codes, refresh) {
  const client = await provider.Client.find(CLIENT_ID);
  const lines = [];
  for (let i = 0; i < codes; i += 1) {
    const verifier = crypto.randomBytes(32).toString('base64url');
    const code = new provider.AuthorizationCode({
      ...(await signedIn(client)),
      redirectUri: REDIRECT_URI,
      codeChallenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
      codeChallengeMethod: 'S256',
    });
    lines.push(`${await code.save()} ${verifier}`);
  }
  for (let i = 0; i < refresh; i += 1) {
    const rt = new provider.RefreshToken({ ...(await signedIn(client)), gty: 'authorization_code', rotations: 0 });
    lines.push(await rt.save());
  }
  return lines;
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, ISSUER);
  if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (req.method === 'POST' && url.pathname === '/bench/mint') {
    mint(Number(url.searchParams.get('codes') || 0), Number(url.searchParams.get('refresh') || 0))
      .then((lines) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(lines.length ? `${lines.join('\n')}\n` : '');
      })
      .catch((e) => { res.writeHead(500); res.end(String(e?.stack || e)); });
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, '127.0.0.1', () => {
  console.log(`READY ${ISSUER} oidc-provider (code + refresh) node ${process.version}`);
});
