#!/usr/bin/env python3
"""The pilot's success criteria, measured against a running three-node
cluster (`make pilot`: the local one of `make cluster`; or any three nodes
given with --nodes), printed as a pass/fail table a sponsor can read:

  - 1 000 assertions/s sustained for --seconds, write p99 < 200 ms
  - 1 000 point queries/s (a lens) at the same time, p99 < 150 ms
  - replication lag < 1 s (the nodes' stemedb_replication_lag_seconds,
    sampled every second while all three are up)
  - one node killed (kill -9) a third into the run and started again
    --down seconds later: no acknowledged write lost, and its RTO (from
    the start command to /ready answering 200)

Writers and readers are paced on a fixed schedule (a late operation's
latency counts from when it was due, so a stall is not hidden); each
client moves to the next node when its node stops answering. Progress is
printed every 5 s.

Usage: bench/pilot.py [--nodes H:SQL:HTTP,...] [--seconds 60]
         [--writes 1000] [--reads 1000] [--kill 2] [--down 5]
         [--kill-cmd CMD] [--start-cmd CMD]   ({n} is the node's number)
The password comes from STEMEDB_PASSWORD, the admin token (for /metrics)
from STEMEDB_HTTP_TOKEN, when the nodes need them.
"""
import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
LOCAL = "127.0.0.1:18180:18181,127.0.0.2:18180:18181,127.0.0.3:18180:18181"
LOCAL_KILL = "kill -9 $(cat stemedb-cluster/node{n}.pid)"
LOCAL_START = "bash scripts/cluster.sh start >/dev/null"
CLIENTS = 32


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


class Node:
    def __init__(self, spec, n):
        host, sql, http = spec.split(":")
        self.n, self.host, self.sql, self.http = n, host, int(sql), int(http)

    def conninfo(self):
        info = f"host={self.host} port={self.sql} user=stemedb dbname=stemedb connect_timeout=3"
        if os.environ.get("STEMEDB_PASSWORD"):
            info += f" password={os.environ['STEMEDB_PASSWORD']}"
        return info

    def get(self, path):
        req = urllib.request.Request(f"http://{self.host}:{self.http}{path}")
        if os.environ.get("STEMEDB_HTTP_TOKEN"):
            req.add_header("Authorization", f"Bearer {os.environ['STEMEDB_HTTP_TOKEN']}")
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, r.read().decode()

    def ready(self):
        try:
            return self.get("/ready")[0] == 200
        except Exception:
            return False


class Run:
    def __init__(self, nodes, seconds):
        self.nodes, self.seconds = nodes, seconds
        self.tag = f"pilot-{uuid.uuid4().hex[:8]}"
        self.start = time.monotonic()
        self.stop = False
        self.write_lat, self.read_lat = [], []
        self.acked, self.errors = set(), []
        self.subjects = [f"{self.tag}-s{i}" for i in range(1000)]
        self.lags, self.all_up = [], True
        self.connected = 0

    def elapsed(self):
        return time.monotonic() - self.start


async def client(run, index, kind, rate, go):
    """One paced client: `rate` operations per second on its schedule,
    which starts when every client has connected (`go`)."""
    at = index
    node = run.nodes[at % len(run.nodes)]
    conn = await psycopg.AsyncConnection.connect(node.conninfo(), autocommit=True)
    run.connected += 1
    await go.wait()
    k = 0
    period = 1.0 / rate
    due = run.start + random.random() * period
    rng = random.Random(index)
    while not run.stop:
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        if run.stop:
            break
        if conn is None:
            node = run.nodes[at % len(run.nodes)]
            try:
                conn = await psycopg.AsyncConnection.connect(node.conninfo(), autocommit=True)
            except psycopg.Error:
                at += 1
                await asyncio.sleep(0.2)
                due = time.monotonic()
                continue
        try:
            if kind == "write":
                subject = rng.choice(run.subjects)
                claim = f"{run.tag}-{index}-{k}"
                k += 1
                await conn.execute(
                    "INSERT INTO assertions (subject, predicate, object, source, tier) "
                    "VALUES (%s, 'signal', %s, %s, %s)",
                    (subject, claim, run.tag, rng.randrange(4)))
                run.acked.add(claim)
                run.write_lat.append((due, time.monotonic() - due))
            else:
                cur = await conn.execute(
                    "SELECT object, source FROM authority WHERE subject = %s AND predicate = 'signal'",
                    (rng.choice(run.subjects),))
                await cur.fetchall()
                run.read_lat.append((due, time.monotonic() - due))
        except psycopg.Error as e:
            run.errors.append((kind, e.sqlstate, str(e).strip().splitlines()[0]))
            if conn.closed or conn.broken or e.sqlstate in ("57P01", None):
                await conn.close()
                conn = None
                at += 1
        due += period
        # A client far behind (its node died) starts afresh, not in a burst.
        if time.monotonic() - due > 2:
            due = time.monotonic()
    if conn is not None:
        await conn.close()


