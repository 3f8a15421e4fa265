#!/usr/bin/env bash
# Soak: a steady mixed load for SOAK_SECONDS (60). Targets: zero 5xx, RSS
# growth under MAX_GROWTH_PCT (10) %.
#
#   benches/soak.sh                                    # SQLite, ~1.5 min
#   SOAK_SECONDS=600 SOAK_RATE=3000 benches/soak.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agent_sts_bench \
#     BENCH_REDIS_URL=redis://127.0.0.1:6379 benches/soak.sh
#
# agent-sts pinned to SERVER_CPUS (CPU 0), wrk to LOADGEN_CPUS (CPU 1), the
# load.sh config (rate limits off / high, lib.sh). The load is mixed.lua's
# shape at a fixed rate (benches/soak.lua): one token exchange (OBO) then
# PER_TOKEN (20) introspections of the token it returned, SOAK_RATE (2000)
# requests a second in total over SOAK_CONNS (16) connections. Every answer
# is counted by status code.
#
# Steps: warm up SOAK_WARMUP (10s) at the same rate; RSS (VmRSS) = start;
# the soak, RSS sampled every SAMPLE_EVERY (5) s; RSS at the end. Then
# /metrics: the agent_sts_http_requests_total lines (5xx ones called out).
# Growth = (max sample - start) / start. Exits 1 on any 5xx (wrk's count
# or /metrics), any other non-2xx or inactive introspection, or growth >=
# MAX_GROWTH_PCT. Bounded: wrk stops after SOAK_SECONDS, everything started
# here is stopped on exit. Knobs: SOAK_SECONDS SOAK_WARMUP SOAK_RATE
# SOAK_CONNS PER_TOKEN SAMPLE_EVERY MAX_GROWTH_PCT and lib.sh's
# (STS_DIR=/tmp/perf/soak, STS_PORT, BUILD=0, BENCH_*).
#
# SOAK_MODE=distinct: the audit counter's regression run. Every token is
# introspected twice (PER_TOKEN=2: a first answer and a counted repeat, so
# every (token, caller) pair ends in a summary) at SOAK_RATE (default 6000
# here), so more than 100,000 distinct tokens are introspected within one
# token lifetime and the counter fills (its early summary is 100,000
# records at once). The soak runs in SLICE (10 s) slices: p99 and the
# status mix per slice; at the end /metrics' dropped and folded audit
# records and the summary records in the store. Fails on any dropped
# record or any 503 besides the usual checks.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STS_DIR="${STS_DIR:-/tmp/perf/soak}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
STORE="sqlite"; [ -z "${BENCH_DATABASE_URL:-}" ] || STORE="postgres"; [ -z "${BENCH_REDIS_URL:-}" ] || STORE="$STORE + redis"
REV="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
(cd "$ROOT" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null) || REV="$REV+dirty-src"
SOAK_MODE="${SOAK_MODE:-mixed}"
case "$SOAK_MODE" in
  mixed) ;;
  distinct) SOAK_RATE="${SOAK_RATE:-6000}"; PER_TOKEN="${PER_TOKEN:-2}"; SOAK_SECONDS="${SOAK_SECONDS:-70}"
    MAX_GROWTH_PCT="${MAX_GROWTH_PCT:-1000}" ;; # the caches fill: reported, not the point here
  *) echo "SOAK_MODE is mixed or distinct" >&2; exit 2 ;;
esac
SLICE="${SLICE:-10}"
SOAK_SECONDS="${SOAK_SECONDS:-60}"
SOAK_WARMUP="${SOAK_WARMUP:-10s}"
SOAK_RATE="${SOAK_RATE:-2000}"
SOAK_CONNS="${SOAK_CONNS:-16}"
PER_TOKEN="${PER_TOKEN:-20}"
SAMPLE_EVERY="${SAMPLE_EVERY:-5}"
MAX_GROWTH_PCT="${MAX_GROWTH_PCT:-10}"

