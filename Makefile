# cellclr — the two commands of the README are `make` (the main job) and `make test` (the tests).
# Each bootstraps .venv on first use (scripts/bootstrap.sh) and is safe to rerun: finished steps are kept.

PY := .venv/bin/python
CELLCLR := .venv/bin/cellclr
PROFILE ?= quick
DATA_DIR ?= data/synthetic-small
RUN_DIR ?= runs/$(PROFILE)

.PHONY: all venv data notebooks book book-check test lint regression clean

all: book  ## the main job: synthetic data -> every notebook (papermill) -> the book

venv:
	@bash scripts/bootstrap.sh

data: venv  ## the `small` synthetic stand-in (resumable; skipped when complete)
	$(CELLCLR) synth --preset small --seed 0 --out $(DATA_DIR)

notebooks: data  ## execute every notebook in order under $(PROFILE); executed copies go to book/executed
	$(CELLCLR) run-notebooks --profile $(PROFILE) --data-dir $(DATA_DIR) --run-dir $(RUN_DIR)

book: notebooks  ## render the executed notebooks into book/_build/html
	.venv/bin/jupyter-book build book/ --warningiserror --keep-going
	@echo "book: open book/_build/html/index.html"

book-check: venv  ## open the built book in headless Chromium: pages, images, navigation, console
	@bash scripts/install_browser.sh
	$(PY) scripts/book_check.py book/_build/html

test: venv  ## lint + the whole test suite (executes every notebook with the ci profile)
	@bash scripts/install_browser.sh
	.venv/bin/ruff check .
	.venv/bin/pytest

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

regression: venv  ## papermill regression run: make regression PROFILE=ci|quick|full
	$(CELLCLR) run-notebooks --profile $(PROFILE) --run-dir $(RUN_DIR)

clean:
	rm -rf book/_build book/executed runs
