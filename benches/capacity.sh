#!/usr/bin/env bash
# The measured parts of the capacity model (issue 21, item 5): what one
# agent-sts replica asks of the shared PostgreSQL and Redis per request, and
# what one PostgreSQL and one Redis on this machine can give. Loopback only
# (127.0.0.1), bounded in time (~22 min at the defaults), and it cleans up
# after itself: its scratch table, its Redis keys, its processes.
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agent_sts_capacity_bench \
#   BENCH_REDIS_URL=redis://127.0.0.1:6379 STS_BIN=/tmp/capacity/agent-sts benches/capacity.sh
#   PARTS="insert redis" benches/capacity.sh      # only the ceilings (no agent-sts needed)
#
# Parts (PARTS, default all four):
#   requests  agent-sts (STS_BIN, unpinned, as in load.sh's mixed; a private
#             redis-server, see REQUESTS_REDIS) with the
#             generated bench config and REVOCATIONS (100,000) live
#             revocations; per scenario (token_exchange, token_cc_jwt,
#             introspect_jwt, mixed) and per CONNS, REPEATS runs of DURATION.
#             Around each run: pg_stat_database (xact_commit, tup_inserted),
#             audit_records rows and pg_total_relation_size (table + indexes +
#             TOAST), Redis INFO commandstats and INFO cpu, agent-sts CPU. The
#             idle rate of each counter (one replica doing nothing: revocation
#             poll, heartbeat, our own snapshots) is measured first and
#             subtracted. Each run ends with SETTLE (11) s idle before its
#             snapshot: a PostgreSQL backend reports its counters up to 10 s
#             after it goes idle. Audit commits exactly: the run's rows share
#             one xmin per batch (count(DISTINCT xmin)); pg_stat_database's
#             transactions also count autovacuum's, which the idle rate
#             subtracts only on average.
#   poll      the revocation poll each replica runs every poll_interval_ms
#             (500): EXPLAIN (ANALYZE, BUFFERS) with REVOCATIONS live rows,
#             pgbench of the real query at the rate of 1, 3, 10 and 30
#             replicas (2 queries/s each), its unthrottled ceiling, and the
#             start-up full read.
#   insert    the audit statement (src/store/postgres.rs insert_audit: INSERT
#             ... SELECT * FROM UNNEST(15 arrays)) into a scratch copy of
#             audit_records (bench_audit: LIKE ... INCLUDING ALL, its own
#             sequence), records taken from the audit rows the requests part
#             wrote (or ~800-byte synthetic ones), by pgbench at
#             INSERT_WRITERS (1 4 16) x INSERT_BATCHES (1 16 64 256: 256 is the
#             writer's cap) for INSERT_SECONDS (6), REPEATS times: commits/s
#             and rows/s. Then the same at INDEX_WRITERS x INDEX_BATCH (16 x 64)
#             into a copy with only the primary key and UNIQUE (chain, seq):
#             what the four query indexes cost.
#   redis     the real GCRA script (src/store/redis_store.rs), SCRIPT LOADed
#             and driven by redis-benchmark EVALSHA at REDIS_CLIENTS (1 16 64),
#             keys spread over 10,000 names (they expire within ms); plain GET
#             as the reference; PUBLISH of a revocation-sized message to 1
#             and 30 subscribers. Redis CPU per call from INFO cpu.
#
# The database's name must contain "bench": this script TRUNCATEs its
# audit_records (as scale.sh audit empties it) and deletes its 'bench'
# revocations. Use a database of its own (the default name below) so that
# pg_stat_database counts this run only. Redis is shared: the clients
# connected and the idle command rate are printed with each figure.
#
# Knobs: PARTS REPEATS (3) DURATION (5s) CONNS ("16 64") SCENARIOS WARMUP
# (2s) SETTLE (11) IDLE_SECONDS (20) REVOCATIONS (100000) INSERT_WRITERS
# INSERT_BATCHES INSERT_SECONDS REDIS_CLIENTS REDIS_REQUESTS (200000)
# POLL_REPLICAS ("1 3 10 30") POLL_SECONDS (10) OUT (results folder)
# REQUESTS_REDIS (private: the requests part runs its own redis-server on
# 127.0.0.1:PRIVATE_REDIS_PORT, 6391, so that INFO counts agent-sts alone;
# shared: BENCH_REDIS_URL) MODEL_RATES (per-replica rates the model is also
# worked out at, default load.sh's c=64 figures of 2026-11-26)
# STS_PORT (8280) JWKS_PORT (8289) WORKDIR STS_DIR, and lib.sh's.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export STS_PORT="${STS_PORT:-8280}" JWKS_PORT="${JWKS_PORT:-8289}"
export WORKDIR="${WORKDIR:-/tmp/capacity/peer}" STS_DIR="${STS_DIR:-/tmp/capacity/sts}"
export WARMUP="${WARMUP:-2s}" DURATION="${DURATION:-5s}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

PARTS="${PARTS:-requests poll insert redis}"
REPEATS="${REPEATS:-3}"
CAP_CONNS="${CONNS:-16 64}"
SCENARIOS="${SCENARIOS:-token_exchange token_cc_jwt introspect_jwt mixed}"
SETTLE="${SETTLE:-11}"
IDLE_SECONDS="${IDLE_SECONDS:-20}"
REVOCATIONS="${REVOCATIONS:-100000}"
INSERT_WRITERS="${INSERT_WRITERS:-1 4 16}"
INSERT_BATCHES="${INSERT_BATCHES:-1 16 64 256}"
INSERT_SECONDS="${INSERT_SECONDS:-6}"
REDIS_CLIENTS="${REDIS_CLIENTS:-1 16 64}"
REDIS_REQUESTS="${REDIS_REQUESTS:-200000}"
POLL_REPLICAS="${POLL_REPLICAS:-1 3 10 30}"
POLL_SECONDS="${POLL_SECONDS:-10}"
# Per-replica rates the model is also worked out at: load.sh c=64 on a quiet
# machine (benches/README.md, 2026-11-26: mixed unpinned, token_exchange pinned).
MODEL_RATES="${MODEL_RATES-mixed=29688 token_exchange=8661}"
BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agent_sts_capacity_bench}"
BENCH_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
export BENCH_DATABASE_URL BENCH_REDIS_URL
SHARED_REDIS_URL="$BENCH_REDIS_URL"
REQUESTS_REDIS="${REQUESTS_REDIS:-private}"
PRIVATE_REDIS_PORT="${PRIVATE_REDIS_PORT:-6391}"
OUT="${OUT:-/tmp/capacity/results-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT_DIR="$OUT"
CSV="$OUT/wrk.csv"
REDIS_PREFIX="agent-sts-capacity-bench"

