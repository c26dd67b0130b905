# seglab set-up and checks. `make test` and `make demo` work on a fresh clone: they create .venv first.
PYTHON ?= python3
VENV ?= .venv
# The torch requirement installed into the venv. The package itself accepts any torch>=2.1;
# this pins the local CPU wheel of the development machines. GPU users: make test TORCH=torch
TORCH ?= $(shell grep -v '^\#' requirements/cpu.txt | head -n 1)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seglab-installed
PYTEST_ARGS ?=

.PHONY: venv test demo clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/cpu.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -r requirements/tests.txt
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) tools/demo.py

clean-venv:
	rm -rf $(VENV)
