"""agent-sts against Python libraries: Authlib (OAuth2Session, AsyncOAuth2Client,
JWTBearerTokenValidator), PyJWT (PyJWKClient), the MCP Python SDK (the
example server's introspecting TokenVerifier, a streamable-HTTP client
tool call), httpx for the bare protocol checks, and the two examples."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import httpx2
import jwt
from joserfc.jwk import ECKey
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth_utils import resource_url_from_server_url
from pydantic import AnyHttpUrl

from harness import CTX, check, claims_of, entra, exit_code, expect_raise, expect_raise_async, okta, workload

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
STS = CTX["sts"]
NOTES, FILES, OTHER = (CTX["resources"][k] for k in ("notes", "files", "other"))
CLIENTS = CTX["clients"]
AUTHLIB, PYJWT, MCP, HTTPX = "Authlib", "PyJWT", "mcp (Python SDK)", "httpx"
META: dict = {}
JWKS: dict = {}


def creds(role: str) -> tuple[str, str]:
    return CLIENTS[role]["id"], CLIENTS[role]["secret"]


def agent(role: str, method: str = "client_secret_basic") -> AsyncOAuth2Client:
    cid, secret = creds(role)
    return AsyncOAuth2Client(cid, secret, token_endpoint_auth_method=method, timeout=10)


async def exchange(role: str, resource: str, subject: str, **extra) -> dict:
    async with agent(role) as client:
        return await client.fetch_token(
            META["token_endpoint"], grant_type=EXCHANGE, subject_token=subject,
            subject_token_type=AT, resource=resource, **extra,
        )


async def introspect(token: str, role: str = "notes_introspector", hint: str | None = None) -> dict:
    async with agent(role) as client:
        r = await client.introspect_token(META["introspection_endpoint"], token=token, token_type_hint=hint)
    assert r.status_code == 200, f"introspection answered {r.status_code}"
    return r.json()


def need(minted: dict, what: str) -> str:
    assert what in minted, f"needs the {what} token, which an earlier check did not get"
    return minted[what]


def assert_issued(tok: dict) -> dict:
    assert tok["issued_token_type"] == AT, tok["issued_token_type"]
    assert tok["token_type"] == "Bearer", tok["token_type"]
    assert 300 <= tok["expires_in"] <= 900, tok["expires_in"]
    return claims_of(tok["access_token"])


async def call_whoami(url: str, token: str) -> str:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("whoami", {})
    assert not result.is_error, result.content
    return result.content[0].text


async def raw_mcp_post(url: str, token: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, json=body, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})


async def main() -> int:
    # --- metadata and keys --------------------------------------------------
    async def metadata():
        async with httpx.AsyncClient(timeout=10) as http:
            META.update((await http.get(f"{STS}/.well-known/oauth-authorization-server")).json())
            JWKS.update((await http.get(META["jwks_uri"])).json())
        assert META["issuer"] == STS
        assert EXCHANGE in META["grant_types_supported"]
        return f"{len(JWKS['keys'])} key(s) in the JWKS"

    if not await check(HTTPX, "RFC 8414 metadata and JWKS", metadata):
        return 1

    # --- Authlib: token requests ---------------------------------------------
    minted: dict[str, str] = {}

    async def client_credentials():
        async with agent("batch", "client_secret_post") as client:
            tok = await client.fetch_token(META["token_endpoint"], grant_type="client_credentials", resource=NOTES)
        c = assert_issued(tok)
        assert c["aud"] == NOTES and c["sub"] == CTX["workload_subjects"]["batch"] and "act" not in c
        assert c["urn:agent"] == {"id": "batch-bot", "pattern": "workload"}
        assert tok["scope"] == "notes:read", tok["scope"]
        minted["client_credentials"] = tok["access_token"]
        return f"jti {c['jti']}"

    await check(AUTHLIB, "AsyncOAuth2Client.fetch_token client_credentials with resource (client_secret_post)",
                client_credentials)

    def session_client_credentials():
        cid, secret = creds("batch")
        with OAuth2Session(cid, secret, token_endpoint_auth_method="client_secret_post") as s:
            tok = s.fetch_token(META["token_endpoint"], grant_type="client_credentials", resource=OTHER,
                                timeout=10)
        c = assert_issued(tok)
        assert c["aud"] == OTHER and tok["scope"] == "other:read", (c["aud"], tok["scope"])
        return f"jti {c['jti']}"

    await check(AUTHLIB, "OAuth2Session (requests).fetch_token client_credentials with resource",
                session_client_credentials)

    class ShortPrivateKeyJWT(PrivateKeyJWT):
        """Authlib's PrivateKeyJWT with a 60 s assertion (its default is 3600 s)."""

        def sign(self, auth, token_endpoint):
            return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                        alg=self.alg, expires_in=60)

    for label, method in [
        ("with its defaults (assertion exp = iat + 3600 s)", PrivateKeyJWT),
        ("with a 60 s assertion lifetime", ShortPrivateKeyJWT),
    ]:
        async def private_key_jwt(method=method):
            key = ECKey.import_key(CTX["signed_bot"]["private_jwk"])
            async with AsyncOAuth2Client(CTX["signed_bot"]["id"], key, timeout=10,
                                         token_endpoint_auth_method=method(alg="ES256")) as client:
                tok = await client.fetch_token(META["token_endpoint"], grant_type="client_credentials", resource=NOTES)
            c = assert_issued(tok)
            assert c["sub"] == "signed-bot" and c["aud"] == NOTES, (c["sub"], c["aud"])
            return f"jti {c['jti']}"

        await check(AUTHLIB, f"fetch_token client_credentials with PrivateKeyJWT (RFC 7523, ES256) {label}",
                    private_key_jwt)

    async def obo_okta():
        tok = await exchange("obo", NOTES, okta())
        c = assert_issued(tok)
        assert c["aud"] == NOTES and c["act"] == {"sub": "obo-bot"} and c["urn:agent"]["pattern"] == "obo"
        assert c["sub"].startswith("00u") and c["idp"] == CTX["idp"]["okta"]["issuer"]
        assert tok["scope"] == "notes:read", tok["scope"]  # notes:write needs Notes-Editors
        minted["obo"] = tok["access_token"]
        return f"jti {c['jti']}"

    await check(AUTHLIB, "AsyncOAuth2Client.fetch_token token exchange (RFC 8693), OBO with an Okta access token",
                obo_okta)

    async def obo_entra_v1():
        tok = await exchange("obo", NOTES, entra("1.0"))
        c = assert_issued(tok)
        assert c["tid"] == CTX["idp"]["entra"]["tenant"] and c["act"] == {"sub": "obo-bot"}
        assert c["idp"] == CTX["idp"]["entra"]["issuer_v1"], c["idp"]
        return f"jti {c['jti']}"

    await check(AUTHLIB, "fetch_token token exchange, OBO with an Entra v1 access token", obo_entra_v1)

    async def hybrid():
        tok = await exchange("hybrid", NOTES, entra("2.0"), actor_token=workload("hybrid"), actor_token_type=JWT)
        c = assert_issued(tok)
        assert c["act"] == {"sub": CTX["workload_subjects"]["hybrid"], "iss": CTX["idp"]["k8s"]["issuer"]}, c["act"]
        assert c["urn:agent"]["pattern"] == "hybrid" and c["aud"] == NOTES
        minted["hybrid"] = tok["access_token"]
        return f"jti {c['jti']}"

    await check(AUTHLIB, "fetch_token token exchange, hybrid: Entra v2 user + Kubernetes workload actor_token", hybrid)

    async def refused():
        e = await expect_raise_async(exchange("obo", NOTES, okta("okta_outsider")), OAuthError)
        assert e.error == "invalid_scope", e.error
        return f"{e.error}: {e.description}"

    await check(AUTHLIB, "fetch_token raises OAuthError when the user lacks the group a required scope needs", refused)

    # Each SDK's way of writing an origin-only resource: the Python MCP SDK's
    # resource_url_from_server_url keeps a bare origin bare, and pydantic's
    # AnyHttpUrl (the SDK's settings type) adds the slash.
    for label, requested, configured in [
        ("notes configured bare, requested as resource_url_from_server_url(origin) (bare)",
         resource_url_from_server_url(NOTES), NOTES),
        ("notes configured bare, requested as resource_url_from_server_url(AnyHttpUrl(origin)) (trailing /)",
         resource_url_from_server_url(AnyHttpUrl(NOTES)), NOTES),
        ("files configured with /, requested as resource_url_from_server_url(origin) (bare)",
         resource_url_from_server_url(FILES.rstrip("/")), FILES),
    ]:
        async def spelling(requested=requested, configured=configured):
            tok = await exchange("obo", requested, okta())
            c = claims_of(tok["access_token"])
            assert c["aud"] == configured, f"aud {c['aud']}, configured {configured}"
            return f"asked {requested}, aud {c['aud']}"

        await check(AUTHLIB, f"resource spelling: {label}", spelling)

    # --- validating minted tokens --------------------------------------------
    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return JWKS

    def authlib_validator():
        for what, token in minted.items():
            v = Validator(issuer=STS, resource_server=NOTES)
            claims = v.authenticate_token(token)
            v.validate_token(claims, scopes=["notes:read"], request=None)
            assert claims["jti"] == claims_of(token)["jti"], what
        wrong = Validator(issuer=STS, resource_server=FILES)
        expect_raise(lambda: wrong.validate_token(wrong.authenticate_token(minted["obo"]), [], None),
                     InvalidTokenError)
        return f"{len(minted)} tokens; another resource_server refused"

    await check(AUTHLIB, "JWTBearerTokenValidator (RFC 9068) with our JWKS on the minted tokens", authlib_validator)

    def pyjwt():
        client = jwt.PyJWKClient(META["jwks_uri"], timeout=5)
        for token in minted.values():
            key = client.get_signing_key_from_jwt(token)
            assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
            claims = jwt.decode(token, key, algorithms=["ES256", "EdDSA", "RS256"], audience=NOTES, issuer=STS,
                                options={"require": ["exp", "iat", "nbf", "jti", "sub", "client_id"]})
            assert all(isinstance(claims[t], int) for t in ("exp", "iat", "nbf"))
        expect_raise(lambda: jwt.decode(minted["obo"], key, algorithms=["ES256", "EdDSA", "RS256"],
                                        audience=FILES, issuer=STS), jwt.InvalidAudienceError)
        return f"kid {key.key_id[:12]}…"

    await check(PYJWT, "PyJWKClient against our JWKS, jwt.decode with audience and issuer", pyjwt)

    # --- introspection and revocation ----------------------------------------
    async def introspection():
        r = await introspect(need(minted, "obo"))
        c = claims_of(minted["obo"])
        assert r["active"] is True
        for k in ("sub", "aud", "iss", "jti", "client_id", "scope", "exp", "act", "urn:agent"):
            assert r[k] == c[k], k
        other = await exchange("obo", FILES, okta())
        assert await introspect(other["access_token"]) == {"active": False}
        return f"jti {r['jti']}; a token for files is inactive here"

    await check(AUTHLIB, "introspect_token as the resource's introspector (client_secret_basic)", introspection)

    def revoke(hint: str):
        def run():
            tok = asyncio.run(exchange("obo", NOTES, okta()))["access_token"]
            assert asyncio.run(introspect(tok))["active"] is True
            cid, secret = creds("obo")
            with OAuth2Session(cid, secret) as s:
                r = s.revoke_token(META["revocation_endpoint"], token=tok, token_type_hint=hint, timeout=10)
            assert r.status_code == 200, f"/revoke answered {r.status_code} {r.text}"
            after = asyncio.run(introspect(tok))
            assert after == {"active": False}, f"still active after /revoke: {after.get('active')}"
            return f"revoked jti {claims_of(tok)['jti']}"
        return run

    await check(AUTHLIB, "OAuth2Session.revoke_token (token_type_hint=access_token), then inactive",
                revoke("access_token"))
    await check(AUTHLIB, "OAuth2Session.revoke_token with token_type_hint=refresh_token on our access token: "
                "200 and revoked (RFC 7009 §2.1: the hint is only a hint)", revoke("refresh_token"))

    async def async_revoke():
        tok = (await exchange("obo", NOTES, okta()))["access_token"]
        async with agent("obo") as client:
            r = await client.revoke_token(META["revocation_endpoint"], token=tok)
        assert r.status_code == 200
        assert await introspect(tok) == {"active": False}

    await check(AUTHLIB, "AsyncOAuth2Client.revoke_token (no hint), then inactive", async_revoke)

    # --- requests without client credentials ---------------------------------
    for path, form in [
        ("/token", {"grant_type": "client_credentials", "resource": NOTES}),
        ("/introspect", {"token": minted.get("obo", "x")}),
        ("/revoke", {"token": minted.get("obo", "x")}),
    ]:
        async def anonymous(path=path, form=form):
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(f"{STS}{path}", data=form)
            challenge = r.headers.get("www-authenticate", "")
            assert r.status_code == 401, f"status {r.status_code} {r.text}"
            assert r.json().get("error") == "invalid_client", r.text
            assert challenge, "no WWW-Authenticate header"
            return f"401 invalid_client, WWW-Authenticate: {challenge}"

        await check(HTTPX, f"POST {path} without client credentials: 401 with WWW-Authenticate", anonymous)

    async def wrong_secret():
        cid, _ = creds("obo")
        async with AsyncOAuth2Client(cid, "not-the-secret", timeout=10) as client:
            e = await expect_raise_async(
                client.fetch_token(META["token_endpoint"], grant_type=EXCHANGE, subject_token=okta(),
                                   subject_token_type=AT, resource=NOTES), OAuthError)
        assert e.error == "invalid_client", e.error
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(META["token_endpoint"], auth=(cid, "not-the-secret"),
                                data={"grant_type": "client_credentials", "resource": NOTES})
        assert r.status_code == 401 and r.headers.get("www-authenticate", "").startswith("Basic"), r.headers
        return "invalid_client, 401, WWW-Authenticate: Basic"

    await check(AUTHLIB, "a wrong client secret raises OAuthError invalid_client (401, WWW-Authenticate: Basic)",
                wrong_secret)

    # --- the MCP Python SDK: examples/mcp-server/server.py -------------------
    url = CTX["mcp"]["notes_url"]

    async def mcp_ok():
        text = await call_whoami(url, need(minted, "obo"))
        sub = claims_of(minted["obo"])["sub"]
        assert text == f"sub={sub} act=obo-bot agent=obo-bot scope=notes:read", text
        return text

    await check(MCP, "streamable-HTTP client tool call on the example server (MCPServer + introspecting "
                "TokenVerifier) with an exchanged token for it", mcp_ok)

    async def mcp_hybrid():
        text = await call_whoami(url, need(minted, "hybrid"))
        assert f"act={CTX['workload_subjects']['hybrid']} agent=hybrid-bot" in text, text
        return text

    await check(MCP, "tool call with the hybrid token (act = the agent's workload identity)", mcp_hybrid)

    async def mcp_other_resource():
        files_token = (await exchange("obo", FILES, okta()))["access_token"]
        e = await expect_raise_async(call_whoami(url, files_token), Exception)
        r = await raw_mcp_post(url, files_token)
        assert r.status_code == 401, f"status {r.status_code}"
        assert r.headers.get("www-authenticate", "").startswith('Bearer error="invalid_token"'), r.headers
        return f"client raised {type(e).__name__}; 401 {r.headers['www-authenticate'].split(',')[0]}"

    await check(MCP, "a token for another resource is refused: the client call fails, the server answers 401",
                mcp_other_resource)

    async def mcp_revoked():
        tok = (await exchange("obo", NOTES, okta()))["access_token"]
        assert (await raw_mcp_post(url, tok)).status_code == 200
        async with agent("obo") as client:
            await client.revoke_token(META["revocation_endpoint"], token=tok)
        r = await raw_mcp_post(url, tok)
        assert r.status_code == 401, f"status {r.status_code} after revocation"

    await check(MCP, "a revoked token is refused at once (401): the verifier asks agent-sts every time", mcp_revoked)

    # --- the examples, as a user would run them ------------------------------
    def agent_host(role: str, user_token: str, actor: str | None = None) -> subprocess.CompletedProcess:
        cid, secret = creds(role)
        env = {**os.environ, "AGENT_STS_URL": STS, "AGENT_CLIENT_ID": cid, "AGENT_CLIENT_SECRET": secret,
               "USER_TOKEN": user_token}
        if actor:
            env["ACTOR_TOKEN"] = actor
        script = os.path.join(CTX["repo"], "examples", "agent-host", "agent_host.py")
        return subprocess.run([sys.executable, script, NOTES], env=env, capture_output=True, text=True, timeout=30)

    def example_obo():
        user = okta()
        p = agent_host("obo", user)
        assert p.returncode == 0, f"exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}"
        last = p.stdout.strip().splitlines()[-1]
        assert last.startswith("whoami: sub=00u") and "act=obo-bot" in last, last
        assert user not in p.stdout + p.stderr
        return last

    await check("examples", "agent-host/agent_host.py (OBO) calls whoami on mcp-server/server.py", example_obo)

    def example_hybrid():
        p = agent_host("hybrid", entra("2.0"), workload("hybrid"))
        assert p.returncode == 0, f"exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}"
        last = p.stdout.strip().splitlines()[-1]
        assert f"act={CTX['workload_subjects']['hybrid']}" in last, last
        return last

    await check("examples", "agent_host.py with ACTOR_TOKEN (hybrid)", example_hybrid)

    def example_refused():
        p = agent_host("obo", okta("okta_outsider"))
        assert p.returncode != 0, "exit 0 for a user without the group"
        assert "agent-sts refused the exchange: 400" in p.stderr, p.stderr[-300:]
        return p.stderr.strip().splitlines()[-1][:120]

    await check("examples", "agent_host.py exits non-zero with agent-sts's reason when refused", example_refused)

    return exit_code()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
