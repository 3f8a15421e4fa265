#!/usr/bin/env bash
# Several replicas (issue 21 item 4): three agent-sts processes sharing one
# PostgreSQL and one Redis, each on its own port with the config lib.sh
# generates (one issuer, one key folder). wrk drives the mixed profile
# (1 token exchange + 20 introspections of the token it got) over the three
# ports (benches/replicas.lua: one port per thread group, one connection per
# thread) for REPLICAS_SECONDS; at REPLICAS_KILL_AT one replica is killed
# with SIGKILL. Meanwhile benches/replicas-revoke.py revokes a fresh token
# on one replica every ~0.5 s and measures how long the others take to call
# it inactive. Afterwards: tokens answered vs audit records committed,
# survivors' errors and latency before/during/after the kill, revocation lag,
# and `agent-sts audit verify` over the database (benches/replicas-report.py
# prints the tables and writes audit.csv, phases.csv, revocation_lag.csv in
# the run directory).
#
#   BUILD=0 STS_BIN=/path/to/agent-sts benches/replicas.sh        # ~1.5 min
#   REPLICAS_SECONDS=30 REPLICAS_KILL_AT=12 benches/replicas.sh
#   BENCH_REDIS_URL= benches/replicas.sh        # no Redis: revocations by the poll only
#
# Knobs (and lib.sh's):
#   BENCH_DATABASE_URL  postgres://postgres@127.0.0.1:5432/agent_sts_bench (created
#                       when missing; its name must contain "bench")
#   BENCH_REDIS_URL     redis://127.0.0.1:6379 (empty: no Redis)
#   REPLICAS_PORTS      "8731 8732 8733" (the issuer is the first one's URL)
#   JWKS_PORT           8739 (the fake Okta's static JWKS)
#   REPLICAS_SECONDS    60    wrk's -d, and how long the revocation driver runs
#   REPLICAS_KILL_AT    25    seconds into the run; REPLICAS_KILL=0 kills nothing
#   REPLICAS_KILL       3     which replica (1-based) is killed
#   REPLICAS_DURING     5     seconds after the kill reported as "during"
#   REPLICAS_THREADS    15    wrk threads = connections (one each), spread over the ports
#   REPLICAS_POLL_MS    ""    [revocation] poll_interval_ms (empty: the default, 500)
#   REVOKE_INTERVAL 0.5  REVOKE_POLL_MS 2  REVOKE_TIMEOUT 5   the side driver
#   REPLICAS_DIR        /tmp/replicas   (run directories under it: runs/<UTC time>)
#   REPLICAS_KEEP_ROWS  0     1: keep this run's audit, revocation and replica rows
# Everything is on 127.0.0.1, unpinned (both cores: the mixed profile's
# setting), bounded in time; the processes are stopped on exit.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPLICAS_DIR="${REPLICAS_DIR:-/tmp/replicas}"
# Our own fixture and ports: other benchmarks may be running with lib.sh's.
: "${WORKDIR:=$REPLICAS_DIR/peer}" "${JWKS_PORT:=8739}"
export WORKDIR JWKS_PORT
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agent_sts_bench}"
BENCH_REDIS_URL="${BENCH_REDIS_URL-redis://127.0.0.1:6379}"
read -r -a PORTS <<< "${REPLICAS_PORTS:-8731 8732 8733}"
SECONDS_RUN="${REPLICAS_SECONDS:-60}"
KILL_AT="${REPLICAS_KILL_AT:-25}"
KILL="${REPLICAS_KILL:-3}"
DURING="${REPLICAS_DURING:-5}"
THREADS="${REPLICAS_THREADS:-15}"
N=${#PORTS[@]}
[ "$N" -ge 2 ] || lib_die "REPLICAS_PORTS: at least two ports"
[ "$KILL" -le "$N" ] || lib_die "REPLICAS_KILL=$KILL: there are $N replicas"
awk -v k="$KILL_AT" -v s="$SECONDS_RUN" 'BEGIN{exit !(k > 0 && k < s)}' || lib_die "REPLICAS_KILL_AT must be inside the run"
command -v psql >/dev/null || lib_die "psql missing"
command -v wrk >/dev/null || lib_die "wrk missing: apt-get install -y wrk"
[ -d "$PEER" ] || lib_die "no bench-peer at $PEER (set PEER_DIR): its fixture minter is used"

lib_pg_guard
db="${BENCH_DATABASE_URL%%\?*}"; db="${db##*/}"
if ! psql "$BENCH_DATABASE_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
  psql "${BENCH_DATABASE_URL%/*}/postgres" -qtAc "CREATE DATABASE \"$db\"" >/dev/null ||
    lib_die "cannot reach or create $db"
  echo "created database $db"
fi
# (Without redis-cli, agent-sts's own start says so if Redis is not there.)
if [ -n "$BENCH_REDIS_URL" ] && command -v redis-cli >/dev/null; then
  [ "$(timeout 5 redis-cli -u "$BENCH_REDIS_URL" ping 2>/dev/null)" = PONG ] || lib_die "Redis does not answer at $BENCH_REDIS_URL"
fi

lib_build
RUN_DIR="$REPLICAS_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN_DIR"
OUT_DIR="$RUN_DIR"
STS_BASE="$RUN_DIR/sts"
export BENCH_KEYS_DIR="$STS_BASE/keys" BENCH_ISSUER="http://127.0.0.1:${PORTS[0]}"
if [ -n "${REPLICAS_POLL_MS:-}" ]; then
  BENCH_EXTRA_TOML="${BENCH_EXTRA_TOML:+$BENCH_EXTRA_TOML
}[revocation]
poll_interval_ms = $REPLICAS_POLL_MS"
fi
export BENCH_EXTRA_TOML
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }
jti_of() { python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["jti"])' "$1"; }

