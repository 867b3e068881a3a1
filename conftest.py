"""Test-session settings shared by the tests and the doctests of the package.

At the repository root so that it applies to ``tests/`` and to the docstring examples collected
from ``tlcourse/`` by ``--doctest-modules`` alike.
"""

import os

import pytest

# Entry points, not modules with examples: importing them runs the command line.
collect_ignore_glob = ["tlcourse/**/__main__.py"]

# Quiet TensorFlow's C++ start-up chatter in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep tests out of the user's cache: one converted-weights cache per test session."""
    previous = os.environ.get("TLCOURSE_CACHE_DIR")
    os.environ["TLCOURSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("tlcourse-cache"))
    yield
    if previous is None:
        os.environ.pop("TLCOURSE_CACHE_DIR", None)
    else:
        os.environ["TLCOURSE_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory):
    """A cache folder holding the converted EfficientNet-Lite0 weights, made once per session."""
    from tlcourse.models.backbones.efficientnet_lite import convert_efficientnet_lite0

    root = tmp_path_factory.mktemp("tlcourse_cache")
    convert_efficientnet_lite0(root / "weights")
    return root


@pytest.fixture
def use_converted_cache(monkeypatch, converted_cache):
    """Point TLCOURSE_CACHE_DIR at :func:`converted_cache` for one test."""
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(converted_cache))
    return converted_cache
