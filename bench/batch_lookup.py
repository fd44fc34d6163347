"""One batch lookup of 1 000 subjects through `subject = ANY(%s)` against
the same 1 000 lookups as separate prepared point queries, on one
connection (psycopg, server-side prepared statements). Prints the two
times in milliseconds after checking both return the same rows. The two
are measured in turns, seven times, and each keeps its best: the machine
is shared, a batch takes a few milliseconds, and slow spells last longer
than that, so turns give both the same conditions.
Usage: python3 batch_lookup.py CONNINFO SUBJECTS"""
import random
import sys
import time

import psycopg

point = "SELECT subject, object, source, tier FROM recency WHERE subject = %s"
batch = "SELECT subject, object, source, tier FROM recency WHERE subject = ANY(%s)"


def wanted_subjects(subjects):
    """The 1 000 subjects looked up (the same in every run)."""
    return [str(s) for s in random.Random(7).sample(range(subjects), min(1000, subjects))]


def timed(run):
    t0 = time.perf_counter()
    rows = run()
    return (time.perf_counter() - t0) * 1000, sorted(rows)


def main(conninfo, wanted):
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

        turns = [(timed(separate), timed(together)) for _ in range(7)]
        separate_ms, separate_rows = min(s for s, _ in turns)
        batch_ms, batch_rows = min(b for _, b in turns)
        assert separate_rows == batch_rows and separate_rows, (len(separate_rows), len(batch_rows))
        print(f"{separate_ms:.1f} {batch_ms:.1f}")


if __name__ == "__main__":
    main(sys.argv[1], wanted_subjects(int(sys.argv[2])))
