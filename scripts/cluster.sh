#!/usr/bin/env bash
# The local three-node cluster (DESIGN §6): `cluster.sh start` runs
# deploy/local/node{1,2,3}.toml in the background (logs and pids in
# ./stemedb-cluster/), waits until every node is ready, and prints how to
# connect; `cluster.sh stop` stops them (SIGTERM: each leaves the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${STEMEDB_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/stemedb-target}/release/stemedb}"
RUN=./stemedb-cluster

start() {
  mkdir -p "$RUN"
  for n in 1 2 3; do
    if [ -f "$RUN/node$n.pid" ] && kill -0 "$(cat "$RUN/node$n.pid")" 2>/dev/null; then
      echo "node$n is already running (pid $(cat "$RUN/node$n.pid"))"
      continue
    fi
    "$BIN" serve --config "deploy/local/node$n.toml" >"$RUN/node$n.log" 2>&1 &
    echo $! >"$RUN/node$n.pid"
  done
  for n in 1 2 3; do
    for _ in $(seq 150); do
      if curl -sf "http://127.0.0.$n:18181/ready" >/dev/null; then
        echo "node$n ready: psql -h 127.0.0.$n -p 18180 -U stemedb stemedb"
        continue 2
      fi
      sleep 0.2
    done
    echo "node$n is not ready after 30 s; see $RUN/node$n.log" >&2
    exit 1
  done
  curl -s http://127.0.0.1:18181/cluster/members
}

stop() {
  for n in 1 2 3; do
    pidfile="$RUN/node$n.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      echo "node$n stopped"
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
