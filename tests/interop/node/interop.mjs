// agent-sts against Node libraries: oauth4webapi (RFC 8414 discovery, token
// requests, RFC 9068 validation, RFC 7662 / 9701 introspection, RFC 7009
// revocation, RFC 9728 resource discovery), jose (remote JWKS), and the MCP
// TypeScript SDK (requireBearerAuth on an Express MCP server, its streamable
// HTTP client against that server and against the Python example server, and
// that client signing a user in through agent-sts's /authorize with an
// OAuthClientProvider, then refreshing with auth()).
import * as o from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { resourceUrlFromServerUrl } from '@modelcontextprotocol/sdk/shared/auth-utils.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

import { assert, check, claimsOf, ctx, entra, finish, followSignIn, okta, rejects, workload } from './harness.mjs';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const insecure = { [o.allowInsecureRequests]: true }; // every address here is http://127.0.0.1
const { notes, files, other } = ctx.resources;
const OAUTH4 = 'oauth4webapi';
const MCP = '@modelcontextprotocol/sdk';

const agent = (role) => ({ client: { client_id: ctx.clients[role].id }, secret: ctx.clients[role].secret });
const obo = agent('obo');
const hybrid = agent('hybrid');
const batch = agent('batch');
const filesIntrospector = agent('files_introspector');
const basic = (a) => o.ClientSecretBasic(a.secret);

let as; // the discovered authorization server metadata

/** RFC 8693 exchange through oauth4webapi; returns the processed token response. */
async function exchange(a, params, auth = basic(a)) {
  const res = await o.genericTokenEndpointRequest(as, a.client, auth, EXCHANGE, params, insecure);
  return o.processGenericTokenEndpointResponse(as, a.client, res);
}

/** RFC 9068 validation by oauth4webapi, as a resource server for `audience` would do it. */
async function validate(token, audience) {
  const request = new Request(audience, { headers: { authorization: `Bearer ${token}` } });
  return o.validateJwtAccessToken(as, request, audience, insecure);
}

/** Token-exchange response checks shared by every grant. */
function assertIssued(tr) {
  assert.equal(tr.issued_token_type, AT);
  assert.equal(tr.token_type, 'bearer'); // oauth4webapi lowercases it
  assert.ok(tr.expires_in >= 300 && tr.expires_in <= 900, `expires_in ${tr.expires_in}`);
}

const minted = []; // [what, token, audience]: every token validated with RFC 9068 below

