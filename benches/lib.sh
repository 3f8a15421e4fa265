# shellcheck shell=bash disable=SC2034  # (variables for the scripts that source this)
# Shared pieces of benches/load.sh and benches/scale.sh: sourced, never run.
#
# Everything is on 127.0.0.1 and bounded. Settings (environment):
#   WORKDIR=/tmp/perf/peer   shared fixture, peer install, peer results
#   STS_DIR=/tmp/perf/sts    agent-sts config, keys, SQLite, logs, our results
#   STS_PORT=8180 JWKS_PORT=8189 PORT=3000 (the peer, as run.sh names it)
#   DURATION=15s CONNS="16 64" WARMUP=3s WRK_THREADS=1 SERVER_CPUS=0 LOADGEN_CPUS=1
#   BENCH_DATABASE_URL (PostgreSQL instead of SQLite) BENCH_REDIS_URL
#   AUDIT=on|off START=serve|start-dev BENCH_RUST_LOG=info
#   STARTUP_TIMEOUT=60 (s, until /healthz answers)
#   BUILD=1 (0: use target/release/agent-sts as it is, no cargo build)
#   STS_BIN (default target/release/agent-sts: the binary to run; with BUILD=0
#   one built elsewhere). STS_WRAP: a command agent-sts runs under, e.g.
#   "heaptrack -o /tmp/perf/heap/sts" (the heap profile of issue 21)
#   BENCH_ISSUER (default http://127.0.0.1:$STS_PORT) and BENCH_KEYS_DIR
#   (default $STS_DIR/keys): several replicas (benches/replicas.sh) share one
#   issuer and one key folder, each with its own STS_DIR and STS_PORT.
#   BENCH_KEY_ALG: our signing algorithm (default ES256, as the server's).
#   BENCH_LOGIN_PORT (benches/signin.sh): okta-bench gets a [upstreams.login]
#   at benches/upstream-login.mjs on that port, and the policy the
#   interactive public client bench-mcp (redirect http://127.0.0.1/callback).
#   Rate limits of the generated config (TOML values; the server's defaults,
#   1,000/s per IP and 50/s per agent, would throttle every benchmark here,
#   which sends ~10,000 requests a second from one agent and one address):
#   BENCH_PER_IP="off"
#   BENCH_TOKEN_PER_AGENT="{ per_second = 1000000.0, burst = 1000000 }"
#   BENCH_INTROSPECT_PER_CALLER="{ per_second = 1000000.0, burst = 1000000 }"
#   (the limiter stays on, so its cost is measured; with Redis the per-agent
#   check is a Redis round trip per /token). BENCH_EXTRA_TOML: TOML appended
#   to the generated config as it is (more [[agents]], a [server] table).
#
# Measurement is the one of ../shared/bench-peer/run.sh (which we may not
# change): wrk --latency on LOADGEN_CPUS, server CPU µs per request from
# /proc/<pid>/stat utime+stime, the same CSV columns. lib_bench_run is our
# copy of its run_one for scenarios that need a Lua script of their own.

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LIB_DIR/.." && pwd)"
PEER="${PEER_DIR:-$ROOT/../shared/bench-peer}"
WORKDIR="${WORKDIR:-/tmp/perf/peer}"
STS_DIR="${STS_DIR:-/tmp/perf/sts}"
STS_PORT="${STS_PORT:-8180}"
JWKS_PORT="${JWKS_PORT:-8189}"
PEER_PORT="${PORT:-3000}"
AUDIT="${AUDIT:-on}"
START="${START:-serve}"
[ "$AUDIT" = off ] && START="start-dev"
DURATION="${DURATION:-15s}"
CONNS="${CONNS:-16 64}"
WARMUP="${WARMUP:-3s}"
WRK_THREADS="${WRK_THREADS:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
LOADGEN_CPUS="${LOADGEN_CPUS:-1}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-60}"
BENCH_HIGH_RATE='{ per_second = 1000000.0, burst = 1000000 }'
BENCH_PER_IP="${BENCH_PER_IP:-\"off\"}"
BENCH_TOKEN_PER_AGENT="${BENCH_TOKEN_PER_AGENT:-$BENCH_HIGH_RATE}"
BENCH_INTROSPECT_PER_CALLER="${BENCH_INTROSPECT_PER_CALLER:-$BENCH_HIGH_RATE}"
export WORKDIR DURATION CONNS WARMUP WRK_THREADS SERVER_CPUS LOADGEN_CPUS

