"""Fake identity providers for the interop suite, on 127.0.0.1 only.

Three HTTP servers in one process, each on a free loopback port:

* a fake **Okta** custom authorization server, issuer
  ``http://127.0.0.1:PORT/oauth2/default`` (Okta's URL layout: discovery
  under the issuer, keys at ``/v1/keys``), minting access tokens with the
  claims real Okta access tokens carry (``ver, jti "AT.…", iss,
  aud "api://default", iat, exp, cid, uid, scp[], auth_time, sub, groups``);
* a fake **Entra ID** serving one tenant, with v2 access tokens (issuer
  ``{base}/{tid}/v2.0``, ``aud`` the API's app id, ``azp``) and v1 ones
  (issuer ``{base}/sts/{tid}/``, standing for ``https://sts.windows.net/{tid}/``,
  ``aud`` the API's app id URI, ``appid``, ``upn``, header ``x5t``), both
  with ``tid, oid, pairwise sub, scp, groups`` (group object ids);
* a fake **Kubernetes** service-account token issuer for the agents'
  workload identity (``sub = system:serviceaccount:NS:NAME``,
  ``aud ["agent-sts"]``).

Each serves OIDC discovery and its JWKS like the real one, and a local-only
``POST /mint`` (a form: ``login``/``upn``/``sub``, ``groups`` comma
separated, ``ver`` for Entra) answering ``{"token": ..., "jti": ...}`` so the
Node and Python suites can get a user or workload token.

Okta and Entra (v2 endpoints) also sign users in to a relying party, as
agent-sts is one for the ``interactive`` pattern (OIDC Core §3.1,
RFC 6749 §4.1, PKCE RFC 7636):

* ``GET authorize`` (Okta ``{issuer}/v1/authorize``, Entra
  ``/{tid}/oauth2/v2.0/authorize``): a registered client, its one redirect
  URI compared exactly, ``response_type=code``, the ``openid`` scope, PKCE
  ``S256``; there is no login page: the signed-in test user is taken at
  once and the answer is a 302 to the redirect URI with a one-time ``code``
  (60 s) and the ``state``. A bad client or redirect URI is an error page,
  never a redirect; other errors go back to the redirect URI;
* ``POST token`` (Okta ``{issuer}/v1/token``, Entra
  ``/{tid}/oauth2/v2.0/token``): ``client_secret_basic`` only, the code
  once, the same ``redirect_uri``, the ``code_verifier``; the answer
  carries an ID token signed with the IdP's key (``aud`` the client,
  ``nonce``, ``auth_time``, ``groups``, and ``sub`` as the vendor shapes it:
  Okta's ``uid``, Entra's pairwise ``sub`` beside ``oid``) and an access
  token;
* local-only ``POST /rp`` (form ``redirect_uri``) registers a client with
  an id and secret in the vendor's shape and answers
  ``{"client_id", "client_secret", "redirect_uri"}``; ``POST /sign-in``
  (form ``login`` or ``upn``, ``groups`` comma separated display names;
  empty: signed out, authorize answers ``access_denied``) sets the user the
  browser is signed in as.

The addresses are written as JSON to ``--state FILE`` once every server
listens. The process stops on SIGTERM/SIGINT, or by itself after
``--max-seconds``.

The shapes mirror ``tests/api/fake_idp`` (the Rust tests' fakes).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

# The same constants as tests/api/fake_idp.
OKTA_AUDIENCE = "api://default"
OKTA_APP_CLIENT_ID = "0oa8agentstsapp0x697"
ENTRA_TENANT = "7f3c1c52-0b7a-4b7e-9a55-3d0c7c8e1a01"
ENTRA_CLIENT_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
ENTRA_API_APP_ID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
ENTRA_API_APP_ID_URI = "api://agent-sts"
WORKLOAD_AUDIENCE = "agent-sts"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
CODE_TTL = 60  # seconds an authorization code can be redeemed (Okta's; Entra allows 10 minutes)
TOKEN_TTL = 3600  # both vendors' default token lifetime


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def random_b64(n: int) -> str:
    return b64url(secrets.token_bytes(n))[:n]


def stable_alnum(seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return digest[:n]


def stable_guid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def entra_group_id(name: str) -> str:
    """A group's object id, stable per display name (the suites and the
    configuration name groups by display name; Entra tokens carry ids)."""
    return stable_guid(f"group:{name}")


def okta_uid(login: str) -> str:
    return "00u" + stable_alnum(f"uid:{login}", 17)


def entra_oid(upn: str) -> str:
    return stable_guid(f"user:{upn}")


class Key:
    """One RSA-2048 signing key and its public JWK."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk = {"kty": "RSA", "kid": kid, "n": public["n"], "e": public["e"]}

    def sign(self, claims: dict, header: dict) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={**header, "kid": self.kid})


