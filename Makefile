# Naevus — `make run` runs the product on an embedded default; `make test` installs and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PYTHONUNBUFFERED := 1

# Tests: PostgreSQL and Redis on this machine (override to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/naevus
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15


.PHONY: system-libs model api-types run test test-python test-integration test-reliability test-frontend test-e2e lint bench evaluate frontend clean deps deps-dev chromium firebase-tools compose-check

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

# What WeasyPrint (the PDF reports) loads from the system: Pango with HarfBuzz, and a font. Installed from
# Debian only when missing, so a second run is a no-op; CI runs as root, a developer without root is told what
# to install. No dpkg (macOS): install pango yourself (`brew install pango`).
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

system-libs:
	@command -v dpkg-query >/dev/null || { echo "no dpkg: install Pango for WeasyPrint yourself"; exit 0; }; \
	missing=$$(for deb in $(PDF_DEBS); do \
		dpkg-query -W -f='$${Status}' $$deb 2>/dev/null | grep -q 'install ok installed' || echo $$deb; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages (run as root): $$missing"; exit 1; fi; \
		echo "installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps: $(VENV)/.runtime system-libs
deps-dev: $(VENV)/.dev system-libs

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(shell find frontend/src frontend/index.html -type f 2>/dev/null)
	cd frontend && npm run build

frontend: frontend/dist/index.html

## run: the product on SQLite, the filesystem broker and a demo model (no Redis, no PostgreSQL needed).
run: deps frontend
	mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py bootstrap_demo
	@echo ""
	@echo "  Naevus is starting at http://$${NAEVUS_HOST:-127.0.0.1}:$${NAEVUS_PORT:-8000}/   (Ctrl-C stops web, worker and beat)"
	@echo ""
	$(VENV)/bin/honcho start -f Procfile

tools/firebase/node_modules/.installed: tools/firebase/package-lock.json
	cd tools/firebase && npm ci --no-audit --no-fund
	touch $@

firebase-tools: tools/firebase/node_modules/.installed

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: deps-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

## test: everything — lint, Python unit + integration (PostgreSQL, real Celery worker on Redis, Firebase emulator),
## reliability, frontend type-check/lint/unit, and end-to-end in Chromium.
test: deps-dev firebase-tools lint compose-check test-python test-reliability test-frontend test-e2e

test-python: deps-dev firebase-tools
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest -m "not reliability and not e2e" -q

test-reliability: deps-dev
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest -m reliability -q -p no:randomly

test-frontend: frontend/node_modules/.installed
	cd frontend && npm run typecheck && npm run lint && npm test

test-e2e: deps-dev chromium frontend firebase-tools
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest -m e2e -q

bench: deps-dev
	$(PY) bench/run_all.py

evaluate: deps-dev
	bash scripts/evaluate.sh

## model: train the evaluated recipe on DATA (SIIM-ISIC CSV:IMAGES pairs; default ../shared/data) and register it.
model: deps-dev
	bash scripts/train-model.sh

## api-types: regenerate the OpenAPI schema the SPA's TypeScript types come from.
api-types: deps-dev frontend/node_modules/.installed
	$(PY) manage.py spectacular --file frontend/openapi.yaml
	cd frontend && npm run gen:api

## compose-check: validate docker-compose.yml offline (docker-compose v1.29) and lint the Dockerfile.
compose-check: deps-dev
	@command -v docker-compose >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null)
	docker-compose -f docker-compose.yml --env-file deploy/ci.env config -q
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf var frontend/dist