BIN="${STS_BIN:-$ROOT/target/release/agent-sts}"
BASE_URL="http://127.0.0.1:$STS_PORT"
PEER_URL="http://127.0.0.1:$PEER_PORT"
RESOURCE="https://mcp.bench.example"
RESOURCE_ENC="https%3A%2F%2Fmcp.bench.example"
CLIENT_SECRET="bench-secret-0123456789abcdef"
# agent-sts as the fake Okta's relying party (benches/upstream-login.mjs).
LOGIN_CLIENT_ID="agent-sts-bench"
LOGIN_CLIENT_SECRET="bench-login-secret-0123456789"
GATEWAY_SECRET="bench-gateway-secret"
CLIENT_AUTH="Basic $(printf '%s' "bench-client:$CLIENT_SECRET" | base64 -w0)"
HYBRID_AUTH="Basic $(printf '%s' "bench-hybrid:$CLIENT_SECRET" | base64 -w0)"
GATEWAY_AUTH="Basic $(printf '%s' "bench-gateway:$GATEWAY_SECRET" | base64 -w0)"
# The agent's workload identity (hybrid): a Kubernetes-style issuer of its own,
# signed by the fixture's key and served by the same static JWKS.
WORKLOAD_ISSUER="https://k8s.bench.example"
WORKLOAD_SUBJECT="system:serviceaccount:agents:bench-hybrid-agent"
TX_GRANT="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
JWT_TYPE="urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"
# The user's token is an access token: agent-sts takes `jwt` for workload
# tokens only (the peer's run.sh sends `jwt` for it, and the peer accepts that).
AT_TYPE="urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
CC_BODY="grant_type=client_credentials&resource=$RESOURCE_ENC&scope=orders%3Aread"
PEER_CC_BODY="grant_type=client_credentials&resource=urn%3Apeer%3Ajwt&scope=api%3Aread"
PEER_CLIENT_AUTH="$CLIENT_AUTH"   # the peer's bench-client has the same secret
HZ="$(getconf CLK_TCK)"
PER_TOKEN_NOTE="1 token exchange + ${PER_TOKEN:-20} introspections per token"

# ---- processes -------------------------------------------------------------
lib_pids=()
lib_cleanup() {
  local p
  for p in "${lib_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${lib_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  lib_pids=()
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

lib_die() { echo "error: $*" >&2; exit 1; }

# lib_fg CMD...: run CMD as a job of its own and wait for it. A TERM or INT
# sent to the script is then handled at once (the EXIT trap stops CMD too)
# instead of when a foreground wrk ends. Returns CMD's status.
lib_fg() {
  local pid rc=0 p keep=()
  "$@" &
  pid=$!
  lib_pids+=("$pid")
  wait "$pid" || rc=$?
  for p in "${lib_pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  lib_pids=("${keep[@]}")
  return "$rc"
}

# lib_port_free PORT: refuse to start on a port something else answers on.
lib_port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    lib_die "127.0.0.1:$1 is in use (set STS_PORT / JWKS_PORT / PORT)"
  fi
}

# lib_pin CPUS: PIN=(taskset -c CPUS), or PIN=() when CPUS is empty (unpinned).
# Prefix a command with "${PIN[@]}" so that a background job's $! is the
# pid of the program itself (taskset execs it).
lib_pin() { PIN=(); [ -z "$1" ] || PIN=(taskset -c "$1"); }

lib_require() {
  command -v wrk >/dev/null || lib_die "wrk missing: apt-get install -y wrk"
  command -v node >/dev/null || lib_die "node missing"
  [ -d "$PEER" ] || lib_die "no bench-peer at $PEER (set PEER_DIR)"
}

lib_build() {
  if [ "${BUILD:-1}" = 0 ]; then [ -x "$BIN" ] || lib_die "BUILD=0 but no $BIN"; return 0; fi
  (cd "$ROOT" && cargo build --release --quiet)
}

