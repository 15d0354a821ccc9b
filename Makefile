# One entry point for people and CI. Every target installs into .venv first if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per dependency set of pyproject.toml: each target installs only the set it needs.
STAMP = $(VENV)/.installed-$(1)
DEPS := pyproject.toml layers/tally/requirements.txt

.PHONY: install run test test-browser lint format bench clean
.PRECIOUS: $(VENV)/.installed-%

# Everything (local + test + lint): what a contributor wants once.
install: $(call STAMP,dev)

$(BIN)/python:
	@echo "Creating $(VENV) with $(PYTHON)…"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip

# `make X` installs the set pyproject.toml names X (once, again when pyproject.toml changes).
# A larger set also stamps the sets it contains, so `make install` then `make run` installs nothing.
$(VENV)/.installed-%: $(DEPS) | $(BIN)/python
	@echo "Installing Tally and its $* dependencies into $(VENV) (once)…"
	@$(BIN)/python -m pip install --quiet -e ".[$*]"
	@touch $@
	@case "$*" in \
		dev) touch $(call STAMP,test) $(call STAMP,lint) $(call STAMP,local) ;; \
		test|lint) touch $(call STAMP,local) ;; \
	esac

# State is kept in .tally/ between runs; `make run FRESH=1` starts empty (README: Run it locally).
run: $(call STAMP,local)
	@$(BIN)/python -m tally_local $(if $(filter-out 0,$(FRESH)),--fresh)

# One worker per core (pytest-xdist; WORKERS=1 for one process). Each worker has its own moto,
# local server and accounts; a test file stays on one worker (loadfile), in its order: some files
# check state their earlier tests left (worksteal would split them) and e2e files start one server
# per module. pytest's own exit code is make's: a failure (1) or no test collected (5) fails it.
WORKERS ?= auto
test: $(call STAMP,test)
	@$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

# The portal and dashboard in Debian's headless Chromium against the local stack (tests/browser).
# Fails, saying how to install them, when Chromium or chromedriver is missing: nothing is skipped.
test-browser: $(call STAMP,test)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "make test-browser needs Chromium and its driver: sudo apt-get install chromium chromium-driver" >&2; exit 1; }
	@TALLY_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser

lint: $(call STAMP,lint)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/cfn-lint template.yaml
	@# checkov exits 0 on a file it cannot parse: treat "Parsing errors" as a failure too.
	@out=$$($(BIN)/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download); \
		rc=$$?; echo "$$out"; test $$rc -eq 0 && ! echo "$$out" | grep -q "Parsing errors"

format: $(call STAMP,lint)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

# Options go in ARGS: make bench ARGS="--scale 0.05 --runs 1" (README.md lists them).
bench: $(call STAMP,test)
	@$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tally
