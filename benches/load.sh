#!/usr/bin/env bash
# Load benchmark: agent-sts side by side with the reference server in
# ../shared/bench-peer, same harness (wrk), same pinning (server on CPU 0,
# wrk on CPU 1), same scenarios. Loopback only; every run stops by itself.
#
#   benches/load.sh                          # agent-sts, then the peer
#   TARGETS=sts SCENARIOS="token_exchange" benches/load.sh
#   DURATION=15s CONNS="16 64" benches/load.sh
#   TARGETS="sts floor" SCENARIOS="token_exchange jwks" benches/load.sh   # against the HTTP+JOSE floor
#
# Prints both summary.csv files and the ratio agent-sts / peer per row.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEER="${PEER_DIR:-$ROOT/../shared/bench-peer}"
WORKDIR="${WORKDIR:-/tmp/perf/peer}"
STS_DIR="${STS_DIR:-/tmp/perf/sts}"
TARGETS="${TARGETS:-sts peer}"
SCENARIOS="${SCENARIOS:-token_exchange token_cc_jwt introspect_jwt jwks}"
# Live revocations loaded before the run (issue 5 measures with 100000).
REVOCATIONS="${REVOCATIONS:-100000}"
# AUDIT=off turns the audit trail off (insecure_disable, which only
# start-dev accepts); START=start-dev runs the server that way (use it for
# both sides of an audit on/off comparison).
AUDIT="${AUDIT:-on}"
START="${START:-serve}"
[ "$AUDIT" = off ] && START=start-dev
STS_PORT="${STS_PORT:-8180}"
JWKS_PORT="${JWKS_PORT:-8189}"
RESOURCE="https://mcp.bench.example"
export DURATION="${DURATION:-15s}" CONNS="${CONNS:-16 64}" WORKDIR

command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
[ -d "$PEER" ] || { echo "no bench-peer at $PEER (set PEER_DIR)" >&2; exit 1; }

