# StemeDB — two commands do everything on a fresh Debian machine:
#   make run    install what is missing, build, start one node on 127.0.0.1:18180
#   make test   install what the tests need, run the whole suite
#
# Builds share one target directory outside the clone, so a fresh clone
# (and CI) reuses earlier builds.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/stemedb-target
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: run test build deps test-deps bench bench-deps fmt lint clean-data

## System packages the build needs: libclang for rocksdb's bindgen.
deps:
	@if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then \
		echo ">> installing libclang-dev (needed to build RocksDB)"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq libclang-dev; \
	fi

## What the tests drive besides cargo: psql, openssl, and the Python clients.
test-deps: deps
	@command -v psql >/dev/null 2>&1 && pgbench --version >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 || { \
		echo ">> installing psql, pgbench and openssl"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq postgresql-client postgresql-contrib openssl; }
	@[ -f /usr/share/java/postgresql.jar ] && command -v java >/dev/null 2>&1 && command -v pgbouncer >/dev/null 2>&1 || { \
		echo ">> installing pgjdbc, a JDK and pgbouncer"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq libpostgresql-jdbc-java default-jdk-headless pgbouncer; }
	@python3 -c "import psycopg, asyncpg, sqlalchemy, pandas" 2>/dev/null || { \
		echo ">> installing Python client libraries (psycopg, asyncpg, SQLAlchemy, pandas)"; \
		python3 -m pip install -q "psycopg[binary]" asyncpg sqlalchemy pandas; }
	@[ -d tests/clients/node_modules/pg ] || { \
		echo ">> installing node-postgres (npm)"; \
		cd tests/clients && npm install --no-audit --no-fund --loglevel=error; }

build: deps
	$(CARGO) build --release --bin stemedb

run: build
	$(CARGO_TARGET_DIR)/release/stemedb serve $(ARGS)

test: test-deps
	$(CARGO) test --all-targets -- --test-threads=2

## The benchmark needs a PostgreSQL server and pgbench.
bench-deps: deps
	@[ -n "$$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] && command -v pgbench >/dev/null 2>&1 || { \
		echo ">> installing postgresql (server, psql, pgbench)"; \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq postgresql postgresql-client; }

ROWS ?= 1000000
## StemeDB vs PostgreSQL on the same machine, same run (see docs/benchmarks.md).
bench: bench-deps build
	bash bench/run.sh $(ROWS)

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --all-targets -- -D warnings

clean-data:
	rm -rf ./stemedb-data