async def watch_lag(run):
    while not run.stop:
        up = all(n.ready() for n in run.nodes)
        if up:
            for node in run.nodes:
                try:
                    text = node.get("/metrics")[1]
                except Exception:
                    continue
                for line in text.splitlines():
                    if line.startswith("stemedb_replication_lag_seconds{"):
                        run.lags.append(float(line.rsplit(" ", 1)[1]))
        await asyncio.sleep(1)


async def progress(run):
    last = (0, 0)
    while not run.stop:
        await asyncio.sleep(5)
        w, r = len(run.write_lat), len(run.read_lat)
        log(f"{run.elapsed():5.0f} s: {(w - last[0]) / 5:6.0f} writes/s, "
            f"{(r - last[1]) / 5:6.0f} queries/s, {len(run.errors)} errors")
        last = (w, r)


async def kill_and_restart(run, args, result):
    await asyncio.sleep(run.seconds / 3)
    node = run.nodes[args.kill - 1]
    log(f"killing node{node.n}: {args.kill_cmd.format(n=node.n)}")
    result["killed"] = time.monotonic()
    subprocess.run(args.kill_cmd.format(n=node.n), shell=True, cwd=ROOT, check=True)
    await asyncio.sleep(args.down)
    log(f"starting node{node.n}: {args.start_cmd.format(n=node.n)}")
    started = time.monotonic()
    proc = await asyncio.create_subprocess_shell(args.start_cmd.format(n=node.n), cwd=ROOT)
    while not node.ready():
        if time.monotonic() - started > 120:
            result["rto"] = None
            return
        await asyncio.sleep(0.1)
    result["rto"] = time.monotonic() - started
    result["back"] = time.monotonic()
    log(f"node{node.n} ready again after {result['rto']:.1f} s")
    await proc.wait()


