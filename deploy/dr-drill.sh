#!/usr/bin/env bash
# The disaster-recovery drill (issue 14), end to end on this machine:
# start a node that archives its writes, load CLAIMS claims, write
# continuously, take a backup, keep writing (and archiving), destroy the
# data dir (kill -9 + rm -rf), restore from the object store (the backup,
# then the archive; verified), serve again. Prints the measured RTO
# (destroy -> serving verified data) and RPO (acknowledged writes missing
# after the restore, as seconds of writes) against the seed's 5 min / 1 min,
# and exits 1 if either is missed.
#
# Usage: deploy/dr-drill.sh   (make dr-drill: 1 000 000 claims)
# Settings (environment): CLAIMS (default 100000), ARCHIVE_INTERVAL (10s),
# WRITE_SECONDS (writing after the backup, default 15), STEMEDB_BIN,
# DRILL_URL (default file://$WORK/store; s3://… with the AWS_* variables),
# WORK (scratch dir), SQL_PORT (18480), HTTP_PORT (18481).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}
BIN=${STEMEDB_BIN:-$TARGET/release/stemedb}
CLAIMS=${CLAIMS:-100000}
ARCHIVE_INTERVAL=${ARCHIVE_INTERVAL:-10s}
WRITE_SECONDS=${WRITE_SECONDS:-15}
CREATED=
[ -n "${WORK:-}" ] || { WORK=$(mktemp -d /tmp/stemedb-dr-drill.XXXXXX); CREATED=1; }
URL=${DRILL_URL:-file://$WORK/store}
SQL_PORT=${SQL_PORT:-18480}
HTTP_PORT=${HTTP_PORT:-18481}
CONN="host=127.0.0.1 port=$SQL_PORT user=stemedb dbname=stemedb"
DATA=$WORK/data

step() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
NODE_PID=
WRITER_PID=
cleanup() {
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null || true
  [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

serve() {
  STEMEDB_BACKUP__ARCHIVE_URL=$URL STEMEDB_BACKUP__ARCHIVE_INTERVAL=$ARCHIVE_INTERVAL \
    "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$SQL_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" >>"$WORK/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null; then return 0; fi
    kill -0 "$NODE_PID" 2>/dev/null || { tail -20 "$WORK/node.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the node was not ready after 60 s; see $WORK/node.log" >&2
  exit 1
}

step "work dir $WORK, object store $URL, archive every $ARCHIVE_INTERVAL"
mkdir -p "$WORK"
serve
step "loading $CLAIMS claims"
python3 "$HERE/sql/bench/gen.py" "$CLAIMS" >"$WORK/claims.csv"
psql "$CONN" -qX -c "\\copy assertions (subject, predicate, object, source, tier, confidence, observed_at) from '$WORK/claims.csv' with (format csv, header)"

step "writing continuously (one claim per statement, each acknowledgement logged)"
python3 - "$CONN" "$WORK/acked" <<'EOF' &
import sys, time
import psycopg
conn, log = sys.argv[1], open(sys.argv[2], "a", buffering=1)
with psycopg.connect(conn, autocommit=True) as c:
    i = 0
    while True:
        try:
            c.execute("INSERT INTO assertions (subject, predicate, object, source) "
                      "VALUES (%s, 'drill', 'v', 'dr')", (f"dr-{i}",))
        except Exception:
            break
        log.write(f"dr-{i} {time.time():.6f}\n")
        i += 1
EOF
WRITER_PID=$!
sleep 2
step "backup to $URL"
"$BIN" backup create --to "$URL" --connect "$CONN" >&2
step "writing $WRITE_SECONDS s more (archived every $ARCHIVE_INTERVAL)"
sleep "$WRITE_SECONDS"

DISK_MIB=$(du -sm "$DATA" | cut -f1)
RSS_MIB=$(awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$NODE_PID/status")
STORE_MIB=$(case "$URL" in file://*) du -sm "${URL#file://}" | cut -f1 ;; *) echo "?" ;; esac)
step "disaster: kill -9 and rm -rf $DATA"
DESTROYED=$(now)
kill -9 "$NODE_PID"
wait "$NODE_PID" 2>/dev/null || true
NODE_PID=
rm -rf "$DATA"
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=

step "restore from $URL (backup + archive, verified)"
"$BIN" backup restore --from "$URL" --data-dir "$DATA" >&2
serve
SERVING=$(now)

ACKED=$(wc -l <"$WORK/acked")
psql "$CONN" -qXAt -c "SELECT subject FROM assertions WHERE source = 'dr'" | sort >"$WORK/present"
awk '{print $1}' "$WORK/acked" | sort >"$WORK/acked.sorted"
MISSING=$(comm -23 "$WORK/acked.sorted" "$WORK/present" | wc -l)
# RPO: from the first acknowledged write that is missing to the disaster.
FIRST_LOST=$(comm -23 "$WORK/acked.sorted" "$WORK/present" | head -1)
if [ -n "$FIRST_LOST" ]; then
  LOST_AT=$(awk -v s="$FIRST_LOST" '$1 == s {print $2}' "$WORK/acked")
  RPO=$(python3 -c "print(f'{max(0.0, $DESTROYED - $LOST_AT):.1f}')")
else
  RPO=0.0
fi
RTO=$(python3 -c "print(f'{$SERVING - $DESTROYED:.1f}')")
TOTAL=$(psql "$CONN" -qXAt -c "SELECT count(*) FROM assertions")

echo "| DR drill ($CLAIMS claims loaded, archive every $ARCHIVE_INTERVAL) | measured | seed's target |"
echo "|---|---|---|"
echo "| RTO: data dir destroyed -> serving verified data | $RTO s | 300 s |"
echo "| RPO: acknowledged writes lost | $MISSING of $ACKED, $RPO s of writes | 60 s |"
echo "| claims served after the restore | $TOTAL | |"
echo "| data dir before the disaster / object store (backup + archive) / node RSS | $DISK_MIB MiB / $STORE_MIB MiB / $RSS_MIB MiB | |"
cleanup
NODE_PID=
[ -n "$CREATED" ] && rm -rf "$WORK"
python3 -c "import sys; sys.exit(0 if $RTO <= 300 and $RPO <= 60 else 1)" || {
  echo "the drill missed the seed's RTO/RPO" >&2
  exit 1
}
