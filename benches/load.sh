#!/usr/bin/env bash
# Load benchmark: agent-sts side by side with the reference server in
# ../shared/bench-peer, same harness (wrk), same pinning (server on CPU 0,
# wrk on CPU 1), same scenarios. Loopback only; every run stops by itself.
#
#   benches/load.sh                          # agent-sts, then the peer
#   TARGETS=sts SCENARIOS="token_exchange" benches/load.sh
#   DURATION=15s CONNS="16 64" benches/load.sh
#   TARGETS="sts floor" SCENARIOS="token_exchange jwks" benches/load.sh   # against the HTTP+JOSE floor
#   TARGETS=sts SCENARIOS="hybrid_exchange introspect_first_seen mixed" benches/load.sh
#
# Scenarios. run.sh's own: token_exchange (OBO), token_cc_jwt
# (client_credentials), introspect_jwt (cached introspection), jwks
# (introspect_opaque: peer only). Ours, measured the same way by lib.sh:
#   hybrid_exchange        user subject_token + the agent's workload token as
#                          actor_token (peer: n/a, it has no hybrid)
#   introspect_first_seen  every request introspects a token never seen before
#                          (tokens minted first with client_credentials; peer:
#                          its /bench/introspect-jwt, the same way)
#   token_exchange_first_seen  every request exchanges a different user's
#                          upstream RS256 token, so its verification is paid
#                          each time (tokens from benches/mint-user-tokens.mjs,
#                          kept in WORKDIR for a week; the peer gets the same)
#   mixed                  an agent calling MCP tools: 1 exchange, then 20
#                          introspections of that token; server and wrk
#                          unpinned (both cores); non2xx must be 0
#
# Knobs: TARGETS SCENARIOS DURATION CONNS WARMUP REVOCATIONS (100000 live
# revocations loaded first) AUDIT=on|off START=serve|start-dev
# BENCH_DATABASE_URL BENCH_REDIS_URL BENCH_RUST_LOG STS_PORT JWKS_PORT
# FLOOR_PORT PORT (peer) WORKDIR STS_DIR PER_TOKEN (20) FIRST_SEEN_TOKENS
# (default: enough for the runs at FIRST_SEEN_RATE=7000/s, peer 3500/s)
# USER_TOKENS (token_exchange_first_seen: default enough at
# FIRST_SEEN_TX_RATE=6000/s). A first-seen run that uses up its tokens stops
# early rather than send one twice (see lib_first_seen).
# See benches/lib.sh for the rest.
#
# Prints both summary.csv files and the ratio agent-sts / peer per row.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
TARGETS="${TARGETS:-sts peer}"
SCENARIOS="${SCENARIOS:-token_exchange token_cc_jwt introspect_jwt jwks hybrid_exchange introspect_first_seen token_exchange_first_seen mixed}"
# Live revocations loaded before the run (issue 5 measures with 100000).
REVOCATIONS="${REVOCATIONS:-100000}"
FLOOR_PORT="${FLOOR_PORT:-8190}"
export CONNS="${CONNS:-16 64}"

# run.sh runs its scenarios; we run ours after it, into the same summary.csv.
RUNSH_SCENARIOS="" EXTRA_SCENARIOS=""
for sc in $SCENARIOS; do
  case "$sc" in
    token_exchange|token_cc_jwt|introspect_jwt|jwks|introspect_opaque) RUNSH_SCENARIOS="$RUNSH_SCENARIOS $sc" ;;
    hybrid_exchange|introspect_first_seen|token_exchange_first_seen|mixed) EXTRA_SCENARIOS="$EXTRA_SCENARIOS $sc" ;;
    *) lib_die "unknown scenario $sc" ;;
  esac
done
has() { [[ " $EXTRA_SCENARIOS " == *" $1 "* ]]; }
# run.sh treats an empty SCENARIOS as "all of mine": give it a blank instead.
RUNSH_SCENARIOS="${RUNSH_SCENARIOS:- }"

# Tokens for introspect_first_seen: every run (and the warm-up) on its own.
first_seen_tokens() {
  local rate="$1" n=0 c
  for c in $CONNS; do n=$((n + 1)); done
  awk -v d="$(lib_secs "$DURATION")" -v w="$(lib_secs "$WARMUP")" -v n="$n" -v r="$rate" \
    'BEGIN{printf "%d", (d * n + w) * r * 1.25 + 1000}'
}

