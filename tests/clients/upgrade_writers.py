"""Eight psycopg writers through one address (a balancer) until STOP_FILE
appears: each inserts unique claims one statement at a time, reconnecting
after an error, and records what the server acknowledged and every error
with its SQLSTATE (None when the driver had none to give). Prints one JSON
object: {"acked": [...], "attempted": [...], "errors": [[subject,
sqlstate, message], ...], "stuck": writers whose last write failed}.

    python3 upgrade_writers.py CONNINFO STOP_FILE TAG
"""

import json
import os
import sys
import threading
import time

import psycopg

CONNINFO, STOP_FILE, TAG = sys.argv[1], sys.argv[2], sys.argv[3]
INSERT = ("INSERT INTO assertions (subject, predicate, object, source) "
          "VALUES (%s, 'fault', 'v', 'test')")
lock = threading.Lock()
acked, attempted, errors, stuck = [], [], [], [0]


def writer(w):
    conn, k, failing = None, 0, False
    while not os.path.exists(STOP_FILE):
        if conn is None:
            try:
                conn = psycopg.connect(CONNINFO, autocommit=True, connect_timeout=3)
            except psycopg.Error:
                time.sleep(0.1)
                continue
        subject = f"{TAG}-{w}-{k}"
        k += 1
        with lock:
            attempted.append(subject)
        try:
            conn.execute(INSERT, (subject,))
            with lock:
                acked.append(subject)
            failing = False
        except psycopg.Error as e:
            failing = True
            with lock:
                errors.append([subject, e.sqlstate, str(e).strip()])
            if conn.closed or e.sqlstate in ("57P01", None) or conn.broken:
                conn.close()
                conn = None
            time.sleep(0.05)
    if failing:
        with lock:
            stuck[0] += 1


threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"acked": acked, "attempted": attempted, "errors": errors,
                  "stuck": stuck[0]}))