# The shared fixture (fake Okta key, subject token) and our workload token.
lib_fixture() {
  mkdir -p "$WORKDIR"
  cp "$PEER/package.json" "$PEER/package-lock.json" "$PEER/mint-subject-token.mjs" "$WORKDIR/"
  cp "$LIB_DIR/mint-workload-token.mjs" "$WORKDIR/"
  [ -d "$WORKDIR/node_modules/jose" ] || (cd "$WORKDIR" && npm ci --no-audit --no-fund >/dev/null)
  (cd "$WORKDIR" && node mint-subject-token.mjs "$WORKDIR" >/dev/null)
  (cd "$WORKDIR" && node mint-workload-token.mjs "$WORKDIR" "$WORKLOAD_ISSUER" "$WORKLOAD_SUBJECT" >/dev/null)
  SUBJECT_TOKEN="$(cat "$WORKDIR/subject_token.txt")"
  WORKLOAD_TOKEN="$(cat "$WORKDIR/workload_token.txt")"
  TX_BODY="$TX_GRANT&subject_token=$SUBJECT_TOKEN&subject_token_type=$AT_TYPE&audience=$RESOURCE_ENC"
  HYBRID_BODY="$TX_BODY&actor_token=$WORKLOAD_TOKEN&actor_token_type=$JWT_TYPE"
  PEER_TX_BODY="$TX_GRANT&subject_token=$SUBJECT_TOKEN&subject_token_type=$JWT_TYPE&audience=urn%3Apeer%3Ajwt"
}

