# gridlink: the two commands are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
GRIDLINK := $(BIN)/gridlink

.PHONY: run test setup setup-test lint typecheck pytest bench stop clean

## make run: install what is missing, start PostGIS, migrate, load the demo city, serve the API
run: setup
	$(GRIDLINK) up

## make test: lint, type-check and the whole pytest suite against a real PostGIS
test: setup-test lint typecheck pytest

setup:
	@scripts/bootstrap.sh

setup-test:
	@scripts/bootstrap.sh --test

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy geo api layers data cli

pytest:
	$(BIN)/pytest -q

## make bench: every benchmark (minutes; figures go to bench/RESULTS.md by hand)
bench: setup-test
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

stop:
	$(GRIDLINK) db stop

clean: stop
	rm -rf .gridlink