await check(OAUTH4, 'discovery of RFC 8414 metadata at /.well-known/oauth-authorization-server', async () => {
  const issuer = new URL(ctx.sts);
  const res = await o.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  assert.equal(new URL(res.url).pathname, '/.well-known/oauth-authorization-server');
  as = await o.processDiscoveryResponse(issuer, res);
  assert.equal(as.issuer, ctx.sts);
  assert.equal(as.token_endpoint, `${ctx.sts}/token`);
  assert.ok(as.grant_types_supported.includes(EXCHANGE));
  assert.ok(as.grant_types_supported.includes('client_credentials'));
  for (const k of ['introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) assert.ok(as[k], k);
  return `jwks_uri ${new URL(as.jwks_uri).pathname}`;
});
if (!as) {
  console.log('FAIL oauth4webapi: the remaining checks need the metadata');
  process.exit(1);
}

await check(OAUTH4, 'the metadata offers the authorization code flow to MCP clients (an upstream has a login, an agent is interactive)', async () => {
  assert.equal(as.authorization_endpoint, `${ctx.sts}/authorize`);
  assert.deepEqual(as.response_types_supported, ['code']);
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
  for (const g of ['authorization_code', 'refresh_token']) assert.ok(as.grant_types_supported.includes(g), g);
  assert.ok(as.token_endpoint_auth_methods_supported.includes('none'), 'none');
  assert.equal(as.authorization_response_iss_parameter_supported, true);
  return `grants ${as.grant_types_supported.join(', ')}`;
});

await check(OAUTH4, 'clientCredentialsGrantRequest with resource (client_secret_post, workload pattern)', async () => {
  const res = await o.clientCredentialsGrantRequest(
    as, batch.client, o.ClientSecretPost(batch.secret), { resource: files, scope: 'files:read' }, insecure);
  const tr = await o.processClientCredentialsResponse(as, batch.client, res);
  assertIssued(tr);
  const c = claimsOf(tr.access_token);
  assert.equal(c.aud, files);
  assert.equal(c.sub, ctx.workload_subjects.batch);
  assert.equal(c.act, undefined);
  assert.deepEqual(c['urn:agent'], { id: 'batch-bot', pattern: 'workload' });
  assert.equal(tr.scope, 'files:read');
  minted.push(['client_credentials', tr.access_token, files]);
  return `jti ${c.jti}`;
});

await check(OAUTH4, 'clientCredentialsGrantRequest authenticated with PrivateKeyJwt (RFC 7523 assertion, ES256)', async () => {
  const { d, x, y, crv, kty } = ctx.signed_bot.private_jwk;
  const key = await crypto.subtle.importKey('jwk', { d, x, y, crv, kty }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const client = { client_id: ctx.signed_bot.id };
  const auth = o.PrivateKeyJwt({ key, kid: ctx.signed_bot.private_jwk.kid });
  const res = await o.clientCredentialsGrantRequest(as, client, auth, { resource: files }, insecure);
  const tr = await o.processClientCredentialsResponse(as, client, res);
  const c = claimsOf(tr.access_token);
  assert.equal(c.sub, 'signed-bot');
  assert.equal(c.client_id, 'signed-bot');
  assert.equal(c.aud, files);
  minted.push(['private_key_jwt client_credentials', tr.access_token, files]);
  // The same assertion twice is a replay (RFC 7523 §3 item 7): refused.
  let assertion;
  const capture = async (url, init) => {
    assertion ??= new URLSearchParams(init.body).get('client_assertion');
    return fetch(url, init);
  };
  await o.processClientCredentialsResponse(as, client, await o.clientCredentialsGrantRequest(
    as, client, auth, { resource: files }, { ...insecure, [o.customFetch]: capture }));
  const replay = await fetch(as.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials', resource: files, client_id: client.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    }),
  });
  assert.equal(replay.status, 401, 'a replayed assertion was accepted');
  return `jti ${c.jti}; its replayed assertion answered 401`;
});

let oboFiles; // alice's OBO token for the Node MCP server, used further down
await check(OAUTH4, 'genericTokenEndpointRequest token exchange, OBO with an Okta access token', async () => {
  const tr = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: files });
  assertIssued(tr);
  const c = claimsOf(tr.access_token);
  assert.equal(c.aud, files);
  assert.match(c.sub, /^00u/); // Okta's uid, not the login
  assert.deepEqual(c.act, { sub: 'obo-bot' });
  assert.equal(c['urn:agent'].pattern, 'obo');
  assert.equal(c.idp, ctx.idp.okta.issuer);
  assert.deepEqual(tr.scope.split(' ').sort(), ['files:read', 'files:write']);
  oboFiles = tr.access_token;
  minted.push(['OBO Okta', tr.access_token, files]);
  return `jti ${c.jti}`;
});

await check(OAUTH4, 'genericTokenEndpointRequest token exchange, OBO with an Entra v2 access token', async () => {
  const tr = await exchange(obo, { subject_token: await entra('2.0'), subject_token_type: AT, resource: notes, scope: 'notes:read' });
  assertIssued(tr);
  const c = claimsOf(tr.access_token);
  assert.equal(c.aud, notes);
  assert.equal(c.tid, ctx.idp.entra.tenant);
  assert.match(c.sub, /^[0-9a-f-]{36}$/); // the oid, never the pairwise sub
  assert.deepEqual(c.act, { sub: 'obo-bot' });
  assert.equal(tr.scope, 'notes:read');
  minted.push(['OBO Entra v2', tr.access_token, notes]);
  return `jti ${c.jti}`;
});

