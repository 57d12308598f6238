# Nuage: two commands for a new user (make demo, make test), plus lint and bench.
SHELL := /bin/bash
PY := .venv/bin/python
export SECRET_KEY ?= lint-and-test-only-not-a-secret-0123456789abcdef

.PHONY: demo test lint bench install services messages

install:
	@scripts/bootstrap.sh test

demo:
	@scripts/bootstrap.sh demo
	@scripts/demo.sh

services:
	@scripts/services-up.sh

# Re-extract the messages, fill French from locale/fr_translations.py, compile (.mo committed).
messages: install
	$(PY) scripts/messages.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings
	.venv/bin/lint-imports --no-cache

# pytest's exit code 5 (no tests collected) fails the target like any other failure.
test: install services lint
	$(PY) -m pytest -q

bench: install services
	$(PY) bench/placement.py
	$(PY) bench/placement_service.py
	$(PY) bench/drs.py
	$(PY) bench/provision_sim.py
	$(PY) bench/provision.py
	$(PY) bench/quota_contention.py
	$(PY) bench/api_list.py
	$(PY) bench/api_latency.py
	$(PY) bench/cost_days.py
	$(PY) bench/sampling.py
	$(PY) bench/invoices.py
	$(PY) bench/export_csv.py
	$(PY) bench/report_pdf.py
	$(PY) bench/console.py
	$(PY) bench/reach.py
	$(PY) bench/snapshots.py
	$(PY) bench/containers.py
	$(PY) bench/scale.py
	$(PY) bench/metrics_scrape.py
