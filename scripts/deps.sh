#!/usr/bin/env bash
# Installs what StemeDB's build (and, with `test` / `bench`, its tests and
# benchmark) need on a Debian machine, and fails at once, with the reason,
# when something cannot be installed — never fifteen minutes into a build.
#
#   scripts/deps.sh build   libclang (RocksDB's bindgen), a C++ compiler
#   scripts/deps.sh test    + psql, pgbench, openssl, pgjdbc, a JDK, pgbouncer,
#                             promtool, nginx (stream), haproxy, psycopg,
#                             asyncpg, SQLAlchemy, pandas, PyYAML, node-postgres,
#                             lintian (the .deb), dbt-postgres 1.9
#   scripts/deps.sh bench   + a PostgreSQL server, pgbench, psycopg, pgjdbc and a JDK
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-build}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
updated=""

fail() {
    echo "!! stemedb deps: $*" >&2
    exit 1
}

apt_install() {
    local why="$1"; shift
    echo ">> installing $* ($why)"
    command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: install $* by hand ($why)"
    if [ -z "$updated" ]; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq || fail "apt-get update failed (is a Debian mirror reachable?)"
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null \
        || fail "apt-get install $* failed ($why)"
}

# bindgen (clang-sys) loads libclang.so or libclang-NN.so. The image ships
# libclang-cpp.so.14, a different library, so look for the real one.
have_libclang() {
    local f
    for f in "${LIBCLANG_PATH:-/nonexistent}"/libclang*.so* \
             /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
             /usr/lib/*-linux-gnu/libclang.so* /usr/lib/*-linux-gnu/libclang-[0-9]*.so*; do
        [ -e "$f" ] && return 0
    done
    return 1
}

need_build() {
    command -v cargo >/dev/null 2>&1 || fail "cargo not found: install the Rust toolchain (https://rustup.rs)"
    command -v c++ >/dev/null 2>&1 || apt_install "RocksDB is C++" g++
    have_libclang || apt_install "RocksDB's bindgen needs libclang" libclang-dev
    have_libclang || fail "libclang-dev installed but no libclang.so found"
}

need_test() {
    if ! command -v psql >/dev/null 2>&1 || ! pgbench --version >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
        apt_install "tests drive psql and pgbench" postgresql-client postgresql-contrib openssl
    fi
    if [ ! -f /usr/share/java/postgresql.jar ] || ! command -v javac >/dev/null 2>&1 || ! command -v pgbouncer >/dev/null 2>&1; then
        apt_install "client tests: pgjdbc, pgbouncer" libpostgresql-jdbc-java default-jdk-headless pgbouncer
    fi
    if ! command -v promtool >/dev/null 2>&1; then
        apt_install "metrics and alert rules are checked by promtool" prometheus
    fi
    if ! command -v nginx >/dev/null 2>&1 || ! ls /etc/nginx/modules-enabled/*stream* >/dev/null 2>&1 \
        || ! command -v haproxy >/dev/null 2>&1; then
        apt_install "deploy/ proxy configs are checked by nginx -t and haproxy -c" \
            nginx-light libnginx-mod-stream haproxy
    fi
    command -v systemd-analyze >/dev/null 2>&1 || apt_install "deploy/systemd is checked by systemd-analyze" systemd
    command -v curl >/dev/null 2>&1 || apt_install "the DR drill and scripts/cluster.sh poll /ready with curl" curl
    command -v nft >/dev/null 2>&1 || apt_install "the partition test cuts links with nftables" nftables
    command -v ip >/dev/null 2>&1 || apt_install "the partition test brings up loopback in its namespace" iproute2
    command -v tcpdump >/dev/null 2>&1 || apt_install "the security test captures node-to-node traffic" tcpdump
    command -v lintian >/dev/null 2>&1 || apt_install "the package test checks the .deb with lintian" lintian
    # dbt-core 1.9 (1.10+ fetch a parser from outside the package registries).
    if ! command -v dbt >/dev/null 2>&1 || ! dbt --version 2>/dev/null | grep -q "installed: 1.9" \
        || ! python3 -c "import dbt.adapters.postgres" 2>/dev/null; then
        echo ">> installing dbt-postgres 1.9 (the dbt test)"
        python3 -m pip install -q "dbt-postgres==1.9.0" "dbt-core~=1.9.0" \
            || fail "pip install of dbt-postgres failed"
    fi
    if ! python3 -c "import psycopg, asyncpg, sqlalchemy, pandas, pexpect, yaml" 2>/dev/null \
        || ! command -v pgcli >/dev/null 2>&1; then
        echo ">> installing Python clients (psycopg, asyncpg, SQLAlchemy, pandas, pgcli, pexpect, PyYAML)"
        python3 -m pip install -q "psycopg[binary]" asyncpg sqlalchemy pandas pgcli pexpect pyyaml \
            || fail "pip install of the Python clients failed"
    fi
    if ! python3 -c "import moto.server, flask_cors" 2>/dev/null; then
        echo ">> installing moto (a local S3 server for the s3:// backup tests)"
        python3 -m pip install -q "moto[server]" || fail "pip install moto[server] failed"
    fi
    if [ ! -d tests/clients/node_modules/pg ]; then
        command -v npm >/dev/null 2>&1 || apt_install "node-postgres tests" nodejs npm
        echo ">> installing node-postgres (npm)"
        (cd tests/clients && npm install --no-audit --no-fund --loglevel=error) || fail "npm install failed"
    fi
}

need_bench() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v pgbench >/dev/null 2>&1; then
        apt_install "the benchmark compares with PostgreSQL" postgresql postgresql-client
    fi
    if [ ! -f /usr/share/java/postgresql.jar ] || ! command -v java >/dev/null 2>&1; then
        apt_install "the benchmark drives pgjdbc" libpostgresql-jdbc-java default-jdk-headless
    fi
    if ! python3 -c "import psycopg" 2>/dev/null; then
        echo ">> installing psycopg (the benchmark's driver styles and batch lookups)"
        python3 -m pip install -q "psycopg[binary]" || fail "pip install psycopg failed"
    fi
}

case "$what" in
    build) need_build ;;
    test) need_build; need_test ;;
    bench) need_build; need_bench ;;
    *) fail "unknown target '$what' (build, test or bench)" ;;
esac