# Static JWKS of the fake Okta (both upstreams), on loopback.
lib_start_jwks() {
  lib_port_free "$JWKS_PORT"
  (cd "$WORKDIR" && exec python3 -m http.server "$JWKS_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
  lib_pids+=($!)
  local _
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$JWKS_PORT/upstream_jwks.json" >/dev/null && return 0; sleep 0.1; done
  lib_die "static JWKS server did not start on $JWKS_PORT"
}

# ---- configuration ---------------------------------------------------------
# lib_write_config FILE [AGENTS]
#   Without AGENTS: the load.sh policy (bench-agent: obo + workload, as
#   before) plus bench-hybrid-agent (hybrid, workload identity from the
#   k8s-bench upstream). With AGENTS = N: a policy of N agents, each with its
#   own resource, scope and client (a third obo, a third hybrid with a
#   workload binding, a third workload), gateways of 100 resources each; the
#   last agent is bench-agent (the benchmarked one, same as above).
lib_write_config() {
  local file="$1" agents="${2:-0}"
  mkdir -p "$(dirname "$file")"
  FILE="$file" AGENTS="$agents" STS_PORT="$STS_PORT" JWKS_PORT="$JWKS_PORT" KEYS_DIR="${BENCH_KEYS_DIR:-$STS_DIR/keys}" \
    ISSUER="${BENCH_ISSUER:-http://127.0.0.1:$STS_PORT}" \
    DB_URL="${BENCH_DATABASE_URL:-sqlite://$STS_DIR/bench.db?mode=rwc}" REDIS_URL="${BENCH_REDIS_URL:-}" \
    RESOURCE="$RESOURCE" CLIENT_SECRET="$CLIENT_SECRET" GATEWAY_SECRET="$GATEWAY_SECRET" \
    WORKLOAD_ISSUER="$WORKLOAD_ISSUER" WORKLOAD_SUBJECT="$WORKLOAD_SUBJECT" AUDIT="$AUDIT" \
    PER_IP="$BENCH_PER_IP" TOKEN_PER_AGENT="$BENCH_TOKEN_PER_AGENT" \
    INTROSPECT_PER_CALLER="$BENCH_INTROSPECT_PER_CALLER" EXTRA_TOML="${BENCH_EXTRA_TOML:-}" \
    LOGIN_PORT="${BENCH_LOGIN_PORT:-}" LOGIN_CLIENT_ID="$LOGIN_CLIENT_ID" LOGIN_CLIENT_SECRET="$LOGIN_CLIENT_SECRET" \
    python3 - <<'PY'
import hashlib, os
e = os.environ
sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
res, port, jwks = e["RESOURCE"], e["STS_PORT"], e["JWKS_PORT"]
n = int(e["AGENTS"])
secret = sha(e["CLIENT_SECRET"])
basic = lambda cid, h=secret: f'{{ id = "{cid}", auth = "client_secret_basic", secret_sha256 = "{h}" }}'
out = [f'''issuer = "{e["ISSUER"]}"
listen = "127.0.0.1:{port}"
[storage]
database_url = "{e["DB_URL"]}"''']
if e["REDIS_URL"]:
    out.append(f'redis_url = "{e["REDIS_URL"]}"')
out.append(f'''[keys]
dir = "{e["KEYS_DIR"]}"
[[upstreams]]
name = "okta-bench"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://default"]
jwks_uri = "http://127.0.0.1:{jwks}/upstream_jwks.json"''')
if e["LOGIN_PORT"]:
    lp = e["LOGIN_PORT"]
    out.append(f'login = {{ client_id = "{e["LOGIN_CLIENT_ID"]}", client_secret = "{e["LOGIN_CLIENT_SECRET"]}", '
               f'authorization_endpoint = "http://127.0.0.1:{lp}/authorize", token_endpoint = "http://127.0.0.1:{lp}/token" }}')
out.append(f'''[[upstreams]]
name = "k8s-bench"
kind = "oidc"
use = "workload"
issuer = "{e["WORKLOAD_ISSUER"]}"
audiences = ["agent-sts"]
jwks_uri = "http://127.0.0.1:{jwks}/upstream_jwks.json"
[[resources]]
uri = "{res}"
scopes = ["orders:read"]''')
for i in range(max(n - 1, 0)):
    out.append(f'[[resources]]\nuri = "https://mcp-{i}.bench.example"\nscopes = ["svc{i}:data:read"]')
for i in range(max(n - 1, 0)):
    kind = i % 3
    patterns = ['["obo"]', '["obo", "hybrid"]', '["workload"]'][kind]
    agent = [f'[[agents]]\nid = "agent-{i}"\npatterns = {patterns}',
             f'resources = ["https://mcp-{i}.bench.example"]',
             f'required_scopes = ["svc{i}:data:read"]',
             f'client = {basic(f"agent-{i}-client", sha(f"agent-{i}-secret"))}']
    if kind != 0:
        agent.append(f'workload = {{ upstream = "k8s-bench", subject = "system:serviceaccount:agents:agent-{i}" }}')
    out.append("\n".join(agent))
out.append(f'''[[agents]]
id = "bench-agent"
patterns = ["obo", "workload"]
resources = ["{res}"]
required_scopes = ["orders:read"]
client = {basic("bench-client")}''')
if e["LOGIN_PORT"]:
    out.append(f'''[[agents]]
id = "bench-mcp"
patterns = ["interactive"]
resources = ["{res}"]
required_scopes = ["orders:read"]
user_upstreams = ["okta-bench"]
client = {{ id = "bench-mcp", auth = "none", redirect_uris = ["http://127.0.0.1/callback"] }}''')
if n == 0:
    out.append(f'''[[agents]]
id = "bench-hybrid-agent"
patterns = ["hybrid"]
resources = ["{res}"]
required_scopes = ["orders:read"]
client = {basic("bench-hybrid")}
workload = {{ upstream = "k8s-bench", subject = "{e["WORKLOAD_SUBJECT"]}" }}''')
out.append('[scope_groups]\n"orders:read" = ["okta-bench:*"]')
for i in range(max(n - 1, 0)):
    out.append(f'"svc{i}:data:read" = ["okta-bench:Team-{i % 1000}"]')
out.append(f'''[[introspectors]]
resources = ["{res}"]
client = {basic("bench-gateway", sha(e["GATEWAY_SECRET"]))}''')
for g in range(0, max(n - 1, 0), 100):
    uris = ", ".join(f'"https://mcp-{i}.bench.example"' for i in range(g, min(g + 100, n - 1)))
    out.append(f'[[introspectors]]\nresources = [{uris}]\nclient = {basic(f"gateway-{g // 100}", sha(f"gateway-{g // 100}-secret"))}')
out.append(f'''[rate_limits]
per_ip = {e["PER_IP"]}
token_per_agent = {e["TOKEN_PER_AGENT"]}
introspect_per_caller = {e["INTROSPECT_PER_CALLER"]}''')
if e["AUDIT"] == "off":
    out.append("[audit]\ninsecure_disable = true")
if e["EXTRA_TOML"]:
    out.append(e["EXTRA_TOML"])
with open(e["FILE"], "w") as f:
    f.write("\n".join(out) + "\n")
PY
}

lib_keys() {
  local dir="${BENCH_KEYS_DIR:-$STS_DIR/keys}"
  [ -d "$dir" ] || "$BIN" keys generate ${BENCH_KEY_ALG:+--alg "$BENCH_KEY_ALG"} --dir "$dir" >/dev/null
}

# ---- the server ------------------------------------------------------------
# lib_start_sts [CPUS]: start agent-sts on CPUS (default SERVER_CPUS; "" =
# unpinned) with $STS_DIR/agent-sts.toml; waits for /healthz. Sets STS_PID
# and STS_STARTUP_S (launch to first /healthz answer).
lib_start_sts() {
  local cpus="${1-$SERVER_CPUS}" cmd t0 _
  lib_port_free "$STS_PORT"
  if [ "$START" = start-dev ]; then cmd=(start-dev --config "$STS_DIR/agent-sts.toml"); else cmd=(serve --config "$STS_DIR/agent-sts.toml"); fi
  lib_pin "$cpus"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086  # STS_WRAP is a command line: split it
  RUST_LOG="${BENCH_RUST_LOG:-info}" "${PIN[@]}" ${STS_WRAP:-} "$BIN" "${cmd[@]}" 2>>"$STS_DIR/server.log" &
  STS_PID=$!
  lib_pids+=("$STS_PID")
  STS_WRAP_PID=""
  for _ in $(seq 1 $((STARTUP_TIMEOUT * 20))); do
    curl -sf -m 2 "$BASE_URL/healthz" >/dev/null && break
    kill -0 "$STS_PID" 2>/dev/null || { tail -20 "$STS_DIR/server.log" >&2; lib_die "agent-sts exited during start"; }
    sleep 0.05
  done
  curl -sf -m 2 "$BASE_URL/healthz" >/dev/null || { tail -20 "$STS_DIR/server.log" >&2; lib_die "agent-sts did not answer /healthz within ${STARTUP_TIMEOUT}s"; }
  STS_STARTUP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  if [ -n "${STS_WRAP:-}" ]; then
    # The wrapper (e.g. heaptrack) runs agent-sts as its child: measure and
    # stop the child; the wrapper ends when it does.
    STS_WRAP_PID="$STS_PID"
    STS_PID=$(pgrep -n -P "$STS_WRAP_PID" -f "$BIN") || lib_die "no agent-sts under $STS_WRAP"
  fi
}

lib_stop_sts() {
  [ -n "${STS_PID:-}" ] || return 0
  kill "$STS_PID" 2>/dev/null || true
  wait "${STS_WRAP_PID:-$STS_PID}" 2>/dev/null || true
  STS_PID=""
}

# The peer (server.mjs, installed in WORKDIR by run.sh), for the scenarios
# run.sh does not have. lib_start_peer [CPUS]; sets PEER_PID.
lib_start_peer() {
  local cpus="${1-$SERVER_CPUS}" log="$STS_DIR/peer-server.log" _
  lib_port_free "$PEER_PORT"
  if [ ! -d "$WORKDIR/node_modules/oidc-provider" ] || [ ! -f "$WORKDIR/server.mjs" ]; then
    lib_die "peer not installed in $WORKDIR (run.sh installs it)"
  fi
  : > "$log"
  lib_pin "$cpus"
  (cd "$WORKDIR" && NODE_ENV=production PORT="$PEER_PORT" STATE_DIR="$WORKDIR" exec "${PIN[@]}" node server.mjs >"$log" 2>&1) &
  PEER_PID=$!
  lib_pids+=("$PEER_PID")
  for _ in $(seq 1 100); do grep -q READY "$log" && return 0; sleep 0.1; done
  cat "$log" >&2; lib_die "peer did not start"
}

lib_stop_peer() {
  [ -n "${PEER_PID:-}" ] || return 0
  kill "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  PEER_PID=""
}

lib_rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
lib_hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
lib_mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

# ---- storage ---------------------------------------------------------------
lib_psql() { psql "$BENCH_DATABASE_URL" -v ON_ERROR_STOP=1 -qtA "$@"; }

# BENCH_DATABASE_URL is emptied of bench rows (and, for the audit mode, of
# audit records): refuse a database whose name does not say bench.
lib_pg_guard() {
  local db="${BENCH_DATABASE_URL%%\?*}"; db="${db##*/}"
  [[ "$db" == *bench* ]] || lib_die "BENCH_DATABASE_URL names database \"$db\": use a scratch database whose name contains \"bench\""
}

# Before a start: no bench revocations from an earlier run (SQLite: a fresh
# file; PostgreSQL: our rows deleted).
lib_fresh_db() {
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    lib_pg_guard
    lib_psql -c "DO \$\$ BEGIN IF to_regclass('revocations') IS NOT NULL THEN DELETE FROM revocations WHERE actor = 'bench'; END IF; END \$\$;"
  else
    rm -f "$STS_DIR"/bench.db "$STS_DIR"/bench.db-*
  fi
}

# lib_json_field FIELD < json
lib_json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# lib_load_revocations N: N live subject revocations of other users (the view
# holds them all, none matches), inserted into the running server's database,
# then a sentinel: a jti revocation of a token minted for it, inserted last.
# The server reloads in id order, so once the sentinel token introspects
# inactive every row is in memory. Sets REV_INSERT_S, REV_LOAD_S (insert
# start to sentinel seen).
lib_load_revocations() {
  local n="$1" tok jti t0 t1 _
  tok=$(curl -fsS -H "Authorization: $CLIENT_AUTH" --data "$CC_BODY" "$BASE_URL/token" | lib_json_field access_token)
  jti=$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["jti"])' "$tok")
  curl -fsS -H "Authorization: $GATEWAY_AUTH" --data "token=$tok" "$BASE_URL/introspect" | grep -q '"active":true' ||
    lib_die "sentinel token not active before the load"
  t0=$(date +%s.%N)
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    lib_psql -c "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor)
        SELECT 'subject', '00u-revoked-' || g, NULL, extract(epoch from now())::bigint, extract(epoch from now())::bigint + 960, 'bench'
        FROM generate_series(0, $n - 1) g;
      INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor)
        VALUES ('jti', '$jti', NULL, extract(epoch from now())::bigint, extract(epoch from now())::bigint + 960, 'bench');"
  else
    python3 - "$STS_DIR/bench.db" "$n" "$jti" <<'PY'