lib_require
lib_build
lib_fixture
rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
OUT_DIR="$STS_DIR/results-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT_DIR"
lib_start_jwks
lib_write_config "$STS_DIR/agent-sts.toml"
lib_keys
lib_fresh_db
lib_start_sts "$SERVER_CPUS"
idle_kb=$(lib_rss_kb "$STS_PID")

printf '%s' "$TX_BODY" > "$OUT_DIR/tx.body"
vars=(TX_PATH=/token TX_BODY_FILE="$OUT_DIR/tx.body" TX_AUTH="$CLIENT_AUTH" INTROSPECT_PATH=/introspect
  INTROSPECT_AUTH="$GATEWAY_AUTH" PER_TOKEN="$PER_TOKEN" RATE="$SOAK_RATE")
lib_pin "$LOADGEN_CPUS"
soak_wrk() { # DURATION LOG
  lib_fg env "${vars[@]}" "${PIN[@]}" wrk -t1 -c"$SOAK_CONNS" -d"$1" --timeout 10s --latency -s "$HERE/soak.lua" "$BASE_URL" >"$2" 2>&1 || true
}

# sampler FILE: "t kB" every SAMPLE_EVERY s into FILE, in the background (SAMPLER).
sampler() {
  (
    # its sleep is a child of its own: stopped with it, never left behind
    sp=""
    trap '[ -z "$sp" ] || kill "$sp" 2>/dev/null; exit 0' TERM
    t=0
    while :; do
      sleep "$SAMPLE_EVERY" & sp=$!
      wait "$sp" || exit 0
      t=$((t + SAMPLE_EVERY))
      kb=$(lib_rss_kb "$STS_PID" 2>/dev/null) || exit 0
      echo "$t $kb" >> "$1"
    done
  ) &
  SAMPLER=$!
  lib_pids+=("$SAMPLER")
}
stop_sampler() { kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; }

echo "agent-sts up (RSS $(lib_mb "$idle_kb") MB idle); warm-up $SOAK_WARMUP at $SOAK_RATE req/s" >&2
warm_samples="$OUT_DIR/rss-warmup.txt"
echo "0 $idle_kb" > "$warm_samples"
sampler "$warm_samples"
soak_wrk "$SOAK_WARMUP" "$OUT_DIR/warm.txt"
stop_sampler
start_kb=$(lib_rss_kb "$STS_PID")
samples="$OUT_DIR/rss.txt"
echo "0 $start_kb" > "$samples"
sampler "$samples"
echo "soak: ${SOAK_SECONDS}s at $SOAK_RATE req/s (1 exchange + $PER_TOKEN introspections per token), c=$SOAK_CONNS; RSS every ${SAMPLE_EVERY}s" >&2
t0=$(lib_cpu_ticks "$STS_PID")
log="$OUT_DIR/soak.txt"
if [ "$SOAK_MODE" = distinct ]; then
  # Slices, so p99 and the status mix can be read over time; their counts
  # are added up into one log of the same shape for the checks below.
  slices=$(( (SOAK_SECONDS + SLICE - 1) / SLICE ))
  : > "$OUT_DIR/slices.txt"
  for i in $(seq 1 "$slices"); do
    soak_wrk "${SLICE}s" "$OUT_DIR/slice-$i.txt"
    sl="$OUT_DIR/slice-$i.txt"
    echo "$((i * SLICE))s: p99 $(awk '/^ +99%/{print $2}' "$sl" | lib_to_ms) ms; $(sed -n 's/^statuses: //p' "$sl"); $(sed -n 's/^soak: //p' "$sl")" >> "$OUT_DIR/slices.txt"
  done
  awk '
    /requests in/ { req += $1 }
    /^soak: / { for (i = 2; i <= NF; i++) { split($i, a, "="); soak[a[1]] += a[2] } }
    /^statuses: / { for (i = 2; i <= NF; i++) { split($i, a, "="); st[a[1]] += a[2] } }
    /^class: / { for (i = 2; i <= NF; i++) { split($i, a, "="); cl[a[1]] += a[2] } }
    /^ +99%/ { p99 = $2 }
    END {
      printf "  %d requests in %ds\nRequests/sec: %.2f\n", req, '"$SOAK_SECONDS"', req / '"$SOAK_SECONDS"'
      printf "    99%% %s\n", p99
      printf "soak:"; for (k in soak) printf " %s=%d", k, soak[k]; printf "\n"
      printf "statuses:"; for (k in st) printf " %s=%d", k, st[k]; printf "\n"
      printf "class:"; for (k in cl) printf " %s=%d", k, cl[k]; printf "\n"
    }' "$OUT_DIR"/slice-*.txt > "$log"
