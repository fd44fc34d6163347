#!/usr/bin/env bash
# The disaster-recovery drill (issue 14), end to end on this machine:
# start a node (NODES=1) or a three-node cluster (NODES=3) whose nodes
# archive their writes, load CLAIMS claims, write continuously, back up
# every node, keep writing (and archiving), destroy the last node's data dir
# (kill -9 + rm -rf), restore it from the object store (its backup, then
# its archive; verified), serve again — in a cluster, until anti-entropy
# reports it in sync. Prints the measured RTO (destroy -> serving verified
# data) and RPO (acknowledged writes missing afterwards, as seconds of
# writes) against the seed's 5 min / 1 min, and exits 1 if either is missed.
#
# Usage: deploy/dr-drill.sh   (make dr-drill: 1 000 000 claims, both sizes)
# Settings (environment): NODES (1), CLAIMS (100000), ARCHIVE_INTERVAL
# (10s), WRITE_SECONDS (writing after the backup, 15), STEMEDB_BIN,
# DRILL_URL (default file://$WORK/store; s3://… with the AWS_* variables),
# WORK (scratch dir), SQL_PORT (18480), HTTP_PORT (18481), RPC_PORT (18482),
# SWIM_PORT (18483). Node n listens on 127.0.0.n.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}
BIN=${STEMEDB_BIN:-$TARGET/release/stemedb}
NODES=${NODES:-1}
CLAIMS=${CLAIMS:-100000}
ARCHIVE_INTERVAL=${ARCHIVE_INTERVAL:-10s}
WRITE_SECONDS=${WRITE_SECONDS:-15}
CREATED=
[ -n "${WORK:-}" ] || { WORK=$(mktemp -d /tmp/stemedb-dr-drill.XXXXXX); CREATED=1; }
URL=${DRILL_URL:-file://$WORK/store}
SQL_PORT=${SQL_PORT:-18480}
HTTP_PORT=${HTTP_PORT:-18481}
RPC_PORT=${RPC_PORT:-18482}
SWIM_PORT=${SWIM_PORT:-18483}
VICTIM=$NODES

step() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
conn() { echo "host=127.0.0.$1 port=$SQL_PORT user=stemedb dbname=stemedb"; }
declare -A PIDS
WRITER_PID=
cleanup() {
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Starts node $1 on its data dir, archiving to its own prefix.
start() {
  local n=$1 seeds
  local -a env=(STEMEDB_BACKUP__ARCHIVE_URL="$URL/node$n"
    STEMEDB_BACKUP__ARCHIVE_INTERVAL="$ARCHIVE_INTERVAL")
  if [ "$NODES" -gt 1 ]; then
    seeds=$(for i in $(seq 1 "$NODES"); do printf '"127.0.0.%s:%s",' "$i" "$SWIM_PORT"; done)
    env+=(STEMEDB_CLUSTER__ENABLED=true STEMEDB_CLUSTER__NODE_ID="node$n"
      STEMEDB_CLUSTER__RPC_ADDR="127.0.0.$n:$RPC_PORT"
      STEMEDB_CLUSTER__SWIM_ADDR="127.0.0.$n:$SWIM_PORT"
      STEMEDB_CLUSTER__SEEDS="[${seeds%,}]" STEMEDB_REPLICATION__SYNC_INTERVAL=2s)
  fi
  env "${env[@]}" "$BIN" serve --data-dir "$WORK/node$n" --listen "127.0.0.$n:$SQL_PORT" \
    --http-listen "127.0.0.$n:$HTTP_PORT" >>"$WORK/node$n.log" 2>&1 &
  PIDS[$n]=$!
}

ready() {
  local n=$1
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.$n:$HTTP_PORT/ready" >/dev/null; then return 0; fi
    for i in "${!PIDS[@]}"; do # any node that died (a port taken, say) stops the drill
      kill -0 "${PIDS[$i]}" 2>/dev/null || { tail -20 "$WORK/node$i.log" >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "node$n was not ready after 60 s; see $WORK/node$n.log" >&2
  exit 1
}

step "$NODES node(s), work dir $WORK, object store $URL, archive every $ARCHIVE_INTERVAL"
mkdir -p "$WORK"
for n in $(seq 1 "$NODES"); do start "$n"; done
for n in $(seq 1 "$NODES"); do ready "$n"; done
step "loading $CLAIMS claims"
python3 "$HERE/sql/bench/gen.py" "$CLAIMS" >"$WORK/claims.csv"
psql "$(conn 1)" -qX -c "\\copy assertions (subject, predicate, object, source, tier, confidence, observed_at) from '$WORK/claims.csv' with (format csv, header)"

step "writing continuously (one claim per statement over every node, each acknowledgement logged)"
python3 - "$WORK/acked" $(for n in $(seq 1 "$NODES"); do echo "127.0.0.$n"; done) <<EOF &
import sys, time
import psycopg
log, hosts = open(sys.argv[1], "a", buffering=1), sys.argv[2:]
conns, i = {}, 0
while True:
    host = hosts[i % len(hosts)]
    try:
        if host not in conns:
            conns[host] = psycopg.connect(
                f"host={host} port=$SQL_PORT user=stemedb dbname=stemedb",
                autocommit=True, connect_timeout=2)
        conns[host].execute("INSERT INTO assertions (subject, predicate, object, source) "
                            "VALUES (%s, 'drill', 'v', 'dr')", (f"dr-{i}",))
        log.write(f"dr-{i} {time.time():.6f}\n")
    except Exception:
        conns.pop(host, None)
        time.sleep(0.05)
    i += 1
EOF
WRITER_PID=$!
sleep 2
for n in $(seq 1 "$NODES"); do
  step "backup of node$n to $URL/node$n"
  "$BIN" backup create --to "$URL/node$n" --connect "$(conn "$n")" >&2
done
step "writing $WRITE_SECONDS s more (archived every $ARCHIVE_INTERVAL)"
sleep "$WRITE_SECONDS"

DATA=$WORK/node$VICTIM
DISK_MIB=$(du -sm "$DATA" | cut -f1)
RSS_MIB=$(awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/${PIDS[$VICTIM]}/status")
STORE_MIB=$(case "$URL" in file://*) du -sm "${URL#file://}/node$VICTIM" | cut -f1 ;; *) echo "?" ;; esac)
step "disaster: kill -9 node$VICTIM and rm -rf $DATA"
DESTROYED=$(now)
kill -9 "${PIDS[$VICTIM]}"
wait "${PIDS[$VICTIM]}" 2>/dev/null || true
rm -rf "$DATA"

step "restore from $URL/node$VICTIM (backup + archive, verified)"
"$BIN" backup restore --from "$URL/node$VICTIM" --data-dir "$DATA" >&2
start "$VICTIM"
ready "$VICTIM"
if [ "$NODES" -gt 1 ]; then
  step "anti-entropy until node$VICTIM is in sync with every peer"
  for _ in $(seq 1 240); do
    if "$BIN" cluster sync --connect "$(conn "$VICTIM")" >"$WORK/sync" 2>&1 \
      && [ "$(grep -c ': in sync' "$WORK/sync")" = $((NODES - 1)) ]; then break; fi
    sleep 0.5
  done
  cat "$WORK/sync" >&2
fi
SERVING=$(now)
kill "$WRITER_PID" 2>/dev/null || true
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=

ACKED=$(wc -l <"$WORK/acked")
psql "$(conn "$VICTIM")" -qXAt -c "SELECT subject FROM assertions WHERE source = 'dr'" | sort >"$WORK/present"
awk '{print $1}' "$WORK/acked" | sort >"$WORK/acked.sorted"
MISSING=$(comm -23 "$WORK/acked.sorted" "$WORK/present" | wc -l)
# RPO: from the first acknowledged write that is missing to the disaster.
FIRST_LOST=$(comm -23 "$WORK/acked.sorted" "$WORK/present" | sed -n 1p)
if [ -n "$FIRST_LOST" ]; then
  LOST_AT=$(awk -v s="$FIRST_LOST" '$1 == s {print $2}' "$WORK/acked")
  RPO=$(python3 -c "print(f'{max(0.0, $DESTROYED - $LOST_AT):.1f}')")
else
  RPO=0.0
fi
RTO=$(python3 -c "print(f'{$SERVING - $DESTROYED:.1f}')")
TOTAL=$(psql "$(conn "$VICTIM")" -qXAt -c "SELECT count(*) FROM assertions")

echo "| DR drill: $NODES node(s), $CLAIMS claims loaded, archive every $ARCHIVE_INTERVAL | measured | seed's target |"
echo "|---|---|---|"
echo "| RTO: node$VICTIM's data dir destroyed -> serving verified data$([ "$NODES" -gt 1 ] && echo ", in sync") | $RTO s | 300 s |"
echo "| RPO: acknowledged writes lost | $MISSING of $ACKED, $RPO s of writes | 60 s |"
echo "| claims served after the restore | $TOTAL | |"
echo "| node$VICTIM before the disaster: data dir / its backup + archive / RSS | $DISK_MIB MiB / $STORE_MIB MiB / $RSS_MIB MiB | |"
cleanup
PIDS=()
[ -n "$CREATED" ] && rm -rf "$WORK"
python3 -c "import sys; sys.exit(0 if $RTO <= 300 and $RPO <= 60 else 1)" || {
  echo "the drill missed the seed's RTO/RPO" >&2
  exit 1
}