import sqlite3, sys, time
db, n, jti = sys.argv[1], int(sys.argv[2]), sys.argv[3]
now = int(time.time())
con = sqlite3.connect(db, timeout=30)
con.executemany(
    "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor) VALUES ('subject', ?, NULL, ?, ?, 'bench')",
    ((f"00u-revoked-{i}", now, now + 960) for i in range(n)))
con.execute("INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor) VALUES ('jti', ?, NULL, ?, ?, 'bench')",
            (jti, now, now + 960))
con.commit()
PY
  fi
  t1=$(date +%s.%N)
  REV_INSERT_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  for _ in $(seq 1 3000); do
    curl -fsS -H "Authorization: $GATEWAY_AUTH" --data "token=$tok" "$BASE_URL/introspect" | grep -q '"active":false' && break
    sleep 0.1
  done
  curl -fsS -H "Authorization: $GATEWAY_AUTH" --data "token=$tok" "$BASE_URL/introspect" | grep -q '"active":false' ||
    lib_die "revocations not loaded after 300 s (sentinel token still active)"
  REV_LOAD_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
}

# ---- measuring ---------------------------------------------------------------
# lib_csv_init FILE COMMENT: the header run.sh writes, with our comment.
lib_csv_init() {
  {
    echo "# $2  $(date -u)  duration=$DURATION wrk_threads=$WRK_THREADS loadgen_cpus=$LOADGEN_CPUS"
    echo "# host: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "scenario,conns,rps,p50_ms,p75_ms,p90_ms,p99_ms,non2xx,socket_errors,server_cpu_us_per_req"
  } > "$1"
}

