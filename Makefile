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

# The portal against Celery and bare django-q2 (issue 16): the peers go into their own venv, never .venv.
BENCH_PEERS_VENV ?= /tmp/bench-peers
bench-peers:
	test -x $(BENCH_PEERS_VENV)/bin/python || (python3 -m venv $(BENCH_PEERS_VENV) && \
		$(BENCH_PEERS_VENV)/bin/pip install "celery>=5.4,<6" "redis>=5" "django-q2>=1.7" packaging)
	S=$$(mktemp -d) && scripts/services.sh start "$$S" && \
		(. "$$S/env"; BENCH_PEERS_PYTHON=$(BENCH_PEERS_VENV)/bin/python .venv/bin/python -m tests.bench peers); \
		rc=$$?; scripts/services.sh stop "$$S"; exit $$rc
