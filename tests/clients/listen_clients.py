"""LISTEN stemedb_changes from psycopg 3 (notifies()) and asyncpg
(add_listener): each listener is woken within a second of a write
becoming resolved, its payload the write's change_id; a cancelled
query leaves the listener listening; UNLISTEN stops the notifications.
Usage: python3 listen_clients.py PORT"""
import asyncio
import sys
import threading
import time

DSN = "host=127.0.0.1 port={} user=stemedb dbname=stemedb"
INSERT = "INSERT INTO assertions (subject, predicate, object, source) VALUES (%s, 'listened', 'v', 'test')"
CHANGE_ID = "SELECT change_id FROM stemedb.changes WHERE subject = %s"


def write_soon(dsn, subject, delay=0.3):
    """Writes `subject` from another connection after `delay`; returns
    the thread and a dict that gets the write's acknowledgement time."""
    import psycopg

    done = {}

    def run():
        time.sleep(delay)
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute(INSERT, (subject,))
            done["at"] = time.monotonic()

    t = threading.Thread(target=run)
    t.start()
    return t, done


def psycopg_listener(port):
    import psycopg

    dsn = DSN.format(port)
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("LISTEN stemedb_changes")
    # Woken within a second of the write.
    t, done = write_soon(dsn, "psycopg-1")
    notes = conn.notifies(timeout=10, stop_after=1)
    got = [(n, time.monotonic()) for n in notes]
    t.join()
    assert got, "no notification"
    note, at = got[0]
    assert note.channel == "stemedb_changes", note
    delay = at - done["at"]
    assert delay < 1.0, f"woken {delay:.3f} s after the write"
    change_id = conn.execute(CHANGE_ID, ("psycopg-1",)).fetchone()[0]
    assert note.payload == change_id, (note.payload, change_id)

    # A cancelled query: the connection and its LISTEN survive.
    def cancel_soon():
        time.sleep(0.5)
        conn.cancel()

    c = threading.Thread(target=cancel_soon)
    c.start()
    try:
        conn.execute("SELECT count(*) FROM generate_series(1, 5000000000)")
        raise AssertionError("the query was not cancelled")
    except psycopg.errors.QueryCanceled:
        pass
    c.join()
    t, done = write_soon(dsn, "psycopg-2")
    got = [(n, time.monotonic()) for n in conn.notifies(timeout=10, stop_after=1)]
    t.join()
    assert got, "no notification after a cancelled query"
    assert got[0][1] - done["at"] < 1.0, "late after a cancelled query"
    assert got[0][0].payload == conn.execute(CHANGE_ID, ("psycopg-2",)).fetchone()[0]

    # UNLISTEN: nothing more.
    conn.execute("UNLISTEN stemedb_changes")
    t, done = write_soon(dsn, "psycopg-3", delay=0.1)
    t.join()
    got = list(conn.notifies(timeout=1.5, stop_after=1))
    assert not got, f"notified after UNLISTEN: {got}"
    conn.execute("LISTEN stemedb_changes")
    conn.execute("UNLISTEN *")
    t, done = write_soon(dsn, "psycopg-4", delay=0.1)
    t.join()
    assert not list(conn.notifies(timeout=1.5, stop_after=1)), "notified after UNLISTEN *"
    conn.close()
    print("psycopg listener: ok")


async def asyncpg_listener(port):
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="stemedb", database="stemedb")
    writer = await asyncpg.connect(host="127.0.0.1", port=port, user="stemedb", database="stemedb")
    woken = asyncio.Queue()
    await conn.add_listener("stemedb_changes", lambda c, pid, ch, payload: woken.put_nowait((payload, time.monotonic())))
    await asyncio.sleep(0.2)
    await writer.execute(INSERT.replace("%s", "$1"), "asyncpg-1")
    acked = time.monotonic()
    payload, at = await asyncio.wait_for(woken.get(), timeout=10)
    assert at - acked < 1.0, f"woken {at - acked:.3f} s after the write"
    change_id = await writer.fetchval(CHANGE_ID.replace("%s", "$1"), "asyncpg-1")
    assert payload == change_id, (payload, change_id)
    await conn.remove_listener("stemedb_changes", lambda *a: None)
    await conn.close()
    await writer.close()
    print("asyncpg listener: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    psycopg_listener(port)
    asyncio.run(asyncpg_listener(port))