lib_to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); printf "%.3f", v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); printf "%.3f", v} else if (v ~ /s$/) {sub(/s$/,"",v); printf "%.3f", v*1000} else print v}'; }
lib_cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
lib_secs() { awk -v d="$1" 'BEGIN{ if (d ~ /ms$/) {sub(/ms$/,"",d); print d/1000} else if (d ~ /m$/) {sub(/m$/,"",d); print d*60} else {sub(/s$/,"",d); print d+0} }'; }

# lib_warm URL SCRIPT [VAR=VALUE...]: unrecorded WARMUP at 16 connections.
# Sets WARM_REQS (requests it made).
lib_warm() {
  local url="$1" script="$2"; shift 2
  WARM_REQS=0
  [ "$WARMUP" = 0 ] && return 0
  local log="$OUT_DIR/warm.txt"
  lib_pin "${BENCH_LOADGEN_CPUS-$LOADGEN_CPUS}"
  lib_fg env "$@" "${PIN[@]}" wrk -t1 -c16 -d"$WARMUP" -s "$script" "$url" >"$log" 2>&1 || true
  WARM_REQS=$(awk '/requests in/{print $1}' "$log"); WARM_REQS=${WARM_REQS:-0}
}

# lib_bench_run NAME CONNS URL SCRIPT [VAR=VALUE...]
#   wrk --latency -t$WRK_THREADS -cCONNS -d$DURATION -s SCRIPT URL with the
#   variables in its environment, on $BENCH_LOADGEN_CPUS (default
#   LOADGEN_CPUS; "" = unpinned); CPU of $SERVER_PID. Appends one row to
#   $CSV, keeps the wrk output in $OUT_DIR/NAME-cCONNS.txt and sets R_RPS
#   R_P50 R_P99 R_NON2XX R_SOCKERR R_REQS R_CPU R_LOG.
lib_bench_run() {
  local name="$1" conns="$2" url="$3" script="$4"; shift 4
  local safe="${name//[^A-Za-z0-9_.=-]/_}"
  local log="$OUT_DIR/$safe-c$conns.txt" t0 t1
  lib_pin "${BENCH_LOADGEN_CPUS-$LOADGEN_CPUS}"
  t0=$(lib_cpu_ticks "$SERVER_PID")
  lib_fg env "$@" "${PIN[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --timeout 10s --latency -s "$script" "$url" >"$log" 2>&1 || true
  t1=$(lib_cpu_ticks "$SERVER_PID")
  R_LOG="$log"
  R_RPS=$(awk '/^Requests\/sec/{print $2}' "$log")
  # A script that stopped its thread early (its tokens used up) measures its
  # own rate: wrk's divides by the whole -d.
  if grep -q '^early_stop_rps:' "$log"; then R_RPS=$(awk '/^early_stop_rps:/{print $2}' "$log"); fi
  R_P50=$(awk '/^ +50%/{print $2}' "$log" | lib_to_ms)
  local p75 p90
  p75=$(awk '/^ +75%/{print $2}' "$log" | lib_to_ms); p90=$(awk '/^ +90%/{print $2}' "$log" | lib_to_ms)
  R_P99=$(awk '/^ +99%/{print $2}' "$log" | lib_to_ms)
  R_NON2XX=$(awk '/Non-2xx/{print $5}' "$log"); R_NON2XX=${R_NON2XX:-0}
  R_SOCKERR=$(awk '/Socket errors/{print $0}' "$log" | sed 's/.*errors: //; s/ //g'); R_SOCKERR=${R_SOCKERR:-none}
  R_REQS=$(awk '/requests in/{print $1}' "$log"); R_REQS=${R_REQS:-0}
  if [ "$R_REQS" -gt 0 ]; then
    R_CPU=$(awk -v a="$t0" -v b="$t1" -v n="$R_REQS" -v hz="$HZ" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}')
  else R_CPU=""; echo "WARNING: $name c=$conns made no requests, see $log" >&2; fi
  echo "$name,$conns,$R_RPS,$R_P50,$p75,$p90,$R_P99,$R_NON2XX,$R_SOCKERR,$R_CPU" | tee -a "$CSV"
}

