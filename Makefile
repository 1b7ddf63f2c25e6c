# The project's commands. `make demo` and `make test` are the two a newcomer needs (see README.md).
SHELL := /bin/bash
TESTENV := testenv/testenv.sh

.PHONY: demo sandbox sandbox-stop test bench build model sim

## Start the sandbox and play a scripted session: two users, one network over two clusters, one lock.
demo:
	@bash scripts/demo.sh

## Start a local sandbox of 2 real clusters (idempotent); kubeconfig at .sandbox/kubeconfig.
## WAN=1: the clusters seem 60 and 150 ms away (a region profile on their links); WAN="10ms 80ms": your
## own round trips; WAN=0: plain links again.
sandbox:
	@bash $(TESTENV) up --dir .sandbox --clusters 2
	@case "$(WAN)" in "") ;; 1) bash scripts/wan.sh .sandbox 60ms 150ms ;; 0) bash scripts/wan.sh .sandbox off ;; *) bash scripts/wan.sh .sandbox $(WAN) ;; esac
	@echo "kubeconfig: .sandbox/kubeconfig (contexts cluster-N, alice@cluster-N, bob@cluster-N, carol@cluster-N)"

## Stop the sandbox and delete its data.
sandbox-stop:
	@bash $(TESTENV) down --dir .sandbox

## Run every test, against 3 real clusters started for the run and stopped after it.
test:
	@bash scripts/test.sh

## Check the lock model (docs/model/lock.pml) exhaustively with spin, installing spin if missing.
model:
	@bash docs/model/check.sh

## Run the lock's simulation over a range of schedules that changes every day (for a daily job;
## make test runs a fixed one): SOLO_SIM_FIRST_SEED, SOLO_SIM_SCHEDULES, SOLO_SIM_SLOW_SCHEDULES.
sim:
	@bash scripts/sim.sh

## Run every benchmark against local real clusters and write BENCHMARKS.md.
bench:
	@bash scripts/bench.sh

build:
	cargo build --workspace
