"""Bundled demo: two small trained Keras recurrent jet taggers and their held-out test data.

The models and data are produced, offline and deterministically, by ``scripts/make_demo.py``
(whose docstring describes the physics-inspired toy jet generator). Each input is a jet of
20 constituents (time steps, sorted by decreasing pT, zero-padded) x 6 standardised features;
the output is the sigmoid probability that the jet is a 3-prong, top-like jet.

* ``jets-lstm``: ``Input(20, 6) -> LSTM(20) -> Dense(64, relu) -> Dense(1, sigmoid)``
* ``jets-gru``: the same with ``GRU(20, reset_after=True)``

Example::

    import keras
    from rnnrtl import demo

    model = keras.models.load_model(demo.model_path("jets-lstm"), safe_mode=True)
    data = demo.load_data()
    y = model.predict(data["x_test"], batch_size=256)   # == data["y_lstm"]
"""

from __future__ import annotations

import atexit
import contextlib
import json
import pathlib
from importlib import resources
from typing import Any

import numpy as np

from ..errors import FlowError

__all__ = ["MODEL_NAMES", "model_path", "load_data"]

#: Names accepted by :func:`model_path`.
MODEL_NAMES: tuple[str, ...] = ("jets-lstm", "jets-gru")

_DATA_FILE = "jets_data.npz"
_ARRAYS = ("x_test", "labels", "y_lstm", "y_gru")

# Keeps resources extracted from a non-filesystem install (e.g. a zip) alive until exit.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def _resource_path(filename: str) -> pathlib.Path:
    """A real filesystem path to the bundled resource ``filename``."""
    resource = resources.files(__name__).joinpath(filename)
    if isinstance(resource, pathlib.Path):
        path = resource
    else:
        path = _extracted.enter_context(resources.as_file(resource))
    if not path.is_file():
        raise FileNotFoundError(f"demo resource {filename!r} is missing; "
                                "regenerate it with `python scripts/make_demo.py`")
    return path


def model_path(name: str) -> pathlib.Path:
    """Path of the bundled ``.keras`` file of demo model ``name`` (one of :data:`MODEL_NAMES`).

    Raises :class:`~rnnrtl.errors.FlowError` (a ``ValueError``) for an unknown name.
    """
    if name not in MODEL_NAMES:
        raise FlowError(f"unknown demo model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return _resource_path(f"{name}.keras")


def load_data() -> dict[str, Any]:
    """The demo test set and reference outputs.

    Returns a dict with

    * ``x_test``: ``float32 (2000, 20, 6)``, already standardised network inputs;
    * ``labels``: ``int32 (2000,)``, 1 for signal (3-prong) jets, 0 for background;
    * ``y_lstm``, ``y_gru``: ``float32 (2000, 1)``, the Keras models' outputs on ``x_test``;
    * ``meta``: dict parsed from the stored JSON (generator description, seed, feature names,
      standardisation ``mean``/``std``, per-model test accuracy and training time, versions).
    """
    with np.load(_resource_path(_DATA_FILE), allow_pickle=False) as npz:
        data: dict[str, Any] = {key: npz[key] for key in _ARRAYS}
        data["meta"] = json.loads(str(npz["meta"]))
    return data