for url in "$BENCH_DATABASE_URL" "$BENCH_REDIS_URL"; do
  hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"; host="${hostport%%:*}"
  [ "$host" = 127.0.0.1 ] || [ "$host" = localhost ] || lib_die "$url: only 127.0.0.1 here"
done
lib_pg_guard
command -v pgbench >/dev/null || lib_die "pgbench missing (postgresql-client)"
command -v redis-benchmark >/dev/null || lib_die "redis-benchmark missing (redis-tools)"
R_HOSTPORT="${BENCH_REDIS_URL#redis://}"; R_HOSTPORT="${R_HOSTPORT%%/*}"
R_HOST="${R_HOSTPORT%%:*}"; R_PORT="${R_HOSTPORT##*:}"; [ "$R_PORT" != "$R_HOST" ] || R_PORT=6379
rcli() { redis-cli -h "$R_HOST" -p "$R_PORT" "$@"; }
# The Redis the requests part counts on (a private one by default).
S_PORT="$R_PORT"
srcli() { redis-cli -h 127.0.0.1 -p "$S_PORT" "$@"; }
rcli ping | grep -q PONG || lib_die "no Redis at $R_HOST:$R_PORT"

# The database: created if missing (the name says bench).
DB_NAME="${BENCH_DATABASE_URL%%\?*}"; DB_NAME="${DB_NAME##*/}"
ADMIN_URL="${BENCH_DATABASE_URL%/*}/postgres"
if ! psql "$ADMIN_URL" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  psql "$ADMIN_URL" -qc "CREATE DATABASE \"$DB_NAME\""
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
log() { echo "$*" | tee -a "$OUT/report.txt"; }
cmd() { log "# cmd: $*"; }
cap_cleanup() {
  local p
  for p in "${cap_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    psql "$BENCH_DATABASE_URL" -qtAc "DROP TABLE IF EXISTS bench_audit, bench_audit_min, bench_audit_sample; DROP SEQUENCE IF EXISTS bench_audit_id_seq;
      DO \$\$ BEGIN IF to_regclass('revocations') IS NOT NULL THEN DELETE FROM revocations WHERE actor = 'bench'; END IF;
      IF to_regclass('audit_records') IS NOT NULL THEN TRUNCATE audit_records; END IF; END \$\$;" >/dev/null 2>&1 || true
  fi
  lib_cleanup
}
cap_pids=()
trap cap_cleanup EXIT

log "== capacity.sh $(date -u +%FT%TZ) commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?) host $(nproc) cpu, load $(load)"
log "   PostgreSQL: $(psql "$BENCH_DATABASE_URL" -qtAc 'SHOW server_version') db $DB_NAME; synchronous_commit=$(psql "$BENCH_DATABASE_URL" -qtAc 'SHOW synchronous_commit'), shared_buffers=$(psql "$BENCH_DATABASE_URL" -qtAc 'SHOW shared_buffers'); Redis $(rcli info server | awk -F: '/^redis_version/{print $2}' | tr -d '\r'); results in $OUT"

