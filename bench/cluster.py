#!/usr/bin/env python3
"""The cluster benchmarks of issue 11, on this machine, in one run:

1. single-row INSERT, 16 clients: spread over three nodes vs all on one
   single node (pgbench -M prepared; the three nodes share the 2 cores);
   and the machine's ceiling for a cluster that stores every claim twice:
   three unclustered single nodes, each taking 16 clients of its own at
   once (three times the cluster's clients, no replication, no network
   between nodes) — half their summed tps is the most claims per second
   two copies each can reach on these cores;
2. point lens query p99: through a node that does not own the subject vs
   one that does (psycopg, prepared, one client, interleaved);
3. replication visibility under 2 000 writes/s of background load: from
   the acknowledgement of a write on node1 to its visibility on node2 and
   node3 (each polled with a point query), p50/p99.

Usage: bench/cluster.py [--binary PATH] [--seconds N]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/stemedb-target"))
SQL = os.path.join(HERE, "..", "sql", "bench")
PORTS = dict(sql=18380, http=18381, rpc=18382, swim=18383)
SINGLE = dict(sql=18390, http=18391)


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def start(binary, data, ip, sql, http, env):
    full = dict(os.environ, **env)
    out = open(os.path.join(data + ".log"), "w")
    p = subprocess.Popen(
        [binary, "serve", "--data-dir", data, "--listen", f"{ip}:{sql}",
         "--http-listen", f"{ip}:{http}"],
        env=full, stdout=out, stderr=subprocess.STDOUT)
    return p


def wait_ready(ip, http, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{ip}:{http}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{ip}:{http} not ready after {limit} s")


def node_env(n):
    seeds = ",".join(f'"127.0.0.{i}:{PORTS["swim"]}"' for i in (1, 2, 3))
    return {
        "STEMEDB_CLUSTER__ENABLED": "true",
        "STEMEDB_CLUSTER__NODE_ID": f"node{n}",
        "STEMEDB_CLUSTER__RPC_ADDR": f"127.0.0.{n}:{PORTS['rpc']}",
        "STEMEDB_CLUSTER__SWIM_ADDR": f"127.0.0.{n}:{PORTS['swim']}",
        "STEMEDB_CLUSTER__SEEDS": f"[{seeds}]",
    }


def stop(procs, work):
    """SIGTERM to every node, a kill after 20 s, then the work dir goes."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if work:
        shutil.rmtree(work, ignore_errors=True)


def conninfo(ip, port):
    return f"host={ip} port={port} user=stemedb dbname=stemedb"


