#!/usr/bin/env bash
# Sign-in benchmark (issue 18): authorization-code redemption and refresh
# throughput per core, agent-sts side by side with the reference server
# (panva/node-oidc-provider, the version ../shared/bench-peer pins). Same
# harness as load.sh: server pinned to CPU 0, wrk to CPU 1, the same CSV
# columns, server CPU µs per request from /proc/PID/stat. Loopback only;
# every run stops by itself.
#
#   benches/signin.sh                                  # agent-sts, then the peer
#   TARGETS=sts SCENARIOS=refresh_token benches/signin.sh
#   DURATION=10s BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agent_sts_bench \
#     BENCH_REDIS_URL=redis://127.0.0.1:6379 benches/signin.sh
#
# Scenarios:
#   authorization_code  every request redeems a different code (public client:
#                       client_id, code_verifier, redirect_uri, resource in the
#                       body). agent-sts's codes come from real sign-ins minted
#                       just before each run (benches/mint-signins.mjs: its
#                       /authorize, the fake upstream benches/upstream-login.mjs,
#                       its /authorize/callback); codes live 60 s, so a run
#                       gets what SIGNIN_MINT_MAX seconds of sign-ins make, at
#                       most SIGNIN_CODES, and stops when they are used up
#                       (its rate is then its own: benches/redeem.lua). The
#                       peer's codes come from its /bench/mint (its own models).
#   refresh_token       a pool of refresh tokens (2 per connection, from codes
#                       redeemed first); each request presents one, each 200
#                       answer's rotated token goes back in (benches/refresh.lua).
# non2xx and failed answers must be 0: a WARNING row otherwise.
#
# Knobs: TARGETS SCENARIOS DURATION CONNS WARMUP (lib.sh), STS_BIN (with
# BUILD=0 implied: a binary built elsewhere), BENCH_DATABASE_URL
# BENCH_REDIS_URL AUDIT, LOGIN_PORT (8188, the fake upstream login),
# SIGNIN_CODES (per run; default: DURATION at SIGNIN_RATE=8000/s, the peer
# PEER_SIGNIN_RATE=3000/s, plus a quarter), SIGNIN_MINT_MAX (40 s),
# SIGNIN_CONCURRENCY (32 sign-ins at a time), WARM_CODES (2000),
# SIGNIN_OUT (/tmp/perf/signin: results).
#
# Prints both summary.csv files and the ratio agent-sts / peer per row.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
TARGETS="${TARGETS:-sts peer}"
SCENARIOS="${SCENARIOS:-authorization_code refresh_token}"
export CONNS="${CONNS:-16 64}"
LOGIN_PORT="${LOGIN_PORT:-8188}"
SIGNIN_MINT_MAX="${SIGNIN_MINT_MAX:-40}"
SIGNIN_CONCURRENCY="${SIGNIN_CONCURRENCY:-32}"
WARM_CODES="${WARM_CODES:-2000}"
[ -n "${STS_BIN:-}" ] && BUILD="${BUILD:-0}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT_BASE="${SIGNIN_OUT:-/tmp/perf/signin}/$STAMP"
MCP_CLIENT="bench-mcp"
REDIRECT_ENC="http%3A%2F%2F127.0.0.1%2Fcallback"
for sc in $SCENARIOS; do
  case "$sc" in authorization_code|refresh_token) ;; *) lib_die "unknown scenario $sc" ;; esac
done
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# codes_for RATE: codes for one run of DURATION at RATE/s, plus a quarter.
codes_for() {
  if [ -n "${SIGNIN_CODES:-}" ]; then echo "$SIGNIN_CODES"; return 0; fi
  awk -v d="$(lib_secs "$DURATION")" -v r="$1" 'BEGIN{printf "%d", d * r * 1.25 + 500}'
}

# ---- agent-sts: codes and refresh tokens from real sign-ins -----------------
# sts_signins FILE N [REDEEM]: N sign-ins (at most SIGNIN_MINT_MAX s), codes
# ("code verifier") or, with REDEEM=1, refresh tokens into FILE.
sts_signins() {
  : > "$1"
  STS_URL="$BASE_URL" CLIENT_ID="$MCP_CLIENT" RESOURCE="$RESOURCE" SCOPE="orders:read" REDEEM="${3:-0}" \
    lib_fg node "$HERE/mint-signins.mjs" "$1" "$2" "$SIGNIN_CONCURRENCY" "$SIGNIN_MINT_MAX" ||
    lib_die "sign-ins through agent-sts failed (see $STS_DIR/server.log, $STS_DIR/upstream-login.log)"
}

