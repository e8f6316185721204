# The two commands of the README: `make run` and `make test` (and `make bench`, the HTTP
# benchmark). Nothing else needs installing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
WECHAT_EMULATOR_PORT ?= 8081
WECHAT_API_BASE ?= http://127.0.0.1:$(WECHAT_EMULATOR_PORT)/
ELICENSE_LIBRARY_PORT ?= 8082
ELICENSE_LIBRARY_URL ?= http://127.0.0.1:$(ELICENSE_LIBRARY_PORT)/
export PORT WECHAT_EMULATOR_PORT WECHAT_API_BASE ELICENSE_LIBRARY_PORT ELICENSE_LIBRARY_URL

.PHONY: run test test-cluster cluster install migrate lint bench bench-rush bench-statistics

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	./scripts/install-system-packages.sh
	$(BIN)/flask db upgrade
	$(BIN)/flask catalog load
	$(BIN)/flask calendar seed
	$(BIN)/flask staff demo
	$(BIN)/flask demo story

# the web app, the WeChat and e-license library emulators (and the worker when REDIS_URL is
# set), together
run: migrate
	@echo "API docs:     http://127.0.0.1:$(PORT)/docs"
	@echo "OpenAPI:      http://127.0.0.1:$(PORT)/openapi.json"
	@echo "Health check: http://127.0.0.1:$(PORT)/healthz  (readiness: /readyz)"
	@echo "WeChat emulator: http://127.0.0.1:$(WECHAT_EMULATOR_PORT)/ (log: /_emulator/log)"
	@echo "E-license library emulator: $(ELICENSE_LIBRARY_URL) (holdings: /_emulator/log)"
	PATH="$(abspath $(BIN)):$$PATH" exec $(BIN)/honcho --no-prefix -f Procfile.dev start web wechat library $(if $(REDIS_URL),worker,)

# real MariaDB and Redis are installed when missing and started for the run by the tests
test: install
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto --dist worksteal

# more than one host, on this machine: SeaweedFS (S3), MariaDB, Redis, two web hosts behind
# HAProxy and two workers (Procfile.cluster, config/haproxy.cfg, tests/cluster.py), until
# Ctrl-C; the balancer on LB_PORT (8000), the hosts on WEB1_PORT / WEB2_PORT (8001, 8002)
cluster: install
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	$(BIN)/python -m tests.cluster

# the story through the balancer with a web host and a worker killed (tests/test_cluster.py)
test-cluster: install
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	$(BIN)/pytest -m cluster tests/test_cluster.py

lint: install
	$(BIN)/ruff check .

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# the product over HTTP beside bare Flask (docs/bench-http.txt); starts its own MariaDB and
# Redis; PROFILE=1 adds the py-spy profiles and per-request overheads (docs/bench-http.md)
bench: $(VENV)/.bench-installed
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	./scripts/install-bench-tools.sh
	$(BIN)/python -m bench $(if $(PROFILE),--profile,) $(BENCH_ARGS)

# issue 14's dashboard at 10 000 and 1 000 000 applications, from the summary tables
# (docs/bench-statistics.txt); STATISTICS_ARGS="--sizes 10000" for the small one only
bench-statistics: $(VENV)/.bench-installed
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	$(BIN)/python -m bench.statistics $(STATISTICS_ARGS)

# issue 20's morning rush: 40 applicants at once behind a proxy, production-shaped
# (docs/bench-rush.txt); RUSH_ARGS="--applicants 20" for a smaller one
bench-rush: $(VENV)/.bench-installed
	./scripts/install-system-packages.sh
	./scripts/install-test-servers.sh
	$(BIN)/python -m bench.rush $(RUSH_ARGS)
