"""An MCP server that trusts agent-sts: each bearer token is checked at its /introspect.

    AGENT_STS_URL=http://127.0.0.1:8080 MCP_RESOURCE=http://127.0.0.1:8000 \
    MCP_CLIENT_ID=mcp-notes MCP_CLIENT_SECRET=... python server.py

MCP_RESOURCE is this server as agent-sts knows it (a `[[resources]]` uri);
MCP_CLIENT_ID/SECRET are its `[[introspectors]]` credentials. Tools are at
MCP_RESOURCE + "/mcp" (streamable HTTP).
"""

import os
from urllib.parse import urlsplit

import httpx2
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

STS, RESOURCE = os.environ["AGENT_STS_URL"], os.environ["MCP_RESOURCE"]
CLIENT = (os.environ["MCP_CLIENT_ID"], os.environ["MCP_CLIENT_SECRET"])


class AgentStsIntrospection:
    """RFC 7662: agent-sts answers active only for a valid token whose aud is one of ours."""

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx2.AsyncClient(timeout=5) as http:
            r = await http.post(f"{STS}/introspect", data={"token": token}, auth=CLIENT)
        claims = r.json() if r.status_code == 200 else {}
        if not claims.get("active"):
            return None  # expired, revoked, for another resource, not agent-sts's: 401
        return AccessToken(
            token=token, client_id=claims["client_id"], scopes=claims.get("scope", "").split(),
            expires_at=claims["exp"], resource=claims["aud"], subject=claims["sub"], claims=claims,
        )


mcp = MCPServer(
    "notes",
    token_verifier=AgentStsIntrospection(),
    auth=AuthSettings(issuer_url=STS, resource_server_url=RESOURCE, validate_token_resource=True,
                      required_scopes=["notes:read"]),
)


@mcp.tool()
def whoami() -> str:
    """Who this call is for, and which agent makes it (the token's sub and act)."""
    claims = get_access_token().claims
    actor = (claims.get("act") or {}).get("sub", "-")
    return f"sub={claims['sub']} act={actor} agent={claims['urn:agent']['id']} scope={claims['scope']}"


if __name__ == "__main__":
    mcp.run("streamable-http", host="127.0.0.1", port=urlsplit(RESOURCE).port)