{
  echo "# replicas.sh  $(date -u)  $N replicas, ports ${PORTS[*]}, ${SECONDS_RUN}s, kill r$KILL at ${KILL_AT}s, $THREADS wrk threads/connections"
  echo "# host: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "# database $db, redis ${BENCH_REDIS_URL:-none}, revocation poll ${REPLICAS_POLL_MS:-500 (default)} ms, binary $BIN"
} | tee "$RUN_DIR/header.txt"
echo "start_load=$(loadavg)" > "$RUN_DIR/run.txt"

lib_fixture
lib_start_jwks
mkdir -p "$STS_BASE"
lib_keys
printf '%s' "$TX_BODY" > "$RUN_DIR/tx.body"
PIDS=()
for i in $(seq 1 "$N"); do
  port="${PORTS[$((i - 1))]}"
  STS_DIR="$STS_BASE/r$i" STS_PORT="$port" lib_write_config "$STS_BASE/r$i/agent-sts.toml"
  STS_DIR="$STS_BASE/r$i" STS_PORT="$port" BASE_URL="http://127.0.0.1:$port" lib_start_sts ""
  PIDS+=("$STS_PID")
  echo "r$i: port $port pid $STS_PID (up in ${STS_STARTUP_S}s)"
done

# A probe on each: a token from it, active on every replica; its audit row
# names the replica's chain (<replica id>.<n>).
: > "$RUN_DIR/replicas.txt"
for i in $(seq 1 "$N"); do
  port="${PORTS[$((i - 1))]}"
  answer=$(curl -sS -m 5 -H "Authorization: $CLIENT_AUTH" --data "$TX_BODY" "http://127.0.0.1:$port/token")
  tok=$(printf '%s' "$answer" | lib_json_field access_token 2>/dev/null) || lib_die "r$i refused the exchange: $answer"
  jti=$(jti_of "$tok")
  echo "$jti" > "$RUN_DIR/probe-$port.txt"
  for p in "${PORTS[@]}"; do
    curl -sS -m 5 -H "Authorization: $GATEWAY_AUTH" --data "token=$tok" "http://127.0.0.1:$p/introspect" | grep -q '"active":true' ||
      lib_die "a token of r$i is not active on port $p"
  done
  rid=$(lib_psql -c "SELECT regexp_replace(chain, '\.[0-9]+\$', '') FROM audit_records WHERE event = 'token' AND record::jsonb->>'jti' = '$jti'")
  [ -n "$rid" ] || lib_die "no audit record for r$i's probe token $jti"
  echo "$i $port $rid $([ "$i" = "$KILL" ] && echo 1 || echo 0)" >> "$RUN_DIR/replicas.txt"
done
echo "replica ids: $(awk '{printf "r%s=%s ", $1, $3}' "$RUN_DIR/replicas.txt")"

# The run: wrk and the side driver, then the kill.
start_us=$(now_us)
echo "start_us=$start_us" >> "$RUN_DIR/run.txt"
env OUT_DIR="$RUN_DIR" PORTS="${PORTS[*]}" TX_PATH=/token TX_BODY_FILE="$RUN_DIR/tx.body" TX_AUTH="$CLIENT_AUTH" \
  INTROSPECT_PATH=/introspect INTROSPECT_AUTH="$GATEWAY_AUTH" PER_TOKEN="${PER_TOKEN:-20}" \
  wrk -t"$THREADS" -c"$THREADS" -d"${SECONDS_RUN}s" --timeout 10s --latency -s "$HERE/replicas.lua" \
  "http://127.0.0.1:${PORTS[0]}/" > "$RUN_DIR/wrk.txt" 2>&1 &