# ---- snapshots ---------------------------------------------------------------
# snap FILE: "key value" lines of every counter the requests part reads.
snap() {
  local f="$1"
  {
    echo "t $(date +%s.%N)"
    lib_psql -F' ' -c "SELECT 'xact', xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()
      UNION ALL SELECT 'tup_ins', tup_inserted FROM pg_stat_database WHERE datname = current_database()
      UNION ALL SELECT 'audit_rows', count(*) FROM audit_records
      UNION ALL SELECT 'audit_max_id', coalesce(max(id), 0) FROM audit_records
      UNION ALL SELECT 'audit_bytes', pg_total_relation_size('audit_records')"
    srcli info commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_/ {
        name = substr($1, 9); calls = $3; usec = $5
        if (name != "info") { all += calls; allusec += usec }
        if (name == "evalsha" || name == "eval") { ev += calls; evusec += usec }
        if (name == "get" || name == "set" || name == "time") inner += calls
        if (name == "publish") pub += calls }
      END { printf "r_calls %d\nr_usec %d\nr_evalsha %d\nr_evalsha_usec %d\nr_inner %d\nr_publish %d\n", all, allusec, ev, evusec, inner, pub }'
    srcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "r_cpu %.6f\n", s }'
    echo "sts_ticks $(lib_cpu_ticks "${STS_PID:-0}")"
    echo "r_clients $(srcli info clients | tr -d '\r' | awk -F: '/^connected_clients/{print $2}')"
  } > "$f"
}
# delta A B KEY
delta() { awk -v k="$3" 'FNR == 1 { f++ } $1 == k { v[f] = $2 } END { printf "%.6f", v[2] - v[1] }' "$1" "$2"; }
val() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# ---- part A: per-request cost on the shared parts -------------------------------
part_requests() {
  log ""
  log "== A. per-request cost on PostgreSQL and Redis (agent-sts $BIN, unpinned, $REVOCATIONS live revocations)"
  [ -x "$BIN" ] || lib_die "no agent-sts binary at $BIN (STS_BIN)"
  command -v wrk >/dev/null || lib_die "wrk missing"
  if [ "$REQUESTS_REDIS" = private ]; then
    # Redis counters are server-wide: on the shared Redis other people's
    # commands would be counted as ours. A Redis of our own, no persistence.
    lib_port_free "$PRIVATE_REDIS_PORT"
    redis-server --port "$PRIVATE_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis-private.log" 2>&1 &
    PRIVATE_REDIS_PID=$!; cap_pids+=("$PRIVATE_REDIS_PID")
    S_PORT="$PRIVATE_REDIS_PORT"
    local _
    for _ in $(seq 1 50); do srcli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    srcli ping | grep -q PONG || lib_die "private redis-server did not start on $PRIVATE_REDIS_PORT"
    BENCH_REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT"
    log "Redis for this part: a private redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$PRIVATE_REDIS_PORT (REQUESTS_REDIS=shared for $R_HOST:$R_PORT)"
  fi
  lib_fixture
  rm -rf "$STS_DIR" && mkdir -p "$STS_DIR"
  lib_start_jwks
  lib_write_config "$STS_DIR/agent-sts.toml"
  lib_keys
  lib_fresh_db
  lib_psql -c "DO \$\$ BEGIN IF to_regclass('audit_records') IS NOT NULL THEN TRUNCATE audit_records; END IF; END \$\$;"
  lib_start_sts ""
  SERVER_PID="$STS_PID"
  if [ "$REVOCATIONS" -gt 0 ]; then
    lib_load_revocations "$REVOCATIONS"
    log "revocations: $REVOCATIONS live (insert ${REV_INSERT_S} s, in the view after ${REV_LOAD_S} s)"
  fi
  local jwt
  jwt=$(curl -fsS -H "Authorization: $CLIENT_AUTH" --data "$CC_BODY" "$BASE_URL/token" | lib_json_field access_token)
  printf '%s' "$TX_BODY" > "$OUT/token_exchange.body"
  printf '%s' "$CC_BODY" > "$OUT/token_cc_jwt.body"
  printf '%s' "token=$jwt" > "$OUT/introspect_jwt.body"
  printf '%s' "$TX_BODY" > "$OUT/mixed-tx.body"
  export BENCH_LOADGEN_CPUS=""   # wrk unpinned too: PostgreSQL and Redis share both cores

  # The idle replica: what it costs the shared parts while answering nothing.
  sleep "$SETTLE"
  snap "$OUT/idle-0"; sleep "$IDLE_SECONDS"; snap "$OUT/idle-1"
  local idle_t
  idle_t=$(delta "$OUT/idle-0" "$OUT/idle-1" t)
  IDLE_XACT=$(awk -v d="$(delta "$OUT/idle-0" "$OUT/idle-1" xact)" -v t="$idle_t" 'BEGIN{printf "%.3f", d/t}')
  IDLE_RCALLS=$(awk -v d="$(delta "$OUT/idle-0" "$OUT/idle-1" r_calls)" -v t="$idle_t" 'BEGIN{printf "%.3f", d/t}')
  IDLE_RCPU=$(awk -v d="$(delta "$OUT/idle-0" "$OUT/idle-1" r_cpu)" -v t="$idle_t" 'BEGIN{printf "%.6f", d/t}')
  IDLE_TUPS=$(awk -v d="$(delta "$OUT/idle-0" "$OUT/idle-1" tup_ins)" -v t="$idle_t" 'BEGIN{printf "%.3f", d/t}')
  echo "xact_per_s,tup_ins_per_s,redis_calls_per_s,redis_cpu_s_per_s" > "$OUT/idle.csv"
  echo "$IDLE_XACT,$IDLE_TUPS,$IDLE_RCALLS,$IDLE_RCPU" >> "$OUT/idle.csv"
  log "idle replica over ${idle_t%.*} s: PostgreSQL $IDLE_XACT transactions/s (revocation poll every 500 ms, heartbeat and prunes every 30-60 s, this script's snapshot), $IDLE_TUPS rows inserted/s; Redis $IDLE_RCALLS commands/s (INFO excluded), $(awk -v c="$IDLE_RCPU" 'BEGIN{printf "%.1f", c*1e3}') ms CPU/s; Redis clients connected: $(val "$OUT/idle-1" r_clients)"

  echo "scenario,conns,rep,requests,rps,audit_rows_per_req,audit_bytes_per_req,record_avg_bytes,pg_xact_per_req,rows_per_commit,audit_commits_per_req,tup_ins_per_req,redis_roundtrips_per_req,redis_calls_per_req,evalsha_usec_per_call,redis_cpu_us_per_req,sts_cpu_us_per_req,elapsed_s,load1" > "$OUT/requests.csv"
  local sc c rep a b url script vars
  for sc in $SCENARIOS; do
    for c in $CAP_CONNS; do
      case "$sc" in
        token_exchange|token_cc_jwt) url="$BASE_URL/token"; script="$PEER/post.lua"; vars=(BODY_FILE="$OUT/$sc.body" BASIC_AUTH="$CLIENT_AUTH") ;;
        introspect_jwt) url="$BASE_URL/introspect"; script="$PEER/post.lua"; vars=(BODY_FILE="$OUT/$sc.body" BASIC_AUTH="$GATEWAY_AUTH") ;;
        mixed) url="$BASE_URL"; script="$LIB_DIR/mixed.lua"
          vars=(TX_PATH=/token TX_BODY_FILE="$OUT/mixed-tx.body" TX_AUTH="$CLIENT_AUTH" INTROSPECT_PATH=/introspect INTROSPECT_AUTH="$GATEWAY_AUTH" PER_TOKEN="${PER_TOKEN:-20}") ;;
        *) lib_die "unknown scenario $sc" ;;
      esac
      lib_warm "$url" "$script" "${vars[@]}"
      sleep "$SETTLE"
      snap "$OUT/$sc-c$c-0"
      for rep in $(seq 1 "$REPEATS"); do
        a="$OUT/$sc-c$c-$((rep - 1))"; b="$OUT/$sc-c$c-$rep"
        lib_bench_run "$sc-r$rep" "$c" "$url" "$script" "${vars[@]}" >/dev/null
        if [ "$sc" = mixed ] && [ "$(awk '/^mixed:/{for(i=1;i<=NF;i++) if ($i ~ /^(inactive|failed)=/) {split($i,x,"="); s+=x[2]}} END{print s+0}' "$R_LOG")" != 0 ]; then
          log "WARNING $sc c=$c rep $rep: inactive or failed answers: $(grep '^mixed:' "$R_LOG")"
        fi
        [ "$R_NON2XX" = 0 ] || log "WARNING $sc c=$c rep $rep: $R_NON2XX non-2xx answers"
        local l1; l1=$(cut -d' ' -f1 /proc/loadavg)
        sleep "$SETTLE"
        snap "$b"
        lib_psql -F' ' -c "SELECT event, count(*), round(avg(octet_length(record))) FROM audit_records WHERE id > $(val "$a" audit_max_id) GROUP BY event ORDER BY event" \
          | sed "s/^/# $sc c=$c rep $rep audit rows by event: /" >> "$OUT/requests.events"
        awk -v sc="$sc" -v c="$c" -v rep="$rep" -v n="$R_REQS" -v rps="$R_RPS" -v l1="$l1" -v hz="$HZ" \
          -v ix="$IDLE_XACT" -v ir="$IDLE_RCALLS" -v ic="$IDLE_RCPU" -v it="$IDLE_TUPS" \
          -v t="$(delta "$a" "$b" t)" -v rows="$(delta "$a" "$b" audit_rows)" -v bytes="$(delta "$a" "$b" audit_bytes)" \
          -v xact="$(delta "$a" "$b" xact)" -v tups="$(delta "$a" "$b" tup_ins)" -v calls="$(delta "$a" "$b" r_calls)" \
          -v ev="$(delta "$a" "$b" r_evalsha)" -v evu="$(delta "$a" "$b" r_evalsha_usec)" -v inner="$(delta "$a" "$b" r_inner)" \
          -v cpu="$(delta "$a" "$b" r_cpu)" -v ticks="$(delta "$a" "$b" sts_ticks)" \
          -v recavg="$(lib_psql -c "SELECT coalesce(round(avg(octet_length(record))), 0) FROM audit_records WHERE id > $(val "$a" audit_max_id)")" \
          -v commits="$(lib_psql -c "SELECT count(DISTINCT xmin::text) FROM audit_records WHERE id > $(val "$a" audit_max_id) AND id <= $(val "$b" audit_max_id)")" \
          'BEGIN {
             if (n <= 0) n = 1
             nx = xact - ix * t; if (nx < 0) nx = 0
             nc = calls - ir * t; if (nc < 0) nc = 0
             ncpu = cpu - ic * t; if (ncpu < 0) ncpu = 0
             nt = tups - it * t
             printf "%s,%s,%d,%d,%.0f,%.4f,%.1f,%d,%.4f,%.2f,%.4f,%.4f,%.4f,%.4f,%.2f,%.2f,%.1f,%.0f,%s\n", sc, c, rep, n, rps,
               rows / n, bytes / n, recavg, nx / n, (commits > 0 ? rows / commits : 0), commits / n, nt / n,
               (nc - inner) / n, nc / n, (ev > 0 ? evu / ev : 0), ncpu * 1e6 / n, ticks / hz * 1e6 / n, t, l1
           }' | tee -a "$OUT/requests.csv" >/dev/null
        tail -1 "$OUT/requests.csv" | sed 's/^/   /'
      done
    done
  done
  cat "$OUT/requests.events" >> "$OUT/report.txt"
  log "median of $REPEATS per scenario and conns (per request; PostgreSQL transactions and Redis net of the idle rate):"
  python3 - "$OUT/requests.csv" <<'PY' | tee -a "$OUT/report.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = []
