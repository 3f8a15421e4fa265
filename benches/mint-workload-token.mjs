// A Kubernetes-style workload token for the hybrid_exchange scenario
// (benches/load.sh): the agent's own identity, sent as actor_token next to
// the user's subject token.
//
//   node mint-workload-token.mjs DIR ISSUER SUBJECT [AUDIENCE]
//
// Signs with the fake Okta key of the shared fixture
// (DIR/upstream_private_jwk.json, written by
// ../shared/bench-peer/mint-subject-token.mjs), so the same static
// DIR/upstream_jwks.json serves both upstreams; only `iss` differs (a second
// `[[upstreams]]` entry, `use = "workload"`). Writes DIR/workload_token.txt,
// valid 24 h. Copy this file into DIR before running it (jose is resolved
// from DIR/node_modules).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import * as jose from 'jose';

const [dir, iss, sub, aud = 'agent-sts'] = process.argv.slice(2);
if (!dir || !iss || !sub) {
  console.error('usage: node mint-workload-token.mjs DIR ISSUER SUBJECT [AUDIENCE]');
  process.exit(2);
}
const jwk = JSON.parse(fs.readFileSync(path.join(dir, 'upstream_private_jwk.json'), 'utf8'));
const key = await jose.importJWK(jwk, 'RS256');
const now = Math.floor(Date.now() / 1000);
const [, namespace = 'agents', name = 'agent'] = sub.split(':').slice(2);
const token = await new jose.SignJWT({
  'kubernetes.io': {
    namespace,
    serviceaccount: { name, uid: crypto.randomUUID() },
    pod: { name: `${name}-7d9c6b5f4-x2x8k`, uid: crypto.randomUUID() },
  },
})
  .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
  .setIssuer(iss).setSubject(sub).setAudience(aud)
  .setJti(crypto.randomUUID()).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 24 * 3600)
  .sign(key);
fs.writeFileSync(path.join(dir, 'workload_token.txt'), token);
console.log(`workload token for ${sub} in ${dir}`);