# ---- the peer: codes and refresh tokens from its /bench/mint ----------------
peer_mint() { # FILE CODES REFRESH
  curl -fsS -m 120 -X POST "$PEER_URL/bench/mint?codes=$2&refresh=$3" > "$1" || lib_die "peer /bench/mint failed"
  echo "peer minted $(wc -l < "$1") ($2 codes, $3 refresh tokens)" >&2
}

start_peer_signin() {
  local log="$OUT_DIR/peer-server.log" _
  lib_port_free "$PEER_PORT"
  : > "$log"
  lib_pin "$SERVER_CPUS"
  (cd "$WORKDIR" && NODE_ENV=production PORT="$PEER_PORT" CLIENT_ID="$MCP_CLIENT" RESOURCE="$RESOURCE" \
     exec "${PIN[@]}" node peer-signin.mjs >"$log" 2>&1) &
  PEER_PID=$!
  lib_pids+=("$PEER_PID")
  for _ in $(seq 1 100); do grep -q READY "$log" && return 0; sleep 0.1; done
  cat "$log" >&2; lib_die "peer (peer-signin.mjs) did not start"
}

# check NAME C: the script's own counts into the CSV; a WARNING row unless
# every answer was a 200.
check() {
  local name="$1" c="$2" line failed
  line=$(grep -E '^(redeem|refresh):' "$R_LOG" || true)
  echo "# $name c=$c $line$(awk '/^early_stop_seconds:/{printf " (codes used up after %s s)", $2}' "$R_LOG")" | tee -a "$CSV"
  failed=$(printf '%s' "$line" | sed -n 's/.* failed=\([0-9]*\).*/\1/p'); failed=${failed:-unknown}
  if [ "$R_NON2XX" != 0 ] || [ "$failed" != 0 ]; then
    echo "# WARNING $name c=$c: non2xx=$R_NON2XX failed=$failed (must be 0), see $R_LOG" | tee -a "$CSV"
  fi
}

# run_scenarios TARGET: warm-up and one run per CONNS of each scenario.
# Uses MINT_CODES FILE N / MINT_POOL FILE N (functions per target).
run_scenarios() {
  local target="$1" rate="$2" c n vars
  vars=(CLIENT_ID="$MCP_CLIENT" REDIRECT_URI="$REDIRECT_ENC" RESOURCE="$RESOURCE_ENC" IDLE_PATH=/healthz)
  if has authorization_code; then
    n=$(codes_for "$rate")
    if [ "$WARMUP" != 0 ]; then
      "mint_codes_$target" "$OUT_DIR/codes.txt" "$WARM_CODES"
      lib_warm "$TOKEN_URL" "$HERE/redeem.lua" CODES_FILE="$OUT_DIR/codes.txt" "${vars[@]}"
    fi
    for c in $CONNS; do
      "mint_codes_$target" "$OUT_DIR/codes.txt" "$n"
      lib_bench_run authorization_code "$c" "$TOKEN_URL" "$HERE/redeem.lua" CODES_FILE="$OUT_DIR/codes.txt" "${vars[@]}"
      check authorization_code "$c"
      sleep 1
    done
    rm -f "$OUT_DIR/codes.txt"
  fi
  if has refresh_token; then
    if [ "$WARMUP" != 0 ]; then
      "mint_pool_$target" "$OUT_DIR/pool.txt" 32
      lib_warm "$TOKEN_URL" "$HERE/refresh.lua" POOL_FILE="$OUT_DIR/pool.txt" "${vars[@]}"
    fi
    for c in $CONNS; do
      "mint_pool_$target" "$OUT_DIR/pool.txt" $((2 * c))
      lib_bench_run refresh_token "$c" "$TOKEN_URL" "$HERE/refresh.lua" POOL_FILE="$OUT_DIR/pool.txt" "${vars[@]}"
      check refresh_token "$c"
      sleep 1
    done
    rm -f "$OUT_DIR/pool.txt"
  fi
}
mint_codes_sts() { sts_signins "$1" "$2"; }
mint_pool_sts() { sts_signins "$1" "$2" 1; }
mint_codes_peer() { peer_mint "$1" "$2" 0; }
mint_pool_peer() { peer_mint "$1" 0 "$2"; }

