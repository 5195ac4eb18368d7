# Two commands do all set-up: `make run` (demo on SQLite) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export FLASK_APP := web
export PYTHONPATH := $(CURDIR)

.PHONY: run serve test test-db install install-test translations messages bench bench-pg clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# front-end libraries (bpmn-js, chart.js) from the npm registry, served by the app
node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# the browser for the browser tests: Debian's chromium (+ CJK fonts for Chinese pages)
.browser-installed:
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || apt-get install -y -qq fonts-noto-cjk
	touch $@

# the official documents (文书, engine/documents.py): WeasyPrint renders them with Debian's pango/harfbuzz and
# the CJK fonts fontconfig finds — AR PL UMing (宋/明体 for 仿宋-style body text), AR PL UKai (楷体),
# WenQuanYi Zen Hei (黑体), Noto Serif/Sans CJK (标题)
.documents-installed:
	ldconfig -p | grep -q libpangoft2-1.0 && ldconfig -p | grep -q libharfbuzz-subset \
	  || (apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
	fc-list 2>/dev/null | grep -qi "AR PL UMing" && fc-list 2>/dev/null | grep -qi "AR PL UKai" \
	  && fc-list 2>/dev/null | grep -qi "WenQuanYi Zen Hei" && fc-list 2>/dev/null | grep -qi "Noto Serif CJK" \
	  || (apt-get update -qq && apt-get install -y -qq fonts-arphic-uming fonts-arphic-ukai fonts-wqy-zenhei fonts-noto-cjk)
	touch $@

install: $(VENV)/.installed node_modules/.installed .documents-installed
install-test: $(VENV)/.installed-test node_modules/.installed .browser-installed .documents-installed

translations: install
	$(BIN)/pybabel compile -d web/translations

run: install translations
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask demo logins
	$(BIN)/flask serve --host 127.0.0.1 --port 5000

# The production shape (README, "Production"): migrate, then gunicorn (WEB_CONCURRENCY workers, no timers in
# them) plus SCHEDULERS `flask scheduler` processes, stopped together. Settings from the environment, e.g.
# SUPERVISION_CONFIG=production SECRET_KEY=… DATABASE_URL=postgresql://… make serve
serve: install translations
	$(BIN)/flask db upgrade
	BIN=$(BIN) deploy/serve

test: install-test translations
	$(BIN)/python -m pytest

# The database tests again, against the database in TEST_DATABASE_URL (CI points it at PostgreSQL).
test-db: install-test translations
	@test -n "$$TEST_DATABASE_URL" || (echo "set TEST_DATABASE_URL" && exit 1)
	REQUIRE_NO_SKIPS=1 $(BIN)/python -m pytest -m "not nodb"

bench: install-test
	$(BIN)/python bench/engine_throughput.py

# The same against the local PostgreSQL (its own database `bench`, recreated on every run).
bench-pg: install-test
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'bench'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE bench"
	DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench $(BIN)/python bench/engine_throughput.py --repeat 3

clean-db:
	rm -f instance/supervision.db*

# After adding user-facing strings: rebuild the Chinese catalog from the sources; new translations go into
# web/translations/zh_<area>.json (message id -> Chinese). Lists what is still untranslated.
messages: install
	$(BIN)/python web/translations/fill_catalog.py
	$(BIN)/pybabel compile -d web/translations
