#!/usr/bin/env python3
"""The anti-entropy benchmarks of issue 12, on three local nodes:

1. a node wiped and restarted empty: how long `SELECT stemedb_sync()` on it
   takes to bring back its share (about 100 000 claims of 150 000), and
   that the stored count is whole again afterwards;
2. an in-sync check between nodes holding 1 000 000 claims each (1 500 000
   claims in all): the bytes the comparison exchanges.

Usage: bench/anti_entropy.py [--binary PATH] [--claims N] [--big N]
"""
import argparse
import os
import shutil
import signal
import tempfile
import time
import urllib.request

import psycopg

from cluster import PORTS, TARGET, conninfo, log, node_env, start, stop, wait_ready


def gauge(ip, name):
    with urllib.request.urlopen(f"http://{ip}:{PORTS['http']}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise SystemExit(f"no {name} on {ip}")


def stored():
    return sum(gauge(f"127.0.0.{n}", "stemedb_assertions_stored") for n in (1, 2, 3))


def load(conn, first, count):
    """COPYs claims first..first+count through `conn`, printing progress."""
    step = 100_000
    with psycopg.connect(conn, autocommit=True) as c:
        for at in range(first, first + count, step):
            n = min(step, first + count - at)
            with c.cursor().copy("COPY assertions (subject, predicate, object, source, tier, "
                                 "confidence) FROM STDIN") as copy:
                for i in range(at, at + n):
                    copy.write_row((f"s{i}", f"p{i % 5}", f"o{i % 7}", "bench", i % 4, 0.5))
            log(f"  loaded {at + n - first} of {count}")


def wait_stored(want, limit=120):
    deadline = time.time() + limit
    while stored() != want:
        if time.time() > deadline:
            raise SystemExit(f"stored {stored()}, want {want}, after {limit} s")
        time.sleep(0.2)


def sync(conn):
    with psycopg.connect(conn, autocommit=True) as c:
        return c.execute("SELECT stemedb_sync()").fetchone()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(TARGET, "release", "stemedb"))
    ap.add_argument("--claims", type=int, default=150_000)
    ap.add_argument("--big", type=int, default=1_500_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="stemedb-ae-bench-")
    procs = {}
    # Exchanges on demand only, so the measurement is of one exchange.
    env = lambda n: dict(node_env(n), STEMEDB_REPLICATION__SYNC_INTERVAL="1h")
    boot = lambda n: start(args.binary, f"{work}/node{n}", f"127.0.0.{n}",
                           PORTS["sql"], PORTS["http"], env(n))
    try:
        for n in (1, 2, 3):
            procs[n] = boot(n)
        for n in (1, 2, 3):
            wait_ready(f"127.0.0.{n}", PORTS["http"])
        nodes = [conninfo(f"127.0.0.{n}", PORTS["sql"]) for n in (1, 2, 3)]

        log(f"1. {args.claims} claims, then node3 wiped and restarted empty")
        load(nodes[0], 0, args.claims)
        wait_stored(2 * args.claims)
        share = gauge("127.0.0.3", "stemedb_assertions_stored")
        procs[3].send_signal(signal.SIGTERM)
        procs[3].wait(timeout=30)
        shutil.rmtree(f"{work}/node3")
        procs[3] = boot(3)
        wait_ready("127.0.0.3", PORTS["http"])
        t0 = time.perf_counter()
        report = ""
        while "repaired" not in report or "failed" in report:
            report = sync(nodes[2])
            if "failed" in report:  # membership or trees not ready yet
                time.sleep(0.05)
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"no repair in 60 s: {report}")
        took = time.perf_counter() - t0
        wait_stored(2 * args.claims, limit=10)
        log(f"node3's {share:.0f} claims back in {took:.2f} s: {report!r}")
        again = sync(nodes[2])
        assert all("in sync" in l for l in again.splitlines()), again

        log(f"2. in-sync check at {args.big} claims ({2 * args.big // 3} per node)")
        load(nodes[0], args.claims, args.big - args.claims)
        wait_stored(2 * args.big, limit=300)
        check = sync(nodes[0])
        assert all("in sync" in l for l in check.splitlines()), check
        compared = [int(l.split("(")[1].split()[0]) for l in check.splitlines()]
        log(f"in-sync check: {check!r}")

        print()
        print("| anti-entropy benchmark | measured | target |")
        print("|---|---|---|")
        print(f"| wiped node: {share:.0f} claims repaired by one exchange | {took:.2f} s "
              f"| <= 5 s for 100 000 |")
        print(f"| in-sync check, {2 * args.big // 3} claims per node | "
              f"{max(compared)} bytes per peer | < 1 KiB |")
    finally:
        stop(list(procs.values()), work)


if __name__ == "__main__":
    main()
