"""numerics: brevitas — rnnrtl reproduces Brevitas' own quantized forward pass bit for bit.

Small Brevitas models (tests/brevitas_models.py: QuantLSTM → QuantLinear + QuantReLU →
QuantLinear + QuantSigmoid, fixed-point quantizers) trained a few steps on random data, fed
sequences large enough to saturate the input quantizer, the gate accumulators and the cell state:
the emulator's integers must equal Brevitas' ``model(x)`` exactly, step by step inside the LSTM
too, and the RTL of a tiny one must equal the emulator on Verilator."""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("brevitas") and pytest.importorskip("torch")

import brevitas_models as bm  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.emulator import Emulator  # noqa: E402
from rnnrtl.fixed import Rounding  # noqa: E402

N, T, F = 400, 7, 6

MODELS = {
    "jet_like": dict(seed=1, units=8, hidden=16),
    "int6_input_identity_dropout": dict(seed=2, units=5, hidden=8, outputs=2, input_identity=True,
                                        dropout=0.2, act_quant=bm.Int6ActPerTensorFixedPoint),
    # the cell state, gate accumulators and tanh rounding down (TRN), everything else half to even
    "floor_state": dict(seed=3, units=5, hidden=8, state_quant=bm.FloorInt8ActPerTensorFixedPoint),
    # every 8-bit activation rounding toward zero (TRN_ZERO)
    "round_to_zero": dict(seed=4, units=5, hidden=8,
                          act_quant=bm.RoundToZeroInt8ActPerTensorFixedPoint),
    # the last layer's bias on its input's scale, 32 bits (Int32Bias)
    "int32_output_bias": dict(seed=5, units=5, hidden=8, output_bias_quant=bm.Int32Bias),
}


def _run(design, x):
    with warnings.catch_warnings():   # the saturations are on purpose
        warnings.simplefilter("ignore")
        return design.run(x, trace=True)


def _codes(values, fmt):
    scaled = np.ldexp(np.asarray(values, dtype=np.float64), fmt.frac_bits)
    assert np.array_equal(scaled, np.round(scaled))     # Brevitas' outputs are on the grid
    return np.round(scaled).astype(np.int64)


@functools.cache
def _converted(name):
    """Model ``name`` of MODELS, trained, and its design (built once per session)."""
    model = bm.lstm_model(**MODELS[name])
    # trained on small inputs: the quantizers' scales, set from those statistics, are then
    # narrow enough for the test inputs to saturate them
    bm.trained(model, bm.inputs(256, T, F, seed=5, scale=0.3), steps=5)
    return model, rnnrtl.convert(model, None, input_shape=(T, F))


@pytest.fixture(scope="module", params=list(MODELS))
def converted(request):
    return _converted(request.param)


