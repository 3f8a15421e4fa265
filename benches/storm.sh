#!/usr/bin/env bash
# Retry storm: does one agent hammering /token far above its rate limit slow
# the other agents down? Target: victims' p99 under the storm at most
# MAX_RATIO (2) times their p99 alone; no 5xx for anyone.
#
#   benches/storm.sh                                   # SQLite, ~1 min
#   DURATION=30s STORM_CONNS=128 benches/storm.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agent_sts_bench \
#     BENCH_REDIS_URL=redis://127.0.0.1:6379 benches/storm.sh   # shared (Redis GCRA) limit
#
# One agent-sts (pinned to SERVER_CPUS, default CPU 0) with VICTIMS (3)
# victim agents at the bench's high per-agent limit and one "storm-agent"
# limited to STORM_LIMIT_RPS (100) a second, burst STORM_LIMIT_BURST (200).
# per_ip is "off": every request comes from 127.0.0.1, so a per-IP bucket
# would be one bucket for victims and stormer alike (set BENCH_PER_IP to
# measure that instead). All on 127.0.0.1; every wrk run is bounded.
#
# Phases, each DURATION (default 15s), wrk on LOADGEN_CPUS (default CPU 1):
#   baseline  the victims alone: VICTIM_RATE (1000) requests a second in
#             total, paced (benches/paced_post.lua), over VICTIM_CONNS (16)
#             connections, rotating over the victim agents
#   storm     the same victim load while the stormer sends as fast as
#             STORM_CONNS (64) connections go (closed loop; STORM_RATE caps
#             it), started 1 s before the victims and stopped 1 s after
#   after     the victims alone again (how noisy the machine is right now)
# The requests are VICTIM_GRANT: "exchange" (OBO token exchange, default) or
# "cc" (client_credentials); the stormer sends the same.
# STORM_MODE=anonymous: the stormer sends no credentials and large fields
# instead (client_credentials with a 60 KB `resource` and a 2 KB `scope`,
# unpaced: as fast as one core of wrk goes), and the table adds the audit
# records the stormer caused (denials) and their bytes, and agent-sts's RSS;
# it fails if those grew by more than MAX_AUDIT_GROWTH_KB (1024). The
# victims' p99 is reported, not checked, in this mode (per_ip is off: the
# flood gets whatever core it can; the per-address limit is what bounds it).
#
# Prints a table (p50/p99/rps of the victims per phase, the stormer's rate
# and status mix, server CPU busy) and exits 1 if a victim got a 5xx or any
# non-2xx, the stormer got a 5xx, /metrics counts a 5xx, or the victims'
# storm p99 is more than MAX_RATIO times their p99 alone (the lower of
# baseline and after: a stall in one alone run would hide the storm's cost).
# Knobs: DURATION WARMUP VICTIMS VICTIM_RATE VICTIM_CONNS VICTIM_GRANT
# STORM_CONNS STORM_RATE (0 = unpaced) STORM_LIMIT_RPS STORM_LIMIT_BURST
# STORM_LOADGEN_CPUS (default LOADGEN_CPUS) STORM_NICE (0) MAX_RATIO and
# lib.sh's (STS_DIR=/tmp/perf/storm, STS_PORT, BUILD=0, BENCH_*).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STS_DIR="${STS_DIR:-/tmp/perf/storm}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
STORE="sqlite"; [ -z "${BENCH_DATABASE_URL:-}" ] || STORE="postgres"; [ -z "${BENCH_REDIS_URL:-}" ] || STORE="$STORE + redis"
REV="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
(cd "$ROOT" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null) || REV="$REV+dirty-src"
VICTIMS="${VICTIMS:-3}"
VICTIM_RATE="${VICTIM_RATE:-1000}"
VICTIM_CONNS="${VICTIM_CONNS:-16}"
VICTIM_GRANT="${VICTIM_GRANT:-exchange}"
STORM_CONNS="${STORM_CONNS:-64}"
STORM_RATE="${STORM_RATE:-0}"
STORM_LIMIT_RPS="${STORM_LIMIT_RPS:-100}"
STORM_LIMIT_BURST="${STORM_LIMIT_BURST:-200}"
STORM_LOADGEN_CPUS="${STORM_LOADGEN_CPUS-$LOADGEN_CPUS}"
STORM_NICE="${STORM_NICE:-0}"
MAX_RATIO="${MAX_RATIO:-2}"
STORM_MODE="${STORM_MODE:-agent}"
MAX_AUDIT_GROWTH_KB="${MAX_AUDIT_GROWTH_KB:-1024}"
case "$STORM_MODE" in agent|anonymous) ;; *) lib_die "STORM_MODE is agent or anonymous" ;; esac