# lib_mint_tokens URL BODY AUTH N FILE: at least N distinct access tokens in
# FILE, one a line, minted by wrk (benches/mint.lua) and
# stopped as soon as there are enough, or after MINT_MAX (300) seconds
# (64 connections).
lib_mint_tokens() {
  local url="$1" body="$2" auth="$3" n="$4" file="$5" wpid t0 have _
  printf '%s' "$body" > "$OUT_DIR/mint.body"
  : > "$file"
  t0=$(date +%s.%N)
  BODY_FILE="$OUT_DIR/mint.body" BASIC_AUTH="$auth" OUT_FILE="$file" \
    taskset -c "$LOADGEN_CPUS" wrk -t1 -c64 -d"${MINT_MAX:-300}s" -s "$LIB_DIR/mint.lua" "$url" >"$OUT_DIR/mint.txt" 2>&1 &
  wpid=$!
  lib_pids+=("$wpid")
  while kill -0 "$wpid" 2>/dev/null; do
    have=$(wc -l < "$file")
    [ "$have" -ge "$n" ] && break
    sleep 0.5
  done
  kill -INT "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  have=$(wc -l < "$file")
  echo "minted $have tokens in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s" >&2
  [ "$have" -ge "$n" ] || echo "WARNING: wanted $n tokens, got $have" >&2
}

