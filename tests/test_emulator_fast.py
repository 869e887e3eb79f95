"""The emulator's compiled LSTM kernels (rnnrtl/emulator_kernels.py) and its float32 products:
the same codes, overflows and trace as the numpy steps (``Emulator(kernels=False)``), on every
path the kernels take (inputs projected in the kernel or by BLAS, float32 / float64 / int64
products, table and requantized activations, masks, go_backwards, Bidirectional, stacked layers),
and the value ranges that make float32 exact hold on real traces.

The numpy steps are themselves held to an independent integer reference (tests/test_emulator.py),
so agreement here is agreement with it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import rnnrtl
from rnnrtl import emulator
from rnnrtl.emulator import Emulator, _LSTMEmu

keras = pytest.importorskip("keras")


def _model(layers, steps=5, features=3, seed=0, mask_value=None):
    rng = np.random.default_rng(seed)
    first = [keras.layers.Masking(mask_value, name="mask")] if mask_value is not None else []
    model = keras.Sequential([keras.Input((steps, features)), *first, *layers,
                              keras.layers.Dense(3, name="head")])
    for layer in model.layers:      # every layer's, so that no weight is Keras's random draw
        layer.set_weights([rng.uniform(-1.2, 1.2, size=w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    return model


def _inputs(n=37, steps=5, features=3, seed=1, scale=2.0):
    return np.random.default_rng(seed).uniform(-scale, scale, size=(n, steps, features))


def _lstm_emus(emu):
    """The LSTM step emulators of an Emulator (inside go_backwards / Bidirectional wrappers)."""
    found = []
    for e in emu.layers:
        for part in (e, getattr(e, "inner", None), getattr(e, "forward", None),
                     getattr(e, "backward", None)):
            part = getattr(part, "inner", part)
            if isinstance(part, _LSTMEmu) and part not in found:
                found.append(part)
    return found


def assert_same(design, x, *, expect_kernel=True, expect_overflow=False):
    """Kernels and numpy steps agree exactly: codes, floats, overflows, every trace point."""
    fast, slow = Emulator(design.network), Emulator(design.network, kernels=False)
    lstms = _lstm_emus(fast)
    assert lstms and all((e.kernel_args is not None) == expect_kernel for e in lstms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rnnrtl.FixedPointOverflowWarning)
        a, b = fast.run(x, trace=True), slow.run(x, trace=True)
        plain = fast.run(x)                          # without a trace: the same numbers
    assert np.array_equal(a.codes, b.codes) and np.array_equal(plain.codes, b.codes)
    assert np.array_equal(a.y, b.y)
    assert a.overflows == b.overflows == plain.overflows
    assert bool(a.overflows) == expect_overflow, a.overflows
    assert list(a.trace) == list(b.trace)
    for point in b.trace:
        assert a.trace[point].shape == b.trace[point].shape, point
        assert np.array_equal(a.trace[point], b.trace[point]), point
    return a


NARROW = {"precision": {"default": "fixed<9,3,RND_CONV,SAT_SYM>", "state": "fixed<7,1,TRN_ZERO,WRAP>",
                        "activation": "fixed<8,1,RND_ZERO,SAT_ZERO>"},
          "tables": {"sigmoid": {"size": 64, "range": 8}, "tanh": {"size": 32, "range": 2}}}


@pytest.mark.parametrize("cfg, overflow", [(None, False), (NARROW, True)], ids=["default", "narrow"])
def test_lstm_kernel_matches_numpy(cfg, overflow):
    design = rnnrtl.convert(_model([keras.layers.LSTM(6, name="rnn")]), cfg)
    result = assert_same(design, _inputs(scale=2.0 if cfg is None else 6.0), expect_overflow=overflow)
    if cfg is not None:   # the wrapped / saturated points really went through the kernel's rules
        assert {"rnn.gate", "rnn.c"} <= set(result.overflows)


def test_requantized_activations_and_hard_sigmoid():
    """relu (g and tanh_c requantized, not tables) with a hard_sigmoid table, overflowing."""
    layer = keras.layers.LSTM(5, activation="relu", recurrent_activation="hard_sigmoid", name="rnn")
    design = rnnrtl.convert(_model([layer]), {"precision": {"default": "fixed<8,3>",
                                                             "activation": "fixed<6,1>"}})
    result = assert_same(design, _inputs(scale=6.0), expect_overflow=True)
    assert {"rnn.g", "rnn.tanh_c"} & set(result.overflows)


def test_linear_recurrent_activation_counts_each_gate():
    """A requantized σ (linear): i, f and o overflow at their own points, as the numpy step."""
    layer = keras.layers.LSTM(4, recurrent_activation="linear", name="rnn")
    design = rnnrtl.convert(_model([layer]), {"precision": {"default": "fixed<8,2>",
                                                             "activation": "fixed<6,1>"}})
    result = assert_same(design, _inputs(scale=4.0), expect_overflow=True)
    assert {"rnn.i", "rnn.f", "rnn.o"} <= set(result.overflows)


def test_stacked_sequences_and_blas_input_projection(monkeypatch):
    """A second LSTM reading the first's sequence: its input range is the first's h range; the
    projection W·x_t by BLAS (INLINE_FEATURES 0) or in the kernel gives the same numbers."""
    model = _model([keras.layers.LSTM(7, return_sequences=True, name="rnn"),
                    keras.layers.LSTM(4, return_sequences=True, name="rnn2")])
    design = rnnrtl.convert(model)
    x = _inputs()
    base = assert_same(design, x)
    monkeypatch.setattr(_LSTMEmu, "INLINE_FEATURES", 0)
    monkeypatch.setattr(_LSTMEmu, "AX_BLOCK", 7 * 4 * 2)        # several blocks of steps
    again = assert_same(design, x)
    assert np.array_equal(base.codes, again.codes)


@pytest.mark.parametrize("precision, want", [("fixed<16,6>", np.float32), ("fixed<24,4>", np.float64),
                                             ("fixed<16,6>", None)])
def test_product_types_follow_the_bounds(precision, want, monkeypatch):
    """Wider formats move the recurrent product from float32 to float64; with no float type
    exact (forced here: no format inside int64's 62 bits is that wide with these weights), the
    products are int64."""
    if want is None:
        monkeypatch.setattr(emulator, "_FLOAT_EXACT", 1)
        monkeypatch.setattr(emulator, "_FLOAT32_EXACT", 1)
    design = rnnrtl.convert(_model([keras.layers.LSTM(6, name="rnn")]),
                            {"precision": {"default": precision}})
    emu = _lstm_emus(Emulator(design.network))[0]
    assert emu.mh.float_type is want
    assert_same(design, _inputs())


def test_go_backwards():
    model = _model([keras.layers.LSTM(4, return_sequences=True, go_backwards=True, name="back"),
                    keras.layers.LSTM(3, go_backwards=True, name="back2")])
    assert_same(rnnrtl.convert(model), _inputs())


def test_masking():
    model = _model([keras.layers.LSTM(4, return_sequences=True, name="fwd"),
                    keras.layers.LSTM(3, name="last")], mask_value=0.0)
    design = rnnrtl.convert(model)
    x = _inputs(n=9)
    x[2, 3:] = 0.0          # trailing masked steps
    x[4, :2] = 0.0          # leading masked steps
    x[5] = 0.0              # all masked
    assert_same(design, x)


@pytest.mark.parametrize("merge_mode", ["concat", "ave"])
def test_bidirectional(merge_mode):
    model = _model([keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True),
                                               merge_mode=merge_mode, name="bi"),
                    keras.layers.Bidirectional(keras.layers.LSTM(3), name="bi2")])
    assert_same(rnnrtl.convert(model), _inputs())


def test_hls4ml_products_keep_the_numpy_step():
    """Per-product rounding (numerics: hls4ml) is not a kernel's: the numpy step runs."""
    design = rnnrtl.convert(_model([keras.layers.LSTM(4, name="rnn")]),
                            {"numerics": "hls4ml", "precision": {"default": "ap_fixed<16,6>"}})
    assert_same(design, _inputs(), expect_kernel=False)


def test_h_range_bounds_every_h_and_is_tight():
    """The bound that licenses float32 products holds on a trace, and is no wider than the
    products of the tables' extremes allow."""
    design = rnnrtl.convert(_model([keras.layers.LSTM(6, name="rnn")]))
    emu = _lstm_emus(Emulator(design.network))[0]
    lo, hi = emu.h_range()
    fmt = design.network.layers[0].output_fmt
    assert fmt.min_code < lo < 0 < hi < fmt.max_code         # narrower than the format
    h = Emulator(design.network).run(_inputs(n=200, scale=20.0), trace=True).trace["rnn.h"]
    assert lo <= h.min() and h.max() <= hi
    assert h.max() >= hi - (hi >> 4)                          # saturated inputs come close
