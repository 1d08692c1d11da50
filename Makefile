.PHONY: bench-peers run test bench lint format
run:
	./scripts/portal.sh
test:
	./scripts/test.sh
lint:
	./scripts/bootstrap.sh && ./scripts/lint.sh
format:
	./scripts/bootstrap.sh && .venv/bin/ruff format . && .venv/bin/ruff check --fix .
bench:
	./scripts/bootstrap.sh && .venv/bin/python -m tests.bench

# The portal against Celery, bare django-q2 and Prefect (issue 16): the peers go into their own venv, never .venv;
# the stamp (pip freeze) re-installs them when tests/bench/peers/requirements.txt changes.
BENCH_PEERS_VENV ?= /tmp/bench-peers
BENCH_PEERS_REQUIREMENTS := tests/bench/peers/requirements.txt
$(BENCH_PEERS_VENV)/installed.txt: $(BENCH_PEERS_REQUIREMENTS)
	test -x $(BENCH_PEERS_VENV)/bin/python || python3 -m venv $(BENCH_PEERS_VENV)
	$(BENCH_PEERS_VENV)/bin/pip install -q -r $(BENCH_PEERS_REQUIREMENTS)
	$(BENCH_PEERS_VENV)/bin/pip freeze > $@
bench-peers: $(BENCH_PEERS_VENV)/installed.txt
	S=$$(mktemp -d) && scripts/services.sh start "$$S" && \
		(. "$$S/env"; BENCH_PEERS_PYTHON=$(BENCH_PEERS_VENV)/bin/python .venv/bin/python -m tests.bench peers); \
		rc=$$?; scripts/services.sh stop "$$S"; exit $$rc