def split(samples, result):
    """Latencies outside the failure window (kill to 5 s after the node is
    back) and inside it."""
    start = result.get("killed", float("inf"))
    end = result.get("back", float("inf")) + 5
    steady = [lat for due, lat in samples if not start <= due <= end]
    failure = [lat for due, lat in samples if start <= due <= end]
    return steady, failure


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default=LOCAL)
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("PILOT_SECONDS", "60")))
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--kill", type=int, default=2)
    ap.add_argument("--down", type=float, default=5)
    ap.add_argument("--kill-cmd", default=LOCAL_KILL)
    ap.add_argument("--start-cmd", default=LOCAL_START)
    args = ap.parse_args()
    nodes = [Node(spec, i + 1) for i, spec in enumerate(args.nodes.split(","))]
    for node in nodes:
        if not node.ready():
            raise SystemExit(f"node{node.n} ({node.host}:{node.http}) is not ready: "
                             "start the cluster (make cluster) or give --nodes")
    run = Run(nodes, args.seconds)
    log(f"pilot run {run.tag}: {args.writes} writes/s + {args.reads} queries/s for "
        f"{args.seconds} s over {len(nodes)} nodes; node{args.kill} killed at "
        f"{args.seconds / 3:.0f} s for {args.down} s")
    # Some claims first, so the queries find subjects.
    async with await psycopg.AsyncConnection.connect(nodes[0].conninfo(), autocommit=True) as c:
        for s in run.subjects:
            await c.execute("INSERT INTO assertions (subject, predicate, object, source) "
                            "VALUES (%s, 'signal', 'seed', %s)", (s, run.tag))
    result = {}
    half = CLIENTS // 2
    go = asyncio.Event()
    tasks = [asyncio.create_task(client(run, i, "write", args.writes / half, go))
             for i in range(half)]
    tasks += [asyncio.create_task(client(run, i + half, "read", args.reads / half, go))
              for i in range(half)]
    while run.connected < CLIENTS:
        await asyncio.sleep(0.05)
    run.start = time.monotonic()
    go.set()
    helpers = [asyncio.create_task(watch_lag(run)), asyncio.create_task(progress(run)),
               asyncio.create_task(kill_and_restart(run, args, result))]
    await asyncio.sleep(args.seconds)
    run.stop = True
    await asyncio.gather(*tasks)
    for h in helpers[:2]:
        h.cancel()
    await helpers[2]
    duration = run.elapsed()

    # Every acknowledged write, on the cluster once it has settled.
    log("checking every acknowledged write (the cluster settles first)")
    present = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            async with await psycopg.AsyncConnection.connect(nodes[0].conninfo()) as c:
                cur = await c.execute("SELECT object FROM assertions WHERE source = %s", (run.tag,))
                present = {row[0] for row in await cur.fetchall()}
        except psycopg.Error:
            present = set()
        if run.acked <= present:
            break
        await asyncio.sleep(2)
    lost = len(run.acked - present)

    writes_s = len(run.write_lat) / duration
    reads_s = len(run.read_lat) / duration
    writes, writes_failing = split(run.write_lat, result)
    reads, reads_failing = split(run.read_lat, result)
    rows = [
        ("assertions/s sustained", f">= {args.writes}", f"{writes_s:.0f}", writes_s >= 0.97 * args.writes),
        ("write p99 (all nodes up)", "< 200 ms", f"{pct(writes, 0.99) * 1000:.0f} ms", pct(writes, 0.99) < 0.2),
        ("lens queries/s sustained", f">= {args.reads}", f"{reads_s:.0f}", reads_s >= 0.97 * args.reads),
        ("query p99 (all nodes up)", "< 150 ms", f"{pct(reads, 0.99) * 1000:.0f} ms", pct(reads, 0.99) < 0.15),
        ("replication lag (max, all up)", "< 1 s", f"{max(run.lags, default=0):.2f} s", max(run.lags, default=0) < 1),
        ("acknowledged writes lost (kill -9)", "0", f"{lost} of {len(run.acked)}", lost == 0),
        (f"RTO of node{args.kill} (start to READY)", "< 60 s",
         "never" if result.get("rto") is None else f"{result['rto']:.1f} s",
         result.get("rto") is not None and result["rto"] < 60),
    ]
    errors = {}
    for kind, state, _ in run.errors:
        errors[(kind, state)] = errors.get((kind, state), 0) + 1
    print(f"\nStemeDB pilot criteria — {duration:.0f} s, {len(nodes)} nodes, run {run.tag}\n")
    print(f"| {'criterion':40} | {'target':10} | {'measured':18} | result |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 20}|--------|")
    for name, target, measured, ok in rows:
        print(f"| {name:40} | {target:10} | {measured:18} | {'PASS' if ok else 'FAIL':6} |")
    print(f"\nclient errors (retried on the next node): "
          f"{', '.join(f'{k} {s}: {n}' for (k, s), n in sorted(errors.items(), key=str)) or 'none'}")
    print(f"all nodes up: write p50 {pct(writes, 0.5) * 1000:.1f} ms, query p50 "
          f"{pct(reads, 0.5) * 1000:.1f} ms")
    print(f"from the kill to 5 s after the node was back: write p99 "
          f"{pct(writes_failing, 0.99) * 1000:.0f} ms, query p99 "
          f"{pct(reads_failing, 0.99) * 1000:.0f} ms "
          f"({len(writes_failing) + len(reads_failing)} operations)")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
