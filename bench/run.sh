#!/usr/bin/env bash
# StemeDB vs PostgreSQL on StemeDB's own workload, side by side, one run.
# Usage: bench/run.sh [ROWS]   (default 1000000; `make bench ROWS=...`)
# Prints a table (and appends nothing anywhere: copy it into docs/benchmarks.md).
set -euo pipefail

ROWS=${1:-${ROWS:-1000000}}
DURATION=${DURATION:-20}          # seconds per pgbench run
WORK=${BENCH_DIR:-/tmp/stemedb-bench}
PG_PORT=${PG_PORT:-15432}
ST_PORT=${ST_PORT:-18280}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}
STEMEDB=${STEMEDB:-$TARGET/release/stemedb}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
SUBJECTS=$(( ROWS / 20 > 0 ? ROWS / 20 : 1 ))
HERE=$(cd "$(dirname "$0")/.." && pwd)
SQL=$HERE/sql/bench

log() { printf '\n== %s\n' "$*" >&2; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  [ -n "${ST_PID:-}" ] && kill "$ST_PID" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$WORK"; mkdir -p "$WORK"; chmod 777 "$WORK"

log "generating $ROWS assertions ($SUBJECTS subjects x 5 predicates)"
python3 "$SQL/gen.py" "$ROWS" > "$WORK/claims.csv"
ls -lh "$WORK/claims.csv" | awk '{print $5}' >&2

log "starting PostgreSQL ($PGBIN, fsync=on, synchronous_commit=on) on port $PG_PORT"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U stemedb -A trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c fsync=on -c synchronous_commit=on -c max_connections=100" start >/dev/null
PG="host=127.0.0.1 port=$PG_PORT user=stemedb dbname=postgres"
psql "$PG" -qX -f "$SQL/postgres.sql" >/dev/null

log "starting StemeDB ($STEMEDB) on port $ST_PORT"
"$STEMEDB" serve --data-dir "$WORK/stemedb" --listen "127.0.0.1:$ST_PORT" \
  --http-listen "127.0.0.1:$((ST_PORT + 1))" 2>"$WORK/stemedb.log" &
ST_PID=$!
ST="host=127.0.0.1 port=$ST_PORT user=stemedb dbname=stemedb"
for _ in $(seq 1 100); do psql "$ST" -qXc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }

declare -A R
load() { # conn [file]: the generated claims, through psql's \copy
  psql "$1" -qX -c "\\copy assertions (subject, predicate, object, source, tier, confidence, observed_at) from '${2:-$WORK/claims.csv}' with (format csv, header)"
}
copy_in() { # system conn
  local t0 t1
  t0=$(now)
  load "$2"
  t1=$(now)
  R[$1,copy]=$(python3 -c "print(f'{$ROWS / ($t1 - $t0):.0f}')")
  log "$1: COPY $ROWS rows in $(secs "$t0" "$t1") s"
}
log "a. bulk ingest via psql \\copy"
copy_in postgres "$PG"
copy_in stemedb "$ST"
# Measured at rest: after writes, PostgreSQL vacuums (or autovacuum would
# run during the next measure) and checkpoints, StemeDB's
# flushes and compactions finish (polled, at most a minute) and the kernel
# writes back the dirty pages both left, so a measure does not pay for the
# background work of the one before it.
settle() {
  local i metrics busy
  psql "$PG" -qXc "VACUUM ANALYZE assertions" -c "CHECKPOINT" >/dev/null
  for i in $(seq 1 120); do
    metrics=$(curl -sf "http://127.0.0.1:$((ST_PORT + 1))/metrics")
    busy=$(awk '/^stemedb_(compactions_running|flushes_running|compaction_pending_bytes)/ {s += $2} END {print s + 0}' <<<"$metrics")
    [ "$busy" = 0 ] && break
    sleep 0.5
  done
  [ "$busy" = 0 ] || log "StemeDB still compacting after 60 s; measuring anyway"
  sync
  log "at rest after $((i / 2)) s"
}
settle