for r in rows:
    k = (r["scenario"], r["conns"])
    if k not in keys: keys.append(k)
cols = ["rps", "audit_rows_per_req", "audit_bytes_per_req", "record_avg_bytes", "pg_xact_per_req", "audit_commits_per_req", "rows_per_commit",
        "redis_roundtrips_per_req", "redis_calls_per_req", "evalsha_usec_per_call", "redis_cpu_us_per_req", "sts_cpu_us_per_req", "load1"]
print("| scenario | c | " + " | ".join(cols) + " |")
print("|" + "---|" * (len(cols) + 2))
for k in keys:
    g = [r for r in rows if (r["scenario"], r["conns"]) == k]
    med = [statistics.median(float(r[c]) for r in g) for c in cols]
    fmt = lambda c, v: f"{v:,.0f}" if c in ("rps", "record_avg_bytes") else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}")
    print(f"| {k[0]} | {k[1]} | " + " | ".join(fmt(c, v) for c, v in zip(cols, med)) + " |")
PY
  log "(median audit record by event, all runs:)"
  lib_psql -F' ' -c "SELECT event, decision, reason, count(*), round(avg(octet_length(record))), percentile_disc(0.5) WITHIN GROUP (ORDER BY octet_length(record)) FROM audit_records GROUP BY 1,2,3 ORDER BY 4 DESC" \
    | sed 's/^/   event decision reason rows avg_bytes median_bytes: /' | tee -a "$OUT/report.txt"
  log "table audit_records now: $(lib_psql -c "SELECT count(*) || ' rows, heap ' || pg_size_pretty(pg_relation_size('audit_records')) || ', indexes ' || pg_size_pretty(pg_indexes_size('audit_records')) || ', total ' || pg_size_pretty(pg_total_relation_size('audit_records')) || ', ' || round(pg_total_relation_size('audit_records')::numeric / greatest(count(*), 1)) || ' bytes/row' FROM audit_records")"
  log "agent-sts peak RSS: $(lib_hwm_kb "$STS_PID") kB"
  # Keep a sample of real records for the insert ceiling.
  lib_psql -c "DROP TABLE IF EXISTS bench_audit_sample; CREATE TABLE bench_audit_sample AS SELECT * FROM audit_records WHERE event IN ('token', 'introspect') ORDER BY id DESC LIMIT 256"
  lib_stop_sts
  lib_cleanup
  if [ -n "${PRIVATE_REDIS_PID:-}" ]; then
    kill "$PRIVATE_REDIS_PID" 2>/dev/null || true; wait "$PRIVATE_REDIS_PID" 2>/dev/null || true
    PRIVATE_REDIS_PID=""; S_PORT="$R_PORT"; BENCH_REDIS_URL="$SHARED_REDIS_URL"
  fi
}

