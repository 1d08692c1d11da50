.PHONY: run test bench lint
run:
	./scripts/portal.sh
test:
	./scripts/test.sh
bench:
	./scripts/bootstrap.sh && .venv/bin/python -m tests.bench
