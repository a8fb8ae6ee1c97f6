# Hand-run benchmarks (never in CI). Included from the repository's Makefile:
#     include benchmarks/bench.mk
# Targets:
#     make bench-setup      MLflow (the anchor) in its own venv, .bench-venv
#     make bench-tracking   tracking SDK vs MLflow; BENCH_ARGS="--backend postgresql --quick"

PYTHON ?= python3
BENCH_VENV ?= .bench-venv
BENCH_PROJECT_PYTHON ?= .venv/bin/python
BENCH_ARGS ?=

.PHONY: bench-setup bench-tracking

bench-setup:
	$(PYTHON) -m venv $(BENCH_VENV)
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
		$(PYTHON) benchmarks/_bench_setup.py --venv $(BENCH_VENV)

bench-tracking:
	@test -x $(BENCH_VENV)/bin/python || { echo "no $(BENCH_VENV): run make bench-setup first"; exit 1; }
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
		$(BENCH_PROJECT_PYTHON) benchmarks/tracking.py --mlflow-python $(BENCH_VENV)/bin/python $(BENCH_ARGS)