lib_require
lib_build
lib_fixture
case "$VICTIM_GRANT" in
  exchange) BODY="$TX_BODY" ;;
  cc) BODY="$CC_BODY" ;;
  *) lib_die "VICTIM_GRANT is exchange or cc" ;;
esac

secret_sha="$(printf '%s' "$CLIENT_SECRET" | sha256sum | cut -d' ' -f1)"
agent_toml() { # ID CLIENT [RATE_LIMIT]
  printf '[[agents]]\nid = "%s"\npatterns = ["obo", "workload"]\nresources = ["%s"]\nrequired_scopes = ["orders:read"]\n' "$1" "$RESOURCE"
  printf 'client = { id = "%s", auth = "client_secret_basic", secret_sha256 = "%s" }\n' "$2" "$secret_sha"
  [ -z "${3:-}" ] || printf 'rate_limit = %s\n' "$3"
}
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$CLIENT_SECRET" | base64 -w0)"; }
extra="" victim_auths=""
for i in $(seq 1 "$VICTIMS"); do
  extra+="$(agent_toml "victim-$i" "victim-$i-client")"$'\n'
  victim_auths+="${victim_auths:+|}$(basic "victim-$i-client")"
done
extra+="$(agent_toml storm-agent storm-client "{ per_second = $STORM_LIMIT_RPS, burst = $STORM_LIMIT_BURST }")"
STORM_AUTH="$(basic storm-client)"

rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
OUT_DIR="$STS_DIR/results-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT_DIR"
CSV="$OUT_DIR/summary.csv"
lib_start_jwks
BENCH_EXTRA_TOML="$extra" lib_write_config "$STS_DIR/agent-sts.toml"
lib_keys
"$BIN" check --config "$STS_DIR/agent-sts.toml" >"$OUT_DIR/check.txt" 2>&1 || { cat "$OUT_DIR/check.txt" >&2; lib_die "config refused"; }
lib_fresh_db
lib_start_sts "$SERVER_CPUS"
SERVER_PID="$STS_PID"
printf '%s' "$BODY" > "$OUT_DIR/body"
STORM_BODY="$OUT_DIR/body"
if [ "$STORM_MODE" = anonymous ]; then
  STORM_BODY="$OUT_DIR/anonymous-body"
  python3 -c 'import sys; sys.stdout.write("grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2F" + "a" * 60000 + "&scope=" + "s" * 2000)' > "$STORM_BODY"
fi
# The stormer's share of the audit trail: denial records (the victims are
# all granted) and their bytes, before the storm and after the last phase.
audit_state() {
  local q="SELECT count(*) || ' ' || coalesce(sum(length(record)), 0) FROM audit_records WHERE decision = 'deny'"
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then lib_psql -c "$q"; else sqlite3 "$STS_DIR/bench.db" "$q"; fi
}

# Every agent is granted once by hand first.
IFS='|' read -r -a victim_auth_list <<< "$victim_auths"
for a in "${victim_auth_list[@]}" "$STORM_AUTH"; do
  answer=$(curl -sS -H "Authorization: $a" --data "$BODY" "$BASE_URL/token")
  printf '%s' "$answer" | grep -q '"access_token"' || lib_die "refused: $answer"
done

{
  echo "# storm @ $BASE_URL $(date -u) duration=$DURATION server_cpus=$SERVER_CPUS loadgen_cpus=$LOADGEN_CPUS storm_loadgen_cpus=$STORM_LOADGEN_CPUS storm_nice=$STORM_NICE"
  echo "# host: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); store: $STORE; commit $REV"
  echo "# victims: $VICTIMS agents, $VICTIM_GRANT, $VICTIM_RATE req/s paced over $VICTIM_CONNS conns; stormer: $STORM_CONNS conns, rate ${STORM_RATE/#0/unpaced}, limit $STORM_LIMIT_RPS/s burst $STORM_LIMIT_BURST; per_ip $BENCH_PER_IP"
  echo "scenario,conns,rps,p50_ms,p75_ms,p90_ms,p99_ms,non2xx,socket_errors,server_cpu_us_per_req"
} > "$CSV"

victim_vars=(BODY_FILE="$OUT_DIR/body" AUTHS="$victim_auths" RATE="$VICTIM_RATE")
declare -A P50 P99 RPS STAT N5XX NON2XX BUSY
class5xx() { awk '/^class:/{for(i=2;i<=NF;i++){split($i,a,"="); if(a[1]=="5xx") print a[2]}}' "$1"; }
statuses() { sed -n 's/^statuses: //p' "$1"; }

