#!/usr/bin/env bash
# Scaling runs of agent-sts, measured as benches/load.sh measures (wrk
# --latency on CPU 1, agent-sts on CPU 0, CPU µs per request from /proc).
# Loopback only; every mode stops by itself and stops its servers.
#
#   benches/scale.sh conns        token_exchange + introspect_jwt at 1, 16, 64, 256 connections
#   benches/scale.sh policy       the same at 10, 1,000, 100,000 agents (own resource and client
#                                 each; the benchmarked agent is the last), with startup time
#   benches/scale.sh revocations  0, 100,000, 1,000,000 live revocations: RSS after loading,
#                                 bytes per entry ((RSS_n - RSS_0) / n), introspect_jwt
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agent_sts_bench benches/scale.sh audit
#                                 token_exchange with an empty audit table, then with AUDIT_ROWS
#                                 (10,000,000) rows filled by one INSERT ... SELECT generate_series
#   benches/scale.sh rss          RSS idle, after loading revocations, peak under a token_exchange +
#                                 introspect_jwt run (VmHWM, reset before it), 10 s after
#
# Knobs: DURATION (15s) WARMUP (3s) SCALE_CONNS (conns: "1 16 64 256"; audit, rss: "16 64";
# others: "64") POLICY_SIZES ("10 1000 100000") REV_SIZES ("0 100000 1000000")
# REVOCATIONS (live revocations for conns, policy, rss: 100000; audit: 0) AUDIT_ROWS (10000000)
# AUDIT_KEEP=1 (keep the filled audit rows) BENCH_DATABASE_URL (PostgreSQL instead of SQLite;
# a scratch database whose name contains "bench": bench revocations and, for audit, every
# audit record are deleted) BENCH_REDIS_URL STS_PORT JWKS_PORT WORKDIR STS_DIR, and the rest
# of benches/lib.sh. Results: one summary.csv (load.sh's columns) per run under
# $WORKDIR/results-scale-<mode>-<time>/, and a table at the end.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

MODE="${1:-}"
case "$MODE" in
  conns) def_conns="1 16 64 256"; def_rev=100000 ;;
  policy) def_conns="64"; def_rev=100000 ;;
  revocations) def_conns="64"; def_rev=0 ;;
  audit) def_conns="16 64"; def_rev=0 ;;
  rss) def_conns="16 64"; def_rev=100000 ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
SCALE_CONNS="${SCALE_CONNS:-$def_conns}"
REVOCATIONS="${REVOCATIONS:-$def_rev}"
if [ "$MODE" = audit ]; then
  [ -n "${BENCH_DATABASE_URL:-}" ] || lib_die "scale.sh audit needs PostgreSQL: BENCH_DATABASE_URL=postgres://…/agent_sts_bench"
  command -v psql >/dev/null || lib_die "psql missing"
fi
[ -z "${BENCH_DATABASE_URL:-}" ] || lib_pg_guard

lib_require
lib_build
lib_fixture
rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
OUT_DIR="$WORKDIR/results-scale-$MODE-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT_DIR"
CSV="$OUT_DIR/summary.csv"
lib_csv_init "$CSV" "agent-sts scale.sh $MODE @ $BASE_URL server_cpus=$SERVER_CPUS audit=$AUDIT db=${BENCH_DATABASE_URL:+postgres}${BENCH_DATABASE_URL:-sqlite}"
lib_start_jwks
lib_keys
table=()   # lines of the final table, "|"-separated
notes=()   # lines printed under it

# Start agent-sts (fresh bench rows) and load REVOCATIONS; prepare the bodies.
up() {
  lib_fresh_db
  lib_start_sts "$SERVER_CPUS"
  SERVER_PID="$STS_PID"
  if [ "$REVOCATIONS" -gt 0 ]; then lib_load_revocations "$REVOCATIONS"; fi
  printf '%s' "$TX_BODY" > "$OUT_DIR/token_exchange.body"
  local jwt
  jwt=$(curl -fsS -H "Authorization: $CLIENT_AUTH" --data "$TX_BODY" "$BASE_URL/token" | lib_json_field access_token)
  printf 'token=%s' "$jwt" > "$OUT_DIR/introspect_jwt.body"
}

