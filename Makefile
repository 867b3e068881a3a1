# Two commands for a fresh Linux machine with Python >= 3.11 and pip:
#   make demo   - the main job (creates .venv on first use)
#   make test   - lint, format check and the test suite (creates .venv on first use)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= results

.PHONY: demo test test-lowest venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: venv
	$(BIN)/tlcourse predict data/photos/fruit/$$(ls data/photos/fruit | head -n 1)
	$(BIN)/tlcourse compare --out $(OUT)/demo --resume

TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? 2 : (n > 4 ? 4 : n) )))

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# pytest exits 5 when it collects no test; that is not a failure of the code under test.
	@# One worker per core, 2 to 4, each test file on one of them (its module fixtures, such as
	@# the graded notebooks, are computed once): much of a test is single-threaded Python
	@# (building and tracing Keras models); past 4, memory (a TensorFlow per worker, plus the
	@# notebook kernels) grows faster than the time saved. `pytest` alone runs in one process.
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=30; rc=$$?; [ $$rc -eq 5 ] && echo 'pytest: no tests collected' && rc=0; exit $$rc

# The lowest TensorFlow of the supported range (pyproject.toml): the core tests, in their own venv.
LOWEST_TF ?= 2.20.*
test-lowest:
	$(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install --quiet --upgrade pip
	.venv-lowest/bin/python -m pip install --quiet -e ".[test]" "tensorflow==$(LOWEST_TF)"
	.venv-lowest/bin/python -c "import tensorflow as tf, keras; print('TensorFlow', tf.__version__, 'Keras', keras.__version__)"
	.venv-lowest/bin/python -m pytest -q -n 2 --dist loadfile tests/test_freezing.py tests/test_groups.py \
		tests/test_optimizers.py tests/test_fine_tune.py tests/test_models.py tests/test_data.py \
		tests/test_registry.py tests/test_saved_models.py tests/test_validation.py

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .ruff_cache
