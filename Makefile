# Two commands are the whole set-up: `make run` and `make test` (each makes .venv on first use).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench-speed clean-results gpu-check gpu-wheels

# --no-compile: pip would byte-compile all 12,700 installed .py files (42 s on one busy core);
# Python compiles the ~4,300 a run imports when it first imports them (a third of that, once).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# --jobs auto: on a CPU, the five detectors train side by side, one core each (small CPU
# trainings do not scale with threads; see bench/run/executor.py:run_pool). JOBS=1 trains them in turn.
JOBS ?= auto
run: $(STAMP)
	$(BIN)/python -m bench run --method pixel_bleach --detector all --jobs $(JOBS)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench-speed: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only -p no:cacheprovider

clean-results:
	rm -rf work_dirs

# The prepared GPU check (tools/gpu_check.py): one JSON under $(GPU_OUT). Runs with the GPU image's
# python3 (or this .venv where it exists); wheels in .whl/ (make gpu-wheels, where pip can reach
# PyPI) are installed into /tmp/site first, for packages the GPU image lacks.
GPU_PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_OUT ?= docs/data/gpu
GPU_CHECK_ARGS ?=
GPU_WHEELS = $(shell grep -iE '^(mmengine-lite|addict|yapf|termcolor|platformdirs|kornia|kornia_rs)==' constraints.txt)

gpu-check:
	@if ls .whl/*.whl >/dev/null 2>&1; then $(GPU_PY) -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; fi
	PYTHONPATH=/tmp/site$${PYTHONPATH:+:$$PYTHONPATH} PYTHONUNBUFFERED=1 $(GPU_PY) tools/gpu_check.py --out $(GPU_OUT) $(GPU_CHECK_ARGS)

gpu-wheels:
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
