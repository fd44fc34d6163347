#!/usr/bin/env bash
# Backup and restore throughput, StemeDB vs PostgreSQL on the same data, one
# run (issue 14): StemeDB's online backup (`stemedb backup create`, file://)
# against pg_basebackup, StemeDB's restore (files checked, archive replayed,
# `stemedb verify`) against pg_restore of a pg_dump -Fc; then a second
# StemeDB backup after 1 % more claims: the bytes it uploads.
# Usage: bench/backup.sh [ROWS]   (default 1000000; in `make bench`)
set -euo pipefail

ROWS=${1:-${ROWS:-1000000}}
WORK=${BENCH_DIR:-/tmp/stemedb-bench-backup}
PG_PORT=${PG_PORT:-15442}
ST_PORT=${ST_PORT:-18290}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}
STEMEDB=${STEMEDB:-$TARGET/release/stemedb}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
HERE=$(cd "$(dirname "$0")/.." && pwd)
SQL=$HERE/sql/bench

log() { printf '\n== %s\n' "$*" >&2; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):,.0f}')"; } # amount t0 t1
mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }
mibps() { python3 -c "print(f'{$1 / 1048576 / ($3 - $2):.1f}')"; } # bytes t0 t1
cleanup() {
  [ -n "${ST_PID:-}" ] && kill "$ST_PID" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$WORK"; mkdir -p "$WORK"; chmod 777 "$WORK"
log "generating $ROWS claims"
python3 "$SQL/gen.py" "$ROWS" >"$WORK/claims.csv"
python3 "$SQL/gen.py" "$((ROWS / 100))" 7 >"$WORK/more.csv"

as_pg "$PGBIN/initdb" -D "$WORK/pg" -U stemedb -A trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PG_PORT -k $WORK" start >/dev/null
PG="host=127.0.0.1 port=$PG_PORT user=stemedb dbname=postgres"
psql "$PG" -qX -f "$SQL/postgres.sql" >/dev/null
"$STEMEDB" serve --data-dir "$WORK/stemedb" --listen "127.0.0.1:$ST_PORT" \
  --http-listen "127.0.0.1:$((ST_PORT + 1))" 2>"$WORK/stemedb.log" &
ST_PID=$!
ST="host=127.0.0.1 port=$ST_PORT user=stemedb dbname=stemedb"
for _ in $(seq 1 100); do psql "$ST" -qXc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
copy() { # conn file
  psql "$1" -qX -c "\\copy assertions (subject, predicate, object, source, tier, confidence, observed_at) from '$2' with (format csv, header)"
}
log "loading both"
copy "$PG" "$WORK/claims.csv"
copy "$ST" "$WORK/claims.csv"
psql "$PG" -qXc "CHECKPOINT" >/dev/null

log "StemeDB: backup create"
t0=$(now)
REPORT=$("$STEMEDB" backup create --to "file://$WORK/st-backup" --connect "$ST")
t1=$(now)
ST_BYTES=$(echo "$REPORT" | sed -E 's/.* ([0-9]+) bytes, .*/\1/')
log "$REPORT in $(secs "$t0" "$t1") s"
ST_B=("$(secs "$t0" "$t1")" "$(mib "$ST_BYTES")" "$(mibps "$ST_BYTES" "$t0" "$t1")" "$(rate "$ROWS" "$t0" "$t1")")

log "PostgreSQL: pg_basebackup"
t0=$(now)
"$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U stemedb -D "$WORK/pg-base" -X fetch -c fast
t1=$(now)
PG_BYTES=$(du -sb "$WORK/pg-base" | cut -f1)
PG_B=("$(secs "$t0" "$t1")" "$(mib "$PG_BYTES")" "$(mibps "$PG_BYTES" "$t0" "$t1")" "$(rate "$ROWS" "$t0" "$t1")")

log "StemeDB: backup restore (every file checked, stemedb verify)"
t0=$(now)
"$STEMEDB" backup restore --from "file://$WORK/st-backup" --data-dir "$WORK/st-restored" \
  >"$WORK/restore.log" 2>&1
t1=$(now)
ST_R=("$(secs "$t0" "$t1")" "$(mib "$ST_BYTES")" "$(mibps "$ST_BYTES" "$t0" "$t1")" "$(rate "$ROWS" "$t0" "$t1")")

log "PostgreSQL: pg_dump -Fc, then pg_restore into a new database (timed)"
"$PGBIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U stemedb -Fc -f "$WORK/pg.dump" postgres
DUMP_BYTES=$(stat -c %s "$WORK/pg.dump")
psql "$PG" -qXc "CREATE DATABASE restored" >/dev/null
t0=$(now)
"$PGBIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U stemedb -d restored "$WORK/pg.dump"
t1=$(now)
PG_R=("$(secs "$t0" "$t1")" "$(mib "$DUMP_BYTES")" "$(mibps "$DUMP_BYTES" "$t0" "$t1")" "$(rate "$ROWS" "$t0" "$t1")")

log "StemeDB: 1 % more claims, a second backup"
copy "$ST" "$WORK/more.csv"
SECOND=$("$STEMEDB" backup create --to "file://$WORK/st-backup" --connect "$ST")
UPLOADED=$(echo "$SECOND" | sed -E 's/.* ([0-9]+) bytes uploaded/\1/')
log "$SECOND"
SHARE=$(python3 -c "print(f'{100 * $UPLOADED / $ST_BYTES:.1f}')")

echo
echo "Backup and restore — $ROWS claims, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| | seconds | MiB | MiB/s | claims/s |"
echo "|---|---|---|---|---|"
echo "| StemeDB backup create (online, file://) | ${ST_B[0]} | ${ST_B[1]} | ${ST_B[2]} | ${ST_B[3]} |"
echo "| PostgreSQL pg_basebackup | ${PG_B[0]} | ${PG_B[1]} | ${PG_B[2]} | ${PG_B[3]} |"
echo "| StemeDB backup restore (checked, verified) | ${ST_R[0]} | ${ST_R[1]} | ${ST_R[2]} | ${ST_R[3]} |"
echo "| PostgreSQL pg_restore of pg_dump -Fc | ${PG_R[0]} | ${PG_R[1]} | ${PG_R[2]} | ${PG_R[3]} |"
echo
echo "Second StemeDB backup after $((ROWS / 100)) more claims (1 %): $UPLOADED of the first's $ST_BYTES bytes uploaded ($SHARE %; target ≤ 5 %)."
