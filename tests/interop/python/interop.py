"""agent-sts against Python libraries: Authlib (OAuth2Session, AsyncOAuth2Client,
JWTBearerTokenValidator), PyJWT (PyJWKClient), the MCP Python SDK (the
example server's introspecting TokenVerifier, a streamable-HTTP client
tool call, its OAuthClientProvider signing a user in through agent-sts's
/authorize and refreshing), httpx for the bare protocol checks (and an
Entra sign-in), and the two examples."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode

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
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.auth_utils import resource_url_from_server_url
from pydantic import AnyHttpUrl

from id_jag import checks as id_jag_checks
from harness import (CTX, check, claims_of, entra, exit_code, expect_raise, expect_raise_async, follow_sign_in, okta,
                     workload)

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


def loopback_redirect_uri() -> str:
    """The registered `http://127.0.0.1/callback` on a port of this run (RFC
    8252 §7.3: any port is accepted); nothing listens there, the headless
    browser stops at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return CTX["interactive"]["okta"]["redirect_uri"].replace("127.0.0.1/", f"127.0.0.1:{port}/", 1)


class MemoryStorage:
    """The SDK's TokenStorage, in memory, holding the pre-registered client
    (agent-sts has no dynamic registration)."""

    def __init__(self, client_info: OAuthClientInformationFull) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class HeadlessSignIn:
    """The redirect and callback handlers of OAuthClientProvider: the
    authorization URL is followed by a headless browser (see
    follow_sign_in) and the code, state and iss at the loopback redirect URI
    are handed back to the SDK."""

    def __init__(self, redirect_uri: str) -> None:
        self.redirect_uri = redirect_uri
        self.authorization_urls: list[str] = []
        self.back: dict | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self.back = await follow_sign_in(authorization_url, self.redirect_uri, "okta")

    async def callback_handler(self) -> AuthorizationCodeResult:
        back, self.back = self.back, None
        assert back is not None, "the redirect handler did not run"
        assert "code" in back, f"no code at the redirect URI: error={back.get('error')} ({back.get('error_description')})"
        return AuthorizationCodeResult(code=back["code"], state=back.get("state"), iss=back.get("iss"))


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

    # --- MCP clients signing users in through agent-sts (interactive) -----
    # The MCP Python SDK's OAuthClientProvider, as an MCP client uses it: the
    # example server's 401 names its protected resource metadata (RFC 9728),
    # which names agent-sts; RFC 8414 metadata; /authorize (PKCE S256,
    # resource) through the fake Okta's sign-in; the code at /token as a
    # public client; then the tool call with the token.
    interactive = CTX["interactive"]["okta"]
    sign_in = HeadlessSignIn(loopback_redirect_uri())
    storage = MemoryStorage(OAuthClientInformationFull(
        client_id=interactive["client_id"], token_endpoint_auth_method="none",
        redirect_uris=[AnyHttpUrl(sign_in.redirect_uri)], grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    ))
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="agent-sts interop (Python SDK)", redirect_uris=[AnyHttpUrl(sign_in.redirect_uri)],
            token_endpoint_auth_method="none", grant_types=["authorization_code", "refresh_token"],
        ),
        storage=storage, redirect_handler=sign_in.redirect_handler, callback_handler=sign_in.callback_handler,
    )

    sdk_requests: list[str] = []  # method, path and status of each request the SDK's client sent

    async def record(response: httpx2.Response) -> None:
        sdk_requests.append(f"{response.request.method} {response.request.url.path} {response.status_code}")

    async def whoami_with_provider() -> str:
        async with httpx2.AsyncClient(auth=provider, timeout=15, event_hooks={"response": [record]}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool("whoami", {})
        assert not result.is_error, result.content
        return result.content[0].text

    def assert_interactive(token: str) -> dict:
        c = claims_of(token)
        assert c["urn:agent"] == {"id": interactive["client_id"], "pattern": "interactive"}, c["urn:agent"]
        assert c["act"] == {"sub": interactive["client_id"]}, c["act"]
        assert c["aud"] == NOTES and c["client_id"] == interactive["client_id"], (c["aud"], c["client_id"])
        assert c["sub"].startswith("00u") and c["idp"] == CTX["idp"]["okta"]["issuer"], (c["sub"], c["idp"])
        return c

    async def sdk_sign_in():
        text = await whoami_with_provider()
        assert len(sign_in.authorization_urls) == 1, f"{len(sign_in.authorization_urls)} authorization requests"
        sent = dict(httpx.URL(sign_in.authorization_urls[0]).params)
        assert sent["code_challenge_method"] == "S256" and sent["client_id"] == interactive["client_id"], sent
        tokens = storage.tokens
        assert tokens is not None and tokens.refresh_token, "no refresh token stored"
        c = assert_interactive(tokens.access_token)
        assert text == f"sub={c['sub']} act={interactive['client_id']} agent={interactive['client_id']} " \
                       f"scope={c['scope']}", text
        for step in ("POST /mcp 401", "GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-authorization-server 200",
                     "POST /token 200", "POST /mcp 200"):
            assert any(r.startswith(step) for r in sdk_requests), f"no {step!r} in {sdk_requests}"
        return (f"resource={sent['resource']} scope={sent.get('scope')}; {text}; "
                f"urn:agent.pattern={c['urn:agent']['pattern']}, jti {c['jti']}")

    signed_in = await check(MCP, "OAuthClientProvider (pre-registered public client, headless browser): RFC 9728 → "
                            "RFC 8414 → /authorize → fake Okta sign-in → /token (authorization_code), then "
                            "whoami on the example server", sdk_sign_in)

    async def sdk_refresh():
        assert signed_in, "needs the sign-in of the check before"
        before = storage.tokens
        # As if the access token had expired: the provider refreshes before
        # its next request (grant_type=refresh_token, client_id, resource).
        provider.context.token_expiry_time = time.time() - 1
        sdk_requests.clear()
        text = await whoami_with_provider()
        after = storage.tokens
        assert sdk_requests[0] == "POST /token 200", f"the first request was {sdk_requests[:1]}, not the refresh"
        assert len(sign_in.authorization_urls) == 1, "signed in again instead of refreshing"
        assert after.refresh_token and after.refresh_token != before.refresh_token, "the refresh token was not rotated"
        c, old = assert_interactive(after.access_token), claims_of(before.access_token)
        assert c["jti"] != old["jti"] and c["sub"] == old["sub"], (c["jti"], old["jti"])
        return f"jti {old['jti']} → {c['jti']}, refresh token rotated; {text}"

    await check(MCP, "OAuthClientProvider refreshes an expired access token (refresh_token grant, rotated) and "
                "the next tool call succeeds", sdk_refresh)

    async def pkce_flow(idp: str) -> tuple[dict, str, str]:
        """The bare flow for the `idp`'s interactive client: /authorize → the
        sign-in → the client's redirect URI. (the query there, verifier, redirect URI)"""
        cid, redirect_uri = CTX["interactive"][idp]["client_id"], loopback_redirect_uri()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        params = {"response_type": "code", "client_id": cid, "redirect_uri": redirect_uri, "state": state,
                  "code_challenge": challenge, "code_challenge_method": "S256", "resource": NOTES,
                  "scope": "notes:read"}
        back = await follow_sign_in(f"{META['authorization_endpoint']}?{urlencode(params)}", redirect_uri, idp)
        assert back.get("state") == state and back.get("iss") == STS, (back.get("state") == state, back.get("iss"))
        return back, verifier, redirect_uri

    async def entra_sign_in():
        back, verifier, redirect_uri = await pkce_flow("entra")
        assert "code" in back, f"error={back.get('error')} ({back.get('error_description')})"
        cid = CTX["interactive"]["entra"]["client_id"]
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(META["token_endpoint"], data={
                "grant_type": "authorization_code", "client_id": cid, "code": back["code"],
                "code_verifier": verifier, "redirect_uri": redirect_uri, "resource": NOTES})
        assert r.status_code == 200, f"/token answered {r.status_code} {r.text}"
        tok = r.json()
        c = claims_of(tok["access_token"])
        assert c["urn:agent"] == {"id": cid, "pattern": "interactive"} and c["act"] == {"sub": cid}, c
        assert c["tid"] == CTX["idp"]["entra"]["tenant"] and c["idp"] == CTX["idp"]["entra"]["issuer_v2"], c
        assert c["sub"] == (await introspect(tok["access_token"]))["sub"]
        text = await call_whoami(url, tok["access_token"])
        assert text.startswith(f"sub={c['sub']} act={cid} agent={cid}"), text
        assert tok.get("refresh_token"), "no refresh token"
        return f"sub = the oid {c['sub']}, never the pairwise sub; {text}"

    await check(HTTPX, "sign-in at the fake Entra ID (v2 endpoints, pairwise sub, group object ids): /authorize → "
                "Entra → callback → /token; whoami on the example server", entra_sign_in)

    async def outsider_sign_in():
        login = CTX["idp"]["okta"]["login"]
        async with httpx.AsyncClient(timeout=10) as http:
            (await http.post(login["sign_in"], data=CTX["users"]["okta_outsider"])).raise_for_status()
        try:
            back, _, _ = await pkce_flow("okta")
        finally:
            async with httpx.AsyncClient(timeout=10) as http:
                (await http.post(login["sign_in"], data=CTX["users"]["okta"])).raise_for_status()
        assert "code" not in back and back.get("error"), f"the outsider got {sorted(back)}"
        return f"error={back['error']} ({back.get('error_description')}), with state and iss"

    await check(HTTPX, "a user without the group notes:read needs is sent back to the client with an RFC 6749 "
                "§4.1.2.1 error, state and iss (RFC 9207)", outsider_sign_in)

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
    await id_jag_checks(url)

    return exit_code()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
