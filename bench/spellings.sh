#!/usr/bin/env bash
# Every spelling of one point lookup, as a new user would try them: a
# release StemeDB with 50 000 claims, pgbench (prepared, 8 clients) on each
# spelling in turns, each spelling's tps and its ratio to the best one.
# Usage: bench/spellings.sh [ROWS]   (STEMEDB=path/to/stemedb to pick a build)
set -euo pipefail

ROWS=${1:-50000}
DURATION=${DURATION:-5}           # seconds per spelling per turn
TURNS=${TURNS:-3}
WORK=${BENCH_DIR:-/tmp/stemedb-spellings}
PORT=${ST_PORT:-18380}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}
STEMEDB=${STEMEDB:-$TARGET/release/stemedb}
SUBJECTS=$(( ROWS / 20 > 0 ? ROWS / 20 : 1 ))
HERE=$(cd "$(dirname "$0")/.." && pwd)
SQL=$HERE/sql/bench

log() { printf '== %s\n' "$*" >&2; }
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

rm -rf "$WORK"; mkdir -p "$WORK"
python3 "$SQL/gen.py" "$ROWS" > "$WORK/claims.csv"
"$STEMEDB" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
  --http-listen "127.0.0.1:$((PORT + 1))" 2>"$WORK/stemedb.log" &
PID=$!
CONN="host=127.0.0.1 port=$PORT user=stemedb dbname=stemedb"
for _ in $(seq 1 100); do psql "$CONN" -qXc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
log "loading $ROWS claims ($STEMEDB)"
psql "$CONN" -qX -c "\\copy assertions (subject, predicate, object, source, tier, confidence, observed_at) from '$WORK/claims.csv' with (format csv, header)"

# A view over a lens is planned when read: a lookup through it must stay a
# point lookup.
psql "$CONN" -qX -c "CREATE SCHEMA bench_views" \
  -c "CREATE VIEW bench_views.recent AS SELECT subject, predicate, object, source, tier FROM recency" \
  -c "CREATE VIEW bench_views.trusted AS SELECT subject, predicate, object, source, tier FROM authority"

# The consensus lens weighs each source by the longest matching prefix of
# stemedb.source_trust: a few prefixes, as a pilot would set them. With
# decay (SET stemedb.half_life) a lookup is two statements: compare it
# with authority behind the same SET.
psql "$CONN" -qX -c "INSERT INTO stemedb.source_trust VALUES ('src-1', 0.5), ('src-2', 2), ('src-3', 0.1)"

SPELLINGS=(recency recency_text recency_varchar recency_in recency_in_plain recency_array recency_any_array recency_view authority authority_view consensus authority_set consensus_decay)
declare -A TPS
for t in $(seq 1 "$TURNS"); do
  for s in "${SPELLINGS[@]}"; do
    tps=$(pgbench -n -M prepared -c 8 -j 2 -T "$DURATION" -D subjects="$SUBJECTS" \
      -f "$SQL/$s.sql" "$CONN" 2>/dev/null | awk '/^tps/ {print int($3)}' | head -1)
    TPS[$s]=$(( ${TPS[$s]:-0} + tps ))
    log "turn $t, $s: $tps tps"
  done
done
best=0
for s in "${SPELLINGS[@]}"; do
  TPS[$s]=$(( TPS[$s] / TURNS ))
  (( TPS[$s] > best )) && best=${TPS[$s]}
done
echo
echo "| spelling | tps (mean of $TURNS turns) | / best |"
echo "|---|---|---|"
for s in "${SPELLINGS[@]}"; do
  text=$(grep -v '^\\' "$SQL/$s.sql" | sed 's/^SELECT .* FROM //; s/;$//' | paste -sd ';' | sed 's/;/; /g')
  echo "| \`$text\` | ${TPS[$s]} | $(python3 -c "print(f'{${TPS[$s]} / $best:.2f}')") |"
done