# ---- the revocation poll --------------------------------------------------------
part_poll() {
  log ""
  log "== revocation poll (src/revocation_list.rs reload, src/store/postgres.rs revocations_after)"
  lib_psql -c "SELECT 1 FROM revocations LIMIT 0" >/dev/null 2>&1 || lib_die "no revocations table: run agent-sts once against $DB_NAME (PARTS=requests) first"
  local live
  live=$(lib_psql -c "SELECT count(*) FROM revocations WHERE expires_at > extract(epoch from now())::bigint")
  if [ "$live" -lt "$REVOCATIONS" ]; then
    lib_psql -c "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor)
      SELECT 'subject', '00u-revoked-' || g, NULL, extract(epoch from now())::bigint, extract(epoch from now())::bigint + 3600, 'bench'
      FROM generate_series(1, $REVOCATIONS - $live) g; ANALYZE revocations;"
    live=$(lib_psql -c "SELECT count(*) FROM revocations WHERE expires_at > extract(epoch from now())::bigint")
  fi
  local maxid now after
  maxid=$(lib_psql -c "SELECT max(id) FROM revocations"); now=$(date +%s); after=$((maxid - 256))
  local q="SELECT id, kind, value, idp, revoked_at, expires_at, actor, reason FROM revocations WHERE id > $after AND expires_at > $now ORDER BY id LIMIT 2000"
  log "live revocations: $live. Each replica, every poll_interval_ms (500 ms): the query below with id > max_id_seen - 256 (LOOKBACK_ROWS), so 256 rows every time; every 60 s DELETE FROM revocations WHERE expires_at <= now; at start the whole table in pages of 2,000."
  cmd "psql -c \"EXPLAIN (ANALYZE, BUFFERS) $q\""
  lib_psql -c "EXPLAIN (ANALYZE, BUFFERS) $q" | sed 's/^/   /' | tee -a "$OUT/report.txt"
  local i ex=()
  for i in 1 2 3 4 5; do
    ex+=("$(lib_psql -c "EXPLAIN (ANALYZE, FORMAT JSON) $q" | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; print(p["Planning Time"]+p["Execution Time"])')")
  done
  log "poll query plan+execution ms, 5 runs: ${ex[*]} (median $(printf '%s\n' "${ex[@]}" | sort -g | sed -n 3p))"
  cat > "$OUT/poll.sql" <<SQL
SELECT id, kind, value, idp, revoked_at, expires_at, actor, reason FROM revocations WHERE id > :after AND expires_at > :now ORDER BY id LIMIT 2000;
SQL
  local n rate clients r
  echo "replicas,rep,queries_per_s,latency_ms" > "$OUT/poll.csv"
  for n in $POLL_REPLICAS; do
    rate=$((n * 2)); clients=$n; [ "$clients" -le 16 ] || clients=16
    for r in $(seq 1 "$REPEATS"); do
      cmd "pgbench -n -M prepared -c $clients -j 1 -R $rate -T $POLL_SECONDS -D after=$after -D now=$now -f poll.sql  # $n replicas"
      pgbench -n -M prepared -c "$clients" -j 1 -R "$rate" -T "$POLL_SECONDS" -D after="$after" -D now="$now" -f "$OUT/poll.sql" "$BENCH_DATABASE_URL" 2>&1 \
        | awk -v n="$n" -v r="$r" -v l="$(load)" -v csv="$OUT/poll.csv" '/^tps/{tps=$3} /latency average/{lat=$4} /latency stddev/{sd=$4} END{printf "   poll %s replicas (rep %s): %.1f queries/s, latency avg %s ms sd %s ms, load %s\n", n, r, tps, lat, sd, l; printf "%s,%s,%.1f,%s\n", n, r, tps, lat >> csv}' | tee -a "$OUT/report.txt"
    done
  done
  for r in $(seq 1 "$REPEATS"); do
    cmd "pgbench -n -M prepared -c 4 -j 2 -T $POLL_SECONDS -D after=$after -D now=$now -f poll.sql  # unthrottled ceiling"
    pgbench -n -M prepared -c 4 -j 2 -T "$POLL_SECONDS" -D after="$after" -D now="$now" -f "$OUT/poll.sql" "$BENCH_DATABASE_URL" 2>&1 \
      | awk -v r="$r" -v l="$(load)" -v csv="$OUT/poll.csv" '/^tps/{tps=$3} /latency average/{lat=$4} END{printf "   poll ceiling, 4 clients (rep %s): %.0f queries/s, latency avg %s ms, load %s\n", r, tps, lat, l; printf "ceiling,%s,%.1f,%s\n", r, tps, lat >> csv}' | tee -a "$OUT/report.txt"
  done
  local full=()
  for r in $(seq 1 "$REPEATS"); do
    full+=("$( { /usr/bin/time -f %e psql "$BENCH_DATABASE_URL" -qtAc "COPY (SELECT id, kind, value, idp, revoked_at, expires_at, actor, reason FROM revocations WHERE id > 0 AND expires_at > $now ORDER BY id) TO STDOUT" >/dev/null; } 2>&1 )")
  done
  log "start-up full read of $live rows (COPY of the same query, no paging), s: ${full[*]}"
  cmd "psql -c \"SELECT pg_size_pretty(pg_total_relation_size('revocations'))\""
  log "revocations table: $(lib_psql -c "SELECT pg_size_pretty(pg_total_relation_size('revocations')) || ', ' || round(avg(pg_column_size(r.*))) || ' bytes/row (tuple)' FROM revocations r")"
}

