# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench calibrate defaults clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,dask,parquet,plot]"
	touch $(STAMP)

run: $(STAMP)
	@# Where PYTHONDONTWRITEBYTECODE is set, each start would compile the package again (0.1 s).
	@$(BIN)/python -m compileall -q tiktok_sim
	$(BIN)/tiktok-sim run scenarios/quickstart.yaml

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check tiktok_sim tests
	$(BIN)/ruff format --check tiktok_sim tests

typecheck: $(STAMP)
	$(BIN)/mypy tiktok_sim tests

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m tiktok_sim.bench scenarios/bench.yaml
	$(BIN)/python -m tiktok_sim.bench scenarios/quickstart.yaml --runner --reps 4
	$(BIN)/python -m tiktok_sim.bench scenarios/bench.yaml --scale

# The default world against every published figure (about a minute on 2 cores; exits 1 if one is off).
calibrate: $(STAMP)
	$(BIN)/tiktok-sim calibrate --reps 5 --seed 1

# Regenerate the commented reference of every key from the schema.
defaults: $(STAMP)
	$(BIN)/tiktok-sim defaults > scenarios/defaults.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