await check(OAUTH4, 'genericTokenEndpointRequest token exchange, hybrid: Entra v1 user + Kubernetes workload actor_token', async () => {
  const tr = await exchange(hybrid, {
    subject_token: await entra('1.0'), subject_token_type: AT,
    actor_token: await workload('hybrid'), actor_token_type: JWT, resource: files,
  });
  assertIssued(tr);
  const c = claimsOf(tr.access_token);
  assert.equal(c.aud, files);
  assert.deepEqual(c.act, { sub: ctx.workload_subjects.hybrid, iss: ctx.idp.k8s.issuer });
  assert.equal(c['urn:agent'].pattern, 'hybrid');
  assert.equal(c.tid, ctx.idp.entra.tenant);
  minted.push(['hybrid', tr.access_token, files]);
  return `jti ${c.jti}`;
});

await check(OAUTH4, 'genericTokenEndpointRequest token exchange, workload JWT as subject_token', async () => {
  const res = await o.genericTokenEndpointRequest(as, batch.client, o.ClientSecretPost(batch.secret), EXCHANGE,
    { subject_token: await workload('batch'), subject_token_type: JWT, resource: notes }, insecure);
  const tr = await o.processGenericTokenEndpointResponse(as, batch.client, res);
  assertIssued(tr);
  const c = claimsOf(tr.access_token);
  assert.equal(c.sub, ctx.workload_subjects.batch);
  assert.equal(c['urn:agent'].pattern, 'workload');
  minted.push(['workload subject_token', tr.access_token, notes]);
  return `jti ${c.jti}`;
});

await check(OAUTH4, 'a refusal is surfaced as ResponseBodyError invalid_target (hybrid-bot asks for a resource it lacks)', async () => {
  const e = await rejects(async () => exchange(hybrid, {
    subject_token: await entra('2.0'), subject_token_type: AT,
    actor_token: await workload('hybrid'), actor_token_type: JWT, resource: other,
  }), 'the exchange was granted');
  assert.ok(e instanceof o.ResponseBodyError, `${e.name}: ${e.message}`);
  assert.equal(e.status, 400);
  assert.equal(e.error, 'invalid_target');
  return `${e.status} ${e.error}`;
});

// The TS SDK writes an origin-only resource with a trailing slash
// (`resourceUrlFromServerUrl` is a WHATWG URL); notes is configured as a
// bare origin, files with the slash: each spelling must be accepted and the
// minted aud must be the configured one (RFC 3986 §6.2.2-6.2.3).
for (const [label, requested, configured] of [
  ['notes configured bare, requested as resourceUrlFromServerUrl(origin).href (trailing /)',
    resourceUrlFromServerUrl(notes).href, notes],
  ['notes configured bare, requested bare', notes, notes],
  ['files configured with /, requested bare', files.replace(/\/$/, ''), files],
  ['files configured with /, requested as resourceUrlFromServerUrl(origin).href', resourceUrlFromServerUrl(files).href, files],
]) {
  await check(OAUTH4, `resource spelling: ${label}`, async () => {
    const tr = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: requested });
    const c = claimsOf(tr.access_token);
    assert.equal(c.aud, configured, `aud ${c.aud}, configured ${configured}`);
    minted.push([`resource spelling (${requested})`, tr.access_token, configured]);
    return `asked ${requested}, aud ${c.aud}`;
  });
}

for (const [what, token, audience] of minted) {
  await check(OAUTH4, `validateJwtAccessToken (RFC 9068) on the ${what} token`, async () => {
    const claims = await validate(token, audience);
    assert.equal(claims.iss, ctx.sts);
    return `jti ${claims.jti}`;
  });
}

await check(OAUTH4, 'validateJwtAccessToken refuses a token for another audience', async () => {
  const e = await rejects(() => validate(oboFiles, notes), 'accepted a token for another audience');
  assert.equal(e.code, o.JWT_CLAIM_COMPARISON, `${e.code}: ${e.message}`);
});

