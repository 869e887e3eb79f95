"""Shared fixtures: quiet CPU-only TensorFlow, small digits models trained once per session."""

from __future__ import annotations

import os

# Before anything imports keras / tensorflow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # so that test modules can `import models`
    sys.path.insert(0, str(TESTS))

import models  # noqa: E402

HLS4ML_FIXTURES = TESTS / "fixtures" / "hls4ml-1.3"


@pytest.fixture(scope="session")
def digits():
    """The digits data set as [n, 8 steps, 8 features] sequences, split 80/20."""
    return models.digits()


def _trained(kind):
    m = models.trained_model(kind)
    # A sensible classifier, or the agreement tests below mean little.
    assert m.accuracy >= 0.8, f"{kind} digits model reached only {m.accuracy:.3f} accuracy"
    return m


@pytest.fixture(scope="session")
def lstm_model():
    """LSTM(16) -> Dense(10, softmax) trained on digits (a :class:`models.TrainedModel`)."""
    return _trained("lstm")


@pytest.fixture(scope="session")
def gru_model():
    """GRU(16, reset_after=True) -> Dense(10, softmax) trained on digits."""
    return _trained("gru")


@pytest.fixture(scope="session")
def gru_reset_before_model():
    """GRU(16, reset_after=False) -> Dense(10, softmax) trained on digits."""
    return _trained("gru_reset_before")


@pytest.fixture(scope="session")
def simplernn_model():
    """SimpleRNN(16) -> Dense(10, softmax) trained on digits."""
    return _trained("simplernn")


@pytest.fixture(scope="session", params=models.KINDS)
def trained(request):
    """Each trained digits model in turn."""
    return _trained(request.param)


@pytest.fixture(scope="session")
def hls4ml_dir():
    """``tests/fixtures/hls4ml-1.3``: hls4ml 1.3.0 anchor models and reference data."""
    assert HLS4ML_FIXTURES.is_dir(), HLS4ML_FIXTURES
    return HLS4ML_FIXTURES


def anchor(name, hls4ml_dir=HLS4ML_FIXTURES):
    """``(model path, data dict)`` of an hls4ml-1.3 anchor model."""
    return hls4ml_dir / f"{name}.keras", dict(np.load(hls4ml_dir / f"{name}_data.npz"))


@pytest.fixture(scope="module")
def toptag(hls4ml_dir):
    """The hls4ml-1.3 LSTM jet tagger (one sigmoid output), converted with defaults, and its data."""
    import rnnrtl
    path, data = anchor("toptag-lstm", hls4ml_dir)
    return rnnrtl.convert(path), data


def pytest_configure(config):
    # Keras 3.15 + numpy 2 noise from model.predict / get_weights, not ours.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
