"""Keras ``Masking`` (issue 19 item 4): Keras' own behaviour first, then the emulator against Keras,
then the hardware against the emulator, and the refusals.

What rnnrtl builds on is checked against Keras itself here (``test_keras_*``): a masked step keeps
every recurrent layer's state and a ``return_sequences`` layer repeats its previous output there
(zeros before the first unmasked step); a ``return_sequences=False`` layer ends with the state after
the last unmasked step; Dense and ``TimeDistributed(Dense)`` compute masked steps as usual and pass
the mask on to the next recurrent layer.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.errors import ConfigError, UnsupportedModelError  # noqa: E402

keras = pytest.importorskip("keras")

T, F = 7, 3
WIDE = {"precision": {"default": "fixed<32,16>", "activation": "fixed<24,4>"},
        "tables": {"sigmoid": {"size": 4096}, "tanh": {"size": 4096}}}
KINDS = ("LSTM", "GRU", "SimpleRNN")


def _padded(batch=12, *, seed=0, value=0.0):
    """Random sequences with masked steps (every feature ``value``): padding at the end (the usual
    case, of random lengths, one sequence all padding), at the start, and in the middle."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (batch, T, F))
    for b in range(batch):
        pattern = b % 4
        if pattern == 0:
            x[b, rng.integers(1, T):] = value          # padding at the end
        elif pattern == 1:
            x[b, :rng.integers(1, T - 1)] = value      # at the start
        elif pattern == 2:
            x[b, 2:4] = value                           # in the middle
            x[b, T - 1] = value                          # and the last step
    x[batch - 1] = value                                 # a sequence that is all padding
    return x


def _masked(x, value=0.0):
    return np.all(x == value, axis=-1)


def _model(layers, *, mask_value=0.0, name="masked", seed=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.Masking(mask_value, name="mask"),
                              *layers], name=name)
    rng = np.random.default_rng(seed)
    for w in model.weights:  # large enough that every state visibly moves on every unmasked step
        w.assign(rng.normal(0, 0.6, w.shape))
    return model


def _rnn(kind, units, **kwargs):
    return getattr(keras.layers, kind)(units, **kwargs)


# -- 1. Keras itself -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_keras_masked_step_repeats_previous_output(kind):
    x = _padded()
    model = _model([_rnn(kind, 4, return_sequences=True, name="r")])
    y = model.predict(x, verbose=0)
    unmasked = model.layers[-1](x.astype("float32"))  # the same layer without the mask
    masked = _masked(x)
    for b in range(len(x)):
        previous = np.zeros(4)
        for t in range(T):
            if masked[b, t]:
                np.testing.assert_array_equal(y[b, t], previous)
            previous = y[b, t]
    # the mask matters: where a step before was masked, the unmasked layer differs
    assert np.abs(np.asarray(unmasked) - y).max() > 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_keras_last_output_is_state_after_last_unmasked_step(kind):
    x = _padded()
    seq = _model([_rnn(kind, 4, return_sequences=True, name="r")])
    last = _model([_rnn(kind, 4, name="r")])
    last.set_weights(seq.get_weights())
    y_seq, y_last = seq.predict(x, verbose=0), last.predict(x, verbose=0)
    np.testing.assert_allclose(y_last, y_seq[:, -1], atol=1e-6)
    np.testing.assert_array_equal(y_last[-1], 0)  # all padding: zeros


@pytest.mark.parametrize("wrap", [False, True], ids=["Dense", "TimeDistributed"])
def test_keras_dense_computes_masked_steps_and_passes_the_mask(wrap):
    x = _padded()
    dense = keras.layers.Dense(3, name="d")
    model = _model([_rnn("LSTM", 4, return_sequences=True, name="l"),
                    keras.layers.TimeDistributed(dense, name="td") if wrap else dense,
                    _rnn("GRU", 2, return_sequences=True, name="g")])
    mid = keras.Model(model.inputs, model.layers[-2].output).predict(x, verbose=0)
    y = model.predict(x, verbose=0)
    masked = _masked(x)
    bias = dense.get_weights()[1]
    assert np.abs(bias).min() > 0.01
    for b in range(len(x)):
        for t in range(T):
            if masked[b, t] and t == 0:  # the LSTM's output is zeros: Dense gives its bias, not 0
                np.testing.assert_allclose(mid[b, t], bias, atol=1e-6)
            if masked[b, t] and t > 0:   # the repeated LSTM output, the same Dense output
                np.testing.assert_allclose(mid[b, t], mid[b, t - 1], atol=1e-6)
                np.testing.assert_array_equal(y[b, t], y[b, t - 1])  # the GRU keeps its state


