.PHONY: run test bench lint format
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
