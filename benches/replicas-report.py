#!/usr/bin/env python3
"""benches/replicas.sh's report: reads what the run left in RUN_DIR, prints
the tables and writes audit.csv, phases.csv and revocation_lag.csv there.

RUN_DIR holds (written by replicas.sh, benches/replicas.lua and
benches/replicas-revoke.py):
  replicas.txt        index port replica_id killed(0|1), one a line
  run.txt             key=value: start_us end_us kill_us during_s loadavg_*
  samples-<t>.csv     per wrk thread: end_us,latency_us,status,kind
  tokens-<t>.txt      per wrk thread: payloads of the tokens it was given
  probe-<port>.txt    jtis of the start-up probes on that port
  side-jtis.txt       jtis of the side driver's tokens (port unknown: any)
  lag.csv             the side driver's revocation lags
  audit-<port>.txt    jti,at of the token/allow audit rows of that replica's chains
  chains.csv          chain,rows,min_seq,max_seq,token_allow
  wrk.txt             wrk's output (its "replica:" lines, socket errors)
  verify.txt          agent-sts audit verify's output; verify.rc its status
"""

import base64
import glob
import json
import os
import sys

RUN = sys.argv[1]


def path(name):
    return os.path.join(RUN, name)


def lines(name):
    try:
        with open(path(name)) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


run = dict(l.split("=", 1) for l in lines("run.txt"))
replicas = []  # (index, port, replica_id, killed)
for l in lines("replicas.txt"):
    i, port, rid, killed = l.split()
    replicas.append((int(i), port, rid, killed == "1"))
ports = [r[1] for r in replicas]
killed_port = next((r[1] for r in replicas if r[3]), None)
start_us, end_us = int(run["start_us"]), int(run["end_us"])
kill_us = int(run.get("kill_us") or 0)
during_us = int(float(run.get("during_s", "5")) * 1e6)


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def ms(us):
    return "" if us is None else f"{us / 1000:.2f}"


def jti_of_payload(p):
    try:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["jti"]
    except Exception:  # noqa: BLE001 - reported as unreadable
        return None


# ---- 1. tokens answered vs audit rows ---------------------------------------
threads = sorted(int(os.path.basename(f)[len("samples-"):-len(".csv")]) for f in glob.glob(path("samples-*.csv")))
port_of_thread = {t: ports[(t - 1) % len(ports)] for t in threads}
answered = {p: set() for p in ports}
unreadable = 0
for t in threads:
    for payload in lines(f"tokens-{t}.txt"):
        j = jti_of_payload(payload)
        if j is None:
            unreadable += 1
        else:
            answered[port_of_thread[t]].add(j)
probe = {p: set(lines(f"probe-{p}.txt")) for p in ports}
side = set(lines("side-jtis.txt"))
# audit-<port>.txt: jti,at (decided at, Unix seconds)
decided = {}
rows = {p: [] for p in ports}
for p in ports:
    for l in lines(f"audit-{p}.txt"):
        j, at = l.split(",")
        rows[p].append(j)
        decided[j] = int(at)
all_rows = {}
for p in ports:
    for j in rows[p]:
        all_rows.setdefault(j, []).append(p)
dup_rows = sum(len(v) - 1 for v in all_rows.values() if len(v) > 1)

audit_out = []
print("\n== 1. every token answered has its committed audit record (event token, decision allow)")
hdr = f"{'replica':<14}{'wrk tokens':>11}{'probe':>7}{'audit rows':>12}{'missing':>9}{'extra':>7}{'(side driver)':>15}"
print(hdr)
side_left = set(side)
extra_at = []
tot = dict(wrk=0, probe=0, rows=0, missing=0, extra=0, side=0)
for i, p, rid, k in replicas:
    have = set(rows[p])
    wrk_t, probe_t = answered[p], probe[p]
    # The side driver's tokens come from whichever replica was A: each is
    # found in exactly one replica's rows, or in none (missing).
    side_here = side_left & have
    side_left -= side_here
    expected = wrk_t | probe_t | side_here
    missing = wrk_t - have | probe_t - have
    extra = have - expected
    name = f"r{i}:{p}{' (killed)' if k else ''}"
    print(f"{name:<14}{len(wrk_t):>11}{len(probe_t):>7}{len(have):>12}{len(missing):>9}{len(extra):>7}{len(side_here):>15}")
    audit_out.append((i, p, rid, int(k), len(wrk_t), len(probe_t), len(side_here), len(have), len(missing), len(extra)))
    for key, v in (("wrk", len(wrk_t)), ("probe", len(probe_t)), ("rows", len(have)), ("missing", len(missing)),
                   ("extra", len(extra)), ("side", len(side_here))):
        tot[key] += v
    if missing:
        with open(path(f"missing-{p}.txt"), "w") as f:
            f.write("\n".join(sorted(missing)) + "\n")
    if extra:
        with open(path(f"extra-{p}.txt"), "w") as f:
            f.write("\n".join(f"{j},{decided[j]}" for j in sorted(extra)) + "\n")
        extra_at.append(f"{name}: " + ", ".join(sorted(f"+{decided[j] - start_us // 1000000}s" for j in extra)))