# -- 2. the emulator against Keras ---------------------------------------------------------------------

def _convert(model, config=None):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rnnrtl.convert(model, config)


def _emulate(design, x):
    return design.run(x, warn=False)


STACKS = {
    "lstm-seq": lambda: [_rnn("LSTM", 4, return_sequences=True, name="r")],
    "gru-last": lambda: [_rnn("GRU", 4, name="r"), keras.layers.Dense(2, name="d")],
    "simplernn-seq": lambda: [_rnn("SimpleRNN", 4, return_sequences=True, name="r")],
    "gru-before-last": lambda: [_rnn("GRU", 3, reset_after=False, name="r")],
    "stacked": lambda: [_rnn("LSTM", 4, return_sequences=True, name="l1"),
                        _rnn("GRU", 3, return_sequences=True, name="g1"),
                        _rnn("SimpleRNN", 2, name="s1")],
    "dense-between": lambda: [_rnn("GRU", 4, return_sequences=True, name="g1"),
                              keras.layers.Dense(3, activation="relu", name="d"),
                              _rnn("LSTM", 2, return_sequences=True, name="l2")],
    "dense-first": lambda: [keras.layers.Dense(4, activation="tanh", name="d"),
                            _rnn("LSTM", 3, return_sequences=True, name="l")],
}


@pytest.mark.parametrize("stack", STACKS)
def test_emulator_tracks_keras_on_masked_sequences(stack):
    x = _padded()
    model = _model(STACKS[stack]())
    y_keras = model.predict(x, verbose=0)
    y = _emulate(_convert(model, WIDE), x).y
    assert np.abs(y - y_keras).max() <= 0.05
    # without honouring the mask the emulator would be far off
    plain = keras.Sequential([keras.Input((T, F)), *model.layers[1:]])
    assert np.abs(plain.predict(x, verbose=0) - y_keras).max() > 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_emulated_codes_hold_on_masked_steps(kind):
    """In integers, at the default formats: a masked step's output codes are the previous step's
    (zeros first); the last output of a return_sequences=False twin is the last sequence output."""
    x = _padded(seed=4)
    seq = _model([_rnn(kind, 4, return_sequences=True, name="r")], seed=2)
    last = _model([_rnn(kind, 4, name="r")], seed=2)
    last.set_weights(seq.get_weights())
    codes = _emulate(_convert(seq), x).codes
    masked = _masked(x)
    for b in range(len(x)):
        previous = np.zeros(4, dtype=np.int64)
        for t in range(T):
            if masked[b, t]:
                np.testing.assert_array_equal(codes[b, t], previous)
            else:
                assert np.any(codes[b, t] != previous) or t == 0
            previous = codes[b, t]
    np.testing.assert_array_equal(_emulate(_convert(last), x).codes, codes[:, -1])


def test_nonzero_mask_value():
    """mask_value 0.5 (exact in the input format): only steps whose every feature is 0.5 are
    masked; a step with some features 0.5 is not."""
    x = _padded(value=0.5)
    x[0, 1] = [0.5, 0.5, 0.0]
    model = _model([_rnn("LSTM", 4, return_sequences=True, name="r")], mask_value=0.5)
    y = _emulate(_convert(model, WIDE), x).y
    assert np.abs(y - model.predict(x, verbose=0)).max() <= 0.05


def test_design_round_trip_keeps_the_mask(tmp_path):
    model = _model([_rnn("GRU", 3, return_sequences=True, name="r")], mask_value=0.25)
    d = _convert(model)
    d.save(tmp_path / "ir")
    back = rnnrtl.load_design(tmp_path / "ir")
    assert back.network.mask_value == 0.25
    x = _padded(value=0.25)
    np.testing.assert_array_equal(_emulate(back, x).codes, _emulate(d, x).codes)


# -- refusals --------------------------------------------------------------------------------------------

def test_mask_value_not_representable_is_refused():
    model = _model([_rnn("LSTM", 2, name="r")], mask_value=0.3)
    with pytest.raises(ConfigError, match=r"'mask'.*mask_value=0\.3.*fixed<16,6"):
        _convert(model)


