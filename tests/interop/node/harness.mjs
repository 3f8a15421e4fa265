// The Node suite's harness: the run's context, one line per check, the fake
// IdPs' mint endpoints, and redaction (no token or secret is ever printed:
// a token is shown as its jti or a SHA-256 prefix).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { strict as assert } from 'node:assert';

export { assert };
export const ctx = JSON.parse(readFileSync(process.env.INTEROP_CONTEXT, 'utf8'));

const secrets = [...Object.values(ctx.clients).map((c) => c.secret), ctx.signed_bot.private_jwk.d];
const JWS = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;

export function redact(text) {
  let out = String(text).replace(JWS, (t) => `[token sha256 ${sha(t)}]`);
  for (const s of secrets) out = out.split(s).join('[secret]');
  return out;
}

export const sha = (t) => createHash('sha256').update(t).digest('hex').slice(0, 12);

/** The claims of a compact JWS, unverified (for messages and checks after verification). */
export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

let passed = 0;
let failed = 0;
const CHECK_SECONDS = 20;

function why(e) {
  if (!(e instanceof Error)) return String(e);
  let msg = `${e.name}: ${e.message}`;
  if (e.code) msg += ` [${e.code}]`;
  if (e.error) msg += ` error=${e.error}`;
  if (e.error_description) msg += ` (${e.error_description})`;
  if (e.status) msg += ` status=${e.status}`;
  if (e.cause && typeof e.cause === 'object' && !(e.cause instanceof Error)) {
    try {
      msg += ` cause=${JSON.stringify(e.cause).slice(0, 400)}`;
    } catch {}
  } else if (e.cause instanceof Error) {
    msg += ` cause=${e.cause.message}`;
  }
  return msg.replace(/\s+/g, ' ');
}

/** Runs one check; prints `PASS library: what` or `FAIL library: what: why`. */
export async function check(library, what, fn) {
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_SECONDS} s`)), CHECK_SECONDS * 1000);
    });
    const result = await Promise.race([fn(), timeout]);
    passed += 1;
    console.log(redact(`PASS ${library}: ${what}${result ? ` (${result})` : ''}`));
    return true;
  } catch (e) {
    failed += 1;
    console.log(redact(`FAIL ${library}: ${what}: ${why(e)}`));
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Exit 1 when a check failed (the runner prints the totals). */
export function finish() {
  process.exitCode = failed > 0 ? 1 : 0;
  return { passed, failed };
}

/** A token from a fake IdP: `okta` {login, groups}, `entra` {upn, groups, ver}, `k8s` {sub}. */
export async function mint(idp, form) {
  const res = await fetch(ctx.idp[idp].mint, { method: 'POST', body: new URLSearchParams(form) });
  if (res.status !== 200) throw new Error(`fake ${idp} /mint answered ${res.status}`);
  return (await res.json()).token;
}

export const okta = () => mint('okta', ctx.users.okta);
export const entra = (ver) => mint('entra', { ...ctx.users.entra, ver });
export const workload = (role) => mint('k8s', { sub: ctx.workload_subjects[role] });

/** Throws unless `fn` rejects; returns the error for further checks. */
export async function rejects(fn, message) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error(message);
}

/** scheme://host:port/path of a URL, for messages (no query: codes, states). */
const where = (url) => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};

/**
 * A browser whose user is signed in at the fake `idp`: GET the authorization
 * URL and follow each 302 by hand (fetch with redirect: "manual"), checking
 * the way: agent-sts /authorize → the IdP's authorization endpoint →
 * agent-sts /authorize/callback → the client's `redirectUri`, which is not
 * fetched (nothing listens there). Returns that last Location's query.
 */
export async function followSignIn(authorizationUrl, redirectUri, idp) {
  const expected = [
    ["the IdP's authorization endpoint", ctx.idp[idp].login.authorization_endpoint],
    ["agent-sts's callback", `${ctx.sts}/authorize/callback`],
    ["the client's redirect URI", String(redirectUri)],
  ];
  let url = String(authorizationUrl);
  for (const [what, to] of expected) {
    const res = await fetch(url, { redirect: 'manual' });
    const body = await res.text();
    if (res.status !== 302) throw new Error(`GET ${where(url)} answered ${res.status}, not a redirect to ${what}: ${body.slice(0, 200)}`);
    const next = new URL(res.headers.get('location'), url).href;
    if (where(next) !== to) throw new Error(`GET ${where(url)} sent the browser to ${where(next)}, not ${what} ${to}`);
    url = next;
  }
  return Object.fromEntries(new URL(url).searchParams);
}
