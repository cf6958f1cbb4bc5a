# Two entry points, each from a fresh clone: `make app` and `make test`.
PY := .venv/bin/python

.venv/ready: requirements.txt
	python3.11 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: .venv/ready

app: setup
	$(PY) -m streamlit run app.py

test: setup
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	$(PY) -m ruff check .
	$(PY) -m pytest

.PHONY: setup app test
