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

# Data profile: ydata-profiling (the anchor) in its own venv, .bench-venv-data; it wants pandas < 3
# and imports pkg_resources, which setuptools 81 dropped.
#     make bench-setup-data   ydata-profiling 4.18 in .bench-venv-data
#     make bench-data         profile engine vs ydata-profiling; BENCH_DATA_ARGS="--quick"
BENCH_DATA_VENV ?= .bench-venv-data
BENCH_DATA_ARGS ?=

.PHONY: bench-setup-data bench-data

bench-setup-data:
	$(PYTHON) -m venv $(BENCH_DATA_VENV)
	$(BENCH_DATA_VENV)/bin/python -m pip install --upgrade pip
	$(BENCH_DATA_VENV)/bin/python -m pip install 'ydata-profiling==4.18.*' 'pandas<3' pyarrow 'setuptools<81'

bench-data:
	@test -x $(BENCH_DATA_VENV)/bin/python || { echo "no $(BENCH_DATA_VENV): run make bench-setup-data first"; exit 1; }
	$(BENCH_PROJECT_PYTHON) benchmarks/data.py --ydata-python $(BENCH_DATA_VENV)/bin/python $(BENCH_DATA_ARGS)

# Drift monitoring: Evidently (the anchor) in its own venv, .bench-venv-monitor; evidently 0.7.23
# imports pandas internals that pandas 3 removed, hence pandas < 3.
#     make bench-setup-monitor   evidently 0.7.23 in .bench-venv-monitor
#     make bench-monitor         drift engine vs Evidently DataDriftPreset; BENCH_MONITOR_ARGS="--quick"
BENCH_MONITOR_VENV ?= .bench-venv-monitor
BENCH_MONITOR_ARGS ?=

.PHONY: bench-setup-monitor bench-monitor

bench-setup-monitor:
	$(PYTHON) -m venv $(BENCH_MONITOR_VENV)
	$(BENCH_MONITOR_VENV)/bin/python -m pip install --upgrade pip
	$(BENCH_MONITOR_VENV)/bin/python -m pip install 'evidently==0.7.23' 'pandas<3' pyarrow

bench-monitor:
	@test -x $(BENCH_MONITOR_VENV)/bin/python || { echo "no $(BENCH_MONITOR_VENV): run make bench-setup-monitor first"; exit 1; }
	DO_NOT_TRACK=true EVIDENTLY_DISABLE_TELEMETRY=1 \
		$(BENCH_PROJECT_PYTHON) benchmarks/monitoring.py --evidently-python $(BENCH_MONITOR_VENV)/bin/python $(BENCH_MONITOR_ARGS)

# Serving: modelcycle serve (ONNX form and Python model) against mlflow models serve, loaded
# with wrk (Debian's package) on loopback; uses the MLflow venv of bench-setup.
#     make bench-serving   BENCH_ARGS="--json out.json"
.PHONY: bench-serving

bench-serving:
	@test -x $(BENCH_VENV)/bin/python || { echo "no $(BENCH_VENV): run make bench-setup first"; exit 1; }
	@command -v wrk >/dev/null || { echo "no wrk: apt-get install -y wrk"; exit 1; }
	$(BENCH_PROJECT_PYTHON) benchmarks/serving.py --mlflow-python $(BENCH_VENV)/bin/python $(BENCH_ARGS)
