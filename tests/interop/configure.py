"""Writes the interop run's agent-sts configuration and the suites' context.

Usage: configure.py TMPDIR   (after fake_idp.py wrote TMPDIR/idp.json)

Writes, all mode 0600 in TMPDIR:
* ``agent-sts.toml``: SQLite and keys in TMPDIR, listening on a free
  127.0.0.1 port, trusting the fakes (Okta and Entra for users, a
  Kubernetes-style issuer for workloads), four agents (obo, hybrid,
  workload with a client secret, workload with private_key_jwt), two
  ``interactive`` public clients (MCP clients whose users sign in at Okta,
  resp. Entra, through agent-sts's ``/authorize``), two MCP resources with
  their introspectors, one resource nobody serves. agent-sts is registered
  at the fake Okta and Entra as an OIDC relying party (``[upstreams.login]``,
  redirect URI ``{issuer}/authorize/callback``) and a test user is signed in
  at each;
* ``context.json``: what the Node and Python suites need (addresses, client
  ids and secrets, resources, users). Secrets live only in these files and
  in the processes' memory: no suite prints them;
* ``env.sh``: the same, as shell variables for ``run``, with the relying-party
  client secrets agent-sts reads from its environment
  (``client_secret = { env = ... }``).

Client secrets are random per run; the configuration holds their SHA-256
(``secret_sha256``), as ``agent-sts clients new-secret`` would make.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import socket
import sys
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_idp import entra_group_id  # noqa: E402

OTHER_RESOURCE = "https://mcp-other.example.com"
OKTA_USER = {"login": "alice@example.com", "groups": "Everyone,Engineering"}
OKTA_OUTSIDER = {"login": "mallory@example.com", "groups": "Everyone"}
ENTRA_USER = {"upn": "bob@contoso.example", "groups": "Engineering,all-staff"}
# MCP clients register one loopback redirect URI; any port is accepted (RFC 8252 §7.3).
LOOPBACK_CALLBACK = "http://127.0.0.1/callback"
INTERACTIVE = {"okta": "desktop-mcp", "entra": "desktop-entra"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def post_form(url: str, form: dict) -> dict:
    """A local-only call to a fake IdP (registration, sign-in)."""
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
        return json.load(r)


def main() -> int:
    tmp = os.path.abspath(sys.argv[1])
    with open(os.path.join(tmp, "idp.json")) as f:
        idp = json.load(f)

    sts_port, notes_port, files_port = free_port(), free_port(), free_port()
    while len({sts_port, notes_port, files_port}) < 3:
        notes_port, files_port = free_port(), free_port()
    sts = f"http://127.0.0.1:{sts_port}"
    # The Python MCP server's resource is written as a bare origin (no
    # trailing slash), the Node one with the slash an origin's URL
    # serialisation has (`new URL(origin).href`): both spellings are
    # configured, and each SDK asks for its own.
    notes = f"http://127.0.0.1:{notes_port}"
    files = f"http://127.0.0.1:{files_port}/"

    clients = {}
    for role, cid in [
        ("obo", "obo-bot"),
        ("hybrid", "hybrid-bot"),
        ("batch", "batch-bot"),
        ("notes_introspector", "mcp-notes"),
        ("files_introspector", "mcp-files"),
        ("jag", "jag-host"),
    ]:
        secret = secrets.token_urlsafe(32)
        clients[role] = {
            "id": cid,
            "secret": secret,
            "sha256": hashlib.sha256(secret.encode()).hexdigest(),
        }

    def client(role: str, auth: str = "client_secret_basic") -> str:
        c = clients[role]
        return f'{{ id = "{c["id"]}", auth = "{auth}", secret_sha256 = "{c["sha256"]}" }}'

    # signed-bot authenticates with private_key_jwt (RFC 7523): an ES256
    # key made for this run, its public half inline in the configuration.
    signer = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    signer.update(kid="signed-bot-key-1", alg="ES256", use="sig")
    signer.pop("key_ops", None)
    public = {k: v for k, v in signer.items() if k != "d"}
    public_toml = ", ".join(f"{k} = {json.dumps(v)}" for k, v in public.items())

    workload = {
        "hybrid": "system:serviceaccount:agents:hybrid-bot",
        "batch": "system:serviceaccount:agents:batch-bot",
    }
    eng = entra_group_id("Engineering")
    e, k, o = idp["entra"], idp["k8s"], idp["okta"]

    # agent-sts as a relying party of the fake Okta and Entra: its callback
    # registered there (a client id and secret in each vendor's shape), and
    # the test user each signs in without a login page.
    rp = {}
    for name, user in [("okta", OKTA_USER), ("entra", ENTRA_USER)]:
        login = idp[name]["login"]
        rp[name] = post_form(login["register"], {"redirect_uri": f"{sts}/authorize/callback"})
        post_form(login["sign_in"], user)
    config = f"""# agent-sts configuration for tests/interop/run (generated; one run only).