side_missing = len(side_left)
tot["missing"] += side_missing
print(f"{'total':<14}{tot['wrk']:>11}{tot['probe']:>7}{tot['rows']:>12}{tot['missing']:>9}{tot['extra']:>7}{tot['side']:>15}")
print(f"side driver: {len(side)} tokens, {side_missing} without a record; duplicate jtis in rows: {dup_rows}; unreadable token payloads: {unreadable}")
print("extra = a record committed whose answer never reached the client (in flight when the replica was killed or when wrk stopped)")
if extra_at:
    print(f"extra records decided at (run start = +0 s, kill = +{(kill_us - start_us) // 1000000 if kill_us else '-'} s, wrk stops at +{(end_us - start_us) // 1000000} s): " + "; ".join(extra_at))
with open(path("audit.csv"), "w") as f:
    f.write("replica,port,replica_id,killed,wrk_tokens,probe_tokens,side_tokens,audit_rows,missing,extra\n")
    for r in audit_out:
        f.write(",".join(map(str, r)) + "\n")
    f.write(f"side_missing,,,,,,{len(side)},,{side_missing},\n")

# ---- 3. survivors' error rate and latency per phase ---------------------------
phases = [("before", start_us, kill_us or end_us)]
if kill_us:
    phases += [("during", kill_us, kill_us + during_us), ("after", kill_us + during_us, end_us + 10**9)]
per = {}  # (port, phase) -> [latencies], non2xx, lost, answers, t0, t1
for t in threads:
    p = port_of_thread[t]
    for l in lines(f"samples-{t}.csv"):
        end, lat, status, kind = l.split(",")
        end, lat, status = int(end), int(lat), int(status)
        for name, a, b in phases:
            if a <= end < b:
                s = per.setdefault((p, name), {"lat": [], "non2xx": 0, "lost": 0, "answers": 0, "first": end, "last": end})
                s["first"], s["last"] = min(s["first"], end), max(s["last"], end)
                if kind == "l":
                    s["lost"] += 1
                else:
                    s["answers"] += 1
                    s["lat"].append(lat)
                    if not 200 <= status < 300:
                        s["non2xx"] += 1
                break
print(f"\n== 3. answers per replica and phase (kill at +{(kill_us - start_us) / 1e6:.1f} s; during = {during_us / 1e6:.0f} s after it)" if kill_us else "\n== 3. answers per replica (no kill)")
print(f"{'replica':<14}{'phase':<8}{'seconds':>8}{'answers':>9}{'rps':>8}{'non2xx':>8}{'err %':>7}{'lost':>6}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}")
phase_rows = []
wrk_end = max((s["last"] for s in per.values()), default=end_us)
for i, p, rid, k in replicas:
    for name, a, b in phases:
        s = per.get((p, name))
        if s is None:
            continue
        secs = (min(b, wrk_end) - a) / 1e6
        lat = sorted(s["lat"])
        n = s["answers"]
        row = (f"r{i}:{p}{'*' if k else ''}", name, secs, n, n / secs if secs > 0 else 0, s["non2xx"],
               100 * s["non2xx"] / n if n else 0, s["lost"], pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[-1] if lat else None)
        phase_rows.append((i, p, int(k)) + row[1:])
        print(f"{row[0]:<14}{name:<8}{secs:>8.1f}{n:>9}{row[4]:>8.0f}{s['non2xx']:>8}{row[6]:>7.3f}{s['lost']:>6}{ms(row[8]):>8}{ms(row[9]):>8}{ms(row[10]):>8}{ms(row[11]):>8}")
