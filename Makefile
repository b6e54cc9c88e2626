# The two commands of the README. Both set up what is missing first.
.PHONY: up test lint setup

setup:
	@scripts/setup.sh

up: setup
	.venv/bin/local-cluster up

lint: setup
	.venv/bin/ruff check .

# Unit tests (no engine) run first, then the integration tests on the real engine.
test: lint
	@scripts/setup.sh --for-tests
	.venv/bin/pytest