issuer = "{sts}"
listen = "127.0.0.1:{sts_port}"

[storage]
database_url = "sqlite://{tmp}/agent-sts.db?mode=rwc"

[keys]
dir = "{tmp}/keys"

[server]
drain_delay = "0s"
shutdown_grace = "2s"

[[upstreams]]
name = "okta"
kind = "okta"
issuer = "{o["issuer"]}"
audiences = ["{o["audience"]}"]
groups_claim = "groups"
login = {{ client_id = "{rp["okta"]["client_id"]}", client_secret = {{ env = "OKTA_RP_SECRET" }}, scopes = ["openid", "profile", "email", "groups"] }}

[[upstreams]]
name = "entra"
kind = "entra"
issuer = "{e["base"]}/{{tenantid}}/v2.0"
issuer_v1 = "{e["base"]}/sts/{{tenantid}}/"
tenants = ["{e["tenant"]}"]
audiences = {json.dumps(e["audiences"])}
groups_claim = "groups"
login = {{ client_id = "{rp["entra"]["client_id"]}", client_secret = {{ env = "ENTRA_RP_SECRET" }} }}

# SEP-990: agent-sts trusts itself as an ID-JAG issuer (leg 1 here, leg 2 here).
[[upstreams]]
name = "self"
kind = "oidc"
issuer = "{sts}"
jwks_uri = "{sts}/.well-known/jwks.json"
algorithms = ["ES256"]
audiences = []
issues_id_jag = true

[[upstreams]]
name = "k8s"
kind = "oidc"
use = "workload"
issuer = "{k["issuer"]}"
audiences = ["{k["audience"]}"]
jwks_uri = "{k["jwks_uri"]}"

[[resources]]
uri = "{notes}"
name = "notes (examples/mcp-server/server.py, Python MCP SDK)"
scopes = ["notes:read", "notes:write"]

[[resources]]
uri = "{files}"
name = "files (the Node suite's MCP server, TypeScript MCP SDK)"
scopes = ["files:read", "files:write"]

[[resources]]
uri = "{OTHER_RESOURCE}"
name = "a resource no MCP server of this run serves"
scopes = ["other:read"]

[[agents]]
id = "obo-bot"
patterns = ["obo"]
client = {client("obo")}
resources = ["{notes}", "{files}", "{OTHER_RESOURCE}"]
required_scopes = ["notes:read", "files:read", "other:read"]
optional_scopes = ["notes:write", "files:write"]

[[agents]]
id = "hybrid-bot"
patterns = ["hybrid"]
client = {client("hybrid")}
workload = {{ upstream = "k8s", subject = "{workload["hybrid"]}" }}
resources = ["{notes}", "{files}"]
required_scopes = ["notes:read", "files:read"]