# Survivors together.
for name, a, b in phases:
    lat, n, bad, lost = [], 0, 0, 0
    for p in ports:
        if p == killed_port:
            continue
        s = per.get((p, name))
        if s:
            lat += s["lat"]; n += s["answers"]; bad += s["non2xx"]; lost += s["lost"]
    if n:
        lat.sort()
        secs = (min(b, wrk_end) - a) / 1e6
        print(f"{'survivors':<14}{name:<8}{secs:>8.1f}{n:>9}{n / secs:>8.0f}{bad:>8}{100 * bad / n:>7.3f}{lost:>6}{ms(pct(lat, 50)):>8}{ms(pct(lat, 90)):>8}{ms(pct(lat, 99)):>8}{ms(lat[-1]):>8}")
        phase_rows.append((0, "survivors", 0, name, secs, n, n / secs, bad, 100 * bad / n, lost, pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[-1]))
print("(* killed; latencies measured by benches/replicas.lua, one connection per wrk thread; lost = requests that got no answer: socket errors)")
wrk_summary = [l for l in lines("wrk.txt") if l.startswith(("replica", "  Socket errors", "Requests/sec", "  Non-2xx")) or "requests in" in l]
for l in wrk_summary:
    print("wrk: " + l.strip())
with open(path("phases.csv"), "w") as f:
    f.write("replica,port,killed,phase,seconds,answers,rps,non2xx,non2xx_pct,lost,p50_ms,p90_ms,p99_ms,max_ms\n")
    for r in phase_rows:
        vals = list(r[:4]) + [f"{r[4]:.1f}", r[5], f"{r[6]:.0f}", r[7], f"{r[8]:.3f}", r[9]] + [ms(v) for v in r[10:]]
        f.write(",".join(map(str, vals)) + "\n")

# ---- 2. revocation lag --------------------------------------------------------
lag_lines = lines("lag.csv")[1:]
ok, bad_outcomes = [], {}
for l in lag_lines:
    revoked, a, b, rev_us, lag, lag_sent, polls, outcome = l.split(",")
    if outcome == "ok":
        ok.append((int(revoked), a, b, int(rev_us), int(lag), int(lag_sent)))
    else:
        bad_outcomes[outcome] = bad_outcomes.get(outcome, 0) + 1
print("\n== 2. revocation lag: /revoke on A, introspection on B and C polled until active:false")
print(f"{'measured from':<28}{'count':>7}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'> 1 s':>7}")
lag_rows = []
groups = [("revoke answered (all)", [x[4] for x in ok]), ("revoke sent (all)", [x[5] for x in ok]),
          ("/revoke itself (A)", [x[3] for x in ok])]
if kill_us:
    groups += [("revoke answered, before kill", [x[4] for x in ok if x[0] < kill_us]),
               ("revoke answered, after kill", [x[4] for x in ok if x[0] >= kill_us])]
for name, v in groups:
    v = sorted(v)
    over = sum(1 for x in v if x > 1_000_000)
    print(f"{name:<28}{len(v):>7}{ms(pct(v, 50)):>8}{ms(pct(v, 90)):>8}{ms(pct(v, 99)):>8}{ms(v[-1] if v else None):>8}{over:>7}")
    lag_rows.append((name, len(v), pct(v, 50), pct(v, 90), pct(v, 99), v[-1] if v else None, over))
print("not measured: " + (", ".join(f"{k}={v}" for k, v in sorted(bad_outcomes.items())) or "none"))
events = lines("side-events.txt")
if events:
    print(f"side driver events ({len(events)}): " + " | ".join(events[:5]))
with open(path("revocation_lag.csv"), "w") as f:
    f.write("measured_from,count,p50_ms,p90_ms,p99_ms,max_ms,over_1s\n")
    for r in lag_rows:
        f.write(",".join([r[0], str(r[1])] + [ms(x) for x in r[2:6]] + [str(r[6])]) + "\n")
    for k, v in sorted(bad_outcomes.items()):
        f.write(f"{k},{v},,,,,\n")

# ---- 4. audit verify ----------------------------------------------------------
print("\n== 4. agent-sts audit verify (after the run; exit status " + (lines("verify.rc") or ["?"])[0] + ")")
for l in lines("verify.txt"):
    print("  " + l)
print("our chains (rows, seq range, token/allow rows):")
for l in lines("chains.csv"):
    print("  " + l)
print(f"\nrun dir: {RUN} (audit.csv phases.csv revocation_lag.csv)")