(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/agent-sts"

# The shared fixture: the fake Okta key and a subject token.
mkdir -p "$WORKDIR"
cp "$PEER/package.json" "$PEER/package-lock.json" "$PEER/mint-subject-token.mjs" "$WORKDIR/"
[ -d "$WORKDIR/node_modules/jose" ] || (cd "$WORKDIR" && npm ci --no-audit --no-fund >/dev/null)
(cd "$WORKDIR" && node mint-subject-token.mjs "$WORKDIR" >/dev/null)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

results=()
if [[ " $TARGETS " == *" sts "* ]]; then
  rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
  # Static JWKS of the fake Okta, on loopback.
  (cd "$WORKDIR" && exec python3 -m http.server "$JWKS_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
  pids+=($!)
  secret_hash=$(printf '%s' 'bench-secret-0123456789abcdef' | sha256sum | cut -d' ' -f1)
  gateway_hash=$(printf '%s' 'bench-gateway-secret' | sha256sum | cut -d' ' -f1)
  cat > "$STS_DIR/agent-sts.toml" <<TOML
issuer = "http://127.0.0.1:$STS_PORT"
listen = "127.0.0.1:$STS_PORT"
[storage]
database_url = "${BENCH_DATABASE_URL:-sqlite://$STS_DIR/bench.db?mode=rwc}"
${BENCH_REDIS_URL:+redis_url = \"$BENCH_REDIS_URL\"}
[keys]
dir = "$STS_DIR/keys"
[[upstreams]]
name = "okta-bench"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://default"]
jwks_uri = "http://127.0.0.1:$JWKS_PORT/upstream_jwks.json"
[[resources]]
uri = "$RESOURCE"
scopes = ["orders:read"]
[[agents]]
id = "bench-agent"
patterns = ["obo", "workload"]
resources = ["$RESOURCE"]
required_scopes = ["orders:read"]
client = { id = "bench-client", auth = "client_secret_basic", secret_sha256 = "$secret_hash" }
[scope_groups]
"orders:read" = ["okta-bench:*"]
[[introspectors]]
resources = ["$RESOURCE"]
client = { id = "bench-gateway", auth = "client_secret_basic", secret_sha256 = "$gateway_hash" }
TOML
  if [ "$AUDIT" = off ]; then printf '[audit]\ninsecure_disable = true\n' >> "$STS_DIR/agent-sts.toml"; fi
  "$BIN" keys generate --dir "$STS_DIR/keys" >/dev/null
  if [ "$START" = start-dev ]; then cmd=(start-dev --config "$STS_DIR/agent-sts.toml"); else cmd=(serve --config "$STS_DIR/agent-sts.toml"); fi
  RUST_LOG="${BENCH_RUST_LOG:-info}" taskset -c 0 "$BIN" "${cmd[@]}" 2>"$STS_DIR/server.log" &
  sts_pid=$!
  pids+=("$sts_pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$STS_PORT/healthz" >/dev/null && break; sleep 0.1; done
  if [ "$REVOCATIONS" -gt 0 ] && [ -z "${BENCH_DATABASE_URL:-}" ]; then
    # Subject revocations of other users: the view holds them all, none matches.
    python3 - "$STS_DIR/bench.db" "$REVOCATIONS" <<'PY'
import sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
now = int(time.time())
con = sqlite3.connect(db)
con.executemany(
    "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor) VALUES ('subject', ?, NULL, ?, ?, 'bench')",
    ((f"00u-revoked-{i}", now, now + 960) for i in range(n)))
con.commit()
PY
    sleep 2  # the next poll loads them
    echo "revocations loaded: $REVOCATIONS; RSS now $(awk '/VmRSS/{print $2, $3}' "/proc/$sts_pid/status")"
  fi
  TARGET=sts BASE_URL="http://127.0.0.1:$STS_PORT" SERVER_PID="$sts_pid" TX_AUDIENCE="$RESOURCE" \
    INTROSPECT_BASIC_AUTH="Basic $(printf '%s' 'bench-gateway:bench-gateway-secret' | base64 -w0)" \
    TOKEN_PATH=/token INTROSPECT_JWT_PATH=/introspect JWKS_PATH=/.well-known/jwks.json \
    CC_BODY="grant_type=client_credentials&resource=https%3A%2F%2Fmcp.bench.example&scope=orders%3Aread" \
    SCENARIOS="$SCENARIOS" "$PEER/run.sh" | tee "$STS_DIR/run.log"
  results+=("$(awk '/^results:/{print $2}' "$STS_DIR/run.log")")
  echo "agent-sts peak RSS: $(awk '/VmHWM/{print $2, $3}' "/proc/$sts_pid/status")"
  kill "$sts_pid"
fi
if [[ " $TARGETS " == *" floor "* ]]; then
  # The HTTP + JOSE floor (examples/floor_server.rs): token exchange and JWKS only.
  (cd "$ROOT" && cargo build --release --quiet --example floor_server)
  taskset -c 0 "$ROOT/target/release/examples/floor_server" "$WORKDIR/upstream_jwks.json" 8190 &
  floor_pid=$!
  pids+=("$floor_pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:8190/jwks" >/dev/null && break; sleep 0.1; done
  floor_scenarios=""
  for sc in $SCENARIOS; do case "$sc" in token_exchange|jwks) floor_scenarios="$floor_scenarios $sc" ;; esac; done
  TARGET=floor BASE_URL="http://127.0.0.1:8190" SERVER_PID="$floor_pid" TX_AUDIENCE="$RESOURCE" \
    TOKEN_PATH=/token JWKS_PATH=/jwks SCENARIOS="$floor_scenarios" "$PEER/run.sh" | tee "$STS_DIR/floor.log"
  results+=("$(awk '/^results:/{print $2}' "$STS_DIR/floor.log")")
  kill "$floor_pid"
fi
if [[ " $TARGETS " == *" peer "* ]]; then
  TARGET=peer SCENARIOS="$SCENARIOS" "$PEER/run.sh" | tee "$STS_DIR/peer.log"
  results+=("$(awk '/^results:/{print $2}' "$STS_DIR/peer.log")")
fi

for r in "${results[@]}"; do echo "== $r"; cat "$r"; done
if [ "${#results[@]}" = 2 ]; then
  echo "== ratio ${TARGETS// / \/ } (rps; server CPU µs per request)"
  join -t, <(grep -v '^#' "${results[0]}" | tail -n +2 | awk -F, '{print $1"@"$2","$3","$10}' | sort) \
           <(grep -v '^#' "${results[1]}" | tail -n +2 | awk -F, '{print $1"@"$2","$3","$10}' | sort) |
    awk -F, '{printf "%-24s rps %8.0f / %8.0f = %5.2fx   cpu %6.1f / %6.1f us\n", $1, $2, $4, ($4>0?$2/$4:0), $3, $5}'
fi
