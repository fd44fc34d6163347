"""A client that ignores its rate limit: CONNECTIONS threads send `SELECT 1`
as fast as each answer comes back, for SECONDS, and count how many ran and
how many were refused with 53400. Prints "ok limited".
Usage: python3 hammer.py CONNINFO SECONDS [CONNECTIONS]"""
import sys
import threading
import time

import psycopg

conninfo, seconds = sys.argv[1], float(sys.argv[2])
connections = int(sys.argv[3]) if len(sys.argv) > 3 else 8
counts = {"ok": 0, "limited": 0}
lock = threading.Lock()


def hammer():
    ok = limited = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                conn.execute("SELECT 1").fetchall()
                ok += 1
            except psycopg.errors.ConfigurationLimitExceeded:
                limited += 1
    with lock:
        counts["ok"] += ok
        counts["limited"] += limited


threads = [threading.Thread(target=hammer) for _ in range(connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(counts["ok"], counts["limited"])