class Redirect:
    """A ``302`` to ``location``."""

    def __init__(self, location: str) -> None:
        self.location = location


class Page:
    """A plain-text page for the person at the browser (never a redirect)."""

    def __init__(self, status: int, text: str) -> None:
        self.status, self.text = status, text


class Json:
    """A JSON answer with its own headers (the token endpoint's: never cached)."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def with_query(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to its query."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def unique(raw: str) -> tuple[dict[str, str], str | None]:
    """A query or form body as a dict; empty values count as absent (RFC 6749
    §3.1). The name of a parameter sent twice, which §3.1 forbids, or None."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if not value:
            continue
        if name in params:
            return params, name
        params[name] = value
    return params, None


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
UNRESERVED = B64URL | set(".~")  # RFC 7636 §4.1: a verifier's characters


class SignIn:
    """The relying-party side of one fake authorization server: registered
    clients (confidential, ``client_secret_basic``, one redirect URI each),
    the signed-in test user, and one-time codes bound to client, redirect
    URI, PKCE challenge and nonce. The vendor shapes the tokens."""

    def __init__(self, new_client_id, new_client_secret) -> None:
        self.new_client_id, self.new_client_secret = new_client_id, new_client_secret
        self.lock = threading.Lock()
        self.clients: dict[str, dict] = {}
        self.user: dict | None = None
        self.codes: dict[str, dict | None] = {}  # None once redeemed (a replay is told apart)
        self.authorize_requests = 0
        self.token_requests = 0

    def register(self, form: dict[str, str]) -> dict:
        redirect_uri = form["redirect_uri"]
        if not urlsplit(redirect_uri).scheme:
            raise ValueError("redirect_uri must be an absolute URL")
        client = {
            "client_id": form.get("client_id") or self.new_client_id(),
            "client_secret": form.get("client_secret") or self.new_client_secret(),
            "redirect_uri": redirect_uri,
        }
        with self.lock:
            self.clients[client["client_id"]] = client
        return client

    def sign_in(self, login: str | None, groups: list[str]) -> dict:
        with self.lock:
            self.user = {"login": login, "groups": groups, "auth_time": int(time.time())} if login else None
        return {"signed_in": login}

    def authorize(self, realm: str, raw_query: str):
        """``GET authorize``: validates the request, then 302 with ``code`` and
        ``state`` to the registered redirect URI (or with ``error`` once the
        redirect URI is trusted)."""
        with self.lock:
            self.authorize_requests += 1
        params, twice = unique(raw_query)
        if twice:
            return Page(400, f"The '{twice}' parameter was sent more than once.")
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return Page(400, "The 'client_id' parameter is missing or names no registered client.")
        # RFC 6749 §3.1.2.3 / OAuth 2.1 §4.1.1: exact string comparison.
        if params.get("redirect_uri") != client["redirect_uri"]:
            return Page(400, "The 'redirect_uri' parameter must be a registered redirect URI.")
        state = params.get("state")

        def fail(error: str, description: str) -> Redirect:
            pairs = [("error", error), ("error_description", description)]
            if state:
                pairs.append(("state", state))
            return Redirect(with_query(client["redirect_uri"], pairs))

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "The response type is not supported by the authorization server.")
        scopes = [s for s in params.get("scope", "").split(" ") if s]
        # OIDC Core §3.1.2.1: an OpenID request MUST contain the openid scope.
        if "openid" not in scopes:
            return fail("invalid_scope", "The 'openid' scope is required.")
        challenge = params.get("code_challenge")
        if not challenge:
            return fail("invalid_request", "PKCE code challenge is required.")
        if params.get("code_challenge_method") != "S256":
            return fail("invalid_request", "PKCE code challenge method must be 'S256'.")
        if len(challenge) != 43 or not set(challenge) <= B64URL:
            return fail("invalid_request", "PKCE code challenge must be 43 base64url characters.")
        with self.lock:
            user = dict(self.user) if self.user else None
        if user is None:
            return fail("access_denied", "The user is not signed in.")
        code = random_b64(43)
        grant = {
            "client_id": client["client_id"], "login": user["login"], "groups": user["groups"],
            "auth_time": user["auth_time"], "scopes": scopes, "realm": realm,
            "nonce": params.get("nonce"), "redirect_uri": client["redirect_uri"],
            "challenge": challenge, "expires": time.time() + CODE_TTL,
        }
        with self.lock:
            self.codes[code] = grant
        pairs = [("code", code)]
        if state:
            pairs.append(("state", state))
        return Redirect(with_query(client["redirect_uri"], pairs))

    def redeem(self, realm: str, headers, body: str):
        """``POST token`` (RFC 6749 §4.1.3, RFC 7636 §4.6): the grant, or the
        §5.2 refusal as a Json answer."""
        with self.lock:
            self.token_requests += 1

        def refuse(error: str, description: str) -> Json:
            status = 401 if error == "invalid_client" else 400
            extra = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else {}
            return Json(status, {"error": error, "error_description": description}, extra)

        if not (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return refuse("invalid_request", "The request must be application/x-www-form-urlencoded.")
        params, twice = unique(body)
        if twice:
            return refuse("invalid_request", f"The '{twice}' parameter was sent more than once.")
        # client_secret_basic only (RFC 6749 §2.3.1: id and secret form-encoded, then Basic).
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("Basic "):
            if "client_secret" in params:
                return refuse("invalid_client", "Client authentication failed: this client uses client_secret_basic.")
            return refuse("invalid_client", "Client authentication failed: no client credentials.")
        if "client_secret" in params:
            return refuse("invalid_request", "The client used more than one authentication method.")
        try:
            raw_id, _, raw_secret = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except ValueError:
            return refuse("invalid_client", "Client authentication failed.")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self.clients.get(client_id)
        if (client is None or not secrets.compare_digest(client["client_secret"], secret)
                or params.get("client_id", client_id) != client_id):
            return refuse("invalid_client", "Client authentication failed.")
        if params.get("grant_type") != "authorization_code":
            if "grant_type" not in params:
                return refuse("invalid_request", "The 'grant_type' is required.")
            return refuse("unsupported_grant_type", "The grant type is not supported by the authorization server.")
        code = params.get("code")
        if not code:
            return refuse("invalid_request", "The 'code' parameter is required.")
        # The first redemption by its own client consumes the code, whatever happens next.
        with self.lock:
            if code not in self.codes:
                return refuse("invalid_grant", "The authorization code is invalid.")
            grant = self.codes[code]
            if grant is None:
                return refuse("invalid_grant", "The authorization code has already been redeemed.")
            if grant["client_id"] != client_id:
                return refuse("invalid_grant", "The authorization code was issued to another client.")
            self.codes[code] = None
        if grant["expires"] < time.time():
            return refuse("invalid_grant", "The authorization code is expired.")
        if grant["realm"] != realm:
            return refuse("invalid_grant", "The authorization code was issued by another authorization server.")
        if params.get("redirect_uri") != grant["redirect_uri"]:
            return refuse("invalid_grant", "The 'redirect_uri' does not match the redirection URI used in the "
                          "authorization request.")
        verifier = params.get("code_verifier")
        if not verifier:
            return refuse("invalid_request", "PKCE verification failed: 'code_verifier' is required.")
        if not 43 <= len(verifier) <= 128 or not set(verifier) <= UNRESERVED:
            return refuse("invalid_request",
                          "PKCE verification failed: 'code_verifier' must be 43-128 unreserved characters.")
        if not secrets.compare_digest(s256(verifier), grant["challenge"]):
            return refuse("invalid_grant", "PKCE verification failed.")
        return grant


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Fake:
    """One fake IdP: a name, a key, routes. ``base`` is set once bound."""

    name = "fake"
    signin: SignIn | None = None

    def __init__(self) -> None:
        self.base = ""
        self.lock = threading.Lock()
        self.minted = 0

    def get(self, path: str, query: str = ""):  # -> (status, body), Redirect, Page or None
        return None

    def post(self, path: str, headers, body: str):  # -> Json or None
        return None

    def mint(self, form: dict[str, str]) -> dict:
        raise NotImplementedError

    def sign_in(self, form: dict[str, str]) -> dict:
        if self.signin is None:
            raise ValueError(f"the fake {self.name} signs nobody in")
        login = form.get("login") or form.get("upn")
        groups = [g for g in form.get("groups", "").split(",") if g]
        return self.signin.sign_in(login, groups)


class FakeOkta(Fake):
    name = "okta"

    def __init__(self) -> None:
        super().__init__()
        self.key = Key(b64url(secrets.token_bytes(32)))  # 43 characters, like Okta's
        # Okta's shapes: client ids "0oa" + 17, secrets 40 base64url characters.
        self.signin = SignIn(lambda: "0oa" + stable_alnum(secrets.token_hex(8), 17), lambda: random_b64(40))

    @property
    def issuer(self) -> str:
        return f"{self.base}/oauth2/default"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/v1/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/v1/token"

    def metadata(self) -> dict:
        v1 = f"{self.issuer}/v1"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{v1}/authorize",
            "token_endpoint": f"{v1}/token",
            "userinfo_endpoint": f"{v1}/userinfo",
            "registration_endpoint": f"{self.base}/oauth2/v1/clients",
            "jwks_uri": f"{v1}/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "code token"],
            "grant_types_supported": [
                "authorization_code", "refresh_token", "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
            ],
            "introspection_endpoint": f"{v1}/introspect",
            "revocation_endpoint": f"{v1}/revoke",
            "end_session_endpoint": f"{v1}/logout",
        }

    def get(self, path: str, query: str = ""):
        if path in (
            "/oauth2/default/.well-known/openid-configuration",
            "/oauth2/default/.well-known/oauth-authorization-server",
        ):
            return 200, self.metadata()
        if path == "/oauth2/default/v1/keys":
            return 200, {"keys": [{**self.key.jwk, "alg": "RS256", "use": "sig"}]}
        if path == "/oauth2/default/v1/authorize":
            return self.signin.authorize(self.issuer, query)
        return None

    def post(self, path: str, headers, body: str):
        if path != "/oauth2/default/v1/token":
            return None
        grant = self.signin.redeem(self.issuer, headers, body)
        if isinstance(grant, Json):
            return grant
        return Json(200, self.code_flow_tokens(grant), NO_STORE)

    def code_flow_tokens(self, grant: dict) -> dict:
        """The code flow's answer for an RP client, by Okta's scope rules: the
        ID token ``{sub: uid, ver, iss, aud: client, iat, exp, jti "ID.…",
        amr, idp, auth_time, nonce, at_hash}`` plus ``name`` and
        ``preferred_username`` for ``profile``, ``email`` for ``email``,
        ``groups`` for ``groups``; the access token with ``cid`` = the client
        and ``scp`` = the scopes."""
        login, scopes, now = grant["login"], grant["scopes"], int(time.time())
        access = {
            "ver": 1, "jti": "AT." + random_b64(43), "iss": self.issuer, "aud": OKTA_AUDIENCE,
            "iat": now, "exp": now + TOKEN_TTL, "cid": grant["client_id"], "uid": okta_uid(login),
            "scp": scopes, "auth_time": grant["auth_time"], "sub": login, "groups": grant["groups"],
        }
        access_token = self.key.sign(access, {})
        claims = {
            "sub": okta_uid(login), "ver": 1, "iss": self.issuer, "aud": grant["client_id"],
            "iat": now, "exp": now + TOKEN_TTL, "jti": "ID." + stable_alnum(secrets.token_hex(8), 20),
            "amr": ["pwd"], "idp": "00o" + stable_alnum(self.base, 17), "auth_time": grant["auth_time"],
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        if "profile" in scopes:
            claims["name"] = login.split("@")[0].capitalize()
            claims["preferred_username"] = login
        if "email" in scopes:
            claims["email"] = login
        if "groups" in scopes:
            claims["groups"] = grant["groups"]
        return {
            "token_type": "Bearer", "expires_in": TOKEN_TTL, "access_token": access_token,
            "scope": " ".join(scopes), "id_token": self.key.sign(claims, {}),
        }

    def mint(self, form: dict[str, str]) -> dict:
        login = form.get("login", "alice@example.com")
        groups = [g for g in form.get("groups", "Everyone").split(",") if g]
        now = int(time.time())
        jti = "AT." + random_b64(43)
        claims = {
            "ver": 1, "jti": jti, "iss": self.issuer, "aud": OKTA_AUDIENCE,
            "iat": now, "exp": now + int(form.get("ttl", "3600")),
            "cid": OKTA_APP_CLIENT_ID, "uid": okta_uid(login),
            "scp": ["openid", "profile", "email"], "auth_time": now,
            "sub": login, "groups": groups,
        }
        return {"token": self.key.sign(claims, {}), "jti": jti, "sub": claims["uid"]}


class FakeEntra(Fake):
    """login.microsoftonline.com's layout; ``{base}/sts/{tid}/`` stands for sts.windows.net."""

    name = "entra"

    def __init__(self) -> None:
        super().__init__()
        self.key = Key(b64url(secrets.token_bytes(20)))  # kid = x5t: a SHA-1 length, like Entra's
        self.tenant = ENTRA_TENANT
        # Entra's shapes: a GUID application id, a 40-character "…8Q~…" secret.
        self.signin = SignIn(lambda: str(uuid.uuid4()),
                             lambda: stable_alnum(secrets.token_hex(8), 3) + "8Q~" + random_b64(34))

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.base}/{self.tenant}/oauth2/v2.0/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base}/{self.tenant}/oauth2/v2.0/token"

    def issuer_v2(self, tid: str) -> str:
        return f"{self.base}/{tid}/v2.0"

    def issuer_v1(self, tid: str) -> str:
        return f"{self.base}/sts/{tid}/"

    def get(self, path: str, query: str = ""):
        t, b = self.tenant, self.base
        if path == f"/{t}/oauth2/v2.0/authorize":
            return self.signin.authorize(t, query)
        if path.endswith("/oauth2/v2.0/authorize"):
            tid = path.strip("/").split("/")[0]
            return Page(400, f"AADSTS90002: Tenant '{tid}' not found.")
        if path == f"/{t}/v2.0/.well-known/openid-configuration":
            return 200, {
                "issuer": self.issuer_v2(t),
                "token_endpoint": f"{b}/{t}/oauth2/v2.0/token",
                "authorization_endpoint": f"{b}/{t}/oauth2/v2.0/authorize",
                "jwks_uri": f"{b}/{t}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post", "private_key_jwt", "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "NA",
                "cloud_instance_name": "microsoftonline.com",
            }
        if path == f"/{t}/.well-known/openid-configuration":
            return 200, {
                "issuer": self.issuer_v1(t),
                "token_endpoint": f"{b}/{t}/oauth2/token",
                "authorization_endpoint": f"{b}/{t}/oauth2/authorize",
                "jwks_uri": f"{b}/{t}/discovery/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        jwk = {**self.key.jwk, "use": "sig", "x5t": self.key.kid}
        if path == f"/{t}/discovery/v2.0/keys":
            return 200, {"keys": [{**jwk, "issuer": self.issuer_v2(t)}]}
        if path == f"/{t}/discovery/keys":
            return 200, {"keys": [jwk]}
        if path.endswith("/.well-known/openid-configuration") or "/discovery/" in path:
            tid = path.strip("/").split("/")[0]
            return 400, {
                "error": "invalid_tenant",
                "error_description": f"AADSTS90002: Tenant '{tid}' not found.",
                "error_codes": [90002],
            }
        return None

    def post(self, path: str, headers, body: str):
        if path != f"/{self.tenant}/oauth2/v2.0/token":
            return None
        grant = self.signin.redeem(self.tenant, headers, body)
        if isinstance(grant, Json):
            return grant
        return Json(200, self.code_flow_tokens(grant), NO_STORE)

    def sign_in(self, form: dict[str, str]) -> dict:
        """Entra tokens carry group object ids: the display names are mapped."""
        groups = ",".join(entra_group_id(g) for g in form.get("groups", "").split(",") if g)
        return super().sign_in({**form, "groups": groups})

    def code_flow_tokens(self, grant: dict) -> dict:
        """The v2 endpoint's answer for an RP client: the ID token ``{aud:
        client, iss, iat, nbf, exp, aio, rh, sub (pairwise per client), tid,
        uti, ver "2.0", nonce}`` plus ``name``, ``oid``, ``preferred_username``
        for ``profile``, ``email`` for ``email``, and ``groups`` (object ids,
        as an app with groupMembershipClaims gets them); and a Graph access
        token."""
        upn, client, tid, scopes = grant["login"], grant["client_id"], grant["realm"], grant["scopes"]
        now = int(time.time())
        claims = {
            "aud": client, "iss": self.issuer_v2(tid), "iat": now, "nbf": now, "exp": now + TOKEN_TTL,
            "aio": random_b64(64), "rh": f"0.A{random_b64(48)}.",
            "sub": b64url(hashlib.sha256(f"pairwise:{upn}:{client}".encode()).digest()),
            "tid": tid, "uti": random_b64(22), "ver": "2.0",
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        if "profile" in scopes:
            claims["name"] = f"{upn.split('@')[0].capitalize()} Tester"
            claims["oid"] = entra_oid(upn)
            claims["preferred_username"] = upn
        if "email" in scopes:
            claims["email"] = upn
        if grant["groups"]:
            claims["groups"] = grant["groups"]
        graph = {
            "aud": GRAPH_APP_ID, "iss": self.issuer_v1(tid), "iat": now, "nbf": now, "exp": now + TOKEN_TTL,
            "appid": client, "oid": entra_oid(upn), "scp": "openid profile email User.Read", "tid": tid,
            "upn": upn, "uti": random_b64(22), "ver": "1.0",
        }
        return {
            "token_type": "Bearer", "scope": "openid profile email https://graph.microsoft.com/User.Read",
            "expires_in": TOKEN_TTL, "ext_expires_in": TOKEN_TTL,
            "access_token": self.key.sign(graph, {"typ": "JWT", "x5t": self.key.kid}),
            "id_token": self.key.sign(claims, {"typ": "JWT"}),
        }

    def mint(self, form: dict[str, str]) -> dict:
        upn = form.get("upn", "alice@example.com")
        groups = [entra_group_id(g) for g in form.get("groups", "all-staff").split(",") if g]
        ver = form.get("ver", "2.0")
        tid = form.get("tid", self.tenant)
        local = upn.split("@")[0]
        now = int(time.time())
        uti = random_b64(22)
        common = {
            "iat": now, "nbf": now, "exp": now + int(form.get("ttl", "3600")),
            "aio": random_b64(64), "name": f"{local.capitalize()} Tester",
            "oid": entra_oid(upn), "rh": f"0.A{random_b64(48)}.", "scp": "access_as_user",
            "tid": tid, "uti": uti, "ver": ver, "groups": groups,
        }
        if ver == "1.0":
            aud = ENTRA_API_APP_ID_URI
            claims = {
                **common, "aud": aud, "iss": self.issuer_v1(tid), "acr": "1",
                "amr": ["pwd", "mfa"], "appid": ENTRA_CLIENT_APP_ID, "appidacr": "0",
                "family_name": "Tester", "given_name": local.capitalize(),
                "ipaddr": "203.0.113.7", "unique_name": upn, "upn": upn,
            }
            header = {"typ": "JWT", "x5t": self.key.kid}
        else:
            aud = ENTRA_API_APP_ID
            claims = {
                **common, "aud": aud, "iss": self.issuer_v2(tid), "azp": ENTRA_CLIENT_APP_ID,
                "azpacr": "0", "preferred_username": upn,
            }
            header = {"typ": "JWT"}
        claims["sub"] = b64url(hashlib.sha256(f"pairwise:{upn}:{aud}".encode()).digest())
        return {"token": self.key.sign(claims, header), "jti": uti, "sub": claims["oid"]}


class FakeKubernetes(Fake):
    """A cluster's service-account issuer (the agents' workload identity)."""

    name = "k8s"

    def __init__(self) -> None:
        super().__init__()
        self.key = Key(b64url(secrets.token_bytes(32)))

    @property
    def issuer(self) -> str:
        return self.base

    def get(self, path: str, query: str = ""):
        if path == "/.well-known/openid-configuration":
            return 200, {
                "issuer": self.issuer,
                "jwks_uri": f"{self.base}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if path == "/openid/v1/jwks":
            return 200, {"keys": [{**self.key.jwk, "alg": "RS256", "use": "sig"}]}
        return None

    def mint(self, form: dict[str, str]) -> dict:
        sub = form.get("sub", "system:serviceaccount:agents:default")
        _, _, namespace, name = (sub.split(":") + ["", "", "", ""])[:4]
        now = int(time.time())
        jti = str(uuid.uuid4())
        claims = {
            "aud": [WORKLOAD_AUDIENCE], "exp": now + int(form.get("ttl", "600")),
            "iat": now, "nbf": now, "iss": self.issuer, "jti": jti, "sub": sub,
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": stable_guid(f"sa:{sub}")},
            },
        }
        return {"token": self.key.sign(claims, {}), "jti": jti, "sub": sub}


def handler_for(fake: Fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: the suites print what matters
            pass

        def send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_json(self, status: int, body: dict, cache: bool = False, headers: dict | None = None) -> None:
            cache_control = {"Cache-Control": "public, max-age=86400" if cache else "no-store"}
            self.send(status, json.dumps(body).encode(),
                      {"Content-Type": "application/json", **cache_control, **(headers or {})})

        def answer(self, answer) -> None:
            if answer is None:
                self.send_json(404, {"error": "not_found"})
            elif isinstance(answer, Redirect):
                self.send(302, b"", {"Location": answer.location, "Cache-Control": "no-store"})
            elif isinstance(answer, Page):
                self.send(answer.status, answer.text.encode(), {"Content-Type": "text/plain; charset=utf-8"})
            elif isinstance(answer, Json):
                self.send_json(answer.status, answer.body, headers=answer.headers)
            else:
                self.send_json(answer[0], answer[1], cache=answer[0] == 200)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            self.answer(fake.get(path, query))

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path = self.path.split("?")[0]
            local = {"/mint": fake.mint, "/rp": lambda f: fake.signin.register(f), "/sign-in": fake.sign_in}
            if path not in local:
                self.answer(fake.post(path, self.headers, body))
                return
            # Local only: the suites on this machine are the only callers.
            if self.client_address[0] != "127.0.0.1":
                self.send_json(403, {"error": "forbidden"})
                return
            if path != "/mint" and fake.signin is None:
                self.send_json(404, {"error": "not_found"})
                return
            if "json" in (self.headers.get("Content-Type") or ""):
                form = {k: str(v) for k, v in json.loads(body or "{}").items()}
            else:
                form = {k: v[-1] for k, v in parse_qs(body).items()}
            if path == "/mint":
                with fake.lock:
                    fake.minted += 1
            try:
                self.send_json(200, local[path](form))
            except (KeyError, ValueError) as e:
                self.send_json(400, {"error": "invalid_request", "error_description": str(e)})

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="write the fakes' addresses here (JSON)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop by itself after this")
    args = parser.parse_args()

    fakes = [FakeOkta(), FakeEntra(), FakeKubernetes()]
    servers = []
    for fake in fakes:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
        server.daemon_threads = True
        fake.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    okta, entra, k8s = fakes

    def login(fake) -> dict:
        return {"authorization_endpoint": fake.authorization_endpoint, "token_endpoint": fake.token_endpoint,
                "register": f"{fake.base}/rp", "sign_in": f"{fake.base}/sign-in"}

    state = {
        "okta": {"base": okta.base, "issuer": okta.issuer, "audience": OKTA_AUDIENCE,
                 "mint": f"{okta.base}/mint", "login": login(okta)},
        "entra": {"base": entra.base, "tenant": entra.tenant,
                  "issuer_v2": entra.issuer_v2(entra.tenant), "issuer_v1": entra.issuer_v1(entra.tenant),
                  "audiences": [ENTRA_API_APP_ID, ENTRA_API_APP_ID_URI],
                  "mint": f"{entra.base}/mint", "login": login(entra)},
        "k8s": {"base": k8s.base, "issuer": k8s.issuer, "jwks_uri": f"{k8s.base}/openid/v1/jwks",
                "audience": WORKLOAD_AUDIENCE, "mint": f"{k8s.base}/mint"},
    }
    tmp = args.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, args.state)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait(args.max_seconds)
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
