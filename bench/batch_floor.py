"""The least time a batch lookup can take with this client, whatever the
server does: the rows `batch_lookup.py`'s batch returns, read back by the
same psycopg code from a plain PostgreSQL table holding exactly those rows
(a sequential scan of a few thousand rows, no lookup at all), plus the
time to send the 1 000-element array parameter alone. Run against
PostgreSQL; prints the two times in milliseconds (best of fifteen each).
`batch_lookup.py`'s separate time divided by their sum is the highest
batch speed-up any server could show in the same run.
Usage: python3 batch_floor.py POSTGRES_CONNINFO SUBJECTS"""
import sys
import time

import psycopg

from batch_lookup import batch, wanted_subjects

conninfo, subjects = sys.argv[1], int(sys.argv[2])
wanted = wanted_subjects(subjects)


def best(cur, sql, params):
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        cur.execute(sql, params, prepare=True)
        cur.fetchall()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE batch_floor (subject text, object text, source text, tier int2)")
    cur.execute("INSERT INTO batch_floor " + batch, (wanted,))
    rows = best(cur, "SELECT subject, object, source, tier FROM batch_floor", None)
    array = best(cur, "SELECT 1 WHERE 'x' = ANY(%s)", (wanted,))
    print(f"{rows:.2f} {array:.2f}")
