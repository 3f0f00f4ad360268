# Two commands for a fresh machine: `make demo` and `make test`. Both install first (once).
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch; a local wheel directory is used when this machine has one.
TORCH  := torch==2.13.0
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(WHEELS)
LINTED := src tests $(wildcard benchmarks examples)

.PHONY: install demo test check fast-test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) "$(TORCH)"
	$(PIP) -e ".[dev,postgres]"
	touch $(STAMP)

demo: install
	$(BIN)/rlhf demo

check: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: check
	$(BIN)/pytest

fast-test: install
	$(BIN)/pytest -m "not slow" -x -q

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