def test_masking_not_first_is_refused():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.Dense(3, name="d"),
                              keras.layers.Masking(0.0, name="late_mask"),
                              keras.layers.LSTM(2, name="r")])
    with pytest.raises(UnsupportedModelError, match=r"'late_mask'.*first layer.*'d'"):
        _convert(model)


def test_masking_under_hls4ml_numerics_is_refused():
    model = _model([_rnn("LSTM", 2, name="r")])
    with pytest.raises(ConfigError, match=r"numerics: hls4ml.*'mask'.*numerics: default"):
        _convert(model, {"numerics": "hls4ml"})


# -- 3. the hardware against the emulator ------------------------------------------------------------

HW_STACKS = {
    "stacked": lambda: [_rnn("LSTM", 4, return_sequences=True, name="l1"),
                        _rnn("GRU", 3, return_sequences=True, name="g1"),
                        _rnn("SimpleRNN", 2, name="s1"), keras.layers.Dense(2, name="d")],
    "sequence-out": lambda: [_rnn("GRU", 3, reset_after=False, return_sequences=True, name="g1"),
                             keras.layers.Dense(2, name="d")],
    "last": lambda: [_rnn("LSTM", 3, name="l1")],
    "dense-first": lambda: [keras.layers.Dense(4, activation="tanh", name="d0"),
                            keras.layers.Dense(3, name="d1"),
                            _rnn("LSTM", 3, return_sequences=True, name="l1")],
    "dense-between": lambda: [_rnn("GRU", 4, return_sequences=True, name="g1"),
                              keras.layers.Dense(3, activation="relu", name="d"),
                              _rnn("SimpleRNN", 2, name="s1")],
}

HW_CASES = [  # (stack, configuration, mask_value)
    ("stacked", None, 0.0),
    ("stacked", {"reuse": 2, "pipeline": "deep"}, 0.0),   # credit links between the layers
    ("sequence-out", {"reuse": 3}, -1.5),                  # a negative mask code
    ("last", None, 0.0),
    ("last", {"interleave": 2}, 0.25),                     # two sequences' states side by side
    ("stacked", {"layers": {"l1": {"mode": "unrolled", "reuse": 4}, "g1": {"mode": "unrolled"}}},
     0.0),                                                  # unrolled into unrolled into static
    ("sequence-out", {"mode": "unrolled", "reuse": 2}, 0.0),  # every stage emits
    ("last", {"mode": "unrolled"}, -1.5),
    ("dense-first", {"reuse": 2}, 0.0),                    # Dense layers pass the mask on
    ("dense-between", {"pipeline": "deep", "layers": {"s1": {"mode": "unrolled"}}}, 0.5),
]


def _beats(design, x):
    """Input beats and expected output beats (the emulator's codes) of sequences ``x``."""
    result = design.run(x, trace=True, warn=False)
    xin, codes = result.trace["input"], np.asarray(result.codes)
    inputs = [[(xin[b, t], t == T - 1) for t in range(T)] for b in range(len(x))]
    if codes.ndim == 2:
        outputs = [[(codes[b].tolist(), 1)] for b in range(len(x))]
    else:
        outputs = [[(codes[b, t].tolist(), int(t == T - 1)) for t in range(T)] for b in range(len(x))]
    return inputs, outputs


@pytest.mark.parametrize("stack,config,mask_value", HW_CASES,
                         ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(HW_CASES)])
def test_hardware_matches_emulator_on_masked_sequences(stack, config, mask_value):
    import dataclasses
    from test_hw_network import _run  # the stream checker of the network tests
    from rnnrtl.emulator import Emulator
    from rnnrtl.hw.network import NetworkCore
    d = _convert(_model(HW_STACKS[stack](), mask_value=mask_value), config)
    x = _padded(8, seed=5, value=mask_value)
    inputs, outputs = _beats(d, x)
    unmasked = Emulator(dataclasses.replace(d.network, mask_value=None)).run(x, warn=False).codes
    assert np.any(unmasked != d.run(x, warn=False).codes)  # the mask matters here
    _run(NetworkCore(d.network), inputs, outputs, idle=0.3, stall=0.3)


# -- 4. written cores: manifest, vectors, Verilator through `rnnrtl simulate` ----------------------------

def _saved(tmp_path, layers, name, **kwargs):
    path = tmp_path / f"{name}.keras"
    _model(layers, name=name, **kwargs).save(path)
    return path