await check('jose', 'createRemoteJWKSet + jwtVerify (issuer, audience, typ at+jwt) on a minted token', async () => {
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(oboFiles, jwks, {
    issuer: ctx.sts, audience: files, typ: 'at+jwt', requiredClaims: ['jti', 'client_id', 'iat', 'nbf'],
  });
  assert.equal(payload.client_id, 'obo-bot');
  for (const t of ['exp', 'iat', 'nbf']) assert.ok(Number.isInteger(payload[t]), `${t} is a whole number`);
  const e = await rejects(() => jwtVerify(oboFiles, jwks, { issuer: ctx.sts, audience: notes }), 'wrong audience accepted');
  assert.equal(e.code, 'ERR_JWT_CLAIM_VALIDATION_FAILED');
  return `alg ${protectedHeader.alg}, kid ${protectedHeader.kid.slice(0, 12)}…, jti ${payload.jti}`;
});

// --- introspection and revocation -----------------------------------------
const introspect = async (token, options = {}) => {
  const res = await o.introspectionRequest(as, filesIntrospector.client, basic(filesIntrospector), token, { ...insecure, ...options });
  return o.processIntrospectionResponse(as, { ...filesIntrospector.client, introspection_signed_response_alg: 'ES256' }, res);
};

await check(OAUTH4, 'introspectionRequest by the resource\'s introspector: active, with RFC 7662 members', async () => {
  const r = await introspect(oboFiles);
  assert.equal(r.active, true);
  const c = claimsOf(oboFiles);
  for (const k of ['sub', 'aud', 'iss', 'jti', 'client_id', 'scope', 'exp']) assert.deepEqual(r[k], c[k], k);
  assert.deepEqual(r.act, { sub: 'obo-bot' });
  assert.equal(r.token_type, 'Bearer');
  return `jti ${r.jti}`;
});

await check(OAUTH4, 'introspectionRequest with requestJwtResponse (RFC 9701 signed answer)', async () => {
  const r = await introspect(oboFiles, { requestJwtResponse: true });
  assert.equal(r.active, true);
  assert.equal(r.jti, claimsOf(oboFiles).jti);
});

await check(OAUTH4, 'introspectionRequest: a token for another resource is inactive for this caller', async () => {
  const tr = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: notes });
  const r = await introspect(tr.access_token);
  assert.deepEqual(r, { active: false });
});

await check(OAUTH4, 'revocationRequest by the token\'s client, then introspection says inactive', async () => {
  const tr = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: files });
  assert.equal((await introspect(tr.access_token)).active, true);
  const res = await o.revocationRequest(as, obo.client, basic(obo), tr.access_token, insecure);
  assert.equal(res.status, 200);
  await o.processRevocationResponse(res);
  assert.deepEqual(await introspect(tr.access_token), { active: false });
  return `revoked jti ${claimsOf(tr.access_token).jti}`;
});

await check(OAUTH4, 'a token request without client credentials (o.None) fails with 401 invalid_client and a WWW-Authenticate challenge', async () => {
  const res = await o.clientCredentialsGrantRequest(as, obo.client, o.None(), { resource: notes }, insecure);
  assert.equal(res.status, 401);
  assert.ok(res.headers.get('www-authenticate'), 'no WWW-Authenticate header');
  const e = await rejects(() => o.processClientCredentialsResponse(as, obo.client, res), 'processed as a success');
  assert.ok(e instanceof o.WWWAuthenticateChallengeError || e instanceof o.ResponseBodyError, e.name);
  return `${res.status}, WWW-Authenticate ${res.headers.get('www-authenticate')}`;
});