else
  soak_wrk "${SOAK_SECONDS}s" "$log"
fi
t1=$(lib_cpu_ticks "$STS_PID")
end_kb=$(lib_rss_kb "$STS_PID")
stop_sampler
echo "end $end_kb" >> "$samples"
hwm_kb=$(lib_hwm_kb "$STS_PID")
curl -sS "$BASE_URL/metrics" > "$OUT_DIR/metrics.txt" || true

max_kb=$(awk 'BEGIN{m=0} $2 > m {m=$2} END{print m}' "$samples")
growth=$(awk -v a="$start_kb" -v b="$max_kb" 'BEGIN{printf "%.1f", (b-a)/a*100}')
end_growth=$(awk -v a="$start_kb" -v b="$end_kb" 'BEGIN{printf "%.1f", (b-a)/a*100}')
reqs=$(awk '/requests in/{print $1}' "$log"); reqs=${reqs:-0}
rps=$(awk '/^Requests\/sec/{print $2}' "$log")
p50=$(awk '/^ +50%/{print $2}' "$log" | lib_to_ms); p99=$(awk '/^ +99%/{print $2}' "$log" | lib_to_ms)
sockerr=$(awk '/Socket errors/{print $0}' "$log" | sed 's/.*errors: //; s/ //g')
soakline=$(sed -n 's/^soak: //p' "$log")
statline=$(sed -n 's/^statuses: //p' "$log")
field() { awk -v k="$1" '{for(i=1;i<=NF;i++){split($i,a,"="); if(a[1]==k) print a[2]}}' <<< "$2"; }
n5xx=$(field 5xx "$(sed -n 's/^class: //p' "$log")"); n5xx=${n5xx:-0}
n2xx=$(field 2xx "$(sed -n 's/^class: //p' "$log")"); n2xx=${n2xx:-0}
inactive=$(field inactive "$soakline"); inactive=${inactive:-0}
cpu_pct=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$SOAK_SECONDS" 'BEGIN{printf "%.0f", (b-a)/hz/d*100}')
http_lines=$(grep -E '^agent_sts_http_requests_total\{' "$OUT_DIR/metrics.txt" || true)
http_5xx=$(grep -E 'status="5[0-9][0-9]"' <<< "$http_lines" || true)

{
  echo "# soak @ $BASE_URL $(date -u) seconds=$SOAK_SECONDS rate=$SOAK_RATE conns=$SOAK_CONNS per_token=$PER_TOKEN server_cpus=$SERVER_CPUS loadgen_cpus=$LOADGEN_CPUS"
  echo "# host: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); store: $STORE; commit $REV"
  echo "requests,rps,p50_ms,p99_ms,statuses,socket_errors,rss_start_kb,rss_max_kb,rss_end_kb,growth_max_pct,growth_end_pct,vmhwm_kb,server_core_busy_pct"
  echo "$reqs,$rps,$p50,$p99,${statline// /;},${sockerr:-none},$start_kb,$max_kb,$end_kb,$growth,$end_growth,$hwm_kb,$cpu_pct"
} > "$OUT_DIR/summary.csv"