def pgbench(conns, clients, seconds, script, extra=()):
    """Runs one pgbench per connection string at once; summed tps."""
    procs = []
    share = [clients // len(conns) + (1 if i < clients % len(conns) else 0)
             for i in range(len(conns))]
    for conn, c in zip(conns, share):
        procs.append(subprocess.Popen(
            ["pgbench", "-n", "-M", "prepared", "-c", str(c), "-j", "1",
             "-T", str(seconds), "-f", script, *extra, conn],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    tps = 0.0
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"pgbench failed: {err}")
        for line in out.splitlines():
            if line.startswith("tps"):
                tps += float(line.split()[2])
                break
    return tps


def rf2_ceiling(binary, work, single, seconds, script):
    """Half the summed INSERT tps of three unclustered single nodes (the
    running one and two more) taking 16 clients each at once."""
    extra = [start(binary, f"{work}/ceiling{n}", f"127.0.0.{n}", SINGLE["sql"],
                   SINGLE["http"], {}) for n in (2, 3)]
    try:
        for n in (2, 3):
            wait_ready(f"127.0.0.{n}", SINGLE["http"])
        conns = [single] + [conninfo(f"127.0.0.{n}", SINGLE["sql"]) for n in (2, 3)]
        return pgbench(conns, 48, seconds, script) / 2
    finally:
        stop(extra, None)


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(TARGET, "release", "stemedb"))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("DURATION", "15")))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="stemedb-cluster-bench-")
    procs = []
    try:
        log(f"starting three nodes and a single node ({args.binary})")
        for n in (1, 2, 3):
            procs.append(start(args.binary, f"{work}/node{n}", f"127.0.0.{n}",
                               PORTS["sql"], PORTS["http"], node_env(n)))
        procs.append(start(args.binary, f"{work}/single", "127.0.0.1",
                           SINGLE["sql"], SINGLE["http"], {}))
        for n in (1, 2, 3):
            wait_ready(f"127.0.0.{n}", PORTS["http"])
        wait_ready("127.0.0.1", SINGLE["http"])
        nodes = [conninfo(f"127.0.0.{n}", PORTS["sql"]) for n in (1, 2, 3)]
        single = conninfo("127.0.0.1", SINGLE["sql"])

        log(f"1. single-row INSERT, 16 clients, {args.seconds} s each")
        insert = os.path.join(SQL, "insert.sql")
        one = pgbench([single], 16, args.seconds, insert)
        three = pgbench(nodes, 16, args.seconds, insert)
        log(f"single node {one:.0f} tps; three nodes {three:.0f} tps")
        ceiling = rf2_ceiling(args.binary, work, single, args.seconds, insert)
        log(f"three unclustered single nodes at once, stored twice: {ceiling:.0f} claims/s")

        log("2. point lens query: owner vs non-owner (node1 answers)")
        with psycopg.connect(nodes[0], autocommit=True) as c:
            with c.cursor().copy("COPY assertions (subject, predicate, object, source, tier, "
                                 "confidence) FROM STDIN") as copy:
                for s in range(4000):
                    for p in range(5):
                        copy.write_row((f"pt{s}", f"p{p}", f"o{s % 7}", "bench", s % 4, 0.5))
            owners = c.execute("SELECT subject, stemedb_owners(subject) FROM "
                               "(SELECT DISTINCT subject FROM recency WHERE subject LIKE 'pt%%') t"
                               ).fetchall()
            mine = [s for s, o in owners if "node1" in o.split(",")][:500]
            theirs = [s for s, o in owners if "node1" not in o.split(",")][:500]
            q = "SELECT object, source, tier FROM recency WHERE subject = %s"
            lat = {"owner": [], "non-owner": []}
            for _ in range(3):
                for a, b in zip(mine, theirs):
                    for kind, s in (("owner", a), ("non-owner", b)):
                        t0 = time.perf_counter()
                        rows = c.execute(q, (s,), prepare=True).fetchall()
                        lat[kind].append(time.perf_counter() - t0)
                        assert len(rows) == 5, (s, rows)
        p99 = {k: percentile(v, 0.99) * 1000 for k, v in lat.items()}
        p50 = {k: percentile(v, 0.5) * 1000 for k, v in lat.items()}
        log(f"owner p50 {p50['owner']:.2f} p99 {p99['owner']:.2f} ms; "
            f"non-owner p50 {p50['non-owner']:.2f} p99 {p99['non-owner']:.2f} ms")

        log("3. visibility on every node under 2 000 writes/s")
        load = subprocess.Popen(
            ["pgbench", "-n", "-M", "prepared", "-c", "8", "-j", "2", "-R", "2000",
             "-T", str(args.seconds + 5), "-f", insert, nodes[0]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        seen = []
        with psycopg.connect(nodes[0], autocommit=True) as w, \
                psycopg.connect(nodes[1], autocommit=True) as r2, \
                psycopg.connect(nodes[2], autocommit=True) as r3:
            q = "SELECT count(*) FROM recency WHERE subject = %s"
            deadline = time.time() + args.seconds
            i = 0
            while time.time() < deadline:
                subject = f"vis{i}"
                i += 1
                w.execute("INSERT INTO assertions (subject, predicate, object, source) "
                          "VALUES (%s, 'p', 'o', 'bench')", (subject,), prepare=True)
                acked = time.perf_counter()
                for r in (r2, r3):
                    while r.execute(q, (subject,), prepare=True).fetchone()[0] == 0:
                        if time.perf_counter() - acked > 5:
                            raise SystemExit(f"{subject} not visible after 5 s")
                seen.append(time.perf_counter() - acked)
        out, _ = load.communicate()
        rate = next((l.split()[2] for l in out.splitlines() if l.startswith("tps")), "?")
        vis50, vis99 = percentile(seen, 0.5) * 1000, percentile(seen, 0.99) * 1000
        log(f"{len(seen)} probes under {rate} writes/s: p50 {vis50:.2f} ms, p99 {vis99:.2f} ms")

        print()
        print("| cluster benchmark | baseline | cluster | ratio | target |")
        print("|---|---|---|---|---|")
        print(f"| single-row INSERT, 16 clients (tps) | {one:.0f} (one node) | {three:.0f} "
              f"(three nodes) | {three / one:.2f} | >= 0.7 |")
        print(f"| the machine's ceiling for two copies of each claim (claims/s) | {one:.0f} "
              f"(one node) | {ceiling:.0f} (three single nodes at once, halved) | "
              f"{ceiling / one:.2f} | — |")
        print(f"| point lens query p99 (ms) | {p99['owner']:.2f} (owner) | "
              f"{p99['non-owner']:.2f} (non-owner) | {p99['non-owner'] / p99['owner']:.2f} | <= 2 |")
        print(f"| ack on node1 -> visible on node2 and node3, at {rate} writes/s (ms) | — | "
              f"p50 {vis50:.2f}, p99 {vis99:.2f} | — | p99 <= 50 |")
    finally:
        stop(procs, work)


if __name__ == "__main__":
    main()
