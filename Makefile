# One entry point for people and CI. Every target installs into .venv first if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml layers/tally/requirements.txt
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $(PYTHON)…"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing Tally and its dev tools into $(VENV) (first time takes a minute)…"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m tally_local

test: $(STAMP)
	@$(BIN)/python -m pytest

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/cfn-lint template.yaml
	@# checkov exits 0 on a file it cannot parse: treat "Parsing errors" as a failure too.
	@out=$$($(BIN)/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download); \
		rc=$$?; echo "$$out"; test $$rc -eq 0 && ! echo "$$out" | grep -q "Parsing errors"

format: $(STAMP)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

# Options go in ARGS: make bench ARGS="--scale 0.05 --runs 1" (README.md lists them).
bench: $(STAMP)
	@$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tally
