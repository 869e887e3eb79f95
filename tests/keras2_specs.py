"""The models of the Keras 2 fixtures (``tests/fixtures/keras2/``), as data both Keras APIs build.

``scripts/make_keras2_fixtures.py`` builds each with Keras 2 (``tf_keras``) and saves it as
``<name>.h5``; ``tests/test_frontend_h5.py`` builds the same model with Keras 3, sets the weights
the script stored, and checks both files convert to the same design. A layer is ``(class name,
keyword arguments, Keras 2-only keyword arguments)``; ``TimeDistributed`` takes ``layer=(class,
kwargs)``. Legacy options (``implementation``, ``unroll``, dropout values) are set on purpose: they
must be accepted.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPECS", "build", "seed_weights", "inputs"]

SPECS = {
    "lstm": dict(api="sequential", input=(8, 8), layers=[
        ("LSTM", dict(units=8, name="lstm"), dict(implementation=1)),
        ("Dense", dict(units=4, activation="softmax", name="out"), {}),
    ]),
    "gru_reset_after": dict(api="sequential", input=(8, 8), layers=[
        ("GRU", dict(units=8, reset_after=True, dropout=0.2, recurrent_dropout=0.1, name="gru"), {}),
        ("Dropout", dict(rate=0.3, name="drop"), {}),
        ("Dense", dict(units=6, name="hidden"), {}),
        ("Activation", dict(activation="relu", name="relu"), {}),
        ("Dense", dict(units=3, activation="softmax", name="out"), {}),
    ]),
    "gru_reset_before": dict(api="sequential", input=(8, 8), layers=[
        ("GRU", dict(units=6, reset_after=False, name="gru"), {}),
        ("Dense", dict(units=3, activation="sigmoid", name="out"), {}),
    ]),
    "simplernn": dict(api="functional", input=(8, 5), layers=[
        ("SimpleRNN", dict(units=6, unroll=True, dropout=0.1, name="rnn"), {}),
        ("Dense", dict(units=2, name="out"), {}),
    ]),
    "stacked": dict(api="functional", input=(None, 5), layers=[
        ("LSTM", dict(units=6, return_sequences=True, name="lstm"), dict(implementation=2)),
        ("GRU", dict(units=5, return_sequences=True, reset_after=True, name="gru"), {}),
        ("TimeDistributed", dict(layer=("Dense", dict(units=3, activation="tanh")), name="per_step"), {}),
    ]),
    # Zero-padded sequences (inputs() pads them): the mask reaches both recurrent layers.
    "masked": dict(api="sequential", input=(8, 4), pad=True, layers=[
        ("Masking", dict(mask_value=0.0, name="mask"), {}),
        ("GRU", dict(units=5, return_sequences=True, name="gru"), {}),
        ("LSTM", dict(units=4, name="lstm"), {}),
        ("Dense", dict(units=2, name="out"), {}),
    ]),
    "time_distributed": dict(api="sequential", input=(8, 4), layers=[
        ("SimpleRNN", dict(units=5, return_sequences=True, use_bias=False, name="rnn"), {}),
        ("TimeDistributed", dict(layer=("Dense", dict(units=4)), name="td"), {}),
        ("Activation", dict(activation="sigmoid", name="sig"), {}),
    ]),
}

#: Input steps used for the stored outputs of a model whose input length is ``None``.
STEPS = 8


def _layer(keras, cls: str, kwargs: dict):
    if cls == "TimeDistributed":
        inner_cls, inner_kwargs = kwargs["layer"]
        return keras.layers.TimeDistributed(getattr(keras.layers, inner_cls)(**inner_kwargs),
                                            **{k: v for k, v in kwargs.items() if k != "layer"})
    return getattr(keras.layers, cls)(**kwargs)


def build(keras, name: str, *, keras2: bool):
    """Model ``name`` of :data:`SPECS` built with the ``keras`` module given (``tf_keras`` with
    ``keras2=True``, which adds the Keras 2-only options, or Keras 3's ``keras``)."""
    spec = SPECS[name]
    inp = keras.Input(spec["input"], name="x")
    layers = [_layer(keras, cls, {**kwargs, **(legacy if keras2 else {})})
              for cls, kwargs, legacy in spec["layers"]]
    if spec["api"] == "sequential":
        return keras.Sequential([inp] + layers, name=f"k2_{name}")
    h = inp
    for layer in layers:
        h = layer(h)
    return keras.Model(inp, h, name=f"k2_{name}")


def seed_weights(model, seed: int = 0):
    """Every weight drawn from U(-0.6, 0.6), float32 (biases non-zero, unlike a fresh model)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.6, 0.6, size=np.shape(w)).astype(np.float32)
                       for w in model.get_weights()])
    return model


def inputs(name: str, n: int = 16, seed: int = 1) -> np.ndarray:
    """The fixed inputs the stored float outputs were computed on: U(0, 1), ``[n, steps, features]``;
    for a spec with ``pad``, each sequence zero-padded after a random length (1 .. steps) and one
    sequence with a zero step in the middle."""
    steps, features = SPECS[name]["input"]
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, steps or STEPS, features)).astype(np.float32)
    if SPECS[name].get("pad"):
        for row, length in zip(x, rng.integers(1, x.shape[1] + 1, size=n)):
            row[length:] = 0.0
        x[0, 1] = 0.0
    return x
