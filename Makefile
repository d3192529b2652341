# The README's two commands, for scripts and CI.
.PHONY: setup demo test test-slow lint

setup:
	tools/setup.sh --system

demo: setup
	cd egs/demo/s5 && ./run.sh

# Unit tests and the small recipes on real speech: under 10 minutes on 2 cores.
test: setup
	.venv/bin/ruff check asr tests tools
	.venv/bin/python -m pytest -q tests

# The tests marked slow (the demo recipe's 50 epochs, run_comparison.sh): what `make test` leaves out.
test-slow: setup
	.venv/bin/python -m pytest -q --run-slow -m slow tests

lint: setup
	.venv/bin/ruff check asr tests tools
