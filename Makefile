# Delineate. On a fresh machine: `make run` (the whole stack) or `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-stack lint install weights data bench bench-model bench-ws bench-load bench-import bench-al bench-planes clean frontend protocol

$(STAMP): pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The browser UI: npm ci only when the lock file changes, the build only when a source file does.
FRONTEND_DEPS := frontend/node_modules/.installed
FRONTEND_BUILD := frontend/dist/.vite/manifest.json
$(FRONTEND_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

$(FRONTEND_BUILD): $(FRONTEND_DEPS) $(shell find frontend/src -type f) frontend/vite.config.ts frontend/tsconfig.json
	cd frontend && npm run build

frontend: $(FRONTEND_BUILD)

weights: install
	$(PY) -m ml_worker.weights

data: install
	$(PY) -m scripts.fetch_data

run: install frontend
	$(PY) -m webapp.stack

# Types are checked on both sides: mypy ([tool.mypy] in pyproject.toml) and strict tsc for the browser code.
lint: install $(FRONTEND_DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	cd frontend && npm run typecheck

# The browser's protocol types, generated from annotator/messages.py (tests/test_protocol.py checks they are current).
protocol: install $(FRONTEND_DEPS)
	$(PY) -m scripts.protocol frontend/src/protocol.ts

test: install weights data frontend
	cd frontend && npm test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	scripts/ensure_chromium.sh
	scripts/ensure_pacs_tools.sh
	$(MAKE) test-stack
	$(PY) -m pytest

# The production stack under load and faults (PostgreSQL, redis-server and nginx from Debian, installed when
# missing; two ASGI servers, three workers, 20 simulated annotators); the last line is JSON, and a failed
# check fails the target. Before pytest in `make test`, so nginx is there for tests/test_deploy.py.
test-stack: install weights data
	$(PY) -m scripts.stack_test

# Benchmarks print numbers (compared with the plain PyTorch reference in the same run); the last line is JSON.
bench: bench-model bench-import bench-ws bench-load

bench-model: install weights data
	$(PY) -m scripts.bench_model

bench-import: install data
	$(PY) -m scripts.bench_import

bench-ws: install weights data
	$(PY) -m scripts.bench_ws

# The load the production stack holds: the stack of `make test-stack`, 20 annotators at rising prompt rates
# (no faults), the highest rate with p99 <= 250 ms (about 9 minutes: start, embedding, nine 30 s steps).
bench-load: install weights data
	$(PY) -m scripts.stack_test --ramp

# Active learning on real data (not part of `make bench`: it trains for minutes). Each run prints the held-out
# numbers before and after fine-tuning; the JSON reports go to var/bench-al-*.json.
BENCH_AL := DEBUG=true $(PY) manage.py bench_active_learning
bench-al: install weights
	$(PY) -m scripts.fetch_data slicerio-chest pyradiomics-lesions
	$(BENCH_AL) --data var/cache/data/datasets/slicerio-chest --window bone --axis axial,coronal,sagittal \
		--labels 2,3 --holdout-labels 4 --epochs 2 --json var/bench-al-slicerio-vertebrae.json
	$(BENCH_AL) --data var/cache/data/datasets/pyradiomics-lesions --window lung --axis axial,coronal,sagittal \
		--holdout-volumes brain2.nrrd,lung1.nrrd --cases-per-round 200 --json var/bench-al-pyradiomics.json

bench-planes: install weights data
	$(PY) -m scripts.bench_planes

clean:
	rm -rf $(VENV) var
