// A fake upstream OpenID provider for benches/signin.sh: the fake Okta of
// ../shared/bench-peer (its RS256 key, issuer
// https://example.okta.com/oauth2/default) signing users in to agent-sts,
// which is its relying party. No login page: every sign-in is a new user
// with the group Everyone.
//
//   GET  /authorize  response_type=code, client_id, redirect_uri, state,
//                    nonce, code_challenge (S256) -> 302 redirect_uri?code&state
//   POST /token      client_secret_basic; grant_type=authorization_code, code,
//                    redirect_uri, code_verifier -> { access_token, token_type,
//                    expires_in, scope, id_token } (RS256, aud = client_id,
//                    the sign-in's nonce). A code works once, for 60 s.
//
// Environment: PORT (8188), STATE_DIR (where upstream_private_jwk.json is;
// default cwd), LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET. Run from a directory
// whose node_modules has jose (WORKDIR). Loopback only; prints READY.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';

const PORT = Number(process.env.PORT || 8188);
const STATE_DIR = process.env.STATE_DIR || process.cwd();
const CLIENT_ID = process.env.LOGIN_CLIENT_ID || 'agent-sts-bench';
const CLIENT_SECRET = process.env.LOGIN_CLIENT_SECRET || 'bench-login-secret';
const ISSUER = 'https://example.okta.com/oauth2/default';
const CODE_TTL_MS = 60_000;

const jwk = JSON.parse(fs.readFileSync(path.join(STATE_DIR, 'upstream_private_jwk.json'), 'utf8'));
const key = await jose.importJWK(jwk, 'RS256');
const expectedAuth = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;

const codes = new Map(); // code -> { nonce, redirectUri, challenge, sub, scope, at }
let users = 0;
setInterval(() => {
  const old = Date.now() - CODE_TTL_MS;
  for (const [c, g] of codes) if (g.at < old) codes.delete(c);
}, 10_000).unref();

const b64url = (buf) => buf.toString('base64url');
const random = () => b64url(crypto.randomBytes(32));

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function authorize(req, res, q) {
  const redirectUri = q.get('redirect_uri');
  if (q.get('client_id') !== CLIENT_ID || !redirectUri) return json(res, 400, { error: 'invalid_client' });
  if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
    return json(res, 400, { error: 'invalid_request' });
  }
  const code = random();
  users += 1;
  codes.set(code, {
    nonce: q.get('nonce'),
    redirectUri,
    challenge: q.get('code_challenge'),
    sub: `00ubench${String(users).padStart(12, '0')}`,
    scope: q.get('scope') || 'openid',
    at: Date.now(),
  });
  const back = new URL(redirectUri);
  back.searchParams.set('code', code);
  if (q.get('state') !== null) back.searchParams.set('state', q.get('state'));
  res.writeHead(302, { location: back.toString() });
  res.end();
}

async function token(req, res, body) {
  if (req.headers.authorization !== expectedAuth) return json(res, 401, { error: 'invalid_client' });
  const f = new URLSearchParams(body);
  const grant = codes.get(f.get('code') || '');
  codes.delete(f.get('code') || '');
  if (f.get('grant_type') !== 'authorization_code' || !grant || grant.at < Date.now() - CODE_TTL_MS) {
    return json(res, 400, { error: 'invalid_grant' });
  }
  const challenge = b64url(crypto.createHash('sha256').update(f.get('code_verifier') || '').digest());
  if (challenge !== grant.challenge || f.get('redirect_uri') !== grant.redirectUri) {
    return json(res, 400, { error: 'invalid_grant' });
  }
  const now = Math.floor(Date.now() / 1000);
  const claims = { ver: 1, amr: ['pwd'], auth_time: now, groups: ['Everyone'] };
  if (grant.nonce) claims.nonce = grant.nonce;
  const idToken = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .setIssuer(ISSUER).setSubject(grant.sub).setAudience(CLIENT_ID)
    .setJti(`ID.${random().slice(0, 20)}`).setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(key);
  return json(res, 200, {
    token_type: 'Bearer', expires_in: 3600, scope: grant.scope, access_token: random(), id_token: idToken,
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${PORT}`);
  if (req.method === 'GET' && url.pathname === '/authorize') return authorize(req, res, url.searchParams);
  if (req.method === 'POST' && url.pathname === '/token') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      token(req, res, Buffer.concat(chunks).toString()).catch((e) => json(res, 500, { error: String(e) }));
    });
    return undefined;
  }
  return json(res, 404, { error: 'not_found' });
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, '127.0.0.1', () => console.log(`READY upstream login http://127.0.0.1:${PORT} node ${process.version}`));
