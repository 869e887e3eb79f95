"""numerics: hgq2 — rnnrtl reproduces HGQ2's own quantized forward pass bit for bit.

Small HGQ2 models (tests/hgq2_models.py) with random weights and random trained widths (per
weight in kernels and biases, per tensor on the datalanes), some inputs large enough to wrap the
input quantizer and saturate the gate sums: the emulator must equal ``model(x, training=False)``
exactly, and the RTL of one of them must equal the emulator on Verilator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("hgq")

import hgq2_models as hm  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.numerics.hgq2 import exact_format  # noqa: E402

N = 300


def _emulate(design, x):
    with warnings.catch_warnings():   # the input quantizer wraps on purpose
        warnings.simplefilter("ignore")
        return design.emulate(x)


def _reference(model, x):
    return np.asarray(model(x, training=False), dtype=np.float64)


MODELS = {
    "gru": lambda: hm.gru_model(seed=3),
    "gru_seq_backwards_reset_before": lambda: hm.gru_model(
        seed=4, reset_after=False, return_sequences=True, go_backwards=True),
    "simplernn": lambda: hm.simplernn_model(seed=5),
    "dense_output_quantizer": lambda: hm.dense_oq_model(seed=6),
}


@pytest.fixture(scope="module", params=list(MODELS))
def converted(request):
    model = MODELS[request.param]()
    return model, rnnrtl.convert(model)


def test_emulator_equals_hgq2(converted):
    model, design = converted
    x = hm.inputs(N, 5, 3)
    ref = _reference(model, x)
    got = _emulate(design, x).reshape(ref.shape)
    assert np.count_nonzero(got != ref) == 0
    # the cases the test is about happened: the input quantizer overflowed
    assert design.overflows.get("input", 0) > 0


def test_profile_chosen_and_formats_from_model(converted):
    model, design = converted
    assert design.network.numerics == "hgq2"
    first = model.layers[1]
    iq = first.cell.iq.quantizer if hasattr(first, "cell") else first.iq.quantizer
    k, i, f = (int(np.asarray(v).ravel()[0]) for v in iq.kif)
    fmt = design.network.input_fmt
    assert (fmt.width, fmt.int_bits, fmt.frac_bits, fmt.signed) == (k + i + f, k + i, f, bool(k))


def test_weights_exact_with_per_weight_widths(converted):
    model, design = converted
    layer = design.network.layers[0]
    hgq_layer = model.layers[1]
    cell = getattr(hgq_layer, "cell", hgq_layer)
    q = np.asarray(cell.qkernel, dtype=np.float64)
    assert np.array_equal(layer.kernel.fmt.to_float(layer.kernel.codes), q.T)
    widths = np.asarray(cell.kq.quantizer.bits)
    assert len(np.unique(widths)) > 2      # the widths really differ per weight


def test_keras_file_converts_the_same(tmp_path):
    model = hm.gru_model(seed=3)
    path = tmp_path / "gru.keras"
    model.save(path)
    x = hm.inputs(64, 5, 3, seed=7)
    assert np.array_equal(_emulate(rnnrtl.convert(path), x), _emulate(rnnrtl.convert(model), x))


def test_exact_format():
    values = np.array([0.75, -2.0, 0.0, 1.0 / 64, 3.5])
    fmt = exact_format(values, "t")
    assert fmt.frac_bits == 6 and fmt.to_float(fmt.quantize(values)[0]).tolist() == values.tolist()
    assert fmt.width == 9            # -2 .. 3.5 at 1/64: codes -128 .. 224
    assert exact_format(np.zeros(3), "t").width == 2


def test_ir_round_trip(converted, tmp_path):
    """The IR saved and loaded computes the same (tables and formats are plain data)."""
    _, design = converted
    design.save(tmp_path / "net")
    x = hm.inputs(32, 5, 3, seed=9)
    assert np.array_equal(_emulate(rnnrtl.load_design(tmp_path / "net"), x), _emulate(design, x))


#: The L1 configuration (scripts/bench_l1.py): whole sequences, unrolled, shift-and-add products
#: without term registers or a projection register, the gate tables as ramps (pipeline: fast).
L1 = {"input": "sequence", "mode": "unrolled", "multiplier": "lut", "pipeline": "fast"}


@pytest.mark.slow
@pytest.mark.parametrize("config", [{"reuse": 4}, L1], ids=["static-r4", "l1"])
def test_rtl_bit_exact_on_verilator(tmp_path_factory, config):
    """The Verilator checks: the converted GRU model's RTL equals the emulator (which equals
    HGQ2) under random stalls, with the manifest's latency and II; in the L1 configuration with
    its gate tables computed as ramps."""
    from rnnrtl import verify
    model = hm.gru_model(seed=3)
    design = rnnrtl.convert(model, config)
    if config is L1:
        gru = design.network.layers[0]
        assert gru.recurrent_activation.table.ramp() and gru.activation.table.ramp()
    x = hm.inputs(48, 5, 3, seed=11)
    outdir = tmp_path_factory.mktemp("hgq2_rtl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design.write(outdir, x=x, samples=48)
    assert np.array_equal(_emulate(design, x).reshape(-1), _reference(model, x).reshape(-1))
    summary = verify.simulate(outdir, samples=48, seed=1)
    assert summary.passed, summary.problems
    assert summary.mismatches == 0 and summary.samples == 48


def _hgq_quantizer(config, n=8):
    from hgq.quantizer import Quantizer
    q = Quantizer(config)
    q.build((None, n))
    return q


@pytest.mark.parametrize("rounding", ["RND", "TRN", "RND_CONV", "S_RND"])
@pytest.mark.parametrize("overflow", ["WRAP", "SAT", "SAT_SYM"])
@pytest.mark.parametrize("k", [0, 1])
def test_datalane_quantizer_is_the_format(rounding, overflow, k):
    """Every HGQ2 datalane quantizer equals rnnrtl's requantization into its format: on every value
    of a grid three bits finer than the quantizer, beyond both bounds."""
    from rnnrtl.hgq2_frontend import qspec
    i, f = 2, 3
    q = _hgq_quantizer(hm._per_tensor(k0=k, i0=i, f0=f, round_mode=rounding, overflow_mode=overflow,
                                      trainable=False))
    spec = qspec(q, "t.iq")
    x = (np.arange(-(1 << (i + f + 5)), 1 << (i + f + 5)) * 2.0 ** -(f + 3)).astype("float32")
    ref = np.asarray(q(x.reshape(-1, 8), training=False), dtype=np.float64).reshape(-1)
    codes, _ = spec.fmt.quantize(x)
    assert np.array_equal(spec.fmt.to_float(codes), ref)


@pytest.mark.parametrize("which", ["hard_sigmoid", "hard_tanh"])
@pytest.mark.parametrize("rounding", ["RND", "TRN", "RND_CONV"])
@pytest.mark.parametrize("f", [2, 5])
def test_gate_tables_equal_hgq2_on_every_code(which, rounding, f):
    """The GRU's hard sigmoid (praq) and hard tanh (paq) tables give HGQ2's value for every code of
    the saturating gate format they are built on."""
    from hgq.config import HardSigmoidConfig, HardTanhConfig
    from rnnrtl.fixed import FixedFormat, Overflow, Rounding
    from rnnrtl.hgq2_frontend import qspec
    from rnnrtl.numerics.hgq2 import quantizer_table
    cls = HardSigmoidConfig if which == "hard_sigmoid" else HardTanhConfig
    q = _hgq_quantizer(cls(f0=f, round_mode=rounding, heterogeneous_axis=(), trainable=False))
    spec = qspec(q, "t.paq")
    gate = FixedFormat(12, 3, True, Rounding.RND, Overflow.SAT)     # 9 fractional bits, ±4
    act = quantizer_table("tanh", spec, gate, "t")
    codes = np.arange(gate.min_code, gate.max_code + 1)
    x = gate.to_float(codes).astype("float32")
    ref = np.asarray(q(x.reshape(-1, 8), training=False), dtype=np.float64).reshape(-1)
    assert np.array_equal(act.out_fmt.to_float(act.table.lookup(codes)), ref)
    if rounding != "RND_CONV":   # (ties to even tell every code apart: a full table)
        assert act.table.geometry.size <= len(codes) >> (9 - f - 1)   # a run per input LSB/2
