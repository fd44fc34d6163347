"""psycopg 3 against StemeDB: client- and server-side binding, binary
cursors, transactions, COPY. Asserts values and types. Usage:
python3 psycopg_client.py PORT"""
import datetime
import sys

import psycopg

port = int(sys.argv[1])
conn = psycopg.connect(f"host=127.0.0.1 port={port} user=stemedb dbname=stemedb", autocommit=True)

with conn.cursor() as cur:
    # Server-side binding (psycopg 3's default): extended protocol.
    cur.execute(
        "INSERT INTO assertions (subject, predicate, object, source, tier, confidence, observed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        ("drug:x", "causes", "rash", "fda", 0, 0.9, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)),
    )
    cur.executemany(
        "INSERT INTO assertions (subject, predicate, object, source, tier) VALUES (%s, %s, %s, %s, %s)",
        [("drug:x", "causes", "none", "forum", 4), ("drug:y", "dose", "10", "label", 1)],
    )
    cur.execute("SELECT object, tier, confidence, contested, claims, observed_at FROM authority WHERE subject = %s", ("drug:x",))
    obj, tier, conf, contested, claims, observed = cur.fetchone()
    assert (obj, tier, conf, contested, claims) == ("rash", 0, 0.9, True, 2), (obj, tier, conf, contested, claims)
    assert isinstance(tier, int) and isinstance(conf, float) and isinstance(contested, bool)
    assert observed == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), observed

# Client-side binding.
with psycopg.ClientCursor(conn) as cur:
    cur.execute("SELECT count(*) FROM assertions WHERE subject = %s", ("drug:x",))
    assert cur.fetchone()[0] == 2

# Binary results.
with conn.cursor(binary=True) as cur:
    cur.execute("SELECT tier, confidence, retracted FROM assertions WHERE subject = 'drug:y'")
    assert cur.fetchone() == (1, 1.0, False)

# Type fidelity in text and binary: arrays, NUMERIC, int4 literals, and
# result column names as PostgreSQL gives them (dict rows key on them).
from decimal import Decimal
from psycopg.rows import dict_row
for binary in (False, True):
    with conn.cursor(binary=binary) as cur:
        cur.execute(
            "SELECT 1, make_array(1, 2), make_array('a b', NULL), make_array(true, false), "
            "1.5::numeric(10, 2), count(*), tier::text FROM assertions WHERE subject = 'drug:y' GROUP BY tier"
        )
        row = cur.fetchone()
        assert row == (1, [1, 2], ["a b", None], [True, False], Decimal("1.50"), 1, "1"), (binary, row)
        names = [d.name for d in cur.description]
        assert names == ["?column?", "make_array", "make_array", "make_array", "numeric", "count", "tier"], names
        types = [d.type_code for d in cur.description]
        assert types == [23, 1016, 1009, 1000, 1700, 20, 25], (binary, types)
    with conn.cursor(binary=binary, row_factory=dict_row) as cur:
        cur.execute("SELECT count(*), max(tier), subject FROM assertions WHERE subject = 'drug:x' GROUP BY subject")
        assert cur.fetchone() == {"count": 2, "max": 4, "subject": "drug:x"}, binary

# Transactions: rollback discards, commit keeps.
conn.autocommit = False
with conn.cursor() as cur:
    cur.execute("INSERT INTO assertions (subject, predicate, object, source) VALUES ('t', 'p', 'o', 's')")
conn.rollback()
with conn.cursor() as cur:
    cur.execute("INSERT INTO assertions (subject, predicate, object, source) VALUES ('t2', 'p', 'o', 's')")
conn.commit()
with conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM assertions WHERE subject IN ('t', 't2')")
    assert cur.fetchone()[0] == 1
conn.commit()
conn.autocommit = True

# Errors carry SQLSTATEs and leave the connection usable.
try:
    conn.execute("UPDATE assertions SET object = 'x'")
    raise AssertionError("UPDATE should fail")
except psycopg.errors.FeatureNotSupported as e:
    assert e.sqlstate == "0A000"
try:
    conn.execute("INSERT INTO assertions (subject, predicate, object, source, tier) VALUES ('a', 'b', 'c', 'd', 9)")
    raise AssertionError("tier 9 should fail")
except psycopg.errors.CheckViolation as e:
    assert e.sqlstate == "23514"

# COPY FROM and TO.
with conn.cursor() as cur:
    with cur.copy("COPY assertions (subject, predicate, object, source) FROM STDIN") as copy:
        copy.write_row(("c1", "p", "o1", "s"))
        copy.write_row(("c2", "p", "o2", "s"))
    rows = []
    with cur.copy("COPY (SELECT subject FROM assertions WHERE subject LIKE 'c%' ORDER BY subject) TO STDOUT") as copy:
        for row in copy.rows():
            rows.append(row[0])
    assert rows == ["c1", "c2"], rows

print("psycopg: ok")
