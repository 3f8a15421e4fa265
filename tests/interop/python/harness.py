"""The Python suite's harness: the run's context, one line per check, the
fake IdPs' mint endpoints, and redaction (no token or secret is ever
printed: a token is shown as its jti or a SHA-256 prefix)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import json
import os
import re
from urllib.parse import parse_qsl, urlsplit

import httpx

CTX = json.load(open(os.environ["INTEROP_CONTEXT"]))
CHECK_SECONDS = 20
_SECRETS = [c["secret"] for c in CTX["clients"].values()] + [CTX["signed_bot"]["private_jwk"]["d"]]
_JWS = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
_counts = {"passed": 0, "failed": 0}


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def redact(text: str) -> str:
    text = _JWS.sub(lambda m: f"[token sha256 {sha(m.group(0))}]", str(text))
    for s in _SECRETS:
        text = text.replace(s, "[secret]")
    return text


def claims_of(token: str) -> dict:
    """The claims of a compact JWS, unverified (for checks after verification)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _why(e: BaseException) -> str:
    # anyio task groups wrap what went wrong: name the first leaf.
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    text = f"{type(e).__name__}: {e}"
    for attr in ("error", "description", "status_code"):
        v = getattr(e, attr, None)
        if v and str(v) not in text:
            text += f" {attr}={v}"
    if isinstance(e, AssertionError) and not str(e):
        tb = e.__traceback__
        while tb and tb.tb_next:
            tb = tb.tb_next
        if tb:
            text += f" (line {tb.tb_lineno})"
    return " ".join(text.split())


async def check(library: str, what: str, fn) -> bool:
    """Runs one check (an async function, or a sync one in a thread);
    prints `PASS library: what` or `FAIL library: what: why`."""
    try:
        call = fn() if inspect.iscoroutinefunction(fn) else asyncio.to_thread(fn)
        result = await asyncio.wait_for(call, CHECK_SECONDS)
    except BaseException as e:  # noqa: BLE001 - every failure is reported, even a timeout
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        _counts["failed"] += 1
        if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
            e = TimeoutError(f"no answer within {CHECK_SECONDS} s")
        print(redact(f"FAIL {library}: {what}: {_why(e)}"), flush=True)
        return False
    _counts["passed"] += 1
    print(redact(f"PASS {library}: {what}" + (f" ({result})" if result else "")), flush=True)
    return True


def exit_code() -> int:
    return 1 if _counts["failed"] else 0


def mint(idp: str, form: dict) -> str:
    r = httpx.post(CTX["idp"][idp]["mint"], data=form, timeout=10)
    r.raise_for_status()
    return r.json()["token"]


def okta(user: str = "okta") -> str:
    return mint("okta", CTX["users"][user])


def entra(ver: str) -> str:
    return mint("entra", {**CTX["users"]["entra"], "ver": ver})


def workload(role: str) -> str:
    return mint("k8s", {"sub": CTX["workload_subjects"][role]})


def expect_raise(fn, *types):
    """Calls fn; returns the exception it raised (of `types`), or fails."""
    try:
        fn()
    except types as e:
        return e
    raise AssertionError(f"expected {', '.join(t.__name__ for t in types)}; nothing was raised")


async def expect_raise_async(coro, *types):
    try:
        await coro
    except types as e:
        return e
    raise AssertionError(f"expected {', '.join(t.__name__ for t in types)}; nothing was raised")


def _where(url: str) -> str:
    """scheme://host:port/path of a URL, for messages (no query: codes, states)."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}{u.path}"


async def follow_sign_in(authorization_url: str, redirect_uri: str, idp: str) -> dict:
    """A browser whose user is signed in at the fake `idp`: GET the
    authorization URL and follow each 302 by hand, checking the way: agent-sts
    /authorize → the IdP's authorization endpoint → agent-sts
    /authorize/callback → the client's `redirect_uri`, which is not fetched
    (nothing listens there). Returns that last Location's query, plus
    `_hops` (where each step went)."""
    expected = [
        ("the IdP's authorization endpoint", CTX["idp"][idp]["login"]["authorization_endpoint"]),
        ("agent-sts's callback", f"{CTX['sts']}/authorize/callback"),
        ("the client's redirect URI", redirect_uri),
    ]
    url, hops = authorization_url, []
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as browser:
        for what, where in expected:
            r = await browser.get(url)
            if r.status_code != 302:
                raise AssertionError(f"GET {_where(url)} answered {r.status_code}, not a redirect to {what}: "
                                     f"{r.text[:200]}")
            url = r.headers["location"]
            if _where(url) != where:
                raise AssertionError(f"GET {_where(str(r.request.url))} sent the browser to {_where(url)}, "
                                     f"not {what} {where}")
            hops.append(_where(url))
    return {**dict(parse_qsl(urlsplit(url).query)), "_hops": hops}
