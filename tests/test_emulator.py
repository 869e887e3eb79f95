"""The bit-accurate emulator: agreement with Keras, reuse invariance, an independent integer
reference, traces, overflow reporting, IR round trip, and the hls4ml 1.3 anchor models."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

import rnnrtl
from reference import keras_weights, quantized_weight_codes, run_reference

keras = pytest.importorskip("keras")

WIDE = {"precision": {"default": "fixed<32,16>", "activation": "fixed<24,4>"},
        "tables": {"sigmoid": {"size": 4096}, "tanh": {"size": 4096}}}


def agreement(y, y_ref):
    """Fraction of equal decisions: argmax for several outputs, > 0.5 for one."""
    y, y_ref = np.asarray(y), np.asarray(y_ref)
    if y.shape[-1] == 1:
        return float(np.mean((y[..., 0] > 0.5) == (y_ref[..., 0] > 0.5)))
    return float(np.mean(y.argmax(-1) == y_ref.argmax(-1)))


def emulate_quiet(design, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnrtl.FixedPointOverflowWarning)  # none expected
        return design.emulate(x, **kw)


# -- agreement with Keras float -------------------------------------------------------------------

def test_default_numerics_agree_with_keras(trained, digits):
    design = rnnrtl.convert(trained.model)
    assert str(design.network.input_fmt).startswith("fixed<16,6,")
    y = emulate_quiet(design, digits.x_test)
    assert y.shape == trained.y_float.shape
    agree = agreement(y, trained.y_float)
    print(f"\n{trained.kind}: default fixed<16,6> argmax agreement {agree:.4f}, "
          f"max |y - keras| {np.abs(y - trained.y_float).max():.4f}")
    assert agree >= 0.99
    assert design.overflows == {} and design.weight_overflows == {}
    # Outputs are probabilities (softmax applied on the host to the integer logits).
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-9)


def test_wide_formats_track_keras_closely(trained, digits):
    design = rnnrtl.convert(trained.model, WIDE)
    layer = design.network.layers[0]
    assert str(layer.output_fmt).startswith("fixed<32,16,")
    assert str(layer.recurrent_activation.out_fmt if hasattr(layer, "recurrent_activation")
               else layer.activation.out_fmt).startswith("fixed<24,4,")
    y = emulate_quiet(design, digits.x_test)
    err = float(np.abs(y - trained.y_float).max())
    print(f"\n{trained.kind}: wide formats max |y - keras| {err:.5f}")
    assert err <= 0.01
    # ...and much closer than the default format, so the wide formats are really in force.
    y_default = emulate_quiet(rnnrtl.convert(trained.model), digits.x_test)
    assert err < float(np.abs(y_default - trained.y_float).max())


# -- reuse invariance -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before", "simplernn"])
def test_reuse_never_changes_numbers(kind, digits):
    import models
    model = models.trained_model(kind).model
    rnn = model.layers[0].name
    x = digits.x_test[:48]
    base_y, base_trace = emulate_quiet(rnnrtl.convert(model, {"reuse": 1}), x, trace=True)
    configs = [{"reuse": r} for r in (2, 3, 5)]
    configs += [{"layers": {rnn: {"reuse_input": r}}} for r in (2, 3, 5)]
    configs += [{"layers": {rnn: {"reuse_recurrent": r}, "output": {"reuse_input": r}}} for r in (2, 3, 5)]
    configs += [{"reuse_input": 3, "reuse_recurrent": 5}]
    for cfg in configs:
        design = rnnrtl.convert(model, cfg)
        sched = design.network.layer(rnn).schedule
        flat = cfg.get("layers", {}).get(rnn, {})
        want_in = flat.get("reuse_input", cfg.get("reuse_input", cfg.get("reuse", 1)))
        want_rec = flat.get("reuse_recurrent", cfg.get("reuse_recurrent", cfg.get("reuse", 1)))
        assert (sched.reuse_input, sched.reuse_recurrent) == (want_in, want_rec), cfg
        y, trace = emulate_quiet(design, x, trace=True)
        assert np.array_equal(y, base_y), cfg
        assert trace.keys() == base_trace.keys()
        for point in trace:
            assert np.array_equal(trace[point], base_trace[point]), (cfg, point)


# -- an independent integer reference -------------------------------------------------------------

KINDS = ("lstm", "lstm_relu_hard", "gru", "gru_reset_before", "simplernn", "simplernn_relu")


def _tiny_model(kind, *, seed, units=2, features=3, steps=3, ties=True):
    """A tiny network with known weights (multiples of 1/128 with ``ties``, so narrow formats see
    exact ties), and a Dense(2, softmax) head."""
    rng = np.random.default_rng(seed)
    inp = keras.Input((steps, features), name="input")
    if kind == "lstm":
        rnn = keras.layers.LSTM(units, name="rnn")
    elif kind == "lstm_relu_hard":
        rnn = keras.layers.LSTM(units, activation="relu", recurrent_activation="hard_sigmoid", name="rnn")
    elif kind == "simplernn":
        rnn = keras.layers.SimpleRNN(units, name="rnn")
    elif kind == "simplernn_relu":
        rnn = keras.layers.SimpleRNN(units, activation="relu", name="rnn")
    else:
        rnn = keras.layers.GRU(units, reset_after=(kind == "gru"), name="rnn")
    out = keras.layers.Dense(2, activation="softmax", name="head")(rnn(inp))
    model = keras.Model(inp, out, name=f"tiny_{kind}")
    for layer in model.layers[1:]:
        shapes = [w.shape for w in layer.get_weights()]
        if ties:
            values = [rng.integers(-190, 191, size=s) / 128.0 for s in shapes]
        else:
            values = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
        layer.set_weights([v.astype(np.float32) for v in values])
    return model


def _tiny_inputs(seed, batch=6, steps=3, features=3):
    rng = np.random.default_rng(seed + 1000)
    x = rng.integers(-700, 701, size=(batch, steps, features)) / 256.0   # ties for <= 7 frac bits
    x[0, 0, 0] = 5.0     # out of range of narrow formats
    x[1, 1, 2] = -4.5
    return x


def _narrow(input_, state, rec, **precision):
    """A narrow configuration; ``state``/``rec`` go to the recurrent layer 'rnn' (LSTM / GRU key)."""
    rnn = {"state": state} if state else {}
    rnn.update({"recurrent": rec, "recurrent_bias": "fixed<9,2>"} if rec else {})
    layers = {"input": {"precision": {"result": input_}}}
    if rnn:
        layers["rnn"] = {"precision": rnn}
    return {"precision": {"default": "fixed<10,3>", **precision},
            "tables": {"sigmoid": {"size": 64, "range": 8}, "tanh": {"size": 32, "range": 2},
                       "hard_sigmoid": {"size": 16, "range": 4}},
            "layers": layers}


# Two narrow configurations between them use every rounding and overflow mode at run-time points.
NARROW_A = dict(input_="fixed<10,3>", state="ap_fixed<12,4,AP_RND_CONV,AP_SAT>",
                rec="ap_fixed<8,2,AP_RND,AP_SAT_SYM>",
                weight="ap_fixed<7,1,AP_RND_ZERO,AP_SAT_SYM>",
                recurrent_weight="ap_fixed<9,2,AP_RND_CONV,AP_SAT>",
                bias="ap_fixed<8,3,AP_TRN_ZERO,AP_SAT>",
                accum="ap_fixed<11,3,AP_TRN,AP_WRAP>",
                activation="ap_fixed<10,2,AP_RND_INF,AP_SAT>",
                result="ap_fixed<10,2,AP_RND_MIN_INF,AP_SAT_ZERO>")
NARROW_B = dict(input_="ap_fixed<9,3,AP_RND_CONV,AP_SAT>", state="ap_fixed<8,2,AP_RND_ZERO,AP_SAT_SYM>",
                rec="ap_fixed<8,2,AP_RND_MIN_INF,AP_WRAP>",
                weight="ap_fixed<8,2,AP_RND_INF,AP_SAT>",
                recurrent_weight="ap_fixed<7,1,AP_RND_MIN_INF,AP_WRAP>",
                bias="ap_fixed<8,2,AP_RND_CONV,AP_SAT_ZERO>",
                accum="ap_fixed<10,3,AP_RND_INF,AP_SAT_ZERO>",
                activation="ap_fixed<7,2,AP_RND,AP_SAT>",
                result="ap_fixed<8,2,AP_TRN_ZERO,AP_WRAP>")


def _config(kind, spec):
    spec = dict(spec)
    if not kind.startswith("lstm"):
        spec["state"] = None
    if not kind.startswith("gru"):
        spec["rec"] = None
    return _narrow(**spec)


def _tables(cfg):
    tables = {k: dict(v) for k, v in rnnrtl.config.DEFAULT_CONFIG["tables"].items()}
    for fn, spec in (cfg or {}).get("tables", {}).items():
        tables[fn].update(spec)
    return tables


def _check_against_reference(model, cfg, x, stats=None):
    design = rnnrtl.convert(model, cfg)
    weights = {layer.name: keras_weights(layer) for layer in model.layers[1:]}
    # The weights in the IR are the docs' rounding of the Keras floats.
    for layer in model.layers[1:]:
        ir_layer, w = design.network.layer(layer.name), weights[layer.name]
        for role in ("kernel", "recurrent", "bias", "recurrent_bias"):
            if w.get(role) is None:
                continue
            ir_w = getattr(ir_layer, role)
            assert np.array_equal(ir_w.codes, quantized_weight_codes(w[role], ir_w.fmt).T), (layer.name, role)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rnnrtl.FixedPointOverflowWarning)
        result = design.run(x, trace=True)
    ref_out, ref_trace, ref_over = run_reference(design.network, weights, x, _tables(cfg), stats)
    assert set(result.trace) == set(design.network.points)
    assert set(ref_trace) == set(design.network.points)
    fmts = design.network.point_formats()   # the IR states each point's format: its codes fit it
    assert tuple(fmts) == design.network.points
    for point in design.network.points:
        got, want = np.asarray(result.trace[point]), ref_trace[point]
        assert fmts[point].min_code <= got.min() and got.max() <= fmts[point].max_code, point
        assert got.shape == want.shape, (point, got.shape, want.shape)
        mismatch = np.argwhere(got != want)
        assert mismatch.size == 0, f"{point}: first mismatch at {mismatch[0]}: " \
                                   f"{got[tuple(mismatch[0])]} != reference {want[tuple(mismatch[0])]}"
    assert np.array_equal(result.codes, ref_out)
    assert result.overflows == ref_over
    return design, result, ref_over


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2])
def test_emulator_matches_integer_reference_default(kind, seed):
    model = _tiny_model(kind, seed=seed, ties=False)
    x = _tiny_inputs(seed) / 2.0
    design, result, over = _check_against_reference(model, None, x)
    assert over == {}
    # The reference is Keras' arithmetic: the default format stays close to float.
    y_keras = model.predict(x, verbose=0)
    assert np.abs(result.y - y_keras).max() < 0.02


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec", [NARROW_A, NARROW_B], ids=["A", "B"])
def test_emulator_matches_integer_reference_narrow_modes(kind, spec):
    """Narrow formats with every rounding and overflow mode, ties and overflows everywhere."""
    stats, ties = {}, {}
    overflowed = set()
    for seed in (3, 4, 5):
        model = _tiny_model(kind, seed=seed, ties=True)
        _, _, over = _check_against_reference(model, _config(kind, spec), _tiny_inputs(seed, batch=8), stats)
        assert over.get("input") == 2        # the two planted out-of-range inputs, nothing else
        overflowed |= {p.split(".")[-1] for p in over}
        for point, n in stats["ties"].items():
            ties[point] = ties.get(point, 0) + n
    # The comparison really exercised tie-breaking and overflow handling at run-time points.
    run_time = {"lstm": ("input", "gate", "c", "h"), "lstm_relu_hard": ("input", "gate", "c"),
                "gru": ("input", "gate", "rec", "cand", "h"), "gru_reset_before": ("input", "gate", "cand"),
                "simplernn": ("input", "pre"), "simplernn_relu": ("input", "pre")}[kind]
    missing = [p for p in run_time if not ties.get(p)]
    assert not missing, f"no exact ties rounded at {missing}; ties seen: {ties}"
    assert {"input", "gate" if not kind.startswith("simple") else "pre"} <= overflowed


def test_reference_without_head_and_with_sequences():
    """Sequence output (return_sequences) feeding a Dense applied per step, no softmax."""
    inp = keras.Input((4, 3), name="input")
    h = keras.layers.LSTM(2, return_sequences=True, name="rnn")(inp)
    h = keras.layers.GRU(3, return_sequences=True, name="rnn2")(h)
    out = keras.layers.Dense(2, activation="relu", name="head")(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(7)
    for layer in model.layers[1:]:
        layer.set_weights([rng.uniform(-1, 1, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    x = rng.uniform(-2, 2, size=(5, 4, 3))
    design, result, _ = _check_against_reference(model, None, x)
    assert result.codes.shape == (5, 4, 2)
    assert (result.codes >= 0).all()


# -- trace contents -------------------------------------------------------------------------------

def _expected_shapes(network, batch, steps):
    shapes = {"input": (batch, steps, network.in_features)}
    seq = True
    for layer in network.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            lead = (batch, steps) if seq else (batch,)
            shapes[f"{layer.name}.pre"] = shapes[f"{layer.name}.out"] = lead + (layer.units,)
            continue
        widths = {"gate": {"LSTM": 4, "GRU": 2}.get(kind, 1)}
        for p in layer.points:
            short = p.split(".", 1)[1]
            shapes[p] = (batch, steps, layer.units * widths.get(short, 1))
        seq = layer.return_sequences
    return shapes


@pytest.mark.parametrize("steps", [8, 1])
def test_trace_has_every_point_with_documented_shape(trained, digits, steps):
    model = trained.model
    if steps != 8:  # the same layers on 1-step sequences
        clone = keras.Sequential([keras.Input((None, 8))] + [l.__class__.from_config(l.get_config())
                                                             for l in model.layers])
        for src, dst in zip(model.layers, clone.layers):
            dst.set_weights(src.get_weights())
        model = clone
    design = rnnrtl.convert(model)
    x = digits.x_test[:5, :steps]
    y, trace = emulate_quiet(design, x, trace=True)
    expected = _expected_shapes(design.network, 5, steps)
    assert set(design.network.points) == set(expected)
    assert set(trace) == set(design.network.points)
    for point, shape in expected.items():
        assert trace[point].shape == shape, point
        assert np.issubdtype(trace[point].dtype, np.integer), point
    # The last step of the recurrent output is what the head saw; the head's output is the output.
    assert np.array_equal(trace["output.out"], design.run(x).codes)
    rnn = design.network.layers[0]
    assert np.all(np.abs(trace[f"{rnn.name}.h"]) <= rnn.output_fmt.max_code)


def test_trace_of_stacked_sequence_model():
    inp = keras.Input((5, 4), name="input")
    h = keras.layers.GRU(3, return_sequences=True, name="g1", reset_after=False)(inp)
    h = keras.layers.LSTM(2, return_sequences=True, name="l2")(h)
    out = keras.layers.Dense(6, name="d")(h)
    model = keras.Model(inp, out)
    design = rnnrtl.convert(model)
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 5, 4))
    y, trace = emulate_quiet(design, x, trace=True)
    expected = _expected_shapes(design.network, 3, 5)
    assert {p: trace[p].shape for p in trace} == expected
    assert y.shape == (3, 5, 6)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=0.03)


# -- overflow reporting ---------------------------------------------------------------------------

def _overflow_model():
    inp = keras.Input((4, 3), name="input")
    h = keras.layers.LSTM(2, name="lstm")(inp)
    out = keras.layers.Dense(1, name="dense")(h)
    model = keras.Model(inp, out)
    lstm, dense = model.layers[1], model.layers[2]
    kernel = np.full((3, 8), 1.5, np.float32)
    kernel[0, :] = 3.0           # 8 kernel weights beyond fixed<8,2>'s [-2, 2)
    lstm.set_weights([kernel, np.full((2, 8), 0.25, np.float32), np.zeros(8, np.float32)])
    dense.set_weights([np.full((2, 1), 1.75, np.float32), np.array([1.5], np.float32)])
    return model


def test_overflows_reported_at_named_points():
    model = _overflow_model()
    x = np.full((5, 4, 3), 0.5)
    x[:, 0, 1] = 7.0             # 5 inputs beyond [-2, 2)
    x[0, 2, :] = -3.0            # 3 more: 8 in all
    cfg = {"precision": "fixed<8,2>"}
    design = rnnrtl.convert(model, cfg)
    assert design.weight_overflows == {"lstm.kernel": 8}
    with pytest.warns(rnnrtl.FixedPointOverflowWarning) as record:
        y = design.emulate(x)
    message = str(record[0].message)
    assert "input: 8" in message and "lstm.gate" in message
    assert design.overflows["input"] == 8
    assert design.overflows["lstm.gate"] > 0      # 1.5·(2 + 2 + 2) saturates the gate sums
    assert design.overflows["dense.pre"] > 0      # 1.75·(h1 + h2) + 1.5 > 2
    assert "lstm.h" not in design.overflows       # o·tanh(c) < 1 always fits
    # The exact counts, from the independent reference.
    _, _, ref = run_reference(design.network, {l.name: keras_weights(l) for l in model.layers[1:]},
                              x, _tables(cfg))
    assert design.overflows == ref
    assert np.all(y <= 2.0)


def test_comfortable_format_reports_no_overflow():
    model = _overflow_model()
    x = np.full((5, 4, 3), 0.5)
    design = rnnrtl.convert(model, {"precision": "fixed<16,6>"})
    assert design.weight_overflows == {}
    y = emulate_quiet(design, x)
    assert design.overflows == {}
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=0.02)
    # A narrow run reports, then a clean run on the same design resets the report.
    with pytest.warns(rnnrtl.FixedPointOverflowWarning):
        design.emulate(np.full((1, 4, 3), 1000.0))
    assert design.overflows.get("input") == 12
    emulate_quiet(design, x)
    assert design.overflows == {}


# -- IR round trip --------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [None, {"precision": {"default": "fixed<14,5>", "state": "ap_fixed<18,6>"},
                                        "reuse": 2, "tables": {"tanh": {"size": 512}}}])
def test_ir_round_trip(lstm_model, gru_reset_before_model, digits, tmp_path, cfg):
    x = digits.x_test[:40]
    for trained in (lstm_model, gru_reset_before_model):
        design = rnnrtl.convert(trained.model, cfg)
        json_path, npz_path = design.save(tmp_path / trained.kind)
        assert json_path == tmp_path / f"{trained.kind}.json" and npz_path.is_file()
        loaded = rnnrtl.load_design(tmp_path / trained.kind)
        y, trace = emulate_quiet(design, x, trace=True)
        y2, trace2 = emulate_quiet(loaded, x, trace=True)
        assert np.array_equal(y, y2)
        assert trace.keys() == trace2.keys() and all(np.array_equal(trace[k], trace2[k]) for k in trace)
        assert loaded.network.points == design.network.points
        assert loaded.config == design.config or cfg is None
        for a, b in zip(design.network.layers, loaded.network.layers):
            assert a.kernel.fmt == b.kernel.fmt and np.array_equal(a.kernel.codes, b.kernel.codes)
            assert a.schedule == b.schedule
        # Human-readable JSON: indented, formats as strings, arrays kept out of it.
        text = json_path.read_text()
        assert text.count("\n") > 50
        doc = json.loads(text)
        fixed = []

        def walk(node):
            if isinstance(node, dict):
                if "$fixed" in node:
                    fixed.append(node["$fixed"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc)
        assert fixed and all(isinstance(f, str) and re.fullmatch(r"u?fixed<\d+,-?\d+,[A-Z_]+,[A-Z_]+>", f)
                             for f in fixed)
        first = design.network.layers[0]
        assert doc["network"]["layers"][0]["name"] == first.name
        assert doc["network"]["layers"][0]["output_fmt"] == {"$fixed": str(first.output_fmt)}
        assert len(text) < 200_000   # weights live in the .npz, not the JSON


# -- hls4ml 1.3 anchor models ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["toptag-lstm", "toptag-gru", "digits-lstm", "digits-gru",
                                  "quickdraw-lstm"])
def test_hls4ml_anchor_models_agree_with_keras(hls4ml_dir, name):
    data = np.load(hls4ml_dir / f"{name}_data.npz")
    x, y_keras = data["x_test"], data["y_keras"]
    if name.startswith("quickdraw"):
        x, y_keras = x[:200], y_keras[:200]
    design = rnnrtl.convert(hls4ml_dir / f"{name}.keras")
    y = design.emulate(x)
    assert y.shape == y_keras.shape
    agree = agreement(y, y_keras)
    print(f"\n{name}: default numerics decision agreement {agree:.4f} on {len(x)} samples, "
          f"max |y - keras| {np.abs(y - y_keras).max():.4f}, overflows {design.overflows}")
    assert agree >= 0.995


# -- activation tables, as docs/numerics.md defines them ------------------------------------------

def test_table_contents_follow_the_docs(lstm_model):
    """entry i = round(f(x_i)), x_i the value at the middle of the codes bin i holds."""
    import math
    cfg = {"tables": {"sigmoid": {"size": 256, "range": 8}, "tanh": {"size": 512, "range": 2}}}
    lstm = rnnrtl.convert(lstm_model.model, cfg).network.layer("lstm")
    funcs = {"sigmoid": lambda v: 1 / (1 + math.exp(-v)), "tanh": math.tanh}
    for act, in_frac in ((lstm.recurrent_activation, lstm.gate_fmt.frac_bits),
                         (lstm.activation, lstm.gate_fmt.frac_bits),
                         (lstm.state_activation, lstm.state_fmt.frac_bits)):
        table, spec = act.table, cfg["tables"][act.function]
        size, half_range = spec["size"], spec["range"]
        assert len(table.contents) == size
        width = 2 * half_range / size * 2 ** in_frac            # codes per bin (>= 1 here)
        assert width == int(width) and width >= 1
        lsb = 2.0 ** -act.out_fmt.frac_bits
        for i in range(size):
            first = (i - size // 2) * width                     # first code of bin i
            x = (first + (width - 1) / 2) / 2 ** in_frac
            assert abs(table.contents[i] * lsb - funcs[act.function](x)) <= lsb / 2 + 1e-12, (act.function, i)
        # Lookups: the entry of the bin each code falls in, the end entries beyond the range.
        codes = np.array([-10 ** 6, -1, 0, 1, int(width), 10 ** 6])
        got = table.lookup(codes)
        idx = np.clip(np.floor(codes / width).astype(int) + size // 2, 0, size - 1)
        assert np.array_equal(got, table.contents[idx])
