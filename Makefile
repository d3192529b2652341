# The README's two commands, for scripts and CI.
.PHONY: setup demo test lint

setup:
	tools/setup.sh --system

demo: setup
	cd egs/demo/s5 && ./run.sh

test: setup
	.venv/bin/ruff check asr tests tools
	.venv/bin/python -m pytest -q tests

lint: setup
	.venv/bin/ruff check asr tests tools