def test_manifest_says_how_to_mark_a_masked_step(tmp_path):
    import json
    d = _convert(_model([_rnn("GRU", 3, return_sequences=True, name="r")], mask_value=-1.5))
    d.write(tmp_path / "out", samples=30)
    masking = json.loads((tmp_path / "out" / "manifest.json").read_text())["input"]["masking"]
    assert masking["mask_value"] == -1.5
    assert masking["mask_code"] == -1.5 * 2 ** 10  # fixed<16,6>: 10 fractional bits
    assert "every lane" in masking["how"]
    with np.load(tmp_path / "out" / "vectors.npz") as vec:
        masked = np.all(vec["x_codes"] == masking["mask_code"], axis=-1)
        x = vec["x"]
    # the random vectors are padded: some sequences end with masked steps, some are not masked
    assert masked[:, -1].sum() >= 5 and (~masked.any(axis=1)).sum() >= 5
    np.testing.assert_array_equal(masked, _masked(x, -1.5))


VERILATOR_CASES = {
    # name: (layers, configuration file text, vectors from --data (padded like _padded) or written)
    "lstm_gru_stacked": (lambda: [_rnn("LSTM", 4, return_sequences=True, name="l1"),
                                  _rnn("GRU", 3, name="g1"), keras.layers.Dense(2, name="out")],
                         "reuse: 2\n", False),
    "dense_simplernn_sequence": (lambda: [keras.layers.Dense(3, activation="relu", name="d0"),
                                          _rnn("SimpleRNN", 3, return_sequences=True, name="s1"),
                                          keras.layers.Dense(2, name="out")], "", True),
    # (mode: unrolled is checked in Amaranth's simulator above: 14 cells here take Verilator ~3 min)
}