# pgbench: tps and p50/p99 latency (ms) from per-transaction logs.
bench() { # system conn script clients key [pgbench options…]
  local dir=$WORK/pgbench-$1-$5
  mkdir -p "$dir"; chmod 777 "$dir"
  (cd "$dir" && pgbench -n -M prepared -c "$4" -j "$(( $4 < 2 ? 1 : 2 ))" -T "$DURATION" -D subjects="$SUBJECTS" "${@:6}" \
      -f "$3" --log --log-prefix=tx "$2" > summary.txt 2> stderr.txt) || { cat "$dir/stderr.txt" >&2; return 1; }
  R[$1,$5,tps]=$(awk '/^tps/ {print int($3)}' "$dir/summary.txt" | head -1)
  percentiles "$1" "$5" "$dir"
  log "$1 $5: ${R[$1,$5,tps]} tps, p50 ${R[$1,$5,p50]} ms, p99 ${R[$1,$5,p99]} ms"
}
percentiles() { # system key dir… : p50 and p99 (ms) over the runs' transaction logs
  local p50 p99
  read -r p50 p99 < <(for d in "${@:3}"; do cat "$d"/tx*; done | python3 -c "
import sys
v = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
print(f'{v[len(v)//2]/1000:.2f} {v[min(len(v)-1, int(len(v)*0.99))]/1000:.2f}')")
  R[$1,$2,p50]=$p50; R[$1,$2,p99]=$p99
}
# Spellings of one lookup, compared with each other: measured in turns (a
# third of DURATION each, in rotation, both systems), so that the machine's
# drift and the compactions left by the writes before weigh on every
# spelling alike. tps is the mean of the turns; p50/p99 over all of them.
turns() { # script:key…
  local whole=$DURATION t spec sys conn key
  DURATION=$(( whole / 3 > 1 ? whole / 3 : 1 ))
  # A warm-up round of the first spelling, not reported: caches hold what
  # the writes before left, not what the lookups read.
  for sys in postgres stemedb; do
    conn=$PG; [ $sys = stemedb ] && conn=$ST
    bench $sys "$conn" "$SQL/${1%%:*}" 8 warm-up
  done
  for t in 1 2 3; do
    for spec in "$@"; do
      for sys in postgres stemedb; do
        conn=$PG; [ $sys = stemedb ] && conn=$ST
        bench $sys "$conn" "$SQL/${spec%%:*}" 8 "${spec#*:}-$t"
      done
    done
  done
  DURATION=$whole
  for spec in "$@"; do
    key=${spec#*:}
    for sys in postgres stemedb; do
      R[$sys,$key,tps]=$(( (${R[$sys,$key-1,tps]} + ${R[$sys,$key-2,tps]} + ${R[$sys,$key-3,tps]}) / 3 ))
      percentiles $sys "$key" "$WORK"/pgbench-$sys-"$key"-[123]
      log "$sys $key, three turns: ${R[$sys,$key,tps]} tps, p50 ${R[$sys,$key,p50]} ms, p99 ${R[$sys,$key,p99]} ms"
    done
  done
}
log "b. single-row INSERT, 16 clients"
bench postgres "$PG" "$SQL/insert.sql" 16 insert
bench stemedb "$ST" "$SQL/insert.sql" 16 insert
settle
# d. in the same rotation: run alone after the turns, authority came out
# up to a third faster than recency, which reads the same heads.
log "c., h. and d. point queries on recency (five spellings) and authority by subject, 8 clients (in turns)"
turns recency.sql:recency recency_text.sql:recency_text recency_varchar.sql:recency_varchar recency_in.sql:recency_in recency_array.sql:recency_array authority.sql:authority

# e. full-lens queries: best of three in one session, seconds, as psql's
# \timing reports them (from sending the query to its last row): the
# statement's time, not psql's start and login (~30 ms for either system).
timed() { # system conn key sql
  local best
  best=$(psql "$2" -qXAt -c '\timing on' -c "$4" -c "$4" -c "$4" |
    awk '/^Time: / { ms = $2 + 0; if (best == "" || ms < best) best = ms }
         END { if (best == "") exit 1; printf "%.3f", best / 1000 }') ||
    { log "$1 $3: no timing from psql"; exit 1; }
  R[$1,$3]=$best
  log "$1 $3: $best s"
}
log "e. full-lens aggregates"
for sys in postgres stemedb; do
  conn=$PG; [ $sys = stemedb ] && conn=$ST
  timed $sys "$conn" agg "SELECT tier, count(*) FROM authority GROUP BY tier"
  timed $sys "$conn" conflicts "SELECT count(*) FROM conflicts"
done

log "h. INSERT in another spelling (casts, one more parameter)"
bench postgres "$PG" "$SQL/insert_typed.sql" 16 insert_typed
bench stemedb "$ST" "$SQL/insert_typed.sql" 16 insert_typed

log "g. 1 000 lookups: one = ANY(\$1) vs 1 000 prepared point queries, one connection"
for sys in postgres stemedb; do
  conn=$PG; [ $sys = stemedb ] && conn=$ST
  read -r R[$sys,separate] R[$sys,batch] < <(python3 "$HERE/bench/batch_lookup.py" "$conn" "$SUBJECTS")
  log "$sys: separate ${R[$sys,separate]} ms, batch ${R[$sys,batch]} ms"
done
read -r R[floor,rows] R[floor,array] < <(cd "$HERE/bench" && python3 batch_floor.py "$PG" "$SUBJECTS")
R[floor,batch]=$(python3 -c "print(f'{${R[floor,rows]} + ${R[floor,array]}:.2f}')")
log "floor: the batch's rows from a plain table ${R[floor,rows]} ms + the array parameter alone ${R[floor,array]} ms"

log "k. protocols: the recency lookup as simple-protocol text with a literal, and as an unnamed extended statement each time"
bench postgres "$PG" "$SQL/recency_literal.sql" 8 recency_simple -M simple
bench stemedb "$ST" "$SQL/recency_literal.sql" 8 recency_simple -M simple
bench postgres "$PG" "$SQL/recency.sql" 8 recency_unnamed -M extended
bench stemedb "$ST" "$SQL/recency.sql" 8 recency_unnamed -M extended

log "l. drivers' own styles (psycopg 3 three ways, pgjdbc), one connection each, $(( DURATION / 2 )) s each"
for sys in postgres stemedb; do
  conn=$PG; url="jdbc:postgresql://127.0.0.1:$PG_PORT/postgres?user=stemedb"
  [ $sys = stemedb ] && conn=$ST && url="jdbc:postgresql://127.0.0.1:$ST_PORT/stemedb?user=stemedb"
  read -r R[$sys,psycopg] R[$sys,psycopg_unprepared] R[$sys,psycopg_client] \
    < <(python3 "$HERE/bench/drivers.py" "$conn" "$SUBJECTS" "$(( DURATION / 2 ))")
  R[$sys,jdbc]=$(java -cp /usr/share/java/postgresql.jar "$HERE/bench/DriverLookups.java" "$url" "$SUBJECTS" "$(( DURATION / 2 ))")
  log "$sys: psycopg ${R[$sys,psycopg]}, never prepared ${R[$sys,psycopg_unprepared]}, client-side ${R[$sys,psycopg_client]}, pgjdbc ${R[$sys,jdbc]} lookups/s"
done

log "m. writes with retractions: 90 % INSERT, 10 % retract the recency winner of a pair, 16 clients"
bench postgres "$PG" "$SQL/insert.sql@9" 16 retract_mix -f "$SQL/retract_postgres.sql@1"
bench stemedb "$ST" "$SQL/insert.sql@9" 16 retract_mix -f "$SQL/retract.sql@1"


RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$ST_PID/status")
HWM_KB=$(awk '/VmHWM/ {print $2}' "/proc/$ST_PID/status")

COPY_ROWS=$(( ROWS < 1000000 ? ROWS : 1000000 ))
head -n "$((COPY_ROWS + 1))" "$WORK/claims.csv" > "$WORK/copy.csv"
log "n. recency point queries, 8 clients, while a $COPY_ROWS-row COPY runs (after its first second)"
for sys in postgres stemedb; do
  conn=$PG; [ $sys = stemedb ] && conn=$ST
  load "$conn" "$WORK/copy.csv" &
  COPY_PID=$!
  sleep 1
  bench $sys "$conn" "$SQL/recency.sql" 8 during_copy
  wait "$COPY_PID"
done

# The same node restarted on the same data with other settings.
restart_stemedb() { # VAR=value…
  kill "$ST_PID"; wait "$ST_PID" 2>/dev/null || true
  env "$@" "$STEMEDB" serve --data-dir "$WORK/stemedb" --listen "127.0.0.1:$ST_PORT" \
    --http-listen "127.0.0.1:$((ST_PORT + 1))" 2>>"$WORK/stemedb.log" &
  ST_PID=$!
  for _ in $(seq 1 300); do psql "$ST" -qXc "SELECT 1" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "StemeDB did not restart" >&2; exit 1
}

log "i. metrics: recency point queries recorded vs not (back to back, same data)"
bench stemedb "$ST" "$SQL/recency.sql" 8 metrics_on
restart_stemedb STEMEDB_METRICS=false
bench stemedb "$ST" "$SQL/recency.sql" 8 metrics_off

log "j. rate limits: a quiet client (200 tps) alone, then while 8 connections of another user hammer past 500 statements/s"
restart_stemedb STEMEDB_LIMITS__STATEMENTS_PER_SECOND=500
bench stemedb "$ST" "$SQL/recency.sql" 1 quiet_alone -R 200
python3 "$HERE/bench/hammer.py" "${ST/user=stemedb/user=hammer}" "$((DURATION + 2))" 8 > "$WORK/hammer.txt" &
HAMMER=$!
sleep 1
bench stemedb "$ST" "$SQL/recency.sql" 1 quiet_hammered -R 200
wait "$HAMMER"
read -r HAMMER_OK HAMMER_LIMITED < "$WORK/hammer.txt"
log "hammer: $HAMMER_OK statements ran, $HAMMER_LIMITED refused with 53400"

ratio() { python3 -c "a, b = $1, $2; print(f'{a / b:.2f}x' if b else 'n/a')"; }
tps_row() { # label key
  echo "| $1, tps | ${R[postgres,$2,tps]} | ${R[stemedb,$2,tps]} | $(ratio "${R[stemedb,$2,tps]}" "${R[postgres,$2,tps]}") |"
}
lookups_row() { # label key
  echo "| $1, lookups/s, 1 connection | ${R[postgres,$2]} | ${R[stemedb,$2]} | $(ratio "${R[stemedb,$2]}" "${R[postgres,$2]}") |"
}
latency_row() { # label key
  echo "| $1, p50 / p99 ms | ${R[postgres,$2,p50]} / ${R[postgres,$2,p99]} | ${R[stemedb,$2,p50]} / ${R[stemedb,$2,p99]} | $(ratio "${R[postgres,$2,p99]}" "${R[stemedb,$2,p99]}") (p99) |"
}
echo
echo "StemeDB vs PostgreSQL — $ROWS assertions, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| measure | PostgreSQL | StemeDB | StemeDB / PostgreSQL (higher is better) |"
echo "|---|---|---|---|"
echo "| a. COPY ingest, rows/s | ${R[postgres,copy]} | ${R[stemedb,copy]} | $(ratio "${R[stemedb,copy]}" "${R[postgres,copy]}") |"
for k in insert recency authority; do
  label=$k; [ $k = insert ] && label="b. INSERT, 16 clients"; [ $k = recency ] && label="c. recency point query, 8 clients"; [ $k = authority ] && label="d. authority point query, 8 clients"
  tps_row "$label" $k
  latency_row "$label" $k
done
echo "| e. authority GROUP BY tier, s | ${R[postgres,agg]} | ${R[stemedb,agg]} | $(ratio "${R[postgres,agg]}" "${R[stemedb,agg]}") |"
echo "| e. count(*) FROM conflicts, s | ${R[postgres,conflicts]} | ${R[stemedb,conflicts]} | $(ratio "${R[postgres,conflicts]}" "${R[stemedb,conflicts]}") |"
for k in recency_text recency_varchar recency_in recency_array insert_typed; do
  label="h. recency, subject = :s::text, 8 clients"
  [ $k = recency_varchar ] && label="h. recency, subject = CAST(:s AS varchar), 8 clients"
  [ $k = recency_in ] && label="h. recency, subject IN (:s::text), 8 clients"
  [ $k = recency_array ] && label="h. recency, subject = ANY(ARRAY[:s::text]), 8 clients"
  [ $k = insert_typed ] && label="h. INSERT (:s::text, …, tier :t), 16 clients"
  tps_row "$label" $k
done
tps_row "k. recency, simple protocol, literal subject, 8 clients" recency_simple
tps_row "k. recency, unnamed extended statement each time, 8 clients" recency_unnamed
tps_row "m. 90 % INSERT + 10 % retract a winner, 16 clients" retract_mix
latency_row "m. 90 % INSERT + 10 % retract a winner, 16 clients" retract_mix
tps_row "n. recency point query during a $COPY_ROWS-row COPY, 8 clients" during_copy
latency_row "n. recency point query during a $COPY_ROWS-row COPY, 8 clients" during_copy
lookups_row "l. psycopg \`%s\`, defaults" psycopg
lookups_row "l. psycopg, prepare_threshold=None" psycopg_unprepared
lookups_row "l. psycopg ClientCursor (client-side literals)" psycopg_client
lookups_row "l. pgjdbc PreparedStatement \`?\`, defaults" jdbc
echo "| g. 1 000 lookups, 1 000 prepared point queries, ms | ${R[postgres,separate]} | ${R[stemedb,separate]} | $(ratio "${R[postgres,separate]}" "${R[stemedb,separate]}") |"
echo "| g. 1 000 lookups, one = ANY(\$1), ms | ${R[postgres,batch]} | ${R[stemedb,batch]} | $(ratio "${R[postgres,batch]}" "${R[stemedb,batch]}") |"
echo "| g. StemeDB batch speed-up (separate / batch; target ≥ 20) | | $(ratio "${R[stemedb,separate]}" "${R[stemedb,batch]}") | |"
echo "| g. client floor: the batch's rows read from a plain table + the array parameter sent alone, ms | ${R[floor,batch]} | | |"
echo "| g. highest speed-up any server could show (StemeDB separate / floor) | | $(ratio "${R[stemedb,separate]}" "${R[floor,batch]}") | |"
echo "| f. StemeDB resident memory after the run (peak) | | $((RSS_KB / 1024)) MiB ($((HWM_KB / 1024)) MiB) | |"
echo
echo "| StemeDB only | without | with | with / without |"
echo "|---|---|---|---|"
echo "| i. recency point query tps, metrics recorded or not | ${R[stemedb,metrics_off,tps]} | ${R[stemedb,metrics_on,tps]} | $(ratio "${R[stemedb,metrics_on,tps]}" "${R[stemedb,metrics_off,tps]}") |"
echo "| j. quiet client p99 ms, another user hammering past its limit or not | ${R[stemedb,quiet_alone,p99]} | ${R[stemedb,quiet_hammered,p99]} | $(ratio "${R[stemedb,quiet_hammered,p99]}" "${R[stemedb,quiet_alone,p99]}") (target ≤ 2) |"
echo "| j. hammering client: statements run / refused with 53400 in $((DURATION + 2)) s (limit 500/s) | | $HAMMER_OK / $HAMMER_LIMITED | |"
echo
log "o. change feed: a consumer paging through every claim, 500 at a time"
python3 "$HERE/bench/feed.py" "$PG" "$ST"