wrk_pid=$!
lib_pids+=("$wrk_pid")
env OUT_DIR="$RUN_DIR" PORTS="${PORTS[*]}" TX_BODY_FILE="$RUN_DIR/tx.body" CLIENT_AUTH="$CLIENT_AUTH" \
  GATEWAY_AUTH="$GATEWAY_AUTH" SECONDS_TOTAL="$SECONDS_RUN" INTERVAL="${REVOKE_INTERVAL:-0.5}" \
  POLL_MS="${REVOKE_POLL_MS:-2}" LAG_TIMEOUT="${REVOKE_TIMEOUT:-5}" \
  timeout $((SECONDS_RUN + 60)) python3 "$HERE/replicas-revoke.py" > "$RUN_DIR/driver.txt" 2>&1 &
driver_pid=$!
lib_pids+=("$driver_pid")
if [ "$KILL" -gt 0 ]; then
  lib_fg sleep "$KILL_AT"
  echo "kill_load=$(loadavg)" >> "$RUN_DIR/run.txt"
  victim="${PIDS[$((KILL - 1))]}"
  kill_us=$(now_us)
  kill -9 "$victim"
  echo "kill_us=$kill_us" >> "$RUN_DIR/run.txt"
  wait "$victim" 2>/dev/null || true
  echo "killed r$KILL (pid $victim, port ${PORTS[$((KILL - 1))]}) at +${KILL_AT}s"
fi
wait "$wrk_pid" || true
echo "end_us=$(now_us)" >> "$RUN_DIR/run.txt"
echo "end_load=$(loadavg)" >> "$RUN_DIR/run.txt"
wait "$driver_pid" || echo "WARNING: the revocation driver failed, see $RUN_DIR/driver.txt" >&2
echo "during_s=$DURING" >> "$RUN_DIR/run.txt"

# The survivors' own view of propagation, then a clean stop (audit flushed).
for i in $(seq 1 "$N"); do
  [ "$i" = "$KILL" ] && continue
  port="${PORTS[$((i - 1))]}"
  curl -sS -m 5 "http://127.0.0.1:$port/metrics" | grep -E '^agent_sts_revocation_propagation_lag_seconds_(count|sum)' |
    sed "s/^/r$i: /" >> "$RUN_DIR/metrics-lag.txt" || true
done
for i in $(seq 1 "$N"); do
  [ "$i" = "$KILL" ] && continue
  kill "${PIDS[$((i - 1))]}" 2>/dev/null || true
  wait "${PIDS[$((i - 1))]}" 2>/dev/null || true
done

# What the database holds for our replicas.
ids=$(awk '{print $3}' "$RUN_DIR/replicas.txt" | paste -sd'|')
while read -r i port rid killed; do
  lib_psql -c "\\copy (SELECT record::jsonb->>'jti', at FROM audit_records WHERE chain LIKE '$rid.%' AND event = 'token' AND decision = 'allow') TO '$RUN_DIR/audit-$port.txt' WITH (FORMAT csv)"
done < "$RUN_DIR/replicas.txt"
lib_psql -F, -c "SELECT chain, count(*), min(seq), max(seq), count(*) FILTER (WHERE event = 'token' AND decision = 'allow')
  FROM audit_records WHERE chain ~ '^($ids)\.' GROUP BY chain ORDER BY chain" > "$RUN_DIR/chains.csv"
rc=0
timeout 600 "$BIN" audit verify --config "$STS_BASE/r1/agent-sts.toml" > "$RUN_DIR/verify.txt" 2>&1 || rc=$?
echo "$rc" > "$RUN_DIR/verify.rc"

{ cat "$RUN_DIR/header.txt"; echo "# load average (1/5/15 min): $(grep -h _load "$RUN_DIR/run.txt" | tr '\n' ' ')"
  python3 "$HERE/replicas-report.py" "$RUN_DIR"
  [ -s "$RUN_DIR/metrics-lag.txt" ] && { echo "survivors' own propagation metric (seconds, by path):"; sed 's/^/  /' "$RUN_DIR/metrics-lag.txt"; }
} | tee "$RUN_DIR/report.txt"

if [ "${REPLICAS_KEEP_ROWS:-0}" != 1 ]; then
  start_s=$((start_us / 1000000 - 120))
  lib_psql -c "DELETE FROM audit_records WHERE chain ~ '^($ids)\.';
    DELETE FROM revocations WHERE actor = 'client:bench-client' AND revoked_at >= $start_s;
    DELETE FROM replicas WHERE id ~ '^($ids)\$';"
fi
