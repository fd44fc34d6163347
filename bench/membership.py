#!/usr/bin/env python3
"""The membership benchmarks of issue 12, on local nodes (release build):

1. the seed's migration: one node with N claims (default 100 000) restarts
   with a cluster config next to two empty nodes; how long until every
   claim is on exactly two nodes (stored sum = 2 x count), and every node
   answers the same counts as the single node did;
2. a fourth node added to that cluster (`stemedb_add_member`), then the
   first node removed (`stemedb_remove_member`): each change's time and
   report, with the stored sum and the answers checked after each.

Usage: bench/membership.py [--binary PATH] [--claims N]
"""
import argparse
import json
import os
import signal
import tempfile
import time
import urllib.request

import psycopg

from anti_entropy import gauge, load
from cluster import PORTS, TARGET, conninfo, log, node_env, start, stop, wait_ready

COUNTS = ("SELECT (SELECT count(*) FROM assertions), (SELECT count(*) FROM recency), "
          "(SELECT count(*) FROM conflicts)")


def stored(ips):
    return sum(gauge(ip, "stemedb_assertions_stored") for ip in ips)


def query(ip, sql):
    with psycopg.connect(conninfo(ip, PORTS["sql"]), autocommit=True) as c:
        return c.execute(sql).fetchone()


def settle(ips, want, counts, limit=300):
    """Waits until the nodes hold 2 x `want` claims and each answers
    `counts`; the seconds it took."""
    t0 = time.perf_counter()
    while stored(ips) != 2 * want:
        if time.perf_counter() - t0 > limit:
            raise SystemExit(f"stored {stored(ips)}, want {2 * want}, after {limit} s")
        time.sleep(0.1)
    took = time.perf_counter() - t0
    for ip in ips:
        got = query(ip, COUNTS)
        assert got == counts, f"{ip} answers {got}, the single node {counts}"
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(TARGET, "release", "stemedb"))
    ap.add_argument("--claims", type=int, default=100_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="stemedb-members-bench-")
    procs = {}
    env = lambda n, node_id: dict(node_env(n), STEMEDB_REPLICATION__SYNC_INTERVAL="1s",
                                  STEMEDB_CLUSTER__NODE_ID=node_id)
    boot = lambda n, e: start(args.binary, f"{work}/node{n}", f"127.0.0.{n}",
                              PORTS["sql"], PORTS["http"], e)
    try:
        log(f"1. migration: a single node with {args.claims} claims becomes three nodes")
        procs[1] = boot(1, {})
        wait_ready("127.0.0.1", PORTS["http"])
        load(conninfo("127.0.0.1", PORTS["sql"]), 0, args.claims)
        counts = query("127.0.0.1", COUNTS)
        with urllib.request.urlopen(f"http://127.0.0.1:{PORTS['http']}/health") as r:
            first = json.loads(r.read())["node"]
        procs[1].send_signal(signal.SIGTERM)
        procs[1].wait(timeout=30)
        ids = {1: first, 2: "node2", 3: "node3", 4: "node4"}
        for n in (1, 2, 3):
            procs[n] = boot(n, env(n, ids[n]))
        for n in (1, 2, 3):
            wait_ready(f"127.0.0.{n}", PORTS["http"])
        three = [f"127.0.0.{n}" for n in (1, 2, 3)]
        migrated = settle(three, args.claims, counts)
        log(f"migrated in {migrated:.2f} s after /ready")

        log("2. node4 added, then the first node removed")
        procs[4] = boot(4, env(4, ids[4]))
        wait_ready("127.0.0.4", PORTS["http"])
        t0 = time.perf_counter()
        added = query("127.0.0.2", "SELECT stemedb_add_member('node4')")[0]
        add_took = time.perf_counter() - t0
        four = three + ["127.0.0.4"]
        settle(four, args.claims, counts, limit=10)
        log(f"{added} in {add_took:.2f} s")
        t0 = time.perf_counter()
        removed = query("127.0.0.2", f"SELECT stemedb_remove_member('{first}')")[0]
        remove_took = time.perf_counter() - t0
        assert gauge("127.0.0.1", "stemedb_assertions_stored") == 0
        settle(four[1:], args.claims, counts, limit=10)
        log(f"{removed} in {remove_took:.2f} s")

        print()
        print("| membership benchmark | measured | what moved |")
        print("|---|---|---|")
        print(f"| migration of {args.claims} claims, /ready to every claim on two nodes, "
              f"answers checked | {migrated:.2f} s | |")
        print(f"| `stemedb_add_member('node4')` | {add_took:.2f} s | {added} |")
        print(f"| `stemedb_remove_member` of the first node | {remove_took:.2f} s | {removed} |")
    finally:
        stop(list(procs.values()), work)


if __name__ == "__main__":
    main()
