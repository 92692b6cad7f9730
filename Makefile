# Two commands for a newcomer: `make run` and `make test`. Everything installs itself into .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint contract bench-login bench-ingest bench-retention bench-keyrotation bench-overload bench-hotpath emulator \
	migrate clean \
	machine worker profile-hotpath vendor stack stack-stop

# Development and CI: the dev lock (the runtime lock's tree plus the dev extra), then the package
# editable. A production node installs requirements.lock and `pip install .` (README).
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The contract's tools (redocly, openapi-typescript, tsc): package-lock.json's devDependencies.
NPM_STAMP := node_modules/.installed-stamp
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

## run: the embedded default (SQLite, in-process Redis stand-in, platform emulator, simulator page)
run: $(STAMP)
	$(VENV)/bin/miniapp dev

## test: the contract, then the whole suite against real PostgreSQL and Redis, the emulator,
## headless Chromium
test: $(STAMP) machine contract
	$(PY) -m pytest
	node --test tests/js/

## contract: the OpenAPI document as /openapi.json serves it, linted (redocly, no errors), turned
## into TypeScript (openapi-typescript) and a client type-checked against it (tsc --noEmit);
## the files land in instance/contract/; and a page written against the client module's
## declarations (static/miniapp-client.d.ts) type-checked too
CONTRACT := instance/contract
contract: export REDOCLY_TELEMETRY := off
contract: export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
contract: $(STAMP) $(NPM_STAMP)
	$(PY) tests/ts/openapi_document.py $(CONTRACT)/openapi.json
	npx --no-install redocly lint $(CONTRACT)/openapi.json
	npx --no-install openapi-typescript $(CONTRACT)/openapi.json -o $(CONTRACT)/api.d.ts
	npx --no-install tsc --noEmit -p tests/ts/tsconfig.json
	npx --no-install tsc --noEmit -p tests/ts/tsconfig.sdk.json

## machine: make sure Redis, PostgreSQL and Chromium are there (starts/installs what is missing)
machine:
	bash .ci/machine

## stack: the production shape on one machine, in the background: HAProxy on 127.0.0.1:8080 in
## front of two gunicorn nodes (8001, 8002), the push worker, the emulator (8765); instance/stack/
stack: $(STAMP) machine
	$(VENV)/bin/miniapp stack up

## stack-stop: end every process `make stack` started (SIGTERM, then SIGKILL after a grace period)
## (without .venv nothing was started: nothing to install first)
stack-stop:
	@if [ -x $(VENV)/bin/miniapp ]; then $(VENV)/bin/miniapp stack down; \
	else echo "stack-stop: no $(VENV), so no stack was started here"; fi

## lint: ruff, mypy strict, and the layers of pyproject.toml (import-linter)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## bench-login: login rate through gunicorn with 0 ms and 100 ms platform latency, and their ratio
bench-login: $(STAMP) machine
	$(PY) bench/login.py

## worker: send push messages (WeChat subscribe, Alipay) from the outbox until stopped
worker: $(STAMP)
	$(VENV)/bin/miniapp worker

## bench-ingest: 100k tubes x 10 through ingest + fan-out + outbox + read model, next to a bare COPY
bench-ingest: $(STAMP) machine
	$(PY) bench/ingest.py

## bench-retention: the retention purge of 1M expired results while ingest runs; ingest
## throughput with the purge / without, purge rows/s, longest batch (about 3 minutes)
bench-retention: $(STAMP) machine
	$(PY) bench/retention.py

## bench-keyrotation: `miniapp keys rotate` over 100,000 residents vs a plain rewrite of the same
## rows in the same batches; rows/s and the ratio (about a minute)
bench-keyrotation: $(STAMP)
	$(PY) bench/keyrotation.py

## bench-overload: open-loop load at 1x/3x/10x capacity, protected vs unprotected, side by side
## (OVERLOAD_ARGS passes options, e.g. OVERLOAD_ARGS="--quick --configs front,front-nodoor")
bench-overload: $(STAMP) machine
	$(PY) bench/overload.py $(OVERLOAD_ARGS)

## bench-hotpath: lookup, code JSON and code PNG at saturation (wrk) beside a bare Flask hello,
## with their Redis round trips per request (about 2 minutes; needs wrk: apt-get install wrk)
bench-hotpath: $(STAMP) machine
	$(PY) bench/hotpath.py

## profile-hotpath: py-spy on the app's workers under bench-hotpath's load, lookup and code JSON
## 20 s each; the top frames as Markdown, collapsed stacks in instance/profile/ (about 2 minutes;
## PROFILE_ARGS passes options, e.g. PROFILE_ARGS="--route lookup --seconds 10")
profile-hotpath: $(STAMP) machine
	$(PY) bench/profile_hotpath.py $(PROFILE_ARGS)

## vendor: reinstall the browser code of package-lock.json from npm into miniapp_api/static/vendor
## (jsQR for the H5 lookup page, qrcode-generator for the client module); then update the digests
## in tests/integration/lookup/test_page.py and tests/integration/test_client_module.py
vendor:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp package.json package-lock.json "$$tmp"/; \
	(cd "$$tmp" && npm ci --ignore-scripts --no-audit --no-fund); \
	cp "$$tmp"/node_modules/jsqr/dist/jsQR.js miniapp_api/static/vendor/jsQR.js; \
	cp "$$tmp"/node_modules/jsqr/LICENSE miniapp_api/static/vendor/jsQR.LICENSE; \
	cp "$$tmp"/node_modules/qrcode-generator/dist/qrcode.js miniapp_api/static/vendor/qrcode.js
	sha256sum miniapp_api/static/vendor/jsQR.js miniapp_api/static/vendor/qrcode.js

migrate: $(STAMP)
	$(VENV)/bin/miniapp db upgrade

emulator: $(STAMP)
	$(VENV)/bin/miniapp emulator

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache node_modules
