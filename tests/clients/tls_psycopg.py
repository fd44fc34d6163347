"""psycopg 3 over TLS with sslmode=verify-full and a password: the node's
certificate is checked against the CA and its host name. Usage:
python3 tls_psycopg.py PORT CA_FILE PASSWORD"""
import sys

import psycopg

port, ca, password = sys.argv[1], sys.argv[2], sys.argv[3]
conn = psycopg.connect(
    f"host=localhost port={port} user=stemedb dbname=stemedb sslmode=verify-full "
    f"sslrootcert={ca} password={password}"
)
with conn.cursor() as cur:
    cur.execute("SELECT %s::int + 1", (41,))
    assert cur.fetchone()[0] == 42
assert conn.info.pgconn.ssl_in_use, "not over TLS"
try:
    psycopg.connect(
        f"host=localhost port={port} user=stemedb dbname=stemedb sslmode=verify-full "
        f"sslrootcert={ca} password=wrong"
    )
    raise AssertionError("a wrong password logged in")
except psycopg.OperationalError as e:
    assert 'password authentication failed for user "stemedb"' in str(e), e
print("tls psycopg: ok")
