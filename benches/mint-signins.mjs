// Real sign-ins through agent-sts, headless, for benches/signin.sh: each one
// GET {sts}/authorize (PKCE S256, resource, scope, state) -> the upstream's
// /authorize (benches/upstream-login.mjs) -> {sts}/authorize/callback -> the
// 302 to the client's redirect URI, whose code is kept. Appends
// "code verifier" lines to OUT (written as they come: codes live 60 s).
//
//   node mint-signins.mjs OUT N [CONCURRENCY=32] [MAX_SECONDS=40]
//
// Environment: STS_URL, CLIENT_ID, REDIRECT_URI, RESOURCE, SCOPE. Stops after
// N codes or MAX_SECONDS, whichever comes first; prints what it got. With
// REDEEM=1 each code is redeemed at once and the refresh token written
// instead ("refresh_token" lines: the refresh bench's pool).
import crypto from 'node:crypto';
import fs from 'node:fs';

const [out, nArg, concArg, maxArg] = process.argv.slice(2);
if (!out || !nArg) {
  console.error('usage: node mint-signins.mjs OUT N [CONCURRENCY] [MAX_SECONDS]');
  process.exit(2);
}
const N = Number(nArg);
const CONC = Number(concArg || 32);
const MAX_MS = Number(maxArg || 40) * 1000;
const STS = process.env.STS_URL || 'http://127.0.0.1:8180';
const CLIENT_ID = process.env.CLIENT_ID || 'bench-mcp';
const REDIRECT_URI = process.env.REDIRECT_URI || 'http://127.0.0.1/callback';
const RESOURCE = process.env.RESOURCE || 'https://mcp.bench.example';
const SCOPE = process.env.SCOPE || 'orders:read';
const REDEEM = process.env.REDEEM === '1';

const b64url = (buf) => buf.toString('base64url');
const fd = fs.openSync(out, 'a');
const t0 = Date.now();
let started = 0;
let done = 0;
const failures = new Map();
const fail = (why) => failures.set(why, (failures.get(why) || 0) + 1);

async function hop(url) {
  const res = await fetch(url, { redirect: 'manual' });
  await res.arrayBuffer();
  const loc = res.headers.get('location');
  if (res.status < 300 || res.status > 303 || !loc) throw new Error(`${new URL(url).pathname} answered ${res.status}`);
  return new URL(loc, url).toString();
}

async function signIn() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(16));
  const start = new URL(`${STS}/authorize`);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state,
    code_challenge: challenge, code_challenge_method: 'S256', resource: RESOURCE, scope: SCOPE,
  })) start.searchParams.set(k, v);
  const atIdp = await hop(start.toString());
  const callback = await hop(atIdp);
  const back = new URL(await hop(callback));
  if (back.searchParams.get('error')) throw new Error(`refused: ${back.searchParams.get('error')}: ${back.searchParams.get('error_description')}`);
  if (back.searchParams.get('state') !== state) throw new Error('state mismatch');
  const code = back.searchParams.get('code');
  if (!code) throw new Error('no code');
  if (!REDEEM) return `${code} ${verifier}`;
  const res = await fetch(`${STS}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
      client_id: CLIENT_ID, resource: RESOURCE,
    }),
  });
  const body = await res.json();
  if (res.status !== 200 || !body.refresh_token) throw new Error(`redeem answered ${res.status} ${body.error || ''}`);
  return body.refresh_token;
}

async function worker() {
  while (started < N && Date.now() - t0 < MAX_MS) {
    started += 1;
    try {
      const line = await signIn();
      fs.writeSync(fd, `${line}\n`);
      done += 1;
    } catch (e) {
      fail(e.message);
      if ([...failures.values()].reduce((a, b) => a + b, 0) > 100) break;
    }
  }
}

await Promise.all(Array.from({ length: CONC }, worker));
fs.closeSync(fd);
const secs = (Date.now() - t0) / 1000;
console.error(`sign-ins: ${done} ${REDEEM ? 'refresh tokens' : 'codes'} in ${secs.toFixed(1)} s (${(done / secs).toFixed(0)}/s, concurrency ${CONC})`);
for (const [why, n] of failures) console.error(`  failed ${n}x: ${why}`);
process.exit(failures.size && done === 0 ? 1 : 0);
