# Two entry points, each from a fresh clone: `make app` and `make test`.
# PYTHON picks the interpreter for the venv (3.11 to 3.13): `make test PYTHON=python3.13`.
PYTHON ?= python3
PY := .venv/bin/python

.venv/ready: requirements.txt requirements/*.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bican needs Python 3.11 to 3.13; $(PYTHON) is Python " + sys.version.split()[0] + ": run make with PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: .venv/ready

app: setup
	$(PY) -m streamlit run app.py

# Debian's chromium for the browser tests, installed where apt-get exists; elsewhere pytest says which tests it skipped
# and why (under CI=true a missing chromium fails them instead).
test: setup check-wheels
	command -v chromium >/dev/null || ! command -v apt-get >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	$(PY) -m ruff check .
	$(PY) -m pytest

# Every pinned requirement (torch aside) has a wheel or source package for each platform and Python bican supports.
check-wheels: setup
	$(PY) -m tools.check_wheels

.PHONY: setup app test check-wheels
