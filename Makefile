# Two commands for a fresh Linux machine with Python >= 3.11 and pip:
#   make demo   - the main job (creates .venv on first use)
#   make test   - lint, format check and the test suite (creates .venv on first use)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= results

.PHONY: demo test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: venv
	$(BIN)/tlcourse predict data/photos/fruit/$$(ls data/photos/fruit | head -n 1)
	$(BIN)/tlcourse compare --out $(OUT)/demo --resume

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# pytest exits 5 when it collects no test; that is not a failure of the code under test.
	@# Two workers, each test file on one of them (its module fixtures, such as the graded
	@# notebooks, are computed once): CI has 2 cores, and much of a test is single-threaded
	@# Python (building and tracing Keras models). `pytest` alone runs everything in one process.
	$(BIN)/python -m pytest -n 2 --dist loadfile; rc=$$?; [ $$rc -eq 5 ] && echo 'pytest: no tests collected' && rc=0; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
