"""Small HGQ2 models for the tests, with bit widths set at random so that they differ per weight.

HGQ2's datalane quantizers are per-lane by default; these models use one width per tensor (what
rnnrtl supports: docs/numerics.md, "HGQ2"), and tie each GRU's state quantizer ``sq`` to the input
quantizer of the layer reading its output (one fixed configuration for both)."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _per_tensor(**kw):
    from hgq.config import QuantizerConfig
    return QuantizerConfig("kif", "datalane", heterogeneous_axis=(), **kw)


def _quantizers(model):
    from hgq.quantizer import Quantizer
    return [q for q in model._flatten_layers() if isinstance(q, Quantizer)]


def randomize(model, seed: int, *, frac=(3, 6), weight_bits=(0, 7)):
    """Give every weight of ``model`` random values and every weight quantizer random per-weight
    widths (``b`` in ``weight_bits``, ``i`` in -1..2, some weights 0 bits), and every trainable
    datalane quantizer random per-tensor ``i`` and ``f`` (``f`` in ``frac``)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for w in layer.trainable_weights:
            if "kernel" in w.path or "bias" in w.path:
                w.assign(rng.normal(0, 0.8, w.shape).astype("float32"))
    for q in _quantizers(model):
        inner = q.quantizer
        if not q.trainable or not any(v.trainable for v in inner.weights):
            continue   # (a fixed quantizer, e.g. a state quantizer tied to the next input's)
        shape = tuple(inner._i.shape)
        if getattr(inner, "_is_weight", False) or q.config.place in ("weight", "bias"):
            inner._b.assign(rng.integers(*weight_bits, endpoint=True, size=shape).astype("float32"))
            inner._i.assign(rng.integers(-1, 2, endpoint=True, size=shape).astype("float32"))
        elif hasattr(inner, "_f"):
            inner._f.assign(np.full(shape, rng.integers(*frac, endpoint=True), "float32"))
            if inner._i.constraint is None or inner.overflow_mode == "WRAP":
                inner._i.assign(np.full(shape, rng.integers(1, 3, endpoint=True), "float32"))
    return model


def gru_model(*, units=4, timesteps=5, features=3, reset_after=True, return_sequences=False,
              go_backwards=False, seed=0, name="hgq_gru"):
    """input -> QGRU -> QDense(relu) -> QDense; ``sq`` of the GRU tied to the dense ``iq``."""
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense, QGRU
    tie = _per_tensor(i0=1, f0=5, trainable=False, overflow_mode="SAT")
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((timesteps, features))
        h = QGRU(units, sq_conf=tie, reset_after=reset_after, return_sequences=return_sequences,
                 go_backwards=go_backwards, name="gru")(inp)
        h = QDense(5, activation="relu", iq_conf=tie, name="dense")(h)
        out = QDense(2, name="out")(h)
    return randomize(keras.Model(inp, out, name=name), seed)


def simplernn_model(*, units=4, timesteps=5, features=3, seed=0, name="hgq_rnn"):
    """input -> QSimpleRNN -> QDense; the dense ``iq`` wide enough for the RNN's output (paq)."""
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense, QSimpleRNN
    wide = _per_tensor(i0=1, f0=8, trainable=False)
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((timesteps, features))
        h = QSimpleRNN(units, name="rnn")(inp)
        out = QDense(3, iq_conf=wide, name="out")(h)
    return randomize(keras.Model(inp, out, name=name), seed)


def inputs(n: int, timesteps: int, features: int, seed: int = 1) -> np.ndarray:
    """Random inputs, a tenth of them large (the input quantizers wrap or saturate)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.5, (n, timesteps, features))
    x[: n // 10] *= 8
    return x.astype("float32")


def dense_oq_model(*, timesteps=5, features=3, seed=0, name="hgq_oq"):
    """input -> QDense(relu, its own output quantizer) -> QDense (default input quantizer, wider
    than the output quantizer: it keeps every value) on a sequence."""
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense
    narrow = _per_tensor(i0=2, f0=3, trainable=False, overflow_mode="SAT")
    wide = _per_tensor(i0=3, f0=5, trainable=False)
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((timesteps, features))
        h = QDense(4, activation="relu", enable_oq=True, oq_conf=narrow, name="dense")(inp)
        out = QDense(2, iq_conf=wide, name="out")(h)
    return randomize(keras.Model(inp, out, name=name), seed)
