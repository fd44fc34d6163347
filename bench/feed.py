"""The change feed against PostgreSQL's keyset pagination, in one run: a
consumer pages through every claim, 500 at a time, resuming after the
last key it saw — on StemeDB `stemedb.changes WHERE change_id > $1 ORDER
BY change_id LIMIT 500`, on PostgreSQL the same read of its `assertions`
table by its primary key. Both already hold the same claims (bench/run.sh
loads them). Prints rows/s for each and StemeDB's ratio, for the spellings
a consumer writes: a parameter, a literal, `>=` on the next key.
Usage: python3 bench/feed.py PG_DSN STEMEDB_DSN"""
import sys
import time

import psycopg

PG = "SELECT id, subject, predicate, object, source FROM assertions WHERE id > %s ORDER BY id LIMIT 500"
FEED = ("SELECT change_id, subject, predicate, object, source FROM stemedb.changes "
        "WHERE change_id {} ORDER BY change_id LIMIT 500")


def drain(dsn, page_after, first):
    """Pages through everything with `page_after(conn, last)`; returns
    (rows, seconds)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        last, rows, t0 = first, 0, time.perf_counter()
        while True:
            page = page_after(conn, last)
            if not page:
                return rows, time.perf_counter() - t0
            rows += len(page)
            last = page[-1][0]
            if rows % 100_000 < 500:
                print(f"   … {rows} rows", file=sys.stderr, flush=True)


def main(pg, st):
    runs = [
        ("postgres: id > $1", pg, 0,
         lambda c, last: c.execute(PG, (last,), prepare=True).fetchall()),
        ("stemedb: change_id > $1", st, "",
         lambda c, last: c.execute(FEED.format("> %s"), (last,), prepare=True).fetchall()),
        ("stemedb: change_id > 'literal'", st, "",
         lambda c, last: c.execute(FEED.format(f"> '{last}'")).fetchall()),
        # The next key: every id is hex, so appending a character sorts
        # right after it.
        ("stemedb: change_id >= $1 || '0'", st, "",
         lambda c, last: c.execute(FEED.format(">= %s"), (last + "0" if last else "",),
                                   prepare=True).fetchall()),
    ]
    rates = {}
    for name, dsn, first, page_after in runs:
        print(f"== {name}", file=sys.stderr, flush=True)
        rows, secs = drain(dsn, page_after, first)
        rates[name] = rows / secs
        print(f"== {name}: {rows} rows in {secs:.2f} s", file=sys.stderr, flush=True)
    base = rates["postgres: id > $1"]
    print(f"{'feed read (pages of 500)':34} {'rows/s':>10} {'vs PostgreSQL':>14}")
    for name, rate in rates.items():
        print(f"{name:34} {rate:10.0f} {rate / base:14.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
