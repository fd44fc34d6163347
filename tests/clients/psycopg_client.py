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

# Array parameters: `= ANY(list)` over 1 000 subjects returns exactly the
# rows of the equivalent IN list; arrays round-trip in text and binary;
# a malformed array literal is 22P02, never a one-element array.
with conn.cursor() as cur:
    cur.execute(
        "INSERT INTO assertions (subject, predicate, object, source) "
        "SELECT 'arr' || x, 'p', 'o' || x, 's' FROM generate_series(1, 1200) AS t(x)"
    )
    subjects = [f"arr{i}" for i in range(1, 1001)] + ["arr-missing"]
    cur.execute("SELECT subject, object FROM recency WHERE subject = ANY(%s) ORDER BY subject", (subjects,))
    by_any = cur.fetchall()
    in_list = ", ".join(f"'{s}'" for s in subjects)
    cur.execute(f"SELECT subject, object FROM recency WHERE subject IN ({in_list}) ORDER BY subject")
    assert by_any == cur.fetchall() and len(by_any) == 1000, len(by_any)
    cur.execute("SELECT count(*) FROM assertions WHERE tier = ANY(%s)", ([4, 5],))
    assert cur.fetchone()[0] >= 1200
for binary in (False, True):
    with conn.cursor(binary=binary) as cur:
        values = ["a", "b c", None, "", "NULL", 'q"uote', "{brace}"]
        cur.execute("SELECT %s::text[]", (values,))
        assert cur.fetchone()[0] == values, (binary, values)
        cur.execute("SELECT %s::int8[]", ([1, None, -3],))
        assert cur.fetchone()[0] == [1, None, -3]
with conn.cursor() as cur:
    for bad in ("{a,b", "a,b", "{{1},{2}}"):
        try:
            cur.execute("SELECT %s::text[]", (bad,))
            raise AssertionError(f"{bad!r} was accepted")
        except psycopg.errors.InvalidTextRepresentation as e:
            assert e.sqlstate == "22P02"
    cur.execute("SELECT 1")

# Session views and statements consoles and poolers send.
with conn.cursor() as cur:
    cur.execute("SELECT pid, usename, client_addr, state, query FROM pg_stat_activity WHERE pid = pg_backend_pid()")
    pid, user, addr, state, query = cur.fetchone()
    assert (user, addr, state) == ("stemedb", "127.0.0.1", "active"), (user, addr, state)
    assert "pg_stat_activity" in query, query
    cur.execute("SHOW ALL")
    settings = dict((name, value) for name, value, _ in cur.fetchall())
    assert settings["stemedb.lens"] == "recency" and "server_version" in settings, settings
    cur.execute("PREPARE lookup(text) AS SELECT object FROM recency WHERE subject = $1")
    cur.execute("EXECUTE lookup('arr7')")
    assert cur.fetchall() == [("o7",)]
    cur.execute("DEALLOCATE lookup")

print("psycopg: ok")