[[agents]]
id = "batch-bot"
patterns = ["workload"]
client = {client("batch", "client_secret_post")}
workload = {{ upstream = "k8s", subject = "{workload["batch"]}" }}
resources = ["{notes}", "{files}", "{OTHER_RESOURCE}"]
required_scopes = ["notes:read", "files:read", "other:read"]
token_ttl = "5m"

[[agents]]
id = "signed-bot"
patterns = ["workload"]
client = {{ id = "signed-bot", auth = "private_key_jwt", jwks = {{ keys = [{{ {public_toml} }}] }} }}
resources = ["{notes}", "{files}"]
required_scopes = ["notes:read", "files:read"]

[[agents]]
id = "{INTERACTIVE["okta"]}"
description = "an MCP client (the Python and TypeScript SDKs); its users sign in at Okta"
patterns = ["interactive"]
client = {{ id = "{INTERACTIVE["okta"]}", auth = "none", redirect_uris = ["{LOOPBACK_CALLBACK}"] }}
user_upstreams = ["okta"]
resources = ["{notes}"]
required_scopes = ["notes:read"]
optional_scopes = ["notes:write"]

[[agents]]
id = "{INTERACTIVE["entra"]}"
description = "an MCP client whose users sign in at Entra ID"
patterns = ["interactive"]
client = {{ id = "{INTERACTIVE["entra"]}", auth = "none", redirect_uris = ["{LOOPBACK_CALLBACK}"] }}
user_upstreams = ["entra"]
resources = ["{notes}"]
required_scopes = ["notes:read"]

[[agents]]
id = "jag-host"
description = "an MCP client of the SDK's SEP-990 provider: asks for ID-JAGs, presents them"
patterns = ["obo", "id_jag"]
client = {client("jag")}
resources = ["{notes}"]
required_scopes = ["notes:read"]

[id_jag]
[[id_jag.audiences]]
issuer = "{sts}"
resources = ["{notes}"]
scopes = ["notes:read"]
agents = ["jag-host"]

[[introspectors]]
client = {client("notes_introspector")}
resources = ["{notes}"]

[[introspectors]]
client = {client("files_introspector")}
resources = ["{files}"]

[scope_groups]
"notes:read" = ["okta:Engineering", "entra:{eng}", "self:Engineering"]
"notes:write" = ["okta:Notes-Editors"]
"files:read" = ["okta:Engineering", "entra:{eng}"]
"files:write" = ["okta:Engineering"]
"other:read" = ["okta:Everyone", "entra:{eng}"]
"""
    write_private(os.path.join(tmp, "agent-sts.toml"), config)

    context = {
        "sts": sts,
        "idp": idp,
        "resources": {"notes": notes, "files": files, "other": OTHER_RESOURCE},
        "mcp": {"notes_url": f"{notes}/mcp", "files_port": files_port},
        "clients": {r: {"id": c["id"], "secret": c["secret"]} for r, c in clients.items()},
        "signed_bot": {"id": "signed-bot", "private_jwk": signer},
        "interactive": {
            upstream: {"client_id": cid, "redirect_uri": LOOPBACK_CALLBACK, "rp_client_id": rp[upstream]["client_id"]}
            for upstream, cid in INTERACTIVE.items()
        },
        "workload_subjects": workload,
        "users": {"okta": OKTA_USER, "okta_outsider": OKTA_OUTSIDER, "entra": ENTRA_USER},
        "entra_groups": {"Engineering": eng},
        "repo": os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    }
    write_private(os.path.join(tmp, "context.json"), json.dumps(context, indent=2))

    env = {
        "STS_URL": sts,
        "NOTES_RESOURCE": notes,
        "NOTES_PORT": str(notes_port),
        "NOTES_CLIENT_ID": clients["notes_introspector"]["id"],
        "NOTES_CLIENT_SECRET": clients["notes_introspector"]["secret"],
        "OKTA_RP_SECRET": rp["okta"]["client_secret"],
        "ENTRA_RP_SECRET": rp["entra"]["client_secret"],
    }
    write_private(
        os.path.join(tmp, "env.sh"),
        "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
