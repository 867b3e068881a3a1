"""Keras's own optimizer test suites, unchanged, on the layer-wise subclasses.

The suites (Keras 3.15.1, in tests/keras_optimizer_suites/) import ``keras.src.testing``, the
test-only helpers Keras's own tests use. Each test runs with the optimizer class its module
imported (``SGD``, ``Adam``...) replaced by the layer-wise subclass with every multiplier 1.0:
the same variables (``SGDTest.test_single_step`` counts them), configuration round trip, steps,
weight decay and its exclusions, EMA and clipping as the optimizer it extends.
"""

from pathlib import Path

import keras
import pytest
from keras_optimizer_suites import (
    adadelta_test,
    adagrad_test,
    adam_test,
    adamax_test,
    adamw_test,
    lamb_test,
    lion_test,
    nadam_test,
    rmsprop_test,
    sgd_test,
)

from tlcourse.transfer.optimizers import is_layerwise, layerwise_class

SUITES = [
    (adadelta_test, "Adadelta"),
    (adagrad_test, "Adagrad"),
    (adam_test, "Adam"),
    (adamax_test, "Adamax"),
    (adamw_test, "AdamW"),
    (lamb_test, "Lamb"),
    (lion_test, "Lion"),
    (nadam_test, "Nadam"),
    (rmsprop_test, "RMSprop"),
    (sgd_test, "SGD"),
]

# Every variable of a Keras test is unknown to the multipliers: default_multiplier trains them
# at 1.0, with the warning that says so.
pytestmark = pytest.mark.filterwarnings("ignore:.*without a multiplier:UserWarning")


@pytest.fixture
def layerwise_in_place_of_keras(monkeypatch):
    """Replace each suite's optimizer class by its layer-wise subclass, multipliers 1.0."""
    made = []
    for module, name in SUITES:
        layerwise = layerwise_class(getattr(module, name))

        def make(*args, _cls=layerwise, **kwargs):
            made.append(_cls)
            return _cls(*args, default_multiplier=1.0, **kwargs)

        monkeypatch.setattr(module, name, make)
    yield
    assert made and all(is_layerwise(cls) for cls in made)  # the test used the substitute


# One subclass per suite, so that pytest collects it here (and only here), with the substitute.
for module, name in SUITES:
    case = type(f"TestLayerwise{name}", (getattr(module, f"{name}Test"),), {})
    globals()[case.__name__] = pytest.mark.usefixtures("layerwise_in_place_of_keras")(case)
del module, name, case


@pytest.mark.parametrize("module", [module for module, _ in SUITES], ids=lambda m: m.__name__)
def test_the_vendored_suites_are_the_installed_keras_s_own(module):
    # Some Keras wheels ship their tests: then the vendored copy (below its header) must be
    # the installed version's, or it is time to vendor the suites of the new Keras again.
    installed = Path(keras.__file__).parent / "src" / "optimizers" / Path(module.__file__).name
    if not installed.exists():
        pytest.skip("this Keras wheel ships no tests")
    vendored = Path(module.__file__).read_text().split("\n\n", 1)[1]
    assert vendored == installed.read_text(), f"Keras {keras.__version__} changed {installed.name}"
