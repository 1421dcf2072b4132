# Two commands are the whole set-up: `make run` and `make test` (each makes .venv on first use).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench-speed clean-results

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bench run --method pixel_bleach --detector all

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench-speed: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only -p no:cacheprovider

clean-results:
	rm -rf results/runs results/cache results/checkpoints results/tables results/work