// --- the MCP TypeScript SDK: an Express MCP server for `files` ------------
const jwks = createRemoteJWKSet(new URL(as.jwks_uri));
/** A TokenVerifier over agent-sts introspection (as the files introspector). */
const introspectionVerifier = {
  async verifyAccessToken(token) {
    const r = await introspect(token);
    if (!r.active) throw new InvalidTokenError('agent-sts says the token is not active');
    return { token, clientId: r.client_id, scopes: r.scope.split(' '), expiresAt: r.exp, resource: new URL(r.aud), extra: { sub: r.sub, act: r.act } };
  },
};
/** A TokenVerifier over the JWKS that leaves the audience to requireBearerAuth's expectedResource. */
const jwksVerifier = {
  async verifyAccessToken(token) {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: ctx.sts, typ: 'at+jwt' });
      return { token, clientId: payload.client_id, scopes: payload.scope.split(' '), expiresAt: payload.exp, resource: new URL(payload.aud), extra: { sub: payload.sub, act: payload.act } };
    } catch (e) {
      throw new InvalidTokenError(e.message);
    }
  },
};

function mcpServer() {
  const server = new McpServer({ name: 'files', version: '1.0.0' });
  server.registerTool('whoami', { description: 'who this call is for' }, async (extra) => ({
    content: [{ type: 'text', text: `sub=${extra.authInfo.extra.sub} act=${extra.authInfo.extra.act?.sub ?? '-'}` }],
  }));
  return server;
}

const app = createMcpExpressApp({ host: '127.0.0.1' });
const expectedResource = new URL(files);
for (const [path, verifier, requiredScopes] of [
  ['/mcp', introspectionVerifier, ['files:read']],
  ['/mcp-jwks', jwksVerifier, ['files:read']],
  ['/mcp-write', introspectionVerifier, ['files:write']],
]) {
  app.post(path, requireBearerAuth({ verifier, requiredScopes, expectedResource }), async (req, res) => {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = mcpServer();
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
}
const listener = await new Promise((resolve, reject) => {
  const l = app.listen(ctx.mcp.files_port, '127.0.0.1', () => resolve(l));
  l.on('error', reject);
});
const filesOrigin = `http://127.0.0.1:${ctx.mcp.files_port}`;

async function callWhoami(url, token) {
  const client = new Client({ name: 'interop', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  try {
    await client.connect(transport);
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    return result.content[0].text;
  } finally {
    await client.close().catch(() => {});
  }
}

/** A bare MCP POST (initialize) with `token`: the HTTP status and WWW-Authenticate. */
async function rawPost(url, token) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } }),
  });
  await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '' };
}

