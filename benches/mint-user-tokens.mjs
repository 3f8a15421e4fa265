// Upstream user tokens for the token_exchange_first_seen scenario
// (benches/load.sh): N Okta-shaped RS256 access tokens, each a different
// user (sub, uid) and jti, signed with the fake Okta key of the shared
// fixture (DIR/upstream_private_jwk.json, written by
// ../shared/bench-peer/mint-subject-token.mjs) and valid 7 days, like the
// fixture's own subject_token.txt. Both servers verify every one of them
// once (RS256) in that scenario.
//
//   node mint-user-tokens.mjs DIR N OUT
//
// RSA signing is slow (~1 ms a token here), so two worker threads sign,
// and load.sh keeps OUT between runs while it is fresh (a new server
// process has never seen any of them).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const ISS = 'https://example.okta.com/oauth2/default';
const AUD = 'api://default';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

function mint(jwk, from, to, now) {
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const header = b64({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' });
  const out = [];
  for (let i = from; i < to; i++) {
    const user = `00ubench${String(i).padStart(9, '0')}`;
    const body = b64({
      ver: 1, jti: `AT.${crypto.randomUUID()}`, iss: ISS, aud: AUD, iat: now, exp: now + 7 * 24 * 3600,
      cid: '0oa1abcdefGHIJKLMN0x7', uid: user, scp: ['openid', 'profile', 'email', 'orders.read'],
      auth_time: now, sub: `${user}@bench.example`,
    });
    const input = `${header}.${body}`;
    out.push(`${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`);
  }
  return out.join('\n') + '\n';
}

if (isMainThread) {
  const [dir, nArg, outFile] = process.argv.slice(2);
  const n = Number(nArg);
  if (!dir || !(n > 0) || !outFile) {
    console.error('usage: node mint-user-tokens.mjs DIR N OUT');
    process.exit(2);
  }
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, 'upstream_private_jwk.json'), 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  const half = Math.ceil(n / 2);
  const parts = await Promise.all([[0, half], [half, n]].map(([from, to]) => new Promise((ok, fail) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { jwk, from, to, now } });
    w.on('message', ok);
    w.on('error', fail);
  })));
  fs.writeFileSync(outFile, parts.join(''));
  console.log(`${n} user tokens in ${outFile}`);
} else {
  const { jwk, from, to, now } = workerData;
  parentPort.postMessage(mint(jwk, from, to, now));
}
