"""Small Keras models trained on scikit-learn's ``load_digits``, for tests (importable helper).

Each 8x8 digit image is a sequence of 8 time steps (rows) of 8 features (pixels), scaled by 1/16;
80 % of the 1797 images train, 20 % are held out (a fixed, stratified split). Training is seeded
(``keras.utils.set_random_seed``) and takes a few seconds per model on a CPU. Trained models are
cached per process, so a pytest session trains each kind once.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

__all__ = ["Digits", "TrainedModel", "digits", "build_model", "trained_model", "KINDS"]

SPLIT_SEED = 0
#: Recurrent layer kinds :func:`trained_model` knows.
KINDS = ("lstm", "gru", "gru_reset_before", "simplernn")


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray   # [n, 8, 8] float32 in [0, 1]
    y_train: np.ndarray   # [n] int labels
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class TrainedModel:
    kind: str
    model: object          # keras.Model
    accuracy: float        # on the held-out set
    y_float: np.ndarray    # Keras float predictions on the held-out set, [n, 10]


@functools.lru_cache(maxsize=None)
def digits() -> Digits:
    """The digits data set as sequences, split 80/20 (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32).reshape(-1, 8, 8)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    return Digits(x_train, y_train, x_test, y_test)


def _recurrent_layer(kind: str, units: int, **kwargs):
    import keras
    if kind == "lstm":
        return keras.layers.LSTM(units, name="lstm", **kwargs)
    if kind == "gru":
        return keras.layers.GRU(units, reset_after=True, name="gru", **kwargs)
    if kind == "gru_reset_before":
        return keras.layers.GRU(units, reset_after=False, name="gru", **kwargs)
    if kind == "simplernn":
        return keras.layers.SimpleRNN(units, name="simplernn", **kwargs)
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


def build_model(kind: str, units: int = 16, *, seed: int = 1234, classes: int = 10):
    """``Input(8, 8) -> <kind>(units) -> Dense(classes, softmax)`` (untrained, seeded)."""
    import keras
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8), name="input"),
        _recurrent_layer(kind, units),
        keras.layers.Dense(classes, activation="softmax", name="output"),
    ], name=f"digits_{kind}")


def train(model, *, epochs: int = 8, seed: int = 1234, lr: float = 1e-2, batch_size: int = 64):
    """Train ``model`` on the digits training split (seeded); returns held-out accuracy."""
    import keras
    d = digits()
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    pred = model.predict(d.x_test, batch_size=512, verbose=0)
    return float(np.mean(pred.argmax(-1) == d.y_test)), np.asarray(pred, dtype=np.float64)


@functools.lru_cache(maxsize=None)
def trained_model(kind: str, units: int = 16, epochs: int = 8, seed: int = 1234) -> TrainedModel:
    """A trained ``<kind>(units) -> Dense(10, softmax)`` digits classifier (cached per process)."""
    model = build_model(kind, units, seed=seed)
    accuracy, y_float = train(model, epochs=epochs, seed=seed)
    return TrainedModel(kind, model, accuracy, y_float)