@pytest.mark.slow
@pytest.mark.parametrize("case", VERILATOR_CASES)
def test_masked_core_passes_verilator(case, tmp_path):
    """Written with padded vectors, simulated by `rnnrtl simulate` under random stalls: bit-exact
    against the emulator, at the manifest's latency and II; lint clean with the documented
    waivers."""
    pytest.importorskip("cocotb")
    from cli_helpers import invoke
    from rnnrtl.verify import verilator_bin
    if verilator_bin() is None:
        pytest.skip("no Verilator (rnnrtl.verify.verilator_bin)")
    layers, config, data = VERILATOR_CASES[case]
    out = tmp_path / "out"
    (tmp_path / "cfg.yaml").write_text(config or "{}\n")
    args = ["convert", _saved(tmp_path, layers(), case), "-o", out, "-c", tmp_path / "cfg.yaml"]
    if data:
        np.savez(tmp_path / "data.npz", x_test=_padded(60, seed=9))
        args += ["--data", tmp_path / "data.npz"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    with np.load(out / "vectors.npz") as vec:
        assert np.all(vec["x_codes"] == 0, axis=-1).any()  # the vectors hold masked steps
    result = invoke("simulate", out, "--samples", 60)
    assert result.exit_code == 0, result.output
    assert "0 mismatches" in result.output
    from rnnrtl import verify
    report = verify.lint(out)
    assert report.clean, str(report)


BAD = [
    # (model: "lstm" Masking -> LSTM, "late" Dense -> Masking -> LSTM; mask_value; configuration
    #  file text; fragments of the one-line error)
    ("not_exact", "lstm", 0.3, None, ("'mask'", "mask_value=0.3", "fixed<16,6")),
    ("not_first", "late", 0.0, None, ("'late_mask'", "first layer")),
    ("hls4ml", "lstm", 0.0, "numerics: hls4ml\n", ("numerics: hls4ml", "'mask'")),
]


@pytest.mark.parametrize("name,model,mask_value,config,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_masking_is_refused_by_the_cli(name, model, mask_value, config, fragments, tmp_path):
    from cli_helpers import assert_user_error, invoke
    if model == "late":
        keras.utils.set_random_seed(0)
        path = tmp_path / "m.keras"
        keras.Sequential([keras.Input((T, F)), keras.layers.Dense(3, name="d"),
                          keras.layers.Masking(0.0, name="late_mask"),
                          keras.layers.LSTM(2, name="r")]).save(path)
    else:
        path = _saved(tmp_path, [_rnn("LSTM", 2, name="r")], name, mask_value=mask_value)
    args = ["convert", path, "-o", tmp_path / "out"]
    if config:
        (tmp_path / "cfg.yaml").write_text(config)
        args += ["-c", tmp_path / "cfg.yaml"]
    assert_user_error(invoke(*args), *fragments)
    assert not (tmp_path / "out").exists()


def test_report_names_the_mask(tmp_path):
    from cli_helpers import invoke
    path = _saved(tmp_path, [_rnn("GRU", 2, name="r")], "rep", mask_value=0.5)
    result = invoke("convert", path, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "every input code is 512 (mask_value 0.5)" in report  # fixed<16,6>: 0.5 · 2**10


@pytest.mark.parametrize("config", [None, {"mode": "unrolled", "reuse": 3},
                                    {"layers": {"l1": {"interleave": 2}}}])
def test_masking_costs_no_cycles(config):
    """The same network with and without Masking: the same latency, II and multipliers."""
    import dataclasses
    from rnnrtl.design import Design
    d = _convert(_model([_rnn("GRU", 3, return_sequences=True, name="g1"),
                         _rnn("LSTM", 2, name="l1")]), config)
    plain = Design(dataclasses.replace(d.network, mask_value=None))
    assert d.network.mask_value == 0.0
    assert d.timing.to_dict() == plain.timing.to_dict()


def test_trace_holds_the_kept_state():
    """In the trace, a masked step's ``h`` is the kept state; its other points (here the LSTM's
    ``c``, computed and dropped) are the step's own values, as docs/numerics.md says."""
    x = _padded(seed=6)
    d = _convert(_model([_rnn("LSTM", 3, name="r")]))
    trace = d.run(x, trace=True, warn=False).trace
    h, c = trace["r.h"], trace["r.c"]
    masked = _masked(x)
    assert h.shape == c.shape == (len(x), T, 3)
    for b, t in zip(*np.nonzero(masked)):
        np.testing.assert_array_equal(h[b, t], h[b, t - 1] if t else 0)
    # a masked step after an unmasked one: its c is computed (and dropped), not the kept c
    b, t = next((b, t) for b, t in zip(*np.nonzero(masked)) if t > 0 and not masked[b, t - 1])
    assert np.any(c[b, t] != c[b, t - 1])


def _padded_digits(x, rng):
    """Digits (8 rows of 8 pixels) as 12-step sequences: the rows at a random offset 0..4, zero
    steps (masked) before and after them."""
    out = np.zeros((len(x), 12, 8), dtype=np.float32)
    for b, offset in enumerate(rng.integers(0, 5, len(x))):
        out[b, offset:offset + 8] = x[b]
    return out


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_trained_masked_model_agrees_with_keras(kind):
    """A digits classifier trained behind Masking(0) on zero-padded sequences (a third of the
    steps masked, before and after the rows). At the default 16-bit formats the decisions agree
    with Keras float on >= 99 % of the held-out digits."""
    from models import digits
    d, rng = digits(), np.random.default_rng(3)
    x_train, x_test = _padded_digits(d.x_train, rng), _padded_digits(d.x_test, rng)
    assert not _masked(d.x_test).any() and 0.3 < _masked(x_test).mean() < 0.4
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((12, 8)), keras.layers.Masking(0.0, name="mask"),
                              _rnn(kind, 16, name="r"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss="sparse_categorical_crossentropy")
    model.fit(x_train, d.y_train, epochs=8, batch_size=64, verbose=0)
    y_keras = model.predict(x_test, verbose=0)
    assert np.mean(y_keras.argmax(-1) == d.y_test) > 0.85  # trained: the point is what follows
    y = _emulate(_convert(model), x_test.astype(np.float64)).y
    assert np.mean(y.argmax(-1) == y_keras.argmax(-1)) >= 0.99


def test_a_layer_kind_without_masking_is_refused_by_name():
    """A layer kind that does not honour the mask (a future one, here a stand-in) is refused where
    the mask reaches it, not ignored; after the mask ends any kind is fine."""
    from types import SimpleNamespace
    from rnnrtl.masking import check_layers
    other = SimpleNamespace(kind="bidirectional", name="bi", return_sequences=True)
    last = SimpleNamespace(kind="gru", name="g", return_sequences=False)
    with pytest.raises(UnsupportedModelError, match=r"'bi' \(bidirectional\).*Masking"):
        check_layers([other], 0.0)
    check_layers([last, other], 0.0)
    check_layers([other], None)
