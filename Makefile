# newsbeam: `make demo` and `make test` are all a fresh machine needs.
# Each creates or reuses .venv, upgrades pip there, installs the project, then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv demo test lint typecheck bench-quality bench-tagging bench-dedup bench-fetch clean

venv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'

demo: venv
	$(BIN)/newsbeam demo

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check pipelines transforms tests benchmarks
	$(BIN)/ruff format --check pipelines transforms tests benchmarks

typecheck: venv
	$(BIN)/mypy pipelines transforms

bench-quality: venv
	$(BIN)/python benchmarks/extraction_quality.py

bench-tagging: venv
	$(BIN)/python benchmarks/tagging_eval.py

bench-dedup: venv
	$(BIN)/python benchmarks/dedup_eval.py

bench-fetch: venv
	$(BIN)/python benchmarks/fetch_concurrency.py

clean:
	rm -rf out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