let notesToken;
try {
  await check(MCP, 'requireBearerAuth (introspection verifier) accepts an exchanged token for its resource: tool call succeeds', async () => {
    const text = await callWhoami(`${filesOrigin}/mcp`, oboFiles);
    assert.equal(text, `sub=${claimsOf(oboFiles).sub} act=obo-bot`);
    return text;
  });

  const tr = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: notes });
  notesToken = tr.access_token;

  await check(MCP, 'requireBearerAuth (introspection verifier) refuses a token for another resource with 401', async () => {
    const e = await rejects(() => callWhoami(`${filesOrigin}/mcp`, notesToken), 'the tool call succeeded');
    assert.equal(e.code, 401, `${e.name}: ${e.message}`);
    const raw = await rawPost(`${filesOrigin}/mcp`, notesToken);
    assert.equal(raw.status, 401);
    assert.match(raw.challenge, /^Bearer error="invalid_token"/);
    return `401, ${raw.challenge.split(',')[0]}`;
  });

  await check(MCP, 'requireBearerAuth (JWKS verifier) accepts the token for its resource', async () => {
    const text = await callWhoami(`${filesOrigin}/mcp-jwks`, oboFiles);
    assert.match(text, /act=obo-bot$/);
  });

  await check(MCP, 'requireBearerAuth (JWKS verifier) refuses a token for another resource (expectedResource) with 401', async () => {
    const raw = await rawPost(`${filesOrigin}/mcp-jwks`, notesToken);
    assert.equal(raw.status, 401);
    assert.match(raw.challenge, /Token was not issued for this resource/);
  });

  await check(MCP, 'requireBearerAuth answers 403 insufficient_scope for a narrowed token (scope=files:read on a files:write route)', async () => {
    const narrow = await exchange(obo, { subject_token: await okta(), subject_token_type: AT, resource: files, scope: 'files:read' });
    assert.equal(narrow.scope, 'files:read');
    const raw = await rawPost(`${filesOrigin}/mcp-write`, narrow.access_token);
    assert.equal(raw.status, 403);
    assert.match(raw.challenge, /error="insufficient_scope"/);
    const ok = await rawPost(`${filesOrigin}/mcp-write`, oboFiles);
    assert.equal(ok.status, 200);
  });

  await check(MCP, 'TS client → Python example MCP server (introspection): tool call succeeds with a token for it', async () => {
    const text = await callWhoami(ctx.mcp.notes_url, notesToken);
    assert.match(text, new RegExp(`^sub=${claimsOf(notesToken).sub} act=obo-bot agent=obo-bot scope=`));
    return text;
  });

  await check(MCP, 'TS client → Python example MCP server: a token for another resource is refused with 401', async () => {
    const e = await rejects(() => callWhoami(ctx.mcp.notes_url, oboFiles), 'the tool call succeeded');
    assert.equal(e.code, 401, `${e.name}: ${e.message}`);
  });

  await check(OAUTH4, 'resourceDiscoveryRequest (RFC 9728) of the Python MCP server names agent-sts', async () => {
    const resource = new URL(notes);
    const res = await o.resourceDiscoveryRequest(resource, insecure);
    const prm = await o.processResourceDiscoveryResponse(resource, res);
    assert.deepEqual(prm.authorization_servers, [ctx.sts]);
    // ... and what an MCP client does next: RFC 8414 discovery of that issuer.
    const issuer = new URL(prm.authorization_servers[0]);
    const meta = await o.processDiscoveryResponse(issuer, await o.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    assert.equal(meta.issuer, ctx.sts);
    return `resource ${prm.resource}`;
  });
} finally {
  listener.closeAllConnections?.();
  await new Promise((resolve) => listener.close(resolve));
}

// --- the MCP TypeScript SDK signing a user in (the interactive pattern) ---
/** A free loopback port: the registered http://127.0.0.1/callback on it (RFC 8252 §7.3). */
async function loopbackRedirectUri() {
  const port = await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
  return ctx.interactive.okta.redirect_uri.replace('127.0.0.1/', `127.0.0.1:${port}/`);
}

/**
 * The SDK's OAuthClientProvider, in memory: a pre-registered public client
 * (agent-sts has no dynamic registration, so no saveClientInformation), the
 * PKCE verifier, a state per authorization, and redirectToAuthorization as a
 * headless browser (followSignIn) that keeps what came back to the loopback
 * redirect URI.
 */
