# amaranth: UnusedElaboratable=no
# (cores built only to read their timing are never elaborated)
"""``multiplier_elementwise: lut``: a recurrent cell's elementwise products built from adders
(:mod:`rnnrtl.hw.softmul`), not DSPs.

* ``soft_product`` is the exact integer product: every pair of small signed and unsigned operands,
  and the extremes and random pairs of the cell's 18 × 16 and 18 × 18 products, at 0, 1 and 2
  register levels (the result ``stages`` cycles after its operands);
* whole cores (LSTM, GRU with and without ``reset_after``; ``shallow``, ``deep`` and ``fast``,
  static and unrolled; ``numerics: hls4ml`` too) are bit-exact with the emulator under random
  stalls, with the same latency and II as with DSP products and ``3 · units`` fewer multipliers
  per cell;
* the counts: the manifest's, the yosys note's inventory, the explorer's cost and the
  generation budget;
* on Verilator, a deep LSTM core: bit-exact, latency and II as the manifest says; in yosys
  (``--estimate xc7``), with ``multiplier: lut`` too, a core without a single DSP.
"""

from __future__ import annotations

import itertools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.hdl import Module, Signal, signed, unsigned  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import verify  # noqa: E402
from rnnrtl.errors import ConfigError  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.hw.softmul import booth_terms, soft_product, soft_product_fanin  # noqa: E402
from rnnrtl.hw.timing import network_timing  # noqa: E402

keras = pytest.importorskip("keras")

from sequence_chains import (F, GRU_BEFORE, GRU_HEAD, LSTM_DENSE, T, model, run_core,  # noqa: E402
                             vectors)

LUT = {"multiplier_elementwise": "lut"}


# -- soft_product -----------------------------------------------------------------------------------

def _products(x_shape, y_shape, stages, pairs):
    """``soft_product`` of each pair, simulated: ``[(x, y, result)]``, the result read ``stages``
    cycles after its operands."""
    m = Module()
    x, y = Signal(x_shape, name="x"), Signal(y_shape, name="y")
    p = soft_product(m, x, y, "p", stages=stages)
    tick = Signal()
    m.d.sync += tick.eq(~tick)        # a clock domain even at stages 0
    sim = Simulator(m)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        sent = []
        for a, b in list(pairs) + [(0, 0)] * stages:
            ctx.set(x, a)
            ctx.set(y, b)
            sent.append((a, b))
            await ctx.delay(1e-8)
            if len(sent) > stages:
                seen.append((*sent[-1 - stages], ctx.get(p)))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return seen