# ---- part B: the audit insert ceiling ----------------------------------------------
part_insert() {
  log ""
  log "== B1. audit batch insert ceiling (the insert_audit statement into bench_audit, a scratch copy of audit_records)"
  lib_psql -c "SELECT 1 FROM audit_records LIMIT 0" >/dev/null 2>&1 || lib_die "no audit_records table: run agent-sts once against $DB_NAME (PARTS=requests) first"
  lib_psql -c "DROP TABLE IF EXISTS bench_audit; DROP SEQUENCE IF EXISTS bench_audit_id_seq;
    CREATE TABLE bench_audit (LIKE audit_records INCLUDING ALL);
    CREATE SEQUENCE bench_audit_id_seq OWNED BY bench_audit.id;
    ALTER TABLE bench_audit ALTER COLUMN id SET DEFAULT nextval('bench_audit_id_seq');"
  log "bench_audit indexes: $(lib_psql -c "SELECT string_agg(indexdef, '; ') FROM pg_indexes WHERE tablename = 'bench_audit'")"
  local have
  have=$(lib_psql -c "SELECT count(*) FROM pg_tables WHERE tablename = 'bench_audit_sample'")
  if [ "$have" = 0 ] || [ "$(lib_psql -c "SELECT count(*) FROM bench_audit_sample")" = 0 ]; then
    # ~800-byte synthetic token records when the requests part did not run.
    lib_psql -c "DROP TABLE IF EXISTS bench_audit_sample; CREATE TABLE bench_audit_sample AS
      SELECT 0::bigint AS id, 'x'::text AS chain, g::bigint AS seq, 0::bigint AS at, 'token'::text AS event, 'allow'::text AS decision, 'granted'::text AS reason,
        '00u' || md5(g::text) AS subject, 'bench-agent'::text AS agent, 'obo'::text AS pattern, 'okta-bench'::text AS idp, NULL::text AS tenant, NULL::bigint AS count,
        md5(g::text) || md5((g+1)::text) AS prev_hash, md5((g+2)::text) || md5((g+3)::text) AS hash,
        '{\"v\":1,\"event\":\"token\",' || repeat('\"pad\":\"' || md5(g::text) || '\",', 17) || '\"end\":true}' AS record
      FROM generate_series(1, 256) g"
  fi
  log "records: $(lib_psql -c "SELECT count(*) || ' sample rows, avg record ' || round(avg(octet_length(record))) || ' bytes, events ' || string_agg(DISTINCT event, '/') FROM bench_audit_sample")"
  local b w r f
  for b in $INSERT_BATCHES; do
    f="$OUT/insert-$b.sql"
    # Every column as one array of b rows, taken from the sample (distinct
    # subjects: the sample's with a per-row suffix). chain is fresh per batch
    # (UNIQUE (chain, seq)); seq 1..b; at = now.
    # Literals as U&'...' UESCAPE '!' with every ':' written !003A: pgbench
    # would take ":1" or ":true" inside a record for one of its variables.
    lib_psql -c "
      CREATE FUNCTION pg_temp.lit(x text) RETURNS text LANGUAGE sql IMMUTABLE AS
        \$\$ SELECT 'U&''' || replace(replace(replace(x, '!', '!!'), '''', ''''''), ':', '!003A') || ''' UESCAPE ''!''' \$\$;
      WITH s AS (SELECT *, row_number() OVER (ORDER BY id) AS k FROM (SELECT * FROM bench_audit_sample ORDER BY id LIMIT $b) x),
           g AS (SELECT s.* FROM generate_series(1, $b) i JOIN s ON s.k = 1 + (i - 1) % (SELECT count(*) FROM s))
      SELECT '\\set r random(1, 1000000000000000)' || chr(10) ||
        'INSERT INTO bench_audit (chain, seq, at, event, decision, reason, subject, agent, pattern, idp, tenant, count, prev_hash, hash, record) ' ||
        'SELECT * FROM UNNEST(array_fill((''cap-'' || :client_id || ''-'' || :r)::text, ARRAY[$b]), ' ||
        pg_temp.lit((SELECT array_agg(i)::text FROM generate_series(1, $b) i)) || '::int8[], ' ||
        'array_fill(extract(epoch from now())::int8, ARRAY[$b]), ' ||
        pg_temp.lit(array_agg(event)::text) || '::text[], ' || pg_temp.lit(array_agg(decision)::text) || '::text[], ' ||
        pg_temp.lit(array_agg(reason)::text) || '::text[], ' ||
        pg_temp.lit(array_agg(coalesce(subject, 'anon') || '-' || md5(random()::text))::text) || '::text[], ' ||
        pg_temp.lit(array_agg(agent)::text) || '::text[], ' || pg_temp.lit(array_agg(pattern)::text) || '::text[], ' ||
        pg_temp.lit(array_agg(idp)::text) || '::text[], ' || pg_temp.lit(array_agg(tenant)::text) || '::text[], ' ||
        pg_temp.lit(array_agg(count)::text) || '::int8[], ' ||
        pg_temp.lit(array_agg(prev_hash)::text) || '::text[], ' || pg_temp.lit(array_agg(hash)::text) || '::text[], ' ||
        pg_temp.lit(array_agg(record)::text) || '::text[]);'
      FROM g" > "$f"
  done
  echo "writers,batch,rep,commits_per_s,rows_per_s,latency_ms,load1" > "$OUT/insert.csv"
  for w in $INSERT_WRITERS; do
    for b in $INSERT_BATCHES; do
      for r in $(seq 1 "$REPEATS"); do
        lib_psql -c "TRUNCATE bench_audit"
        local j=$w; [ "$j" -le 2 ] || j=2
        [ "$r" = 1 ] && cmd "pgbench -n -M prepared -c $w -j $j -T $INSERT_SECONDS -f insert-$b.sql $DB_NAME"
        pgbench -n -M prepared -c "$w" -j "$j" -T "$INSERT_SECONDS" -f "$OUT/insert-$b.sql" "$BENCH_DATABASE_URL" > "$OUT/insert-w$w-b$b-r$r.txt" 2>&1 || { tail -5 "$OUT/insert-w$w-b$b-r$r.txt" >&2; lib_die "pgbench insert failed"; }
        awk -v w="$w" -v b="$b" -v r="$r" -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^tps/{tps=$3} /latency average/{lat=$4} END{printf "%s,%s,%s,%.1f,%.0f,%s,%s\n", w, b, r, tps, tps*b, lat, l}' \
          "$OUT/insert-w$w-b$b-r$r.txt" | tee -a "$OUT/insert.csv" | sed 's/^/   /'
      done
    done
  done
  log "bench_audit after the last run: $(lib_psql -c "SELECT count(*) || ' rows, ' || round(pg_total_relation_size('bench_audit')::numeric / greatest(count(*),1)) || ' bytes/row incl. indexes' FROM bench_audit")"
  log "median of $REPEATS (commits/s = statements/s; rows/s = commits/s x batch):"
  python3 - "$OUT/insert.csv" <<'PY' | tee -a "$OUT/report.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ws = sorted({int(r["writers"]) for r in rows}); bs = sorted({int(r["batch"]) for r in rows})
print("| writers | " + " | ".join(f"batch {b}: commits/s, rows/s, ms" for b in bs) + " |")
print("|---|" + "---|" * len(bs))
for w in ws:
    cells = []
    for b in bs:
        g = [r for r in rows if int(r["writers"]) == w and int(r["batch"]) == b]
        if not g: cells.append("n/a"); continue
        m = lambda c: statistics.median(float(r[c]) for r in g)
        cells.append(f"{m('commits_per_s'):,.0f} / {m('rows_per_s'):,.0f} / {m('latency_ms'):.2f}")
    print(f"| {w} | " + " | ".join(cells) + " |")
PY
  # What the four query indexes cost (at, subject+at, agent+at, report):
  # the same statement into a copy with only the primary key and
  # UNIQUE (chain, seq), alternating with the full table, at INDEX_WRITERS x
  # INDEX_BATCH.
  local iw="${INDEX_WRITERS:-16}" ib="${INDEX_BATCH:-64}" v t
  lib_psql -c "DROP TABLE IF EXISTS bench_audit_min; CREATE TABLE bench_audit_min (LIKE audit_records INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    ALTER TABLE bench_audit_min ADD PRIMARY KEY (id), ADD UNIQUE (chain, seq);
    CREATE SEQUENCE bench_audit_min_id_seq OWNED BY bench_audit_min.id;
    ALTER TABLE bench_audit_min ALTER COLUMN id SET DEFAULT nextval('bench_audit_min_id_seq');"
  sed 's/INSERT INTO bench_audit /INSERT INTO bench_audit_min /' "$OUT/insert-$ib.sql" > "$OUT/insert-$ib-min.sql"
  cmd "pgbench -n -M prepared -c $iw -j 2 -T $INSERT_SECONDS -f insert-$ib.sql | insert-$ib-min.sql  # all six indexes | primary key and (chain, seq) only"
  echo "table,rep,commits_per_s,rows_per_s,latency_ms,load1" > "$OUT/index-cost.csv"
  for r in $(seq 1 "$REPEATS"); do
    for v in full min; do
      t=bench_audit; f="$OUT/insert-$ib.sql"
      [ "$v" = min ] && { t=bench_audit_min; f="$OUT/insert-$ib-min.sql"; }
      lib_psql -c "TRUNCATE $t"
      pgbench -n -M prepared -c "$iw" -j 2 -T "$INSERT_SECONDS" -f "$f" "$BENCH_DATABASE_URL" 2>&1 \
        | awk -v v="$v" -v r="$r" -v b="$ib" -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^tps/{tps=$3} /latency average/{lat=$4} END{printf "%s,%s,%.1f,%.0f,%s,%s\n", v, r, tps, tps*b, lat, l}' \
        | tee -a "$OUT/index-cost.csv" | sed 's/^/   /'
    done
  done
  log "rows/s, median of $REPEATS at $iw writers x $ib rows: all six indexes $(awk -F, '$1 == "full" {print $4}' "$OUT/index-cost.csv" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'), primary key + (chain, seq) only $(awk -F, '$1 == "min" {print $4}' "$OUT/index-cost.csv" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
  lib_psql -c "DROP TABLE IF EXISTS bench_audit, bench_audit_min; DROP SEQUENCE IF EXISTS bench_audit_id_seq;"
}

# ---- part B: Redis -------------------------------------------------------------------
part_redis() {
  log ""
  log "== B2. Redis: the GCRA script by EVALSHA, GET, PUBLISH"
  local script sha c r n
  script=$(awk '/^const GCRA_SCRIPT: &str = r"/{on=1; next} on && /^";/{exit} on' "$ROOT/src/store/redis_store.rs")
  [ -n "$script" ] || lib_die "GCRA_SCRIPT not found in src/store/redis_store.rs"
  sha=$(rcli script load "$script" | tr -d '\r')
  log "GCRA script sha1 $sha ($(printf '%s' "$script" | wc -l) lines, from src/store/redis_store.rs); keys $REDIS_PREFIX:rate:<0-9999>, interval 1 us, tolerance 999999 us (always admitted: GET + SET PX, the production path of an admit)"
  log "shared Redis before: $(rcli info stats | tr -d '\r' | awk -F: '/^instantaneous_ops_per_sec/{print $2}') ops/s from others, $(rcli info clients | tr -d '\r' | awk -F: '/^connected_clients/{print $2}') clients connected (their load is in these figures)"
  echo "command,clients,rep,ops_per_s,redis_cpu_us_per_call,usec_per_call,load1" > "$OUT/redis.csv"
  # bench_one NAME CLIENTS REP ARGS...: redis-benchmark, Redis CPU per call.
  bench_one() {
    local name="$1" c="$2" r="$3"; shift 3
    local n="$REDIS_REQUESTS" s0 s1 ops us
    [ "$c" -gt 1 ] || n=$((REDIS_REQUESTS / 4))
    s0=$(rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}')
    ops=$(redis-benchmark -h "$R_HOST" -p "$R_PORT" -n "$n" -c "$c" -P 1 -r 10000 -q "$@" 2>/dev/null | tr '\r' '\n' | awk '/requests per second/{for(i=1;i<=NF;i++) if ($i == "requests") v=$(i-1)} END{print v}')
    s1=$(rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}')
    us=$(awk -v a="$s0" -v b="$s1" -v n="$n" 'BEGIN{printf "%.2f", (b-a)*1e6/n}')
    echo "$name,$c,$r,$ops,$us,,$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/redis.csv" | sed 's/^/   /'
  }
  for c in $REDIS_CLIENTS; do
    cmd "redis-benchmark -h $R_HOST -p $R_PORT -n $REDIS_REQUESTS -c $c -P 1 -r 10000 -q EVALSHA $sha 1 $REDIS_PREFIX:rate:__rand_int__ 1 999999"
    for r in $(seq 1 "$REPEATS"); do bench_one evalsha_gcra "$c" "$r" EVALSHA "$sha" 1 "$REDIS_PREFIX:rate:__rand_int__" 1 999999; done
  done
  for c in $REDIS_CLIENTS; do
    cmd "redis-benchmark -h $R_HOST -p $R_PORT -n $REDIS_REQUESTS -c $c -P 1 -r 10000 -q GET $REDIS_PREFIX:get:__rand_int__"
    for r in $(seq 1 "$REPEATS"); do bench_one get "$c" "$r" GET "$REDIS_PREFIX:get:__rand_int__"; done
  done
  # PUBLISH of one revocation message (~330 bytes of JSON) to S subscribers.
  local payload subs p
  payload=$(python3 -c 'import json; print(json.dumps({"deployment": "0" * 32, "revocation": {"id": 123456, "kind": "subject", "value": "00u1a2b3c4d5e6f7g8h9", "idp": "okta-prod", "revoked_at": 1764633600, "expires_at": 1764720060, "actor": "admin:alice@example.com", "reason": "left the company"}, "sent_us": 1764633600123456}, separators=(",", ":")))')
  for subs in 1 30; do
    local spids=()
    for _ in $(seq 1 "$subs"); do
      redis-cli -h "$R_HOST" -p "$R_PORT" subscribe "$REDIS_PREFIX:revocations" >/dev/null 2>&1 &
      spids+=($!); cap_pids+=($!)
    done
    sleep 0.5
    cmd "redis-benchmark -h $R_HOST -p $R_PORT -n 20000 -c 1 -P 1 -q PUBLISH $REDIS_PREFIX:revocations <${#payload}-byte revocation>  # $subs subscribers (redis-cli subscribe)"
    for r in $(seq 1 "$REPEATS"); do REDIS_REQUESTS=80000 bench_one "publish_${subs}_subscribers" 1 "$r" PUBLISH "$REDIS_PREFIX:revocations" "$payload"; done
    for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  done
  log "median of $REPEATS:"
  python3 - "$OUT/redis.csv" <<'PY' | tee -a "$OUT/report.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = []
for r in rows:
    k = (r["command"], r["clients"])
    if k not in keys: keys.append(k)
print("| command | clients | ops/s | Redis CPU us/call | load1 |")
print("|---|---|---|---|---|")
for k in keys:
    g = [r for r in rows if (r["command"], r["clients"]) == k]
    m = lambda c: statistics.median(float(r[c]) for r in g)
    print(f"| {k[0]} | {k[1]} | {m('ops_per_s'):,.0f} | {m('redis_cpu_us_per_call'):.2f} | {m('load1'):.2f} |")
PY
  # The GCRA keys expire within milliseconds; remove any left anyway.
  rcli --scan --pattern "$REDIS_PREFIX:*" | xargs -r -n 500 redis-cli -h "$R_HOST" -p "$R_PORT" del >/dev/null
}

# ---- the model: the measured parts put together ------------------------------------
part_model() {
  local f
  for f in requests.csv insert.csv redis.csv poll.csv idle.csv; do
    [ -f "$OUT/$f" ] || { log "(no model: $f missing; run every part in one go)"; return 0; }
  done
  log ""
  log "== C. the model: N replicas, each at the median rate measured above (PostgreSQL and Redis figures as fractions of the ceilings measured above)"
  python3 - "$OUT" "${PER_TOKEN:-20}" "$MODEL_RATES" <<'PY' | tee -a "$OUT/report.txt"
import csv, statistics, sys
out, per_token, model_rates = sys.argv[1], int(sys.argv[2]), sys.argv[3]
med = statistics.median
rd = lambda f: list(csv.DictReader(open(f"{out}/{f}")))
req, ins, red, poll, idle = rd("requests.csv"), rd("insert.csv"), rd("redis.csv"), rd("poll.csv"), rd("idle.csv")[0]

def profile(sc):
    best = None
    for c in sorted({r["conns"] for r in req if r["scenario"] == sc}, key=int):
        g = [r for r in req if r["scenario"] == sc and r["conns"] == c]
        m = {k: med(float(r[k]) for r in g) for k in g[0] if k != "scenario"}
        if best is None or m["rps"] > best["rps"]:
            best = m
    return best

def cell(w, b, k):
    g = [float(r[k]) for r in ins if int(r["writers"]) == w and int(r["batch"]) == b]
    return med(g) if g else 0.0

ws = sorted({int(r["writers"]) for r in ins}); bs = sorted({int(r["batch"]) for r in ins})
row_at = max(((w, b) for w in ws for b in bs), key=lambda x: cell(*x, "rows_per_s"))
row_ceiling = cell(*row_at, "rows_per_s")
commit_at = max(((w, b) for w in ws for b in bs), key=lambda x: cell(*x, "commits_per_s"))
commit_ceiling = cell(*commit_at, "commits_per_s")
ev = [r for r in red if r["command"] == "evalsha_gcra"]
redis_ceiling = max(med(float(r["ops_per_s"]) for r in ev if r["clients"] == c) for c in {r["clients"] for r in ev})
poll_ceiling = med(float(r["queries_per_s"]) for r in poll if r["replicas"] == "ceiling")
idle_xact = float(idle["xact_per_s"])
# Redis is one thread: with a core of its own it would do 1 s / its CPU per call.
redis_core = max(1e6 / med(float(r["redis_cpu_us_per_call"]) for r in ev if r["clients"] == c) for c in {r["clients"] for r in ev})
# One writer per replica has one audit commit in flight (src/audit/writer.rs):
# a replica's commits/s cannot pass what one writer measured above.
one_writer = max(cell(1, b, "commits_per_s") for b in bs) if 1 in ws else commit_ceiling
one_writer_rows = max(cell(1, b, "rows_per_s") for b in bs) if 1 in ws else row_ceiling
print(f"one replica's writer (1 writer, best batch): {one_writer_rows:,.0f} rows/s, {one_writer:,.0f} commits/s")
print(f"ceilings: audit rows {row_ceiling:,.0f}/s ({row_at[0]} writers x {row_at[1]} rows), commits {commit_ceiling:,.0f}/s "
      f"({commit_at[0]} writers x {commit_at[1]} rows), GCRA EVALSHA {redis_ceiling:,.0f}/s, poll queries {poll_ceiling:,.0f}/s; "
      f"an idle replica: {idle_xact:.2f} PostgreSQL transactions/s; GCRA EVALSHA with a core to itself (1 s / Redis CPU per call): {redis_core:,.0f}/s")
refs = dict(kv.split("=") for kv in model_rates.split()) if model_rates else {}
for sc in ("mixed", "token_exchange"):
    p = profile(sc)
    if not p:
        continue
    rows = p["audit_rows_per_req"]
    # mixed: each token's repeated introspections are summarised in one more
    # record when it expires ([audit] introspection = "first"), after any
    # short run: added here, at the measured bytes per row.
    later = 1.0 / (1 + per_token) if sc == "mixed" and per_token > 1 else 0.0
    bytes_row = p["audit_bytes_per_req"] / rows if rows > 0 else 0.0
    rows_all = rows + later
    print(f"\n{sc}: per request {rows:.3f} audit rows now" + (f" + {later:.3f} summary later" if later else "")
          + f", {bytes_row:,.0f} bytes/row on disk (table + indexes), {p['pg_xact_per_req']:.4f} transactions "
          f"({p.get('audit_commits_per_req', p['pg_xact_per_req']):.4f} audit commits) "
          f"({p['rows_per_commit']:.1f} rows/commit at {p['rps']:,.0f}/s), {p['redis_roundtrips_per_req']:.3f} Redis round trips, "
          f"{p['redis_cpu_us_per_req']:.2f} us Redis CPU")
    rates = [(p["rps"], f"measured here (median, c={p['conns']:.0f}, load {p['load1']:.1f})")]
    if sc in refs:
        rates.append((float(refs[sc]), "reference rate (MODEL_RATES)"))
    for rate, what in rates:
        per_req = p.get("audit_commits_per_req", p["pg_xact_per_req"])
        commits = min(rate * per_req, one_writer) + idle_xact
        print(f"\n{sc} at {rate:,.0f} requests/s a replica, {what}:")
        print("| replicas | requests/s | audit rows/s (% of ceiling) | audit MB/s, GB/day | PG commits/s (% of ceiling) | poll queries/s (% of ceiling) | Redis ops/s (% of EVALSHA ceiling) | Redis CPU (cores) |")
        print("|---|---|---|---|---|---|---|---|")
        for n in (1, 3, 10, 30):
            r_rows = n * rate * rows_all
            mbs = r_rows * bytes_row / 1e6
            c_s = n * commits
            pq = n * 1000 / 500
            ops = n * rate * p["redis_roundtrips_per_req"]
            cpu = n * rate * p["redis_cpu_us_per_req"] / 1e6
            print(f"| {n} | {n * rate:,.0f} | {r_rows:,.0f} ({100 * r_rows / row_ceiling:.0f} %) | {mbs:.1f}, {mbs * 86400 / 1e3:,.0f} | "
                  f"{c_s:,.0f} ({100 * c_s / commit_ceiling:.0f} %) | {pq:.0f} ({100 * pq / poll_ceiling:.1f} %) | {ops:,.0f} ({100 * ops / redis_ceiling:.0f} %) | {cpu:.2f} |")
        # Commits are not a limit of their own: as commits slow down each
        # writer takes more rows per commit (up to 256). Rows/s against the
        # best rows/s measured is the PostgreSQL limit.
        lim = {
            "audit rows": row_ceiling / (rate * rows_all) if rows_all else float("inf"),
            "Redis EVALSHA": redis_ceiling / (rate * p["redis_roundtrips_per_req"]) if p["redis_roundtrips_per_req"] > 0 else float("inf"),
            "revocation poll": poll_ceiling / 2,
        }
        order = sorted(lim.items(), key=lambda kv: kv[1])
        print("replicas each part carries before its ceiling: " + ", ".join(f"{k} {v:,.1f}" for k, v in order) + f"  -> saturates first: {order[0][0]}")
PY
}

for part in $PARTS; do
  case "$part" in
    requests) part_requests ;;
    poll) part_poll ;;
    insert) part_insert ;;
    redis) part_redis ;;
    *) lib_die "unknown part $part (requests poll insert redis)" ;;
  esac
done
part_model
log ""
log "== done $(date -u +%FT%TZ), load $(load); report: $OUT/report.txt"