# Upstream user tokens for token_exchange_first_seen, one a line, each a
# different user: minted once (RSA signing, ~1 ms each) and kept while the
# file has enough lines and is under 6 days old (they live 7).
user_tokens() {
  local file="$WORKDIR/user_tokens.txt" n
  n="${USER_TOKENS:-$(first_seen_tokens "${FIRST_SEEN_TX_RATE:-6000}")}"
  if [ ! -f "$file" ] || [ "$(wc -l < "$file")" -lt "$n" ] || [ -n "$(find "$file" -mmin +8640)" ]; then
    cp "$HERE/mint-user-tokens.mjs" "$WORKDIR/"
    (cd "$WORKDIR" && node mint-user-tokens.mjs "$WORKDIR" "$n" "$file") >&2
  fi
  USER_TOKENS_FILE="$file"
}

lib_require
lib_build
lib_fixture
if has token_exchange_first_seen; then user_tokens; fi

results=()
if [[ " $TARGETS " == *" sts "* ]]; then
  rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
  lib_start_jwks
  lib_write_config "$STS_DIR/agent-sts.toml"
  lib_keys
  lib_fresh_db
  lib_start_sts "$SERVER_CPUS"
  if [ "$REVOCATIONS" -gt 0 ]; then
    lib_load_revocations "$REVOCATIONS"
    echo "revocations loaded: $REVOCATIONS (insert ${REV_INSERT_S} s, in memory after ${REV_LOAD_S} s); RSS now $(lib_rss_kb "$STS_PID") kB"
  fi
  TARGET=sts BASE_URL="$BASE_URL" SERVER_PID="$STS_PID" TX_AUDIENCE="$RESOURCE" \
    INTROSPECT_BASIC_AUTH="$GATEWAY_AUTH" \
    TOKEN_PATH=/token INTROSPECT_JWT_PATH=/introspect JWKS_PATH=/.well-known/jwks.json \
    CC_BODY="$CC_BODY" TX_BODY="$TX_BODY" SCENARIOS="$RUNSH_SCENARIOS" "$PEER/run.sh" | tee "$STS_DIR/run.log"
  CSV="$(awk '/^results:/{print $2}' "$STS_DIR/run.log")"
  OUT_DIR="$(dirname "$CSV")"
  results+=("$CSV")
  SERVER_PID="$STS_PID"
  hwm() { echo "# agent-sts peak RSS after $1: $(lib_hwm_kb "$STS_PID") kB" | tee -a "$CSV"; }
  hwm "run.sh's scenarios"
  if has hybrid_exchange; then
    printf '%s' "$HYBRID_BODY" > "$OUT_DIR/hybrid_exchange.body"
    # One by hand first: it must be granted, with the workload identity as act.
    answer=$(curl -sS -H "Authorization: $HYBRID_AUTH" --data "$HYBRID_BODY" "$BASE_URL/token")
    tok=$(printf '%s' "$answer" | lib_json_field access_token 2>/dev/null) || lib_die "hybrid exchange refused: $answer"
    python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; c=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4))); assert c["act"]["sub"]==sys.argv[2] and c["urn:agent"]["pattern"]=="hybrid", c' \
      "$tok" "$WORKLOAD_SUBJECT" || lib_die "hybrid token without the expected act: $answer"
    lib_warm "$BASE_URL/token" "$PEER/post.lua" BODY_FILE="$OUT_DIR/hybrid_exchange.body" BASIC_AUTH="$HYBRID_AUTH"
    for c in $CONNS; do
      lib_bench_run hybrid_exchange "$c" "$BASE_URL/token" "$PEER/post.lua" BODY_FILE="$OUT_DIR/hybrid_exchange.body" BASIC_AUTH="$HYBRID_AUTH"
      sleep 1
    done
  fi
  if has introspect_first_seen; then
    n="${FIRST_SEEN_TOKENS:-$(first_seen_tokens "${FIRST_SEEN_RATE:-7000}")}"
    lib_mint_tokens "$BASE_URL/token" "$CC_BODY" "$CLIENT_AUTH" "$n" "$OUT_DIR/first_seen_tokens.txt"
    hwm "minting $n tokens"
    lib_first_seen introspect_first_seen "$BASE_URL/introspect" "$GATEWAY_AUTH" "$OUT_DIR/first_seen_tokens.txt"
    rm -f "$OUT_DIR/first_seen_tokens.txt"
    hwm introspect_first_seen
  fi
  if has token_exchange_first_seen; then
    lib_first_seen token_exchange_first_seen "$BASE_URL/token" "$CLIENT_AUTH" "$USER_TOKENS_FILE" \
      "$TX_GRANT&subject_token_type=$AT_TYPE&audience=$RESOURCE_ENC&subject_token="
    hwm token_exchange_first_seen
  fi
  echo "agent-sts peak RSS: $(lib_hwm_kb "$STS_PID") kB"
  if has mixed; then
    lib_stop_sts
    echo "# mixed: agent-sts and wrk both unpinned (both cores), $PER_TOKEN_NOTE" >> "$CSV"
    lib_start_sts ""
    SERVER_PID="$STS_PID"
    lib_mixed mixed "$BASE_URL" /token "$TX_BODY" "$CLIENT_AUTH" /introspect "$GATEWAY_AUTH"
    echo "agent-sts (unpinned) peak RSS: $(lib_hwm_kb "$STS_PID") kB"
  fi
  lib_stop_sts
