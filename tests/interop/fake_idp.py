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
Node and Python suites can get a user or workload token. The addresses are
written as JSON to ``--state FILE`` once every server listens. The process
stops on SIGTERM/SIGINT, or by itself after ``--max-seconds``.

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
from urllib.parse import parse_qs

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


class Fake:
    """One fake IdP: a name, a key, routes. ``base`` is set once bound."""

    name = "fake"

    def __init__(self) -> None:
        self.base = ""
        self.lock = threading.Lock()
        self.minted = 0

    def get(self, path: str):  # -> (status, body) or None
        return None

    def mint(self, form: dict[str, str]) -> dict:
        raise NotImplementedError


class FakeOkta(Fake):
    name = "okta"

    def __init__(self) -> None:
        super().__init__()
        self.key = Key(b64url(secrets.token_bytes(32)))  # 43 characters, like Okta's

    @property
    def issuer(self) -> str:
        return f"{self.base}/oauth2/default"

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

    def get(self, path: str):
        if path in (
            "/oauth2/default/.well-known/openid-configuration",
            "/oauth2/default/.well-known/oauth-authorization-server",
        ):
            return 200, self.metadata()
        if path == "/oauth2/default/v1/keys":
            return 200, {"keys": [{**self.key.jwk, "alg": "RS256", "use": "sig"}]}
        return None

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

    def issuer_v2(self, tid: str) -> str:
        return f"{self.base}/{tid}/v2.0"

    def issuer_v1(self, tid: str) -> str:
        return f"{self.base}/sts/{tid}/"

    def get(self, path: str):
        t, b = self.tenant, self.base
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

    def get(self, path: str):
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

        def send_json(self, status: int, body: dict, cache: bool = False) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "public, max-age=86400" if cache else "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            answer = fake.get(self.path.split("?")[0])
            if answer is None:
                self.send_json(404, {"error": "not_found"})
            else:
                self.send_json(answer[0], answer[1], cache=answer[0] == 200)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if self.path != "/mint":
                self.send_json(404, {"error": "not_found"})
                return
            # Local only: the suites on this machine are the only callers.
            if self.client_address[0] != "127.0.0.1":
                self.send_json(403, {"error": "forbidden"})
                return
            if "json" in (self.headers.get("Content-Type") or ""):
                form = {k: str(v) for k, v in json.loads(body or "{}").items()}
            else:
                form = {k: v[-1] for k, v in parse_qs(body).items()}
            with fake.lock:
                fake.minted += 1
            self.send_json(200, fake.mint(form))

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

    state = {
        "okta": {"base": okta.base, "issuer": okta.issuer, "audience": OKTA_AUDIENCE,
                 "mint": f"{okta.base}/mint"},
        "entra": {"base": entra.base, "tenant": entra.tenant,
                  "issuer_v2": entra.issuer_v2(entra.tenant), "issuer_v1": entra.issuer_v1(entra.tenant),
                  "audiences": [ENTRA_API_APP_ID, ENTRA_API_APP_ID_URI],
                  "mint": f"{entra.base}/mint"},
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
