# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stablex-installed
TEST_STAMP := $(VENV)/.stablex-test-installed
# CPU build of PyTorch first, so that nothing later pulls CUDA wheels.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?= $(shell if [ -d /opt/wheels ] || command -v nvidia-smi >/dev/null 2>&1; then echo ""; else echo "--index-url https://download.pytorch.org/whl/cpu"; fi)

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

# Test extras: pytest, hypothesis, ray (local cluster tests), playwright + Debian chromium.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test]"
	sh scripts/install-browser.sh $(BIN)/python
	touch $(TEST_STAMP)

install: $(STAMP)

demo: install
	$(BIN)/stablex run studies/lemonde-quick.toml --out runs/lemonde-quick

# The lint gate: ruff (pyproject.toml [tool.ruff]) and mypy on the pure modules ([tool.mypy]).
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15

bench: install
	$(BIN)/python -m pip install -q -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache test-artifacts
