"""SQLAlchemy 2 (psycopg driver) and pandas.read_sql against StemeDB:
engine, inspect() tables and views (a view of one's own with its
definition), text() with parameters.
Usage: python3 sqlalchemy_client.py PORT"""
import sys

import pandas as pd
import sqlalchemy as sa

port = int(sys.argv[1])
engine = sa.create_engine(f"postgresql+psycopg://stemedb@127.0.0.1:{port}/stemedb")

with engine.begin() as conn:
    conn.execute(
        sa.text("INSERT INTO assertions (subject, predicate, object, source, tier) VALUES (:s, :p, :o, :src, :t)"),
        [
            {"s": "ip:1", "p": "malicious", "o": "true", "src": "cert", "t": 0},
            {"s": "ip:1", "p": "malicious", "o": "false", "src": "vendor", "t": 3},
        ],
    )

insp = sa.inspect(engine)
tables = set(insp.get_table_names())
assert {"assertions", "retractions"} <= tables, tables
views = set(insp.get_view_names())
assert {"recency", "authority", "beliefs", "conflicts"} <= views, views
# Column reflection: SQLAlchemy's query has correlated scalar subqueries
# (defaults, identity, collation), which StemeDB rewrites for DataFusion.
columns = {c["name"]: c["type"] for c in insp.get_columns("assertions")}
assert isinstance(columns["subject"], sa.TEXT), columns
assert isinstance(columns["tier"], sa.SMALLINT), columns
assert isinstance(columns["confidence"], sa.DOUBLE_PRECISION), columns
assert isinstance(columns["observed_at"], sa.TIMESTAMP) and columns["observed_at"].timezone, columns
assert isinstance(columns["retracted"], sa.BOOLEAN), columns
lens = [c["name"] for c in insp.get_columns("authority")]
assert lens[:2] == ["subject", "predicate"] and "contested" in lens, lens
assert insp.get_foreign_keys("assertions") == []
# Table(autoload_with=...) also reflects keys and indexes (queries that
# unnest pg_index's int2vector columns): every column, the column types of docs/sql.md.
table = sa.Table("assertions", sa.MetaData(), autoload_with=engine)
reflected = {c.name: type(c.type) for c in table.columns}
assert all(table.c[name].type.timezone for name in ("observed_at", "asserted_at"))
assert {n: sa.TIMESTAMP if issubclass(t, sa.TIMESTAMP) else t for n, t in reflected.items()} == {
    "id": sa.TEXT, "subject": sa.TEXT, "predicate": sa.TEXT, "object": sa.TEXT,
    "object_type": sa.TEXT, "object_number": sa.DOUBLE_PRECISION, "source": sa.TEXT,
    "tier": sa.SMALLINT, "confidence": sa.DOUBLE_PRECISION, "agent": sa.TEXT,
    "observed_at": sa.TIMESTAMP, "asserted_at": sa.TIMESTAMP, "node": sa.TEXT,
    "supersedes": sa.TEXT, "retracted": sa.BOOLEAN,
}, reflected
lens_table = pd.read_sql_table("recency", engine)
assert "contested" in lens_table.columns and len(lens_table) >= 1, lens_table

with engine.connect() as conn:
    obj = conn.execute(sa.text("SELECT object FROM authority WHERE subject = :s"), {"s": "ip:1"}).scalar_one()
    assert obj == "true", obj

# A view of one's own, in a schema: listed, its definition and columns
# reflected (what DBeaver and SQLAlchemy-based tools show).
with engine.begin() as conn:
    conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS reports"))
    conn.execute(sa.text(
        "CREATE OR REPLACE VIEW reports.verdicts AS SELECT subject, object AS verdict FROM authority"))
insp = sa.inspect(engine)
assert "reports" in insp.get_schema_names(), insp.get_schema_names()
assert insp.get_view_names(schema="reports") == ["verdicts"], insp.get_view_names(schema="reports")
definition = insp.get_view_definition("verdicts", schema="reports")
assert "FROM authority" in definition, definition
assert [c["name"] for c in insp.get_columns("verdicts", schema="reports")] == ["subject", "verdict"]
assert "verdicts" not in insp.get_table_names(schema="reports")
verdicts = pd.read_sql("SELECT verdict FROM reports.verdicts WHERE subject = 'ip:1'", engine)
assert list(verdicts["verdict"]) == ["true"], verdicts

frame = pd.read_sql("SELECT subject, object, tier FROM assertions ORDER BY tier", engine)
assert list(frame["tier"]) == [0, 3], frame
assert list(frame.columns) == ["subject", "object", "tier"], frame.columns
print("sqlalchemy: ok")
