"""Property: ``rnnrtl.convert`` on random small models and random configurations either works or
raises the documented :class:`rnnrtl.RnnrtlError` — never any other exception.

Configurations are drawn from valid and invalid keys, values and types alike; models from the
supported recurrent kinds (of a fixed or a variable length) and a few refused options. A result
must also emulate, and report its timing or refuse the schedule with a :class:`rnnrtl.RnnrtlError`
(a variable length without ``timesteps``: a :class:`rnnrtl.ConfigError`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import functools  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import rnnrtl  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::rnnrtl.errors.RnnrtlWarning")


@functools.lru_cache(maxsize=None)
def _model(kind: str, units: int, steps, features: int, return_sequences: bool, dense: int,
           go_backwards: bool):
    import keras
    keras.utils.set_random_seed(units * 7 + features)
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
             "simplernn": keras.layers.SimpleRNN}[kind]
    layers = [keras.Input((steps, features), name="x"),
              layer(units, return_sequences=return_sequences, go_backwards=go_backwards, name="rnn")]
    if dense:
        layers.append(keras.layers.Dense(dense, activation="relu", name="dense"))
    return keras.Sequential(layers, name=f"m_{kind}")


FORMATS = st.sampled_from(["fixed<16,6>", "fixed<16,6>", "fixed<8,3>", "ufixed<10,2>",
                           "ap_fixed<12,4,AP_RND,AP_SAT>", "ap_fixed<10,3>", "fixed<24,10>",
                           "fixed<16,20>", "fixed<4,4>", "fixed<0,0>", "fixd<8,2>", "fixed<70,4>",
                           "ap_fixed<12,4,AP_RND,AP_SAT,2>", 16, None, [1, 2]])
VALUES = st.one_of(st.integers(-3, 70), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=6), st.none(), st.booleans())


def _mostly(valid):
    """``valid`` three times in four, else any value of any type."""
    return st.one_of(valid, valid, valid, VALUES)


KEYS = {
    "precision": st.one_of(FORMATS, st.dictionaries(st.sampled_from(
        ["default", "result", "weight", "state", "gate", "accum", "bogus"]), FORMATS, max_size=3)),
    "reuse": _mostly(st.integers(1, 40)),
    "reuse_input": _mostly(st.integers(1, 12)),
    "reuse_recurrent": _mostly(st.integers(1, 12)),
    "mode": st.sampled_from(["static", "static", "unrolled", "parallel", 3]),
    "interleave": _mostly(st.integers(1, 4)),
    "pipeline": st.sampled_from(["shallow", "deep", "deep", "deeper", None]),
    "adder_fanin": _mostly(st.integers(1, 8)),
    "timesteps": _mostly(st.integers(0, 4)),
    "numerics": st.sampled_from(["default", "hls4ml", "hls4ml", "exact"]),
    "tables": st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["sigmoid", "tanh", "softmax", "relu"]),
        st.fixed_dictionaries({}, optional={"size": st.sampled_from([16, 64, 1000, 0, -4, 2 ** 30]),
                                            "range": _mostly(st.sampled_from([2, 8, 0.5]))}),
        max_size=2)),
    "layers": st.dictionaries(st.sampled_from(["rnn", "rnn", "dense", "nope"]), st.dictionaries(
        st.sampled_from(["reuse", "reuse", "interleave", "mode", "precision", "colour"]),
        _mostly(st.integers(1, 6)), max_size=2), max_size=2),
}
#: Valid values only, so that conversion gets past the parser and into quantization and timing.
VALID = {
    "precision": st.one_of(st.sampled_from(["fixed<16,6>", "fixed<8,3>", "ap_fixed<10,3>",
                                            "ap_fixed<12,4,AP_RND,AP_SAT>", "fixed<24,10>"]),
                           st.fixed_dictionaries({}, optional={
                               "state": st.just("fixed<18,8>"), "weight": st.just("fixed<8,2>")})),
    "reuse": st.integers(1, 8),
    "reuse_recurrent": st.integers(1, 4),
    "mode": st.sampled_from(["static", "unrolled"]),
    "interleave": st.integers(1, 3),
    "pipeline": st.sampled_from(["shallow", "deep"]),
    "adder_fanin": st.integers(2, 6),
    "timesteps": st.integers(2, 4),
    "numerics": st.sampled_from(["default", "hls4ml"]),
    "tables": st.just({"sigmoid": {"size": 64, "range": 8}, "tanh": {"size": 128, "range": 4}}),
}
#: A third well-typed, a third any values of any type, a third an unknown key.
CONFIGS = st.one_of(
    st.fixed_dictionaries({}, optional=VALID),
    st.fixed_dictionaries({}, optional=KEYS),
    st.fixed_dictionaries({"bogus_key": VALUES}))
MODELS = st.tuples(st.sampled_from(["lstm", "gru", "simplernn"]), st.integers(1, 4),
                   st.sampled_from([2, 3, None]), st.integers(1, 3), st.booleans(),
                   st.sampled_from([0, 2]), st.sampled_from([False] * 5 + [True]))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(model=MODELS, config=CONFIGS)
def test_convert_works_or_raises_the_documented_error(model, config):
    keras_model = _model(*model)
    try:
        design = rnnrtl.convert(keras_model, config)
    except rnnrtl.RnnrtlError:
        return
    for steps in [model[2]] if model[2] else [1, 3]:   # a variable length: any length
        y = design.emulate(np.random.default_rng(0).standard_normal((4, steps, model[3])))
        assert np.isfinite(y).all()
    try:
        assert design.timing.latency >= 1
    except rnnrtl.ConfigError as e:
        if design.timesteps is not None or "give timesteps" not in str(e):
            return
        # a variable length without timesteps: given them, the same design has its timing for them
        # (or the schedule is refused for another reason)
        try:
            timed = rnnrtl.convert(keras_model, {**config, "timesteps": 3})
            assert timed.timing.latency >= 1 and timed.timing.timesteps == 3
        except rnnrtl.RnnrtlError:
            pass
    except rnnrtl.RnnrtlError:
        pass
