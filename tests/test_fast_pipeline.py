# amaranth: UnusedElaboratable=no
# (components built only to read their figures are never elaborated)
"""``pipeline: fast`` (issue 20, item 4's latency targets): fewer cycles per recurrent step.

The preset reads the activation tables combinationally (``A = 0``) and sums each row of a
recurrent layer's MatVecs in one adder-tree stage, so at reuse 1 the loop MatVec takes two cycles
(product register, sum register), or one with LUT products (``multiplier: lut``: the shift-and-add
products combinational into the sum register). Checked here, on small models with random weights:

* the step cycles follow from the documented formula of each cell (``rnnrtl.hw.cells``) with the
  fast counts, and are fewer than ``shallow``'s;
* ``input: sequence`` with ``mode: unrolled`` (and a static cell behind the serializer): whole
  :class:`~rnnrtl.hw.network.NetworkCore` chains bit-exact with the emulator under random stalls,
  and at full rate every transfer in the cycle the timing model says, latency and II included;
* one design on Verilator (written, simulated under stalls: bit-exact, latency and II measured
  equal to the manifest's).

The static and unrolled shells with ``input: step`` are covered by tests/test_hw_layers.py's
cases (``pipeline: fast``).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import verify  # noqa: E402
from rnnrtl.hw.activation import ActivationUnit  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.hw.timing import network_timing, simulate  # noqa: E402

keras = pytest.importorskip("keras")

from sequence_chains import (F, GRU_BEFORE, GRU_HEAD, LSTM_DENSE, RNN_SEQ, T, model,  # noqa: E402
                             run_core, vectors)

FAST = {"pipeline": "fast"}
LSTM, GRU = LSTM_DENSE, GRU_HEAD


# -- figures ----------------------------------------------------------------------------------------

def _first(spec, config):
    return rnnrtl.convert(model(spec), config).hardware().core.layers[0]


@pytest.mark.parametrize("spec,kind", [(LSTM, "lstm"), (GRU, "gru"), (GRU_BEFORE, "gru_before"),
                                       (RNN_SEQ, "simplernn")])
@pytest.mark.parametrize("multiplier,L", [("dsp", 2), ("lut", 1)])
def test_step_cycles_follow_the_formula(spec, kind, multiplier, L):
    """At reuse 1 a fast loop MatVec is a product register and one sum register (L = 2), or with
    LUT products, which have no term registers in fast, the sum register alone (L = 1); the tables
    add no cycle (A = 0): D is each cell's documented formula at that L, A = e = r = 0."""
    fast = _first(spec, {**FAST, "multiplier": multiplier})
    shallow = _first(spec, {"multiplier": multiplier})
    cell = fast.cell
    for mv in [cell.projection, *cell.loop_matvecs]:
        assert mv.latency == L, "(product register +) one adder-tree stage"
    expected = {"lstm": L + 2, "gru": L + 2, "gru_before": L + L + 3, "simplernn": L + 1}[kind]
    assert fast.step_cycles == expected
    assert fast.step_cycles < shallow.step_cycles


def test_fast_is_a_timing_knob_only():
    """Same multipliers as shallow; the default configuration is still shallow."""
    for spec in (LSTM, GRU, GRU_BEFORE):
        assert _first(spec, FAST).multipliers == _first(spec, {}).multipliers
    assert rnnrtl.convert(model(LSTM), {}).network.layers[0].schedule.pipeline == "shallow"