fi
floor_scenarios=""
for sc in $SCENARIOS; do case "$sc" in token_exchange|jwks) floor_scenarios="$floor_scenarios $sc" ;; esac; done
if [[ " $TARGETS " == *" floor "* ]] && [ -n "$floor_scenarios" ]; then
  # The HTTP + JOSE floor (examples/floor_server.rs): token exchange and JWKS only.
  (cd "$ROOT" && cargo build --release --quiet --example floor_server)
  lib_port_free "$FLOOR_PORT"
  taskset -c "$SERVER_CPUS" "$ROOT/target/release/examples/floor_server" "$WORKDIR/upstream_jwks.json" "$FLOOR_PORT" &
  floor_pid=$!
  lib_pids+=("$floor_pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$FLOOR_PORT/jwks" >/dev/null && break; sleep 0.1; done
  TARGET=floor BASE_URL="http://127.0.0.1:$FLOOR_PORT" SERVER_PID="$floor_pid" TX_AUDIENCE="$RESOURCE" \
    TOKEN_PATH=/token JWKS_PATH=/jwks SCENARIOS="$floor_scenarios" "$PEER/run.sh" | tee "$STS_DIR/floor.log"
  results+=("$(awk '/^results:/{print $2}' "$STS_DIR/floor.log")")
  kill "$floor_pid"
fi
if [[ " $TARGETS " == *" peer "* ]]; then
  mkdir -p "$STS_DIR"
  TARGET=peer PORT="$PEER_PORT" SCENARIOS="$RUNSH_SCENARIOS" "$PEER/run.sh" | tee "$STS_DIR/peer.log"
  CSV="$(awk '/^results:/{print $2}' "$STS_DIR/peer.log")"
  OUT_DIR="$(dirname "$CSV")"
  results+=("$CSV")
  if has hybrid_exchange; then
    echo "# hybrid_exchange: n/a (the peer has no hybrid: no actor_token)" >> "$CSV"
  fi
  if has introspect_first_seen; then
    lib_start_peer
    SERVER_PID="$PEER_PID"
    n="${FIRST_SEEN_TOKENS:-$(first_seen_tokens "${FIRST_SEEN_RATE_PEER:-3500}")}"
    lib_mint_tokens "$PEER_URL/token" "$PEER_CC_BODY" "$PEER_CLIENT_AUTH" "$n" "$OUT_DIR/first_seen_tokens.txt"
    lib_first_seen introspect_first_seen "$PEER_URL/bench/introspect-jwt" "$PEER_CLIENT_AUTH" "$OUT_DIR/first_seen_tokens.txt"
    rm -f "$OUT_DIR/first_seen_tokens.txt"
    lib_stop_peer
  fi
  if has token_exchange_first_seen; then
    lib_start_peer
    SERVER_PID="$PEER_PID"
    lib_first_seen token_exchange_first_seen "$PEER_URL/token" "$PEER_CLIENT_AUTH" "$USER_TOKENS_FILE" \
      "$TX_GRANT&subject_token_type=$JWT_TYPE&audience=urn%3Apeer%3Ajwt&subject_token="
    lib_stop_peer
  fi
  if has mixed; then
    echo "# mixed: peer and wrk both unpinned (both cores; node runs JS on one), $PER_TOKEN_NOTE" >> "$CSV"
    lib_start_peer ""
    SERVER_PID="$PEER_PID"
    lib_mixed mixed "$PEER_URL" /token "$PEER_TX_BODY" "$PEER_CLIENT_AUTH" /bench/introspect-jwt "$PEER_CLIENT_AUTH"
    lib_stop_peer
  fi
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
