"""pgcli against StemeDB, driven in a pseudo-terminal: it connects,
completes a table name and a column name, runs a lens query, and its log
records no exception. Usage: python3 pgcli_client.py PORT"""
import os
import sys
import tempfile

import pexpect
import psycopg

port = int(sys.argv[1])
with psycopg.connect(f"host=127.0.0.1 port={port} user=stemedb dbname=stemedb", autocommit=True) as conn:
    conn.execute(
        "INSERT INTO assertions (subject, predicate, object, source) VALUES ('pgcli-s', 'p', 'pgcli-o', 'src')"
    )

home = tempfile.mkdtemp()
log = os.path.join(home, "pgcli.log")
rc = os.path.join(home, "pgclirc")
with open(rc, "w") as f:
    f.write(f"[main]\nlog_file = {log}\nlog_level = DEBUG\nhistory_file = {home}/history\n")

child = pexpect.spawn(
    "pgcli",
    ["--pgclirc", rc, "-h", "127.0.0.1", "-p", str(port), "-U", "stemedb", "stemedb"],
    encoding="utf-8",
    timeout=30,
    dimensions=(40, 200),
    env={**os.environ, "TERM": "xterm", "HOME": home},
)
screen = os.path.join(home, "screen")
child.logfile_read = open(screen, "w")
child.expect("stemedb>")


def complete(typed, expected):
    """Types `typed`, presses Tab until `expected` is offered (the
    completion metadata loads in the background), then clears the line."""
    child.send(typed)
    for _ in range(60):
        child.send("\t")
        try:
            child.expect(expected, timeout=0.5)
            break
        except pexpect.TIMEOUT:
            continue
    else:
        raise AssertionError(f"pgcli never completed {typed!r} to {expected!r}")
    child.sendcontrol("c")
    child.expect("stemedb>")


complete("SELECT * FROM asse", "assertions")
complete("SELECT * FROM assertions WHERE subj", "subject")
child.sendline("SELECT object FROM recency WHERE subject = 'pgcli-s'")
child.expect("pgcli-o")
child.expect("stemedb>")
child.sendline("\\q")
child.expect(pexpect.EOF)

child.logfile_read.close()
# A failed completion refresh prints its traceback on the terminal.
for path in (log, screen):
    text = open(path).read()
    for marker in ("Traceback", "Exception", " ERROR "):
        assert marker not in text, f"pgcli showed {marker!r} in {path}:\n{text[-3000:]}"
print("pgcli: ok")