echo
echo "== soak (commit $REV, $(date -u +%F), $(nproc) cpus; server on CPU $SERVER_CPUS, wrk on CPU $LOADGEN_CPUS; $STORE)"
echo "load: ${SOAK_SECONDS}s at $SOAK_RATE req/s target, c=$SOAK_CONNS, 1 exchange + $PER_TOKEN introspections per token"
echo "requests: $reqs ($rps/s), p50 $p50 ms, p99 $p99 ms, server core busy $cpu_pct%; socket errors ${sockerr:-none}"
echo "answers: $soakline"
echo "statuses: $statline"
echo "RSS (MB): idle $(lib_mb "$idle_kb"), start $(lib_mb "$start_kb") (after the warm-up), max $(lib_mb "$max_kb"), end $(lib_mb "$end_kb"); growth max $growth %, end $end_growth % (limit $MAX_GROWTH_PCT %); VmHWM $(lib_mb "$hwm_kb")"
echo "RSS during the warm-up (s:kB): $(awk '{printf "%s:%s ", $1, $2}' "$warm_samples")"
echo "RSS during the soak (s:kB): $(awk '{printf "%s:%s ", $1, $2}' "$samples")"
warm_tx=$(sed -n 's/^soak: exchanges=\([0-9]*\).*/\1/p' "$OUT_DIR/warm.txt")
echo "distinct tokens minted: ${warm_tx:-0} in the warm-up + $(field exchanges "$soakline") in the soak (each one introspected: a cache entry and an audit repeat-counter pair)"
echo "/metrics agent_sts_http_requests_total:"
sed 's/^/  /' <<< "$http_lines"
[ -z "$http_5xx" ] || { echo "5xx in /metrics:"; sed 's/^/  /' <<< "$http_5xx"; }
errs=$(grep -cE ' (ERROR|WARN) ' "$STS_DIR/server.log" || true)
echo "server log: $errs ERROR/WARN lines ($STS_DIR/server.log); results in $OUT_DIR"
[ "${errs:-0}" = 0 ] || grep -E ' (ERROR|WARN) ' "$STS_DIR/server.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -5

fail=0
if [ "$SOAK_MODE" = distinct ]; then
  sleep 5 # the backlog of summaries drains at the writer's pace
  curl -sS "$BASE_URL/metrics" > "$OUT_DIR/metrics-end.txt" || true
  metric() { awk -v k="$1" '$1 == k {print $2}' "$OUT_DIR/metrics-end.txt"; }
  dropped=$(metric agent_sts_audit_dropped_total); folded=$(metric agent_sts_audit_folded_total)
  backlog=$(metric agent_sts_audit_backlog)
  q="SELECT count(*) FROM audit_records WHERE event = 'introspect' AND record LIKE '%\"count\":%' AND record NOT LIKE '%\"count\":null%'"
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then summaries=$(lib_psql -c "$q"); else summaries=$(sqlite3 "$STS_DIR/bench.db" "$q"); fi
  n503=$(field 503 "$statline"); n503=${n503:-0}
  echo "per ${SLICE}s slice:"; sed 's/^/  /' "$OUT_DIR/slices.txt"
  echo "audit: dropped ${dropped:-?}, folded ${folded:-?}, backlog now ${backlog:-?}; introspection summaries in the store: $summaries"
  echo "# distinct: dropped=${dropped:-?} folded=${folded:-?} summaries=$summaries 503=$n503" >> "$OUT_DIR/summary.csv"
  [ "${dropped:-1}" = 0 ] || { echo "FAIL: ${dropped:-?} audit records dropped" >&2; fail=1; }
  [ "$n503" = 0 ] || { echo "FAIL: $n503 answers were 503" >&2; fail=1; }
fi
[ "$n5xx" = 0 ] || { echo "FAIL: $n5xx 5xx answers" >&2; fail=1; }
[ -z "$http_5xx" ] || { echo "FAIL: /metrics counts 5xx answers" >&2; fail=1; }
[ "$reqs" -gt 0 ] && [ "$n2xx" = "$reqs" ] || { echo "FAIL: $((reqs - n2xx)) of $reqs answers not 2xx" >&2; fail=1; }
[ "$inactive" = 0 ] || { echo "FAIL: $inactive introspections answered inactive" >&2; fail=1; }
if awk -v g="$growth" -v m="$MAX_GROWTH_PCT" 'BEGIN{exit !(g >= m)}'; then
  echo "FAIL: RSS grew $growth % (max $MAX_GROWTH_PCT %)" >&2; fail=1
fi
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
