#!/usr/bin/env python3
"""Revocation lag across replicas (benches/replicas.sh's side driver; stdlib only).

Every INTERVAL seconds (± 40 %, at random), with the replicas taking turns as A: a fresh token
from A (the token exchange of the benchmark), checked active on every
other live replica (B, C), revoked on A (RFC 7009 /revoke, by the client
it was issued to), then introspected on B and C every POLL_MS until each
says active:false (at most LAG_TIMEOUT seconds). One line per (revocation,
replica) in OUT_DIR/lag.csv:

  revoked_us      wall clock (µs) when the /revoke request was sent
  a_port,b_port   where it was revoked, where it was watched
  revoke_us       how long /revoke took to answer (200)
  lag_us          from /revoke's 200 answer to the first active:false
                  answer from b_port (what a client of B sees; includes
                  that answer's own round trip)
  lag_sent_us     the same from when /revoke was sent
  polls           introspections of b_port until then
  outcome         ok | timeout | error:<what>

and every token's jti in OUT_DIR/side-jtis.txt (they have audit records
too). A replica that stops answering (connection refused: the killed one)
leaves the rotation; the driver carries on with the others.

Environment: PORTS ("8180 8181 8182"), TX_BODY_FILE, CLIENT_AUTH,
GATEWAY_AUTH (Authorization values), OUT_DIR, SECONDS_TOTAL (how long to
run), INTERVAL (0.5), POLL_MS (2), LAG_TIMEOUT (5).
"""

import base64
import http.client
import json
import os
import random
import sys
import time

E = os.environ
PORTS = E["PORTS"].split()
TX_BODY = open(E["TX_BODY_FILE"]).read()
CLIENT_AUTH, GATEWAY_AUTH = E["CLIENT_AUTH"], E["GATEWAY_AUTH"]
OUT = E["OUT_DIR"]
TOTAL = float(E.get("SECONDS_TOTAL", "60"))
INTERVAL = float(E.get("INTERVAL", "0.5"))
POLL = float(E.get("POLL_MS", "2")) / 1000
LAG_TIMEOUT = float(E.get("LAG_TIMEOUT", "5"))
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def now_us():
    return time.time_ns() // 1000


class Down(Exception):
    pass


class Replica:
    def __init__(self, port):
        self.port = port
        self.conn = None
        self.alive = True

    def post(self, path, body, auth):
        """(status, body); one reconnect on a broken keep-alive, then Down."""
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", int(self.port), timeout=5)
                self.conn.request("POST", path, body, {**FORM, "Authorization": auth})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise Down(f"{self.port}: {type(e).__name__}: {e}") from e
        raise AssertionError("unreachable")

    def active(self, token):
        status, body = self.post("/introspect", "token=" + token, GATEWAY_AUTH)
        if status != 200:
            return None, status
        return json.loads(body).get("active"), status


def jti_of(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["jti"]


def main():
    replicas = [Replica(p) for p in PORTS]
    lag = open(os.path.join(OUT, "lag.csv"), "w", buffering=1)
    lag.write("revoked_us,a_port,b_port,revoke_us,lag_us,lag_sent_us,polls,outcome\n")
    jtis = open(os.path.join(OUT, "side-jtis.txt"), "w", buffering=1)
    events = open(os.path.join(OUT, "side-events.txt"), "w", buffering=1)
    start = time.monotonic()
    turn = 0
    while time.monotonic() - start < TOTAL:
        tick = time.monotonic()
        live = [r for r in replicas if r.alive]
        if len(live) < 2:
            events.write(f"{now_us()} fewer than two live replicas: stop\n")
            break
        a = live[turn % len(live)]
        others = [r for r in live if r is not a]
        turn += 1
        try:
            status, body = a.post("/token", TX_BODY, CLIENT_AUTH)
        except Down as e:
            a.alive = False
            events.write(f"{now_us()} down (token): {e}\n")
            continue
        if status != 200:
            events.write(f"{now_us()} token on {a.port}: {status} {body[:200]!r}\n")
            continue
        token = json.loads(body)["access_token"]
        jtis.write(jti_of(token) + "\n")
        watched = []
        for b in others:
            try:
                act, st = b.active(token)
            except Down as e:
                b.alive = False
                events.write(f"{now_us()} down (check): {e}\n")
                continue
            if act is True:
                watched.append(b)
            else:
                events.write(f"{now_us()} fresh token from {a.port} not active on {b.port}: status {st} active {act}\n")
        sent = now_us()
        try:
            status, body = a.post("/revoke", "token=" + token + "&token_type_hint=access_token", CLIENT_AUTH)
        except Down as e:
            a.alive = False
            events.write(f"{now_us()} down (revoke): {e}\n")
            continue
        answered = now_us()
        if status != 200:
            events.write(f"{answered} revoke on {a.port}: {status} {body[:200]!r}\n")
            continue
        pending = {b.port: [b, 0] for b in watched}
        while pending:
            for port in list(pending):
                b, polls = pending[port]
                try:
                    act, st = b.active(token)
                except Down as e:
                    b.alive = False
                    del pending[port]
                    lag.write(f"{sent},{a.port},{port},{answered - sent},,,{polls + 1},error:down\n")
                    events.write(f"{now_us()} down (poll): {e}\n")
                    continue
                t = now_us()
                pending[port][1] = polls + 1
                if act is False:
                    del pending[port]
                    lag.write(f"{sent},{a.port},{port},{answered - sent},{t - answered},{t - sent},{polls + 1},ok\n")
                elif t - answered > LAG_TIMEOUT * 1e6:
                    del pending[port]
                    lag.write(f"{sent},{a.port},{port},{answered - sent},,,{polls + 1},timeout\n")
                elif act is None:
                    events.write(f"{t} poll of {port}: status {st}\n")
            if pending:
                time.sleep(POLL)
        # Jittered (INTERVAL ± 40 %): at a fixed period equal to the
        # replicas' poll interval (both 500 ms) every revocation would land
        # at the same phase of each replica's poll, and without Redis the
        # lag would be one value per replica instead of its distribution.
        rest = INTERVAL * random.uniform(0.6, 1.4) - (time.monotonic() - tick)
        if rest > 0:
            time.sleep(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
