"""SEP-990 with the MCP Python SDK's IdentityAssertionOAuthProvider: agent-sts
issues the ID-JAG (leg 1, token exchange with requested_token_type id-jag,
as an IdP without Cross App Access would need) and, trusting itself as an
ID-JAG issuer (the run's `self` upstream), takes it with the jwt-bearer
grant (leg 2). The SDK's provider does leg 2 and the tool call on the
example server, which introspects at agent-sts."""

from __future__ import annotations

import httpx
import httpx2
from mcp import Client
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthToken

from harness import CTX, check, claims_of, okta

MCP = "mcp (Python SDK)"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"


class Tokens:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return None

    async def set_client_info(self, client_info) -> None:
        return None


async def checks(url: str) -> None:
    sts, notes = CTX["sts"], CTX["resources"]["notes"]
    cid, secret = CTX["clients"]["jag"]["id"], CTX["clients"]["jag"]["secret"]
    issued: list[str] = []

    async def leg1(audience: str, resource: str) -> str:
        """What the SDK leaves to the deployment: the ID-JAG from the IdP (here agent-sts)."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{sts}/token", auth=(cid, secret), data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": ID_JAG, "subject_token": okta(),
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": audience, "resource": resource, "scope": "notes:read"})
        assert r.status_code == 200, f"leg 1 answered {r.status_code} {r.text}"
        body = r.json()
        assert body["issued_token_type"] == ID_JAG and body["token_type"] == "N_A", body
        issued.append(body["access_token"])
        return body["access_token"]

    storage = Tokens()
    # server_url names the resource as agent-sts declares it (the SDK sends
    # it as `resource`, and the ID-JAG must name the same one).
    provider = IdentityAssertionOAuthProvider(
        server_url=notes, storage=storage, client_id=cid, client_secret=secret, issuer=sts,
        assertion_provider=leg1, token_endpoint_auth_method="client_secret_basic",
    )

    async def sdk_id_jag():
        async with httpx2.AsyncClient(auth=provider, timeout=15) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool("whoami", {})
        assert not result.is_error, result.content
        text = result.content[0].text
        assert len(issued) == 1, f"{len(issued)} ID-JAGs asked for"
        jag = claims_of(issued[0])
        assert jag["aud"] == sts and jag["resource"] == notes and jag["client_id"] == cid, jag
        tokens = storage.tokens
        assert tokens is not None, "no token stored"
        c = claims_of(tokens.access_token)
        assert c["urn:agent"] == {"id": cid, "pattern": "id_jag"}, c["urn:agent"]
        assert c["act"] == {"sub": cid} and c["idp"] == sts and c["sub"] == jag["sub"], c
        assert text.startswith(f"sub={c['sub']} act={cid} agent={cid}"), text
        return f"ID-JAG jti {jag['jti']} → token jti {c['jti']} (pattern id_jag); {text}"

    await check(MCP, "IdentityAssertionOAuthProvider (SEP-990): leg 1 at agent-sts (token exchange for an "
                "ID-JAG), leg 2 (jwt-bearer) by the SDK, then whoami on the example server", sdk_id_jag)

    async def replay():
        assert issued, "needs the ID-JAG of the check before"
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{sts}/token", auth=(cid, secret), data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": issued[0]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (r.status_code, r.text)
        return r.json()["error_description"][:80]

    await check("httpx", "an ID-JAG used a second time is refused (invalid_grant)", replay)
