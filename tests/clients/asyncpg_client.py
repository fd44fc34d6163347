"""asyncpg against StemeDB: prepared statements (binary protocol),
transactions, type fidelity. Usage: python3 asyncpg_client.py PORT"""
import asyncio
import datetime
import sys


async def main(port):
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="stemedb", database="stemedb")
    insert = await conn.prepare(
        "INSERT INTO assertions (subject, predicate, object, source, tier, confidence, observed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    when = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    for obj, tier, conf in [("rash", 0, 0.9), ("none", 4, 0.3), ("fever", 2, 0.7)]:
        await insert.fetch("drug:x", "causes", obj, "src", tier, conf, when)
    # A prepared query reused many times.
    point = await conn.prepare("SELECT object, tier, confidence, claims, contested, observed_at FROM authority WHERE subject = $1")
    for _ in range(10):
        row = await point.fetchrow("drug:x")
    assert row["object"] == "rash" and row["tier"] == 0 and row["confidence"] == 0.9, row
    assert row["claims"] == 3 and row["contested"] is True and row["observed_at"] == when, row

    # Transactions.
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO assertions (subject, predicate, object, source) VALUES ('t', 'p', 'o', 's')")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    async with conn.transaction():
        await conn.execute("INSERT INTO assertions (subject, predicate, object, source) VALUES ('t2', 'p', 'o', 's')")
    n = await conn.fetchval("SELECT count(*) FROM assertions WHERE subject = 't' OR subject = 't2'")
    assert n == 1, n

    # Errors keep their SQLSTATE.
    try:
        await conn.execute("DELETE FROM assertions")
        raise AssertionError("DELETE should fail")
    except asyncpg.PostgresError as e:
        assert e.sqlstate == "0A000", e.sqlstate
    assert await conn.fetchval("SELECT 1") == 1
    # Array parameters (asyncpg sends them in binary): `= ANY($1)` over
    # 1 000 subjects returns exactly the rows of the equivalent IN list.
    await conn.execute(
        "INSERT INTO assertions (subject, predicate, object, source) "
        "SELECT 'arr' || x, 'p', 'o' || x, 's' FROM generate_series(1, 1200) AS t(x)"
    )
    subjects = [f"arr{i}" for i in range(1, 1001)] + ["arr-missing"]
    by_any = await conn.fetch(
        "SELECT subject, object FROM recency WHERE subject = ANY($1::text[]) ORDER BY subject", subjects
    )
    in_list = ", ".join(f"'{s}'" for s in subjects)
    by_in = await conn.fetch(f"SELECT subject, object FROM recency WHERE subject IN ({in_list}) ORDER BY subject")
    assert [tuple(r) for r in by_any] == [tuple(r) for r in by_in] and len(by_any) == 1000, len(by_any)
    untyped = await conn.fetch("SELECT subject FROM recency WHERE subject = ANY($1)", subjects[:3])
    assert sorted(r[0] for r in untyped) == subjects[:3], untyped
    values = ["a", "b c", None, "", "NULL"]
    assert await conn.fetchval("SELECT $1::text[]", values) == values
    # Other element types make asyncpg introspect the array type first.
    assert await conn.fetchval("SELECT $1::int8[]", [1, None, -3]) == [1, None, -3]
    assert await conn.fetchval("SELECT $1::float8[]", [1.5, 2.0]) == [1.5, 2.0]
    instants = [when, None]
    assert await conn.fetchval("SELECT $1::timestamptz[]", instants) == instants
    assert (await conn.fetchval("SELECT now()")).tzinfo is not None
    n = await conn.fetchval("SELECT count(*) FROM assertions WHERE tier = ANY($1)", [4, 5])
    assert n >= 1200, n
    await conn.close()
    print("asyncpg: ok")


asyncio.run(main(int(sys.argv[1])))