lib_require
if [[ " $TARGETS " == *" sts "* ]]; then lib_build; fi
lib_fixture
cp "$HERE/upstream-login.mjs" "$HERE/peer-signin.mjs" "$WORKDIR/"

results=()
if [[ " $TARGETS " == *" sts "* ]]; then
  rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
  OUT_DIR="$OUT_BASE/sts" && mkdir -p "$OUT_DIR"
  CSV="$OUT_DIR/summary.csv"
  lib_start_jwks
  lib_port_free "$LOGIN_PORT"
  (cd "$WORKDIR" && PORT="$LOGIN_PORT" STATE_DIR="$WORKDIR" LOGIN_CLIENT_ID="$LOGIN_CLIENT_ID" \
     LOGIN_CLIENT_SECRET="$LOGIN_CLIENT_SECRET" exec node upstream-login.mjs >"$STS_DIR/upstream-login.log" 2>&1) &
  lib_pids+=($!)
  for _ in $(seq 1 100); do grep -q READY "$STS_DIR/upstream-login.log" && break; sleep 0.1; done
  grep -q READY "$STS_DIR/upstream-login.log" || { cat "$STS_DIR/upstream-login.log" >&2; lib_die "fake upstream login did not start"; }
  BENCH_LOGIN_PORT="$LOGIN_PORT" lib_write_config "$STS_DIR/agent-sts.toml"
  lib_keys
  lib_fresh_db
  lib_start_sts "$SERVER_CPUS"
  store="SQLite"; [ -n "${BENCH_DATABASE_URL:-}" ] && store="PostgreSQL"; [ -n "${BENCH_REDIS_URL:-}" ] && store="$store + Redis"
  built="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)"
  [ -n "${STS_BIN:-}" ] && built="$STS_BIN"
  lib_csv_init "$CSV" "agent-sts @ $BASE_URL ($store, audit $AUDIT, $built) sign-in grants"
  SERVER_PID="$STS_PID" TOKEN_URL="$BASE_URL/token"
  run_scenarios sts "${SIGNIN_RATE:-8000}"
  echo "agent-sts peak RSS: $(lib_hwm_kb "$STS_PID") kB"
  lib_stop_sts
  errors=$(grep -cE ' (ERROR|WARN) ' "$STS_DIR/server.log" || true)
  cp "$STS_DIR/server.log" "$OUT_DIR/server.log"
  echo "# agent-sts server log: ${errors:-0} ERROR/WARN lines ($OUT_DIR/server.log)" | tee -a "$CSV"
  results+=("$CSV")
fi
if [[ " $TARGETS " == *" peer "* ]]; then
  OUT_DIR="$OUT_BASE/peer" && mkdir -p "$OUT_DIR"
  CSV="$OUT_DIR/summary.csv"
  start_peer_signin
  lib_csv_init "$CSV" "peer (oidc-provider, in-memory, node $(node --version)) @ $PEER_URL sign-in grants"
  SERVER_PID="$PEER_PID" TOKEN_URL="$PEER_URL/token"
  run_scenarios peer "${PEER_SIGNIN_RATE:-3000}"
  lib_stop_peer
  results+=("$CSV")
fi

for r in "${results[@]}"; do echo "== $r"; cat "$r"; done
if [ "${#results[@]}" = 2 ]; then
  echo "== ratio ${TARGETS// / \/ } (rps; server CPU µs per request)"
  awk -F, 'FNR == 1 { f++ } /^#/ || $1 == "scenario" { next }
    f == 1 { k = $1 "@" $2; order[++n] = k; rps[k] = $3; cpu[k] = $10 }
    f == 2 { prps[$1 "@" $2] = $3; pcpu[$1 "@" $2] = $10 }
    END { for (i = 1; i <= n; i++) { k = order[i]
      if (k in prps) printf "%-30s rps %8.0f / %8.0f = %5.2fx   cpu %6.1f / %6.1f us\n", k, rps[k], prps[k], (prps[k] > 0 ? rps[k] / prps[k] : 0), cpu[k], pcpu[k]
      else printf "%-30s rps %8.0f /      n/a               cpu %6.1f /    n/a\n", k, rps[k], cpu[k] } }' "${results[0]}" "${results[1]}"
fi