# victims PHASE: one paced victim run; records the figures of PHASE.
victims() {
  local phase="$1" t0 t1
  t0=$(lib_cpu_ticks "$SERVER_PID")
  lib_bench_run "victims_$phase" "$VICTIM_CONNS" "$BASE_URL/token" "$HERE/paced_post.lua" "${victim_vars[@]}" >/dev/null
  t1=$(lib_cpu_ticks "$SERVER_PID")
  P50[$phase]="$R_P50" P99[$phase]="$R_P99" RPS[$phase]="$R_RPS" NON2XX[$phase]="$R_NON2XX"
  STAT[$phase]="$(statuses "$R_LOG")" N5XX[$phase]="$(class5xx "$R_LOG")"
  BUSY[$phase]=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$(lib_secs "$DURATION")" 'BEGIN{printf "%.0f", (b-a)/hz/d*100}')
}

echo "warm-up ($WARMUP), then baseline, storm, after: $DURATION each" >&2
BENCH_LOADGEN_CPUS="$LOADGEN_CPUS" lib_warm "$BASE_URL/token" "$HERE/paced_post.lua" "${victim_vars[@]}"
victims baseline
sleep 1

storm_secs=$(( $(lib_secs "$DURATION") + 2 ))
storm_log="$OUT_DIR/stormer.txt"
read -r rows_before bytes_before <<< "$(audit_state)"
storm_auths="$STORM_AUTH"; [ "$STORM_MODE" = anonymous ] && storm_auths=""
lib_pin "$STORM_LOADGEN_CPUS"
env BODY_FILE="$STORM_BODY" AUTHS="$storm_auths" RATE="$STORM_RATE" nice -n "$STORM_NICE" "${PIN[@]}" \
  wrk -t1 -c"$STORM_CONNS" -d"${storm_secs}s" --timeout 10s --latency -s "$HERE/paced_post.lua" "$BASE_URL/token" >"$storm_log" 2>&1 &
storm_pid=$!
lib_pids+=("$storm_pid")
sleep 1
victims storm
wait "$storm_pid" || true
sleep 1
victims after
sleep 1
read -r rows_after bytes_after <<< "$(audit_state)"
rss_now="$(lib_rss_kb "$SERVER_PID")"

metrics="$OUT_DIR/metrics.txt"
curl -sS "$BASE_URL/metrics" > "$metrics" || true
storm_rps=$(awk '/^Requests\/sec/{print $2}' "$storm_log")
storm_reqs=$(awk '/requests in/{print $1}' "$storm_log")
storm_stat=$(statuses "$storm_log")
storm_5xx=$(class5xx "$storm_log")
storm_429=$(awk '/^statuses:/{for(i=2;i<=NF;i++){split($i,a,"="); if(a[1]=="429") print a[2]}}' "$storm_log")
storm_200=$(awk '/^statuses:/{for(i=2;i<=NF;i++){split($i,a,"="); if(a[1]=="200") print a[2]}}' "$storm_log")
storm_sock=$(awk '/Socket errors/{print $0}' "$storm_log" | sed 's/.*errors: //; s/ //g')
storm_p99=$(awk '/^ +99%/{print $2}' "$storm_log" | lib_to_ms)
div() { awk -v s="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", s/b; else print "nan" }'; }
ratio_before=$(div "${P99[storm]}" "${P99[baseline]}")
ratio_after=$(div "${P99[storm]}" "${P99[after]}")
# The check's reference is the lower of the two alone p99s: one stall in one
# alone run (SQLite's commit, a neighbour on the machine) inflates its p99
# and would hide the storm's effect; the lower one can only make it stricter.
ratio=$(awk -v a="$ratio_before" -v b="$ratio_after" 'BEGIN{ if (a == "nan" || b == "nan") print "nan"; else print (a + 0 > b + 0 ? a : b) }')
p50_ratio=$(div "${P50[storm]}" "$(awk -v a="${P50[baseline]}" -v b="${P50[after]}" 'BEGIN{print (a < b ? a : b)}')")

{
  echo "# stormer: ${storm_reqs:-0} requests, ${storm_rps:-0}/s ($(awk -v r="${storm_rps:-0}" -v l="$STORM_LIMIT_RPS" 'BEGIN{printf "%.0f", r/l}')x its limit), p99 ${storm_p99:-?} ms, $storm_stat, 429 share $(awk -v a="${storm_429:-0}" -v n="${storm_reqs:-0}" 'BEGIN{ if (n > 0) printf "%.2f%%", a/n*100; else print "n/a" }'), socket errors ${storm_sock:-none}"
  for ph in baseline storm after; do echo "# victims_$ph: ${STAT[$ph]}; server core busy ${BUSY[$ph]}%"; done
  echo "# victims p99 storm/baseline = $ratio_before, storm/after = $ratio_after; checked: $ratio (max $MAX_RATIO); p50 storm/alone = $p50_ratio"
} >> "$CSV"