# measure SCENARIO LABEL: warm-up, then one run per SCALE_CONNS; results in
# M_RPS[c] M_P99[c] M_CPU[c] M_NON2XX[c].
declare -A M_RPS M_P50 M_P99 M_CPU M_NON2XX
measure() {
  local sc="$1" label="$2" url auth c
  case "$sc" in
    token_exchange) url="$BASE_URL/token"; auth="$CLIENT_AUTH" ;;
    introspect_jwt) url="$BASE_URL/introspect"; auth="$GATEWAY_AUTH" ;;
  esac
  lib_warm "$url" "$PEER/post.lua" BODY_FILE="$OUT_DIR/$sc.body" BASIC_AUTH="$auth"
  for c in $SCALE_CONNS; do
    lib_bench_run "$sc$label" "$c" "$url" "$PEER/post.lua" BODY_FILE="$OUT_DIR/$sc.body" BASIC_AUTH="$auth"
    M_RPS[$c]="$R_RPS"; M_P50[$c]="$R_P50"; M_P99[$c]="$R_P99"; M_CPU[$c]="$R_CPU"; M_NON2XX[$c]="$R_NON2XX"
    sleep 1
  done
}
kb() { lib_mb "$1"; }
print_table() {
  echo
  echo "== scale.sh $MODE ($(date -u +%FT%TZ), duration=$DURATION, $(nproc) cpu; results $CSV)"
  printf '%s\n' "${table[@]}" | column -t -s '|' -o ' | '
  if [ "${#notes[@]}" -gt 0 ]; then printf '%s\n' "${notes[@]}"; fi
}

case "$MODE" in
conns)
  lib_write_config "$STS_DIR/agent-sts.toml"
  up
  table+=("scenario|conns|rps|p50 ms|p99 ms|CPU µs/req|non2xx")
  for sc in token_exchange introspect_jwt; do
    measure "$sc" ""
    for c in $SCALE_CONNS; do table+=("$sc|$c|${M_RPS[$c]}|${M_P50[$c]}|${M_P99[$c]}|${M_CPU[$c]}|${M_NON2XX[$c]}"); done
  done
  lib_stop_sts
  ;;

policy)
  table+=("agents|config kB|startup s|RSS MB|peak MB|scenario|conns|rps|p99 ms|CPU µs/req|non2xx")
  for n in ${POLICY_SIZES:-10 1000 100000}; do
    t0=$(date +%s.%N)
    lib_write_config "$STS_DIR/agent-sts.toml" "$n"
    size=$(awk -v b="$(stat -c %s "$STS_DIR/agent-sts.toml")" 'BEGIN{printf "%.0f", b/1024}')
    echo "policy of $n agents: $size kB, generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
    echo "# agents=$n config=${size}kB" >> "$CSV"
    up
    startup="$STS_STARTUP_S" rss=$(kb "$(lib_rss_kb "$STS_PID")") hwm=$(kb "$(lib_hwm_kb "$STS_PID")")
    echo "# agents=$n startup=${startup}s rss_after_start=${rss}MB peak=${hwm}MB" | tee -a "$CSV"
    for sc in token_exchange introspect_jwt; do
      measure "$sc" "/agents=$n"
      for c in $SCALE_CONNS; do
        table+=("$n|$size|$startup|$rss|$hwm|$sc|$c|${M_RPS[$c]}|${M_P99[$c]}|${M_CPU[$c]}|${M_NON2XX[$c]}")
      done
    done
    lib_stop_sts
  done
  ;;

