"""Keras's own optimizer tests, vendored unchanged: run only through the layer-wise subclasses.

Collected directly they would test plain Keras; tests/test_optimizers_keras_suites.py imports
them and runs every test with the optimizer class replaced by its layer-wise twin.
"""

collect_ignore_glob = ["*_test.py"]