echo
echo "== retry storm (commit $REV, $(date -u +%F), $(nproc) cpus; server on CPU $SERVER_CPUS, wrk on CPU $LOADGEN_CPUS; $STORE; $VICTIM_GRANT; per_ip $BENCH_PER_IP)"
printf '%-9s | %-29s | %8s | %7s | %7s | %-22s | %5s\n' phase "victims ($VICTIMS agents)" "rps" "p50 ms" "p99 ms" "victim statuses" "core"
for ph in baseline storm after; do
  printf '%-9s | %-29s | %8.0f | %7.2f | %7.2f | %-22s | %4s%%\n' "$ph" "$VICTIM_RATE/s paced, c=$VICTIM_CONNS" "${RPS[$ph]}" "${P50[$ph]}" "${P99[$ph]}" "${STAT[$ph]}" "${BUSY[$ph]}"
done
echo "stormer (storm-agent, limit $STORM_LIMIT_RPS/s burst $STORM_LIMIT_BURST, c=$STORM_CONNS): ${storm_rps:-0} req/s = $(awk -v r="${storm_rps:-0}" -v l="$STORM_LIMIT_RPS" 'BEGIN{printf "%.0f", r/l}')x its limit; $storm_stat; 429 share $(awk -v a="${storm_429:-0}" -v n="${storm_reqs:-0}" 'BEGIN{ if (n > 0) printf "%.2f%%", a/n*100; else print "n/a" }'); granted ${storm_200:-0} in ${storm_secs}s ($(awk -v g="${storm_200:-0}" -v s="$storm_secs" 'BEGIN{printf "%.0f", g/s}')/s)"
echo "victims p99: storm / baseline = $ratio_before, storm / after = $ratio_after; checked against the lower alone p99: $ratio (max $MAX_RATIO). p50: storm / alone = $p50_ratio"
audit_rows=$((rows_after - rows_before)); audit_kb=$(( (bytes_after - bytes_before) / 1024 ))
echo "stormer's audit records ($STORM_MODE, denials during the storm and after): $audit_rows, $audit_kb kB; agent-sts RSS now $rss_now kB"
echo "# stormer's audit: $audit_rows denial records, $audit_kb kB; RSS $rss_now kB; stormer $STORM_MODE" >> "$CSV"
echo "metrics: $(grep -E '^agent_sts_(rate_limited_total|load_shed_total|request_timeouts_total)' "$metrics" | tr '\n' ' ')"
fivexx_metrics=$(grep -E '^agent_sts_http_requests_total\{.*status="5[0-9][0-9]"' "$metrics" || true)
[ -z "$fivexx_metrics" ] || echo "5xx in /metrics: $fivexx_metrics"
errs=$(grep -cE ' (ERROR|WARN) ' "$STS_DIR/server.log" || true)
echo "server log: $errs ERROR/WARN lines ($STS_DIR/server.log); results in $OUT_DIR"
[ "${errs:-0}" = 0 ] || grep -E ' (ERROR|WARN) ' "$STS_DIR/server.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -5

fail=0
for ph in baseline storm after; do
  if [ "${N5XX[$ph]:-0}" != 0 ] || [ "${NON2XX[$ph]:-0}" != 0 ]; then
    echo "FAIL: victims got ${N5XX[$ph]:-0} 5xx, ${NON2XX[$ph]:-0} non-2xx in $ph" >&2; fail=1
  fi
done
[ "${storm_5xx:-0}" = 0 ] || { echo "FAIL: the stormer got $storm_5xx 5xx" >&2; fail=1; }
if [ "$STORM_MODE" = anonymous ] && [ "$audit_kb" -gt "$MAX_AUDIT_GROWTH_KB" ]; then
  echo "FAIL: the anonymous storm grew the audit store by $audit_kb kB (max $MAX_AUDIT_GROWTH_KB)" >&2; fail=1
fi
[ -z "$fivexx_metrics" ] || { echo "FAIL: /metrics counts 5xx answers" >&2; fail=1; }
# The p99 bound is for the agent storm (a rate-limited agent must cost the
# others little); an anonymous flood with per_ip off takes whatever core it
# can, and the figure is reported, not checked.
if [ "$STORM_MODE" = agent ] && awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN{exit !(r == "nan" || r > m)}'; then
  echo "FAIL: victims' p99 under the storm is $ratio x alone (max $MAX_RATIO)" >&2; fail=1
fi
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
