"""Point lookups spelled as drivers send them, one connection, for SECONDS
each: psycopg's `%s` with its defaults (bound on the server, prepared after
five executions), psycopg never preparing (`prepare_threshold=None`, what
pgbouncer's transaction mode needs: an unnamed statement every time), and
psycopg2-style client-side interpolation (`ClientCursor`: the simple
protocol with the value as a literal). Prints lookups per second for each,
in that order. Usage: python3 drivers.py CONNINFO SUBJECTS SECONDS"""
import random
import sys
import time

import psycopg

conninfo, subjects, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
SQL = "SELECT object, source, tier FROM recency WHERE subject = %s"


def rate(conn, cursor_factory=None):
    rng = random.Random(11)
    cur = conn.cursor() if cursor_factory is None else cursor_factory(conn)
    done, rows = 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            cur.execute(SQL, (str(rng.randrange(subjects)),))
            rows += len(cur.fetchall())
        done += 100
    assert rows > 0, "no lookup found a row"
    return done / seconds


out = []
with psycopg.connect(conninfo, autocommit=True) as conn:
    out.append(rate(conn))
with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
    out.append(rate(conn))
with psycopg.connect(conninfo, autocommit=True) as conn:
    out.append(rate(conn, psycopg.ClientCursor))
print(" ".join(f"{r:.0f}" for r in out))