# lib_first_seen NAME URL AUTH TOKENS_FILE [BODY_PREFIX]: warm-up then one
# run per CONNS, each on tokens no run has used (TOKENS_START advances by the
# answers, plus the requests that may have been in flight). A token is never
# sent twice: a run whose tokens ran out stops there (benches/rotate.lua) and
# its rate is over the seconds it ran, with a CSV comment saying so.
lib_first_seen() {
  local name="$1" url="$2" auth="$3" file="$4" prefix="${5:-token=}" start=1 c used secs
  lib_warm "$url" "$LIB_DIR/rotate.lua" TOKENS_FILE="$file" TOKENS_START="$start" BASIC_AUTH="$auth" BODY_PREFIX="$prefix"
  used=$(awk -F'[ =]' '/^first_seen:/{print $3}' "$OUT_DIR/warm.txt"); used=${used:-$WARM_REQS}
  start=$((start + used + 16))
  for c in $CONNS; do
    lib_bench_run "$name" "$c" "$url" "$LIB_DIR/rotate.lua" TOKENS_FILE="$file" TOKENS_START="$start" BASIC_AUTH="$auth" BODY_PREFIX="$prefix"
    used=$(awk -F'[ =]' '/^first_seen:/{print $3}' "$R_LOG"); used=${used:-$R_REQS}
    start=$((start + used + c))
    secs=$(awk '/^early_stop_seconds:/{print $2}' "$R_LOG")
    [ -z "$secs" ] || echo "# $name c=$c: tokens used up after $secs s (no token sent twice); rps over those seconds" | tee -a "$CSV"
    sleep 1
  done
}

# lib_mixed NAME BASE TX_PATH TX_BODY TX_AUTH INTROSPECT_PATH INTROSPECT_AUTH
lib_mixed() {
  local name="$1" base="$2" c bad
  printf '%s' "$4" > "$OUT_DIR/mixed-tx.body"
  local vars=(TX_PATH="$3" TX_BODY_FILE="$OUT_DIR/mixed-tx.body" TX_AUTH="$5" INTROSPECT_PATH="$6" INTROSPECT_AUTH="$7" PER_TOKEN="${PER_TOKEN:-20}")
  BENCH_LOADGEN_CPUS="${MIXED_LOADGEN_CPUS-}" lib_warm "$base" "$LIB_DIR/mixed.lua" "${vars[@]}"
  for c in $CONNS; do
    BENCH_LOADGEN_CPUS="${MIXED_LOADGEN_CPUS-}" lib_bench_run "$name" "$c" "$base" "$LIB_DIR/mixed.lua" "${vars[@]}"
    grep '^mixed:' "$R_LOG" | sed "s/^/# $name c=$c /" | tee -a "$CSV"
    bad=$(awk '/^mixed:/{for(i=1;i<=NF;i++) if ($i ~ /^(inactive|failed)=/) {split($i,a,"="); s+=a[2]}} END{print s+0}' "$R_LOG")
    if [ "$R_NON2XX" != 0 ] || [ "$bad" != 0 ]; then
      echo "# WARNING $name c=$c: non2xx=$R_NON2XX, inactive or failed answers=$bad (must be 0)" | tee -a "$CSV"
    fi
    sleep 1
  done
}