revocations)
  sizes="0"   # RSS_0 first
  for n in ${REV_SIZES:-0 100000 1000000}; do [ "$n" = 0 ] || sizes="$sizes $n"; done
  rss0=""
  table+=("revocations|insert s|in memory after s|RSS MB|peak MB|bytes/entry|conns|introspect rps|p99 ms|CPU µs/req")
  for n in $sizes; do
    lib_write_config "$STS_DIR/agent-sts.toml"
    REVOCATIONS=0 up
    lib_load_revocations "$n"
    rss=$(lib_rss_kb "$STS_PID") hwm=$(lib_hwm_kb "$STS_PID")
    [ -n "$rss0" ] || rss0="$rss"
    per=$(awk -v a="$rss" -v b="$rss0" -v n="$n" 'BEGIN{ if (n > 0) printf "%.0f", (a-b)*1024/n; else print "-" }')
    echo "# revocations=$n insert=${REV_INSERT_S}s loaded_after=${REV_LOAD_S}s rss=${rss}kB hwm=${hwm}kB bytes_per_entry=$per" | tee -a "$CSV"
    measure introspect_jwt "/revocations=$n"
    for c in $SCALE_CONNS; do
      table+=("$n|$REV_INSERT_S|$REV_LOAD_S|$(kb "$rss")|$(kb "$hwm")|$per|$c|${M_RPS[$c]}|${M_P99[$c]}|${M_CPU[$c]}")
    done
    lib_stop_sts
  done
  ;;

audit)
  rows="${AUDIT_ROWS:-10000000}"
  lib_write_config "$STS_DIR/agent-sts.toml"
  # A first start runs the migrations; then the table is emptied.
  lib_start_sts "$SERVER_CPUS"; lib_stop_sts
  lib_psql -c "TRUNCATE audit_records"
  table+=("audit rows before|conns|token_exchange rps|p99 ms|CPU µs/req|non2xx")
  up
  measure token_exchange "/audit_rows=0"
  for c in $SCALE_CONNS; do table+=("0|$c|${M_RPS[$c]}|${M_P99[$c]}|${M_CPU[$c]}|${M_NON2XX[$c]}"); done
  lib_stop_sts
  lib_psql -c "TRUNCATE audit_records"
  # Realistic rows of another chain (audit verify would report this chain:
  # its hashes are not real): `at` over the last 30 days in insertion order,
  # ~10,000 subjects, ~100 agents, a quarter token grants and the rest
  # introspections, the record JSON shaped like the server's (~750 bytes).
  echo "filling $rows audit rows ..."
  t0=$(date +%s.%N)
  lib_psql -c "
    INSERT INTO audit_records (chain, seq, at, event, decision, reason, subject, agent, pattern, idp, prev_hash, hash, record)
    SELECT chain, g, at, ev, 'allow', rs, subj, agent, CASE WHEN ev = 'token' THEN 'hybrid' END, 'https://example.okta.com/oauth2/default', ph, h,
      '{\"chain\":\"' || chain || '\",\"seq\":' || g || ',\"time\":\"' || to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
      || '\",\"request_id\":\"' || substr(md5(g || 'r'), 1, 22) || '\",\"event\":\"' || ev || '\",\"decision\":\"allow\",\"reason\":\"' || rs
      || '\",\"detail\":\"\",\"subject\":\"' || subj || '\",\"idp\":\"https://example.okta.com/oauth2/default\",\"tenant\":null,\"agent\":\"' || agent
      || '\",\"agent_principal\":\"system:serviceaccount:agents:' || agent || '\",\"client_id\":\"' || agent || '-client\",\"act\":'
      || CASE WHEN ev = 'token' THEN '{\"sub\":\"system:serviceaccount:agents:' || agent || '\",\"iss\":\"https://k8s.bench.example\"}' ELSE 'null' END
      || ',\"pattern\":' || CASE WHEN ev = 'token' THEN '\"hybrid\"' ELSE 'null' END
      || ',\"audience\":\"https://mcp-' || a || '.bench.example\",\"scopes_requested\":null,\"scopes_required\":[\"svc' || a || ':data:read\"],\"scopes_granted\":[\"svc' || a
      || ':data:read\"],\"jti\":\"' || substr(md5(g || 'j'), 1, 22) || '\",\"expires_at\":' || (at + 600) || ',\"client_ip\":\"10.0.' || (g % 250) || '.' || (g % 199)
      || '\",\"count\":null,\"prev_hash\":\"' || ph || '\",\"hash\":\"' || h || '\"}'
    FROM (
      SELECT g, 'bench-fill.1' AS chain,
        extract(epoch FROM now())::bigint - 30 * 86400 + (g::numeric * 30 * 86400 / $rows)::bigint AS at,
        CASE WHEN g % 4 = 0 THEN 'token' ELSE 'introspect' END AS ev,
        CASE WHEN g % 4 = 0 THEN 'granted' ELSE 'active' END AS rs,
        '00u' || lpad(((g * 7919) % 10000)::text, 5, '0') || 'bEnChUsEr0x7' AS subj,
        'agent-' || ((g * 31) % 100) AS agent, (g * 31) % 100 AS a,
        md5('h' || (g - 1)) || md5('H' || (g - 1)) AS ph, md5('h' || g) || md5('H' || g) AS h
      FROM generate_series(1::bigint, $rows) g
    ) s"
  fill_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  t0=$(date +%s.%N)
  lib_psql -c "VACUUM ANALYZE audit_records"
  # Flush the fill's dirty pages now rather than during the measurement (superuser only).
  lib_psql -c "CHECKPOINT" 2>/dev/null || echo "note: CHECKPOINT refused (not superuser); the fill may still be written back during the run" >&2
  vac_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  # Partitioned since migration 0008: the parent holds no rows, so the size
  # is the sum over its partitions.
  tsize=$(lib_psql -c "SELECT pg_size_pretty((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('audit_records'))) || ' (avg record ' || (SELECT avg(length(record))::int FROM (SELECT record FROM audit_records LIMIT 10000) x) || ' B)'")
  echo "# audit fill: $rows rows in ${fill_s}s, VACUUM ANALYZE + CHECKPOINT ${vac_s}s, table with indexes $tsize" | tee -a "$CSV"
  up
  measure token_exchange "/audit_rows=$rows"
  for c in $SCALE_CONNS; do table+=("$rows|$c|${M_RPS[$c]}|${M_P99[$c]}|${M_CPU[$c]}|${M_NON2XX[$c]}"); done
  lib_stop_sts
  if [ "${AUDIT_KEEP:-0}" != 1 ]; then lib_psql -c "TRUNCATE audit_records"; fi
  notes+=("audit fill: $rows rows in $fill_s s (one INSERT ... SELECT generate_series), VACUUM ANALYZE + CHECKPOINT $vac_s s, audit_records with indexes: $tsize")
  ;;

