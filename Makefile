# Pantau: `make run` serves the Anambas sample; `make test` passes the suite.
# Both set up what they need: a virtual environment with the pinned
# dependencies, PostgreSQL with PostGIS, the buf linter, Debian's Chromium (the
# report's browser tests), and migrations.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test setup venv db node browser proto lint typecheck test-only bench bench-rules bench-servers bench-delivery bench-names bench-watchlist bench-report clean

# Development settings: var/pki certificates, var/audit key and checkpoints.
RUN_ENV := PANTAU_SETTINGS=deploy/pantau.dev.toml

run: setup
	$(RUN_ENV) $(BIN)/pantau pki --out var/pki
	$(RUN_ENV) $(BIN)/pantau migrate
	$(RUN_ENV) $(BIN)/pantau load-sample
	@echo "rules: the last 30 days first (the sample's history), then now"
	$(RUN_ENV) $(BIN)/pantau rules run --since $$(TZ=Asia/Jakarta date -d '-30 day' +%F)
	@echo "alerts: each line above is a rule's run and the alerts it opened, updated, escalated"
	@echo "  and resolved; from this directory, beside the server, a supervisor runs the rules again"
	@echo "  and sees what changed with: $(BIN)/pantau rules run   (the rules: $(BIN)/pantau rules list)"
	@echo "watchlist: the sample's entries were screened as it loaded (WATCHLIST_MATCH above); the"
	@echo "  scheduler screens whoever is registered, enters, checks in or is seen within seconds."
	@echo "  Names compared, as an analyst tunes the threshold:"
	@echo "  $(BIN)/pantau watchlist compare < tests/data/name_pairs/pairs.csv | head"
	$(RUN_ENV) $(BIN)/pantau review-sample
	$(RUN_ENV) $(BIN)/pantau report --out var/reports/today
	@echo "report: the early-warning report above (open var/reports/today/report.html in a browser;"
	@echo "  the regional government's edition: $(BIN)/pantau report --edition aggregate); the"
	@echo "  scheduler makes both each morning at 06:00 WIB into var/reports/<date>/; a copy is"
	@echo "  checked against the audit trail with: $(BIN)/pantau report --verify var/reports/today"
	@echo "feed keys: var/feed-keys/, encrypted with the DEVELOPMENT passphrase written in"
	@echo "  deploy/pantau.dev.toml; a deployment sets PANTAU_FEED_KEY_PASSPHRASE instead"
	@$(RUN_ENV) PANTAU_DEV_EXCHANGE=1 bash deploy/dev/serve-with-scheduler.sh $(BIN)/pantau

# The tiers whose tests depend on the date, run again with the suite's clock
# set just before and just after midnight in WIB (tests/clock.py), and the
# sample's rule cases, which are set against the day.
CLOCK_TIERS := tests/e2e tests/audit tests/integration tests/tools/test_sample_rules.py

test: setup lint
	$(BIN)/pytest
	PANTAU_TEST_NOW=23:59 $(BIN)/pytest -q $(CLOCK_TIERS)
	PANTAU_TEST_NOW=00:01 $(BIN)/pytest -q $(CLOCK_TIERS)

setup: venv db node browser

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	bash deploy/dev/setup-python.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

db:
	bash deploy/dev/setup-postgres.sh

node: $(NODE_STAMP)

browser:
	bash deploy/dev/setup-browser.sh

$(NODE_STAMP): package.json package-lock.json
	bash deploy/dev/setup-node.sh
	touch $(NODE_STAMP)

proto: venv
	$(PY) deploy/dev/gen_proto.py

lint: venv node
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	npx --no-install buf lint
	npx --no-install buf format --diff --exit-code

test-only:
	$(BIN)/pytest

bench: setup
	$(RUN_ENV) $(BIN)/pantau pki --out var/pki
	$(RUN_ENV) $(BIN)/pantau bench

# The rules' sweep over the same population against a bare scan of the tables they read
# (issue 10); the query plans go to var/bench/rule-plans.txt.
bench-rules: setup
	$(RUN_ENV) $(BIN)/pantau bench-rules

# The gRPC server models side by side on an echo method over mutual TLS, and whether
# each still answers with calls held open that never send their request (issue 11).
bench-servers: setup
	$(RUN_ENV) $(BIN)/pantau pki --out var/pki
	$(RUN_ENV) $(BIN)/pantau bench-servers

# N feed entries through the delivery lanes, and N no-op procrastinate jobs on the same
# database, side by side: both rates and their ratio.
bench-delivery: setup
	$(RUN_ENV) $(BIN)/pantau bench-delivery

# Pantau's name matching (the path of `pantau watchlist compare`) and nomenklatura's
# logic-v2 on the same labelled pairs (tests/data/name_pairs): F1 and pairs per second.
bench-names: setup
	$(BIN)/pantau bench-names

# Screening against 100,000 watchlist entries (issue 13): Watchlist.screen's p99 beside
# its candidate statement alone, the screener's persons per second, name pairs per second.
bench-watchlist: setup
	$(RUN_ENV) $(BIN)/pantau bench-watchlist

# The early-warning report of the bench population (issue 14): both editions made,
# stored and audited, against a bare scan of the tables the report reads.
bench-report: setup
	$(RUN_ENV) $(BIN)/pantau bench-report

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
