# The two commands a newcomer needs:  `make up`  (local stack + demo)  and  `make test`.
# Both install what they need: a virtualenv with the project and its dev tooling (devtools/,
# never in the production image), the Kafka jars (Maven), and, for the tests, Debian's
# PostgreSQL and Prometheus (promtool).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= 5

.PHONY: up down status test test-temporal-mtls lint system-deps clean

$(STAMP): pyproject.toml devtools/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./devtools
	@touch $(STAMP)

## Bring up Temporal, Kafka, the database and worker/ingress/api, then submit demo requests.
up: $(STAMP)
	$(BIN)/tierflow dev up --demo $(DEMO)
	$(BIN)/tierflow dev status

down: $(STAMP)
	$(BIN)/tierflow dev down

status: $(STAMP)
	$(BIN)/tierflow dev status

## Debian packages the tests use for real: PostgreSQL, Prometheus (promtool), Chromium (console).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi wenquanyi || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  (service prometheus stop || pkill -x prometheus || true) >/dev/null 2>&1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas workflows activities workers tierflow api devtools

## Lint, types, then the whole suite against real Temporal, Kafka, PostgreSQL and Prometheus.
test: $(STAMP) system-deps lint
	$(BIN)/pytest

## Temporal mTLS against a real server configured for it (builds deploy/temporal-tls with Go once;
## 8-25 min cold on 2 cores, cached in ~/.cache/tierflow), kept out of `make test` for that cost.
test-temporal-mtls: $(STAMP)
	$(BIN)/pytest -m go_build tests/integration/test_temporal_mtls_server.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