def test_combinational_activation_unit():
    """An ActivationUnit of latency 0: o equals the table's entry for the requantized input in the
    same cycle, o_valid = i_valid."""
    design = rnnrtl.convert(model(LSTM), FAST)
    layer = design.network.layers[0]
    act = layer.recurrent_activation
    unit = ActivationUnit(in_type=layer.gate_fmt.int_type, fmt=layer.gate_fmt,
                          activation=act, lanes=2, latency=0)
    fmt = layer.gate_fmt
    codes = [fmt.min_code, -1, 0, 1, fmt.max_code, fmt.max_code // 3]
    table = act.table
    seen = []

    async def bench(ctx):
        for a, b in zip(codes, reversed(codes)):
            ctx.set(unit.i, [a, b])
            ctx.set(unit.i_valid, 1)
            seen.append((ctx.get(unit.o[0]), ctx.get(unit.o[1]), ctx.get(unit.o_valid)))
            await ctx.delay(1e-8)

    sim = Simulator(unit)   # no clock: the unit has no register
    sim.add_testbench(bench)
    sim.run()
    expect = [(int(table.lookup(np.array([a]))[0]), int(table.lookup(np.array([b]))[0]), 1)
              for a, b in zip(codes, reversed(codes))]
    assert seen == expect


def test_merged_tail_refuses_registered_products():
    """A preset that merges the tail but registers the elementwise products is refused by name."""
    from dataclasses import replace

    from rnnrtl.errors import HardwareError
    from rnnrtl.hw.cells import cell_of
    from rnnrtl.hw.pipelining import FAST as FAST_PRESET
    layer = rnnrtl.convert(model(LSTM), FAST).network.layers[0]
    with pytest.raises(HardwareError, match=r"pipeline 'odd': merged_tail needs elementwise"):
        cell_of(layer, pipelining=replace(FAST_PRESET, name="odd", elementwise=1))


# -- input: sequence, whole chains ------------------------------------------------------------------

CASES = {
    "lstm-unrolled-r1": (LSTM, {"mode": "unrolled"}),
    "lstm-unrolled-r2": (LSTM, {"mode": "unrolled", "reuse": 2}),
    "gru-unrolled-r1": (GRU, {"mode": "unrolled"}),
    "gru-before-unrolled-r2": (GRU_BEFORE, {"mode": "unrolled", "reuse": 2}),
    "rnn-sequences-unrolled-r1": (RNN_SEQ, {"mode": "unrolled"}),
    "gru-static-r1": (GRU, {}),
    # LUT products: no term registers, kept two-input adders (fast's terms and binary_adders)
    "gru-unrolled-r1-lut": (GRU, {"mode": "unrolled", "multiplier": "lut"}),
    "lstm-static-r1-lut": (LSTM, {"multiplier": "lut"}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    spec, config = CASES[request.param]
    design = rnnrtl.convert(model(spec), {"input": "sequence", **FAST, **config})
    return request.param, design, NetworkCore(design.network)


def test_bit_exact_under_random_stalls(case):
    _, design, core = case
    inputs, outputs = vectors(design, 5)
    got, _, _ = run_core(core, inputs, len(outputs), idle=0.4, stall=0.4)
    assert [(list(g), int(l)) for g, l in got] == [(list(e), int(l)) for e, l in outputs]


def test_full_rate_cycles_equal_the_timing_model(case):
    _, design, core = case
    timing = network_timing(core)
    count = max(6, timing.ii_sequences)
    inputs, outputs = vectors(design, count, seed=5)
    out_beats = len(outputs) // count
    got, t_in, t_out = run_core(core, inputs, len(outputs), idle=0.0, stall=0.0)
    assert [(list(g), int(l)) for g, l in got] == [(list(e), int(l)) for e, l in outputs]
    assert (t_in, t_out) == simulate(core.chain, count, 1, out_beats)
    assert t_out[out_beats - 1] - t_in[0] == timing.latency
    assert np.diff(t_in)[-1] == timing.ii


# -- Verilator: one design ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The L1 configuration on a small LSTM (scripts/bench_l1.py): fast, input: sequence, unrolled at
    reuse 1, products as shift-and-add (multiplier: lut); written (48 sequences) and run once."""
    outdir = tmp_path_factory.mktemp("fast")
    design = rnnrtl.convert(model((("lstm", dict(units=3, name="lstm")),
                                    ("dense", dict(units=2, name="out"))), seed=2),
                            {"input": "sequence", "mode": "unrolled", "multiplier": "lut", **FAST})
    x = np.random.default_rng(4).standard_normal((48, T, F)) * 1.5
    design.write(outdir, x=x)
    summary = verify.simulate(outdir, seed=1, build_dir=tmp_path_factory.mktemp("build"),
                              backpressure=0.3, idle=0.3)
    return outdir, design, summary


@pytest.mark.slow
def test_verilator_bit_exact_and_timing(simulated):
    outdir, design, summary = simulated
    assert summary.mismatches == 0, summary.first_mismatch
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert {m["multiplier"] for m in manifest["matrices"]} == {"lut"}
    timing = manifest["timing"]
    assert (summary.latency, summary.ii) == (timing["latency"], timing["ii"]) == \
        (design.timing.latency, 1)
    assert summary.passed, summary.problems
