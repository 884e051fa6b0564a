# The two commands a newcomer needs:  `make up`  (local stack + demo)  and  `make test`.
# Both install what they need: a virtualenv with the project and its dev tooling (devtools/,
# never in the production image), the Kafka jars (Maven), and, for the tests, Debian's
# PostgreSQL and Prometheus (promtool).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= 5
# Dependencies come only from the locks (exact versions with hashes), made by `make lock`:
# requirements/dev.lock for .venv (runtime + `dev` extra + devtools/ + setuptools + uv),
# requirements/runtime.lock for the image (the runtime at the same versions).
LOCK         := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
LOCK_TARGET  := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
LOCK_FLAGS   := --generate-hashes $(LOCK_TARGET) --custom-compile-command 'make lock' --quiet \
                $(if $(UPGRADE),--upgrade)

.PHONY: install up down status test screenshots test-temporal-server lint lock system-deps clean

## The locked dependencies (hash-checked), then both distributions editable without their deps.
## setuptools comes from the lock too, so the editable builds run without build isolation.
install: $(STAMP)

$(STAMP): pyproject.toml devtools/pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . -e ./devtools
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "$(LOCK) does not give what the pyproject.toml files ask for: run 'make lock'"; exit 1; }
	@touch $(STAMP)

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)

## Re-resolve both locks after editing dependencies in pyproject.toml or devtools/pyproject.toml;
## versions already locked stay unless they must move. `make lock UPGRADE=1`: newest allowed.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile requirements/dev.in $(LOCK_FLAGS) \
	  --no-emit-package tierflow --no-emit-package tierflow-dev -o $(LOCK)
	$(BIN)/uv pip compile requirements/runtime.in -c $(LOCK) $(LOCK_FLAGS) \
	  --no-emit-package tierflow -o $(RUNTIME_LOCK)

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
	$(BIN)/mypy schemas workflows activities workers tierflow api whatif devtools

## Lint, types, then the whole suite against real Temporal, Kafka, PostgreSQL and Prometheus.
## The test files are spread over three processes (pytest-xdist), each with its own servers: most
## of a test's time waits on them (about 10 min on 2 cores). TEST_WORKERS=1 runs one process.
TEST_WORKERS ?= 3
test: $(STAMP) system-deps lint
	$(BIN)/pytest $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

## The browser tests, writing their screenshots into docs/screenshots/ (the README shows them).
screenshots: $(STAMP) system-deps
	TIERFLOW_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/e2e

## Only the tests on the Temporal server built from deploy/temporal-server (also in `make test`):
## mTLS, PostgreSQL as in production, and the cluster topology. The first Go build on a machine takes 5-25 min on
## 2 cores; the binary is cached in ~/.cache/tierflow/temporal-server by module checksum.
test-temporal-server: $(STAMP)
	$(BIN)/pytest -m go_build tests/integration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
