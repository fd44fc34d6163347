"""One batch lookup of 1 000 subjects through `subject = ANY(%s)` against
the same 1 000 lookups as separate prepared point queries, on one
connection (psycopg, server-side prepared statements). Prints the two
times in milliseconds (best of seven: the machine is shared and one
batch takes a few milliseconds, so a single scheduling hiccup would
otherwise decide it) after checking both return the same
rows. Usage: python3 batch_lookup.py CONNINFO SUBJECTS"""
import random
import sys
import time

import psycopg

conninfo, subjects = sys.argv[1], int(sys.argv[2])
wanted = [str(s) for s in random.Random(7).sample(range(subjects), min(1000, subjects))]
point = "SELECT subject, object, source, tier FROM recency WHERE subject = %s"
batch = "SELECT subject, object, source, tier FROM recency WHERE subject = ANY(%s)"


def best(run):
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000, sorted(rows)


with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
    cur = conn.cursor()

    def separate():
        rows = []
        for s in wanted:
            cur.execute(point, (s,), prepare=True)
            rows.extend(cur.fetchall())
        return rows

    def together():
        cur.execute(batch, (wanted,), prepare=True)
        return cur.fetchall()

    separate_ms, separate_rows = best(separate)
    batch_ms, batch_rows = best(together)
    assert separate_rows == batch_rows and separate_rows, (len(separate_rows), len(batch_rows))
    print(f"{separate_ms:.1f} {batch_ms:.1f}")