class HeadlessProvider {
  constructor(redirectUrl) {
    this.redirect = redirectUrl;
    this.authorizations = [];
    this.saved = [];
  }
  get redirectUrl() { return this.redirect; }
  get clientMetadata() {
    return {
      client_name: 'agent-sts interop (TypeScript SDK)', redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this.lastState = randomBytes(16).toString('base64url');
    return this.lastState;
  }
  clientInformation() {
    return { client_id: ctx.interactive.okta.client_id, token_endpoint_auth_method: 'none', redirect_uris: [this.redirect], issuer: ctx.sts };
  }
  tokens() { return this.saved.at(-1); }
  saveTokens(tokens) { this.saved.push(tokens); }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(url) {
    this.authorizations.push(new URL(url));
    this.back = await followSignIn(url, this.redirect, 'okta');
  }
}

/** fetch that records each request's method, path and status (the SDK's own requests, through the transport). */
function recordingFetch(log) {
  return async (url, init) => {
    const res = await fetch(url, init);
    log.push(`${init?.method ?? 'GET'} ${new URL(url).pathname} ${res.status}`);
    return res;
  };
}

async function whoamiWith(provider, log) {
  const client = new Client({ name: 'interop-interactive', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(ctx.mcp.notes_url), { authProvider: provider, fetch: recordingFetch(log) });
  try {
    await client.connect(transport);
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    return result.content[0].text;
  } finally {
    await client.close().catch(() => {});
  }
}

function assertInteractive(token) {
  const c = claimsOf(token);
  const id = ctx.interactive.okta.client_id;
  assert.deepEqual(c['urn:agent'], { id, pattern: 'interactive' });
  assert.deepEqual(c.act, { sub: id });
  assert.equal(c.aud, notes);
  assert.equal(c.client_id, id);
  assert.match(c.sub, /^00u/);
  assert.equal(c.idp, ctx.idp.okta.issuer);
  return c;
}

const provider = new HeadlessProvider(await loopbackRedirectUri());
const signedIn = await check(MCP, 'StreamableHTTPClientTransport + OAuthClientProvider (pre-registered public client, headless browser): 401 → RFC 9728 → RFC 8414 → /authorize → fake Okta sign-in, finishAuth(code) → /token, then whoami on the Python example server', async () => {
  const log = [];
  const e = await rejects(() => whoamiWith(provider, log), 'connected without signing in');
  assert.ok(e instanceof UnauthorizedError, `${e.name}: ${e.message}`);
  assert.equal(provider.authorizations.length, 1);
  const sent = Object.fromEntries(provider.authorizations[0].searchParams);
  assert.equal(sent.code_challenge_method, 'S256');
  const back = provider.back;
  assert.ok(back.code, `no code at the redirect URI: error=${back.error} (${back.error_description})`);
  assert.equal(back.state, provider.lastState, 'state');
  assert.equal(back.iss, as.issuer, 'iss (RFC 9207)');
  // What the application does when its redirect URI is hit: finish, then connect again.
  const transport = new StreamableHTTPClientTransport(new URL(ctx.mcp.notes_url), { authProvider: provider, fetch: recordingFetch(log) });
  await transport.finishAuth(back.code);
  const tokens = provider.tokens();
  assert.ok(tokens?.refresh_token, 'no refresh token');
  assert.equal(tokens.issuer, ctx.sts);
  const text = await whoamiWith(provider, log);
  const c = assertInteractive(tokens.access_token);
  assert.equal(text, `sub=${c.sub} act=${c.act.sub} agent=${c['urn:agent'].id} scope=${c.scope}`);
  for (const step of ['POST /mcp 401', 'GET /.well-known/oauth-protected-resource', 'GET /.well-known/oauth-authorization-server 200', 'POST /token 200', 'POST /mcp 200']) {
    assert.ok(log.some((l) => l.startsWith(step)), `no "${step}" in ${log.join(', ')}`);
  }
  return `resource=${sent.resource} scope=${sent.scope}; ${text}; urn:agent.pattern=${c['urn:agent'].pattern}, jti ${c.jti}`;
});

await check(MCP, 'auth() refreshes with the stored refresh token (rotated) and the next tool call succeeds', async () => {
  assert.ok(signedIn, 'needs the sign-in of the check before');
  const before = provider.tokens();
  const log = [];
  const result = await auth(provider, { serverUrl: ctx.mcp.notes_url, fetchFn: recordingFetch(log) });
  assert.equal(result, 'AUTHORIZED');
  assert.equal(provider.authorizations.length, 1, 'signed in again instead of refreshing');
  const after = provider.tokens();
  assert.ok(after.refresh_token && after.refresh_token !== before.refresh_token, 'the refresh token was not rotated');
  const c = assertInteractive(after.access_token);
  const old = claimsOf(before.access_token);
  assert.notEqual(c.jti, old.jti);
  assert.equal(c.sub, old.sub);
  const text = await whoamiWith(provider, log);
  return `jti ${old.jti} → ${c.jti}, refresh token rotated; ${text}`;
});

finish();