rss)
  lib_write_config "$STS_DIR/agent-sts.toml"
  REVOCATIONS=0 up
  sleep 2
  idle=$(lib_rss_kb "$STS_PID")
  loaded="$idle" loadpeak=$(lib_hwm_kb "$STS_PID")
  if [ "$REVOCATIONS" -gt 0 ]; then
    lib_load_revocations "$REVOCATIONS"
    loaded=$(lib_rss_kb "$STS_PID") loadpeak=$(lib_hwm_kb "$STS_PID")
  fi
  # Peak under load alone: reset VmHWM to the current RSS (clear_refs 5).
  reset="reset"; { echo 5 > "/proc/$STS_PID/clear_refs"; } 2>/dev/null || reset="not reset: lifetime peak"
  measure token_exchange ""
  measure introspect_jwt ""
  peak=$(lib_hwm_kb "$STS_PID")
  sleep 10
  after=$(lib_rss_kb "$STS_PID")
  lib_stop_sts
  echo "# rss: idle=${idle}kB revocations=$REVOCATIONS loaded=${loaded}kB load_peak=${loadpeak}kB peak_under_load=${peak}kB ($reset) after_10s=${after}kB" >> "$CSV"
  table+=("when|RSS MB")
  table+=("idle (started, no revocations)|$(kb "$idle")")
  table+=("after loading $REVOCATIONS revocations (peak while loading $(kb "$loadpeak"))|$(kb "$loaded")")
  table+=("peak under load (VmHWM, $reset; token_exchange + introspect_jwt, c=${SCALE_CONNS// /,})|$(kb "$peak")")
  table+=("10 s after load|$(kb "$after")")
  ;;
esac
print_table