def _range(shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


@pytest.mark.parametrize("x_shape,y_shape", [(signed(5), signed(4)), (unsigned(4), signed(5)),
                                             (signed(3), unsigned(3)), (unsigned(4), unsigned(4)),
                                             (signed(1), signed(6)), (signed(4), signed(4))])
@pytest.mark.parametrize("stages", [0, 1, 2])
def test_soft_product_of_every_small_pair(x_shape, y_shape, stages):
    (xl, xh), (yl, yh) = _range(x_shape), _range(y_shape)
    pairs = list(itertools.product(range(xl, xh + 1), range(yl, yh + 1)))
    seen = _products(x_shape, y_shape, stages, pairs)
    assert len(seen) == len(pairs)
    assert [(a, b, p) for a, b, p in seen if p != a * b] == []


@pytest.mark.parametrize("x_shape,y_shape", [(signed(18), signed(16)), (signed(18), signed(18)),
                                             (unsigned(17), signed(18))])
@pytest.mark.parametrize("stages", [0, 1])
def test_soft_product_of_wide_operands(x_shape, y_shape, stages):
    """The cell's widths (table outputs of fixed<18,2> times a fixed<16,6> state): the extremes
    and random pairs."""
    (xl, xh), (yl, yh) = _range(x_shape), _range(y_shape)
    rng = np.random.default_rng(7)
    pairs = [(a, b) for a in (xl, xh, 0, -1 if xl else 1) for b in (yl, yh, 0, 1)]
    pairs += [(int(rng.integers(xl, xh + 1)), int(rng.integers(yl, yh + 1))) for _ in range(400)]
    seen = _products(x_shape, y_shape, stages, pairs)
    assert len(seen) == len(pairs)
    assert [(a, b, p) for a, b, p in seen if p != a * b] == []


def test_booth_terms_and_fanin():
    """An 18-bit multiplier operand is 9 Booth digits and a correction term; at one register
    level they are summed in two levels of groups of 4 (4 + 4 + 2, then 3)."""
    m = Module()
    terms = booth_terms(Signal(signed(18)), Signal(signed(18)))
    assert len(terms) == 10
    assert soft_product_fanin(10, 0) == 10 and soft_product_fanin(10, 1) == 4
    assert soft_product_fanin(10, 3) == 2
    with pytest.raises(ValueError, match="stages -1 is out of range"):
        soft_product(m, Signal(4), Signal(4), "p", stages=-1)


# -- configuration ----------------------------------------------------------------------------------

def test_configuration_is_checked():
    net = model(LSTM_DENSE)
    with pytest.raises(ConfigError, match=r"multiplier_elementwise = 'auto': valid are dsp, lut"):
        rnnrtl.convert(net, {"multiplier_elementwise": "auto"})
    with pytest.raises(ConfigError, match=r"layers\.out.*multiplier_elementwise"):
        rnnrtl.convert(net, {"layers": {"out": LUT}})
    layer = rnnrtl.convert(net, {"layers": {"lstm": LUT}}).network.layers[0]
    assert layer.schedule.multiplier_elementwise == "lut"


# -- whole cores ------------------------------------------------------------------------------------

CASES = {
    "lstm-static-deep-r2": (LSTM_DENSE, {"pipeline": "deep", "reuse": 2}),
    "lstm-static-shallow": (LSTM_DENSE, {}),
    "gru-static-deep": (GRU_HEAD, {"pipeline": "deep"}),
    "gru-before-static-shallow-r2": (GRU_BEFORE, {"reuse": 2}),
    "lstm-unrolled-fast": (LSTM_DENSE, {"pipeline": "fast", "mode": "unrolled"}),
    "gru-before-unrolled-fast": (GRU_BEFORE, {"pipeline": "fast", "mode": "unrolled"}),
    # hls4ml's arithmetic: r·rec cast into the accumulator, c's products rounded one by one
    "gru-hls4ml-static-deep": (GRU_HEAD, {"numerics": "hls4ml", "pipeline": "deep"}),
    "lstm-hls4ml-static": (LSTM_DENSE, {"numerics": "hls4ml"}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    spec, config = CASES[request.param]
    config = {"input": "sequence", **config}
    lut = rnnrtl.convert(model(spec), {**config, **LUT})
    dsp = rnnrtl.convert(model(spec), config)
    return spec, lut, dsp


def test_bit_exact_under_random_stalls(case):
    _, design, _ = case
    inputs, outputs = vectors(design, 5)
    got, _, _ = run_core(NetworkCore(design.network), inputs, len(outputs), idle=0.3, stall=0.3)
    assert [(list(g), int(l)) for g, l in got] == [(list(e), int(l)) for e, l in outputs]


def test_same_cycles_fewer_multipliers(case):
    spec, lut, dsp = case
    units = spec[0][1]["units"]
    copies = T if lut.network.layers[0].schedule.mode == "unrolled" else 1
    t_lut, t_dsp = network_timing(NetworkCore(lut.network)), network_timing(NetworkCore(dsp.network))
    assert (t_lut.latency, t_lut.ii) == (t_dsp.latency, t_dsp.ii)
    assert lut.timing.latency == dsp.timing.latency
    assert dsp.timing.multipliers - lut.timing.multipliers == 3 * units * copies


# -- Verilator and yosys ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A deep LSTM core with every product in the fabric (matrices at reuse 1 as shift-and-add,
    elementwise products as Booth adders), written with 40 sequences."""
    outdir = tmp_path_factory.mktemp("elementwise_lut")
    design = rnnrtl.convert(model(LSTM_DENSE, seed=3),
                            {"pipeline": "deep", "multiplier": "lut", **LUT})
    x = np.random.default_rng(5).standard_normal((40, T, F)) * 1.5
    design.write(outdir, x=x)
    return outdir, design


@pytest.mark.slow
def test_verilator_bit_exact_and_timing(written, tmp_path):
    outdir, design = written
    summary = verify.simulate(outdir, seed=2, build_dir=tmp_path, backpressure=0.3, idle=0.3)
    assert summary.mismatches == 0, summary.first_mismatch
    timing = json.loads((outdir / "manifest.json").read_text())["timing"]
    assert (summary.latency, summary.ii) == (timing["latency"], timing["ii"])
    assert timing["multipliers"] == design.timing.multipliers == 0
    assert summary.passed, summary.problems


@pytest.mark.slow
def test_yosys_maps_no_dsp(written, tmp_path):
    from rnnrtl.synth.build import build
    _, design = written
    est = build(design, None, outdir=tmp_path, estimate="xc7").estimate
    assert est.resources["dsp"] == 0 and est.resources["lut"] > 0
    # the note's inventory: no elementwise multiplier; the matrices' 120 products and the
    # cell's 12 in LUTs
    assert "0 elementwise; 132 products built in LUTs" in est.multiplier_note


def test_inventory_cost_and_budget():
    """Built in the fabric, the cell's products leave the multiplier counts (the manifest's, the
    yosys note's inventory, the explorer's cost) but not the bit-products or the generation cost."""
    from rnnrtl import budget
    from rnnrtl.explore.cost import cost
    from rnnrtl.synth.multipliers import multiplier_inventory
    net = model(LSTM_DENSE)
    dsp, lut = (rnnrtl.convert(net, c).network for c in ({}, LUT))
    inv_dsp, inv_lut = multiplier_inventory(dsp), multiplier_inventory(lut)
    assert (inv_dsp["elementwise"], inv_lut["elementwise"]) == (12, 0)
    assert inv_lut["lut"] - inv_dsp["lut"] == 12
    c_dsp, c_lut = cost(dsp), cost(lut)
    assert c_dsp.multipliers - c_lut.multipliers == 12 and c_dsp.mult_bits == c_lut.mult_bits
    e_dsp, e_lut = budget.estimate(dsp), budget.estimate(lut)
    assert e_dsp.multipliers - e_lut.multipliers == 12 and e_dsp.units == e_lut.units
