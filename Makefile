# StemeDB — two commands do everything on a fresh Debian machine:
#   make run    install what is missing, build, start one node on 127.0.0.1:18180
#   make test   install what the tests need, run the whole suite
#
# Builds share one target directory outside the clone, so a fresh clone
# (and CI) reuses earlier builds.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/stemedb-target
CARGO ?= cargo

.PHONY: run test sim build deb deps test-deps bench bench-cluster bench-deps fuzz fmt lint clean-data cluster cluster-stop dr-drill pilot

## Prerequisites, checked and installed by scripts/deps.sh (fails at once,
## with the reason, when something cannot be installed).
deps:
	@bash scripts/deps.sh build

test-deps:
	@bash scripts/deps.sh test

build: deps
	$(CARGO) build --release --bin stemedb

## The Debian package of the release binary: dist/stemedb_<version>_amd64.deb
## (the units, /etc/stemedb/stemedb.toml, the stemedb user; docs/deploy.md).
deb: build
	bash scripts/deb.sh $(CARGO_TARGET_DIR)/release/stemedb dist

run: build
	$(CARGO_TARGET_DIR)/release/stemedb serve $(ARGS)

test: test-deps
	$(CARGO) test --all-targets -- --test-threads=2
	$(CARGO) test --features sim --test sim -- --test-threads=1

## The deterministic simulation of the cluster (tests/sim/) over more
## seeds: progress every 20 seeds, the first failing seed and how to replay
## it (STEMEDB_SIM_SEED=N prints that seed's event log).
SEEDS ?= 2000
FIRST ?= 1
sim:
	STEMEDB_SIM_SEEDS=$(SEEDS) STEMEDB_SIM_FIRST=$(FIRST) \
		$(CARGO) test --features sim --test sim every_seed -- --nocapture

## The benchmark needs a PostgreSQL server and pgbench.
bench-deps:
	@bash scripts/deps.sh bench

ROWS ?= 1000000
## StemeDB vs PostgreSQL on the same machine, same run, then the
## three-node cluster vs one node (see docs/benchmarks.md).
bench: bench-deps build
	bash bench/run.sh $(ROWS)
	bash bench/spellings.sh
	bash bench/backup.sh $(ROWS)
	python3 bench/cluster.py
	python3 bench/anti_entropy.py
	python3 bench/membership.py

## Only the cluster benchmarks (three local nodes vs one node; anti-entropy;
## migration and membership changes).
bench-cluster: bench-deps build
	python3 bench/cluster.py
	python3 bench/anti_entropy.py
	python3 bench/membership.py

## Longer hostile-input and crash runs against the release binary: the
## protocol fuzzer for 10 minutes (seed printed; STEMEDB_FUZZ_SEED replays),
## 1 000 snapshot-atomicity trials, 1 000 kill -9 trials of the clock.
FUZZ_SECS ?= 600
TRIALS ?= 1000
fuzz: test-deps build
	STEMEDB_BIN=$(CARGO_TARGET_DIR)/release/stemedb STEMEDB_FUZZ_SECS=$(FUZZ_SECS) STEMEDB_TRIALS=$(TRIALS) STEMEDB_FUZZ_OR_TERMS=100000 \
		$(CARGO) test --test it -- hostile:: snapshot:: hlc:: --nocapture --test-threads=1

## Three nodes on 127.0.0.1, .2 and .3 (deploy/local/), in the background.
## The disaster-recovery drill with 1 000 000 claims (deploy/dr-drill.sh), one
## node then a three-node cluster: prints the measured RTO and RPO against
## 5 min / 1 min.
dr-drill: test-deps build
	CLAIMS=1000000 NODES=1 bash deploy/dr-drill.sh
	CLAIMS=1000000 NODES=3 bash deploy/dr-drill.sh

cluster: build
	bash scripts/cluster.sh start

## The pilot's success criteria (bench/pilot.py) against the local cluster
## (started if it is not running): 1 000 writes/s and 1 000 lens queries/s
## for PILOT_SECONDS, a node killed and restarted midway; a pass/fail table.
## Against other nodes: python3 bench/pilot.py --nodes … --kill-cmd … --start-cmd …
PILOT_SECONDS ?= 60
pilot: test-deps build
	bash scripts/cluster.sh start
	PILOT_SECONDS=$(PILOT_SECONDS) python3 bench/pilot.py

cluster-stop:
	bash scripts/cluster.sh stop

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --all-targets -- -D warnings

clean-data:
	rm -rf ./stemedb-data