def _cell_states_differ(net, lstm):
    """Whether ``net`` with its LSTM replaced by ``lstm`` computes other cell states ``c`` on the
    test inputs."""
    x = bm.inputs(N, T, F, seed=7, scale=3.0)
    other = dataclasses.replace(net, layers=[lstm] + net.layers[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Emulator(net).run(x, trace=True).trace["lstm.c"]
        b = Emulator(other).run(x, trace=True).trace["lstm.c"]
    return np.count_nonzero(a != b) > 0


def test_emulator_equals_brevitas(converted):
    model, design = converted
    x = bm.inputs(N, T, F, seed=7, scale=3.0)
    ref = bm.reference(model, x)
    result = _run(design, x)
    want = _codes(ref, design.network.output_fmt)
    assert np.count_nonzero(result.codes.reshape(want.shape) != want) == 0
    # the cases the test is about happened: saturated inputs, gate sums and cell states
    for point in ("input", "lstm.gate", "lstm.c"):
        assert result.overflows.get(point, 0) > 0, point


def test_every_lstm_step_equals_brevitas(converted):
    """The LSTM's h at every step (the trace) equals Brevitas' output sequence, as integers."""
    model, design = converted
    x = bm.inputs(64, T, F, seed=8, scale=3.0)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        if model.quant_in is not None:
            xt = model.quant_in(xt)
        seq, _ = model.lstm(xt)
    lstm = design.network.layers[0]
    got = _run(design, x).trace[f"{lstm.name}.h"]
    assert np.array_equal(got, _codes(seq.numpy(), lstm.output_fmt))


def test_profile_chosen_and_formats_from_model(converted):
    model, design = converted
    assert design.network.numerics == "brevitas"
    io = model.lstm.layers[0][0].cell.output_quant
    with torch.no_grad():
        frac = -int(np.log2(float(io.scale())))
    lstm = design.network.layers[0]
    assert lstm.output_fmt.frac_bits == frac and lstm.output_fmt.width == int(io.bit_width())
    assert lstm.state_terms


def test_weights_exact(converted):
    model, design = converted
    layer = design.network.layers[0]
    gates = model.lstm.layers[0][0]
    with torch.no_grad():
        qw = np.concatenate([getattr(gates, f"{g}_gate_params").input_weight().value.numpy()
                             for g in ("input", "forget", "cell", "output")])
    assert np.array_equal(layer.kernel.fmt.to_float(layer.kernel.codes), qw.astype(np.float64))


def test_one_rounding_of_the_cell_state_would_differ(converted):
    """Brevitas rounds f·c and i·g each into c's format: the same design with one rounding of
    the exact sum (rnnrtl's default LSTM) computes other integers on these inputs."""
    _, design = converted
    net = design.network
    assert _cell_states_differ(net, dataclasses.replace(net.layers[0], state_terms=False))


_STATE_ROUNDING = {"floor_state": Rounding.TRN, "round_to_zero": Rounding.TRN_ZERO}


@pytest.mark.parametrize("name", list(_STATE_ROUNDING))
def test_state_rounding_read_from_the_quantizer(name):
    """A floor / round-to-zero cell-state quantizer gives the state format that rounding, and it
    matters: the same design rounding the state half to even computes other integers."""
    net = _converted(name)[1].network
    lstm = net.layers[0]
    assert lstm.state_fmt.rounding is _STATE_ROUNDING[name]
    assert _cell_states_differ(net, dataclasses.replace(
        lstm, state_fmt=dataclasses.replace(lstm.state_fmt, rounding=Rounding.RND_CONV)))


def test_ir_round_trip(converted, tmp_path):
    """The IR saved and loaded computes the same (state_terms and the tables are plain data)."""
    _, design = converted
    design.save(tmp_path / "net")
    x = bm.inputs(32, T, F, seed=9, scale=3.0)
    assert np.array_equal(_run(rnnrtl.load_design(tmp_path / "net"), x).codes, _run(design, x).codes)


def test_timing_knobs_change_no_number(converted):
    model, design = converted
    x = bm.inputs(64, T, F, seed=10, scale=3.0)
    other = rnnrtl.convert(model, {"reuse": 4, "mode": "unrolled"}, input_shape=(T, F))
    assert np.array_equal(_run(other, x).codes, _run(design, x).codes)


#: The L1 configuration (scripts/bench_l1.py): whole sequences, unrolled, shift-and-add products.
L1 = {"input": "sequence", "mode": "unrolled", "multiplier": "lut", "pipeline": "fast"}


@pytest.mark.slow
@pytest.mark.parametrize("config", [{"reuse": 3}, L1], ids=["static-r3", "l1"])
def test_rtl_bit_exact_on_verilator(tmp_path_factory, config):
    """The Verilator checks: a tiny model's RTL (c = q_c(q_c(f·c) + q_c(i·g)) in the cell, a
    ReLU into an unsigned format, a sigmoid table on the last sum) equals the emulator (which
    equals Brevitas) under random stalls, with the manifest's latency and II."""
    from rnnrtl import verify
    steps = 5
    model = bm.lstm_model(seed=3, units=4, hidden=6)
    bm.trained(model, bm.inputs(128, steps, F, seed=5), steps=3)
    design = rnnrtl.convert(model, config, input_shape=(steps, F))
    x = bm.inputs(48, steps, F, seed=11, scale=3.0)
    outdir = tmp_path_factory.mktemp("brevitas_rtl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design.write(outdir, x=x, samples=48)
    want = _codes(bm.reference(model, x), design.network.output_fmt)
    assert np.array_equal(_run(design, x).codes.reshape(want.shape), want)
    summary = verify.simulate(outdir, samples=48, seed=1)
    assert summary.passed, summary.problems
    assert summary.mismatches == 0 and summary.samples == 48
