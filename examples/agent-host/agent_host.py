"""An agent host: exchange the signed-in user's token at agent-sts, then call an MCP tool with it.

    AGENT_STS_URL=http://127.0.0.1:8080 AGENT_CLIENT_ID=obo-bot AGENT_CLIENT_SECRET=... \
    USER_TOKEN=<the user's Okta/Entra access token> python agent_host.py http://127.0.0.1:8000 [TOOL]

The argument is the MCP server's resource (as agent-sts knows it); its tools
are at RESOURCE/mcp. With ACTOR_TOKEN (the agent's own workload token, e.g.
its Kubernetes service-account token) the exchange is hybrid instead of
on-behalf-of. Tokens are never printed: only their SHA-256 prefix.
"""

import asyncio
import hashlib
import os
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

STS = os.environ["AGENT_STS_URL"]
AGENT = (os.environ["AGENT_CLIENT_ID"], os.environ["AGENT_CLIENT_SECRET"])
TYPE = "urn:ietf:params:oauth:token-type:"


async def exchange(resource: str) -> dict:
    """RFC 8693 token exchange: the user's token in, a token for `resource` out."""
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": os.environ["USER_TOKEN"], "subject_token_type": TYPE + "access_token",
        "resource": resource,
    }
    if os.environ.get("ACTOR_TOKEN"):
        form |= {"actor_token": os.environ["ACTOR_TOKEN"], "actor_token_type": TYPE + "jwt"}
    async with httpx2.AsyncClient(timeout=10) as http:
        r = await http.post(f"{STS}/token", data=form, auth=AGENT)
    if r.status_code != 200:
        sys.exit(f"agent-sts refused the exchange: {r.status_code} {r.text}")
    return r.json()


async def main(resource: str, tool: str) -> None:
    token = await exchange(resource)
    digest = hashlib.sha256(token["access_token"].encode()).hexdigest()[:12]
    print(f"exchanged: token sha256 {digest}…, scope {token['scope']!r}, expires in {token['expires_in']} s")
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    async with httpx2.AsyncClient(headers=bearer, timeout=30) as http:
        async with Client(streamable_http_client(f"{resource.rstrip('/')}/mcp", http_client=http)) as mcp:
            result = await mcp.call_tool(tool, {})
    print(f"{tool}: {result.content[0].text}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "whoami"))
