# amaranth: UnusedElaboratable=no
# (components built only to read their properties are never elaborated)
"""``multiplier: lut``: constant products as shift-and-add (``rnnrtl.constmul_plan``,
``rnnrtl.hw.constmul``) against Python integer products, and whole layers against the emulator.

The canonical signed digits and every adder of a shift-add graph are checked with integers written
here; the hardware's odd multiples exhaustively over small inputs in Amaranth simulation (both the
combinational and the registered graph); MatVecs with ``lut`` products against the sums of
tests/test_hw_matvec.py, with the latency read from the unit; networks of every layer kind, static
and unrolled, reuse 1 and > 1, shallow and deep, against the emulator under random stalls; one
Verilator check; one yosys check of DSPs and LUTs against the manifest's cost model.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal, signed
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnrtl.constmul_plan import (LUT_MAX_REUSE, ShiftAddGraph, choose, csd_digits, matrix_plan,
                                  odd_part)
from rnnrtl.fixed import IntType
from rnnrtl.hw import MatVec
from rnnrtl.hw.constmul import odd_multiples
from test_hw_matvec import (CASES, PRODUCT_CASES, _expected, _extreme_inputs, _fmt, _rand_lane,
                            _weights_and_bias, run_matvec)

# -- canonical signed digits ------------------------------------------------------------------------


def test_csd_exhaustive():
    """Every integer of 13 bits: the digits sum to it, none adjacent, and there are no more of
    them than the binary ones (and at most ceil((n + 1) / 2) for n bits)."""
    for v in range(-(1 << 12), 1 << 12):
        digits = csd_digits(v)
        assert sum(s * (1 << k) for k, s in digits) == v
        shifts = [k for k, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), v
        assert all(s in (1, -1) for _, s in digits)
        assert len(digits) <= bin(abs(v)).count("1")
        assert len(digits) <= (abs(v).bit_length() + 2) // 2


def test_odd_part():
    for v in list(range(-300, 0)) + list(range(1, 300)):
        sign, odd, shift = odd_part(v)
        assert odd % 2 == 1 and odd > 0 and sign * odd * 2 ** shift == v
    with pytest.raises(ValueError):
        odd_part(0)


def _replay(graph: ShiftAddGraph):
    """Each adder's identity with integers (its operands built before it); the multiples built."""
    built = {1}
    for a in graph.adders:
        assert a.a in built and a.b in built, "an operand is used before it is built"
        assert a.a_sign * (a.a << a.a_shift) + a.b_sign * (a.b << a.b_shift) == a.c << a.k
        assert a.c % 2 == 1 and a.c not in built
        built.add(a.c)
    return built


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 15), (1 << 15) - 1), min_size=1, max_size=40))
def test_shift_add_graph(constants):
    """Every odd part is built, each adder adds what it says, at most one adder per new odd
    multiple, and no multiple deeper than the balanced tree of its signed digits."""
    g = ShiftAddGraph(constants, IntType(8, True, 0))
    built = _replay(g)
    odd = {odd_part(c)[1] for c in constants if c != 0}
    assert odd <= built
    for c in odd:
        assert g.depth[c] <= max(0, (len(csd_digits(c)) - 1).bit_length())
    # never more adders than the digits of the constants alone would need, unshared
    assert len(g.adders) <= sum(len(csd_digits(c)) - 1 for c in odd) + len(odd)


def test_sharing_pays():
    """A column whose products share odd multiples builds each once: 3, 6, -12, 3·2^5 need one
    adder (3 = 1 + 2); 5 and 15 and 45 chain (15 = 5·2 + 5, 45 = 15·2 + 15 or similar)."""
    g = ShiftAddGraph([3, 6, -12, 96, 1, -2, 0], IntType(6, True, 0))
    assert len(g.adders) == 1
    g = ShiftAddGraph([5, 15, 45], IntType(6, True, 0))
    assert len(g.adders) == 3 and g.depth[45] <= 2


@pytest.mark.parametrize("pipelined", [False, True], ids=["comb", "registered"])
def test_odd_multiples_exhaustive(pipelined):
    """The graph's hardware, every 7-bit signed input: ``c * x`` for every multiple, in the cycle
    ``at`` says (the registered graph: its depth)."""
    constants = [7, 11, 23, 45, 113, 3, -93, 0, 64]
    x_type = IntType(7, True, 0)
    g = ShiftAddGraph(constants, x_type)
    m = Module()
    m.domains.sync = ClockDomain("sync")
    x = Signal(signed(7))
    at = odd_multiples(m, g, x, "t", pipelined=pipelined)
    last = g.max_depth if pipelined else 0
    outs = {c: at(c, last) for c in g.depth}
    probes = {c: Signal(signed(len(v) + 1), name=f"p{c}") for c, v in outs.items()}
    for c, v in outs.items():
        m.d.comb += probes[c].eq(v)
    xs = list(range(-64, 64))
    seen = []
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for n in range(len(xs) + last + 1):
            if n < len(xs):
                ctx.set(x, xs[n])
            if n >= last:
                seen.append({c: ctx.get(p) for c, p in probes.items()})
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    for n, v in enumerate(xs):
        assert seen[n] == {c: c * v for c in probes}, v


# -- MatVec ---------------------------------------------------------------------------------------

LUT_CASES = [c for c in CASES if c[6] <= LUT_MAX_REUSE]
_SHALLOW = dict(start_stages=0)
_DEEP = dict(start_stages=1, counter_stages=2, operand_stages=1, product_stages=2, copy_stages=3,
             enable_copies=True, adder_stages=True)
#: pipeline: fast's places: no term registers at reuse 1, kept two-input adders in the tree.
_FAST = dict(start_stages=0, terms_registered=False, binary_adders=True)
#: ... and a result without a register where nothing else is registered (the projection place).
_FAST_COMB = dict(_FAST, unregistered=True)


@pytest.mark.parametrize("case", LUT_CASES, ids=[c[0] for c in LUT_CASES])
@pytest.mark.parametrize("stages", [_SHALLOW, _DEEP, _FAST, _FAST_COMB],
                         ids=["shallow", "deep", "fast", "fast-unregistered"])
def test_matvec_lut(case, stages):
    """Exact sums at the unit's own latency, back to back and with random gaps; no ``*``.
    Without term registers (fast) a reuse-1 LUT MatVec is a cycle shorter than the DSP one (its
    products land in no register) and its cost model counts no register bits."""
    name, rows, cols, x_type, wbits, wfrac, reuse, fanin, bias_spec, addend_type = case
    rng = random.Random(f"{name}-lut")
    W, bias, bias_frac = _weights_and_bias(case, rng)
    W[0, 0] = 1 << (wbits - 2)                         # a power of two: a wire
    kw = dict(weights=W, weight_frac=wfrac, x_type=x_type, reuse=reuse, bias=bias,
              bias_frac=bias_frac, addend_type=addend_type, tree_fanin=fanin, **stages)
    dut = MatVec(**kw, multiplier="lut")
    dsp = MatVec(**kw)
    assert dut.multiplier == "lut" and dut.multipliers == 0 and dut.ii == reuse
    assert dut.out_type == dsp.out_type and dut.frac == dsp.frac
    fast = stages in (_FAST, _FAST_COMB) and reuse == 1
    # unregistered: no register at all where the tree is one stage (latency 0)
    bare = stages is _FAST_COMB and reuse == 1 and dut.tree_stages == 1
    assert dut.registered == (not bare)
    extra = dut.const_plan.stages(True) if stages is _DEEP else -1 - bare if fast else 0
    assert dut.latency == dsp.latency + extra
    assert extra == (max(dut.const_plan.depth, 1) - 1 if stages is _DEEP and reuse == 1 else
                     -1 - bare if fast else 0)
    assert dut.latency > 0 or bare
    cost = dut.cost()
    assert cost["products"] == rows * cols and cost["zero"] == int((W == 0).sum())
    if fast:
        assert cost["register_bits"] == 0

    xs = _extreme_inputs(W, x_type) + [[_rand_lane(rng, x_type) for _ in range(cols)] for _ in range(6)]
    addends = None if addend_type is None else \
        [[_rand_lane(rng, addend_type) for _ in range(rows)] for _ in xs]
    for spacing in ("back-to-back", "sparse"):
        if spacing == "back-to-back":
            starts = [2 + n * dut.ii for n in range(len(xs))]
        else:
            starts, c = [], 1
            for _ in xs:
                starts.append(c)
                c += dut.ii + rng.randint(0, 2 * dut.latency)
        results = run_matvec(dut, xs, addends, starts, rng)
        assert [c for c, _ in results] == [s + dut.latency for s in starts]
        for n, (_, y) in enumerate(results):
            assert y == _expected(W, xs[n], weight_frac=wfrac, x_type=x_type, frac=dut.frac,
                                  bias=bias, bias_frac=bias_frac,
                                  addend=None if addends is None else addends[n],
                                  addend_type=addend_type), (spacing, n)


LUT_PRODUCT_CASES = [c for c in PRODUCT_CASES if c[6] <= LUT_MAX_REUSE]


@pytest.mark.parametrize("case", LUT_PRODUCT_CASES, ids=[c[0] for c in LUT_PRODUCT_CASES])
def test_matvec_lut_product_fmt(case):
    """``numerics: hls4ml``'s per-product cast applies to each shift-add product: the same
    integers as the DSP MatVec's (whose equality with the emulator tests/test_hw_matvec.py
    checks), back to back."""
    from rnnrtl.ir import Weights
    name, rows, cols, xf, wf, pf, reuse, bf, addend = case
    x_fmt, w_fmt, P = _fmt(xf), _fmt(wf), _fmt(pf)
    rng = random.Random(name)
    W = Weights(w_fmt, np.array([[rng.randint(w_fmt.min_code, w_fmt.max_code) for _ in range(cols)]
                                 for _ in range(rows)], dtype=np.int64))
    W.codes[0, 0], W.codes[-1, -1] = w_fmt.min_code, w_fmt.max_code
    bias = None
    if bf is not None:
        b_fmt = _fmt(bf)
        bias = Weights(b_fmt, np.array([rng.randint(b_fmt.min_code, b_fmt.max_code)
                                        for _ in range(rows)], dtype=np.int64))
    addend_type = P.int_type.sum_of(cols) if addend else None
    kw = dict(x_type=x_fmt.int_type, reuse=reuse, bias=bias, addend_type=addend_type, product_fmt=P)
    lut = MatVec.of(W, **kw, multiplier="lut")
    dsp = MatVec.of(W, **kw)
    xs = _extreme_inputs(W.codes, x_fmt.int_type) + \
        [[_rand_lane(rng, x_fmt.int_type) for _ in range(cols)] for _ in range(10)]
    addends = None if addend_type is None else \
        [[_rand_lane(rng, addend_type) for _ in range(rows)] for _ in xs]
    got = {}
    for kind, dut in (("lut", lut), ("dsp", dsp)):
        starts = [2 + n * dut.ii for n in range(len(xs))]
        results = run_matvec(dut, xs, addends, starts, random.Random(1))
        assert [c for c, _ in results] == [s + dut.latency for s in starts]
        got[kind] = [y for _, y in results]
    assert got["lut"] == got["dsp"]


def test_auto_rule():
    """``auto``: narrow or sparse weights at reuse 1 are ``lut``; wide dense ones ``dsp``; any
    reuse > 1 ``dsp``; ``dsp`` and ``lut`` are themselves."""
    x = IntType(16, True, 8)
    narrow = [[3, -1, 0, 2], [5, 0, -7, 1]]
    wide = [[0x5A5B, -0x2D69, 0x3B2D, -0x6D5B], [0x2B6D, -0x5B57, 0x36DB, 0x5AD5]]
    assert choose("auto", narrow, x, 1) == "lut"
    assert choose("auto", narrow, x, 2) == "dsp"
    assert choose("lut", wide, x, 1) == "lut" and choose("dsp", narrow, x, 1) == "dsp"
    plan = matrix_plan(wide, x, 1)
    cost = plan.cost()
    from rnnrtl.constmul_plan import AUTO_BITS_PER_DSP
    want = "lut" if cost["adder_bits"] <= AUTO_BITS_PER_DSP * cost["shift_add"] else "dsp"
    assert choose("auto", wide, x, 1) == want
    with pytest.raises(ValueError, match="multiplier 'fpga'"):
        choose("fpga", narrow, x, 1)


# -- networks: every layer kind against the emulator ----------------------------------------------

NETWORK_CASES = [
    # network of tests/test_hw_network.py, configuration
    ("stacked", {"multiplier": "lut"}),                                    # LSTM, GRU, Dense r1
    ("stacked", {"multiplier": "lut", "reuse": 2, "pipeline": "deep"}),
    ("softmax_head", {"multiplier": "lut", "pipeline": "deep"}),          # GRU reset_before, SimpleRNN
    ("stacked", {"multiplier": "auto", "layers": {"l1": {"mode": "unrolled"},
                                                  "g1": {"multiplier_recurrent": "dsp",
                                                         "reuse_input": 3}}}),
    ("softmax_head", {"multiplier_input": "lut", "reuse": 3,
                      "layers": {"s1": {"mode": "unrolled", "multiplier": "lut"}}}),
    # fast: no term registers, two-input adders (the manifest's register_bits 0)
    ("stacked", {"multiplier": "lut", "pipeline": "fast"}),
    ("softmax_head", {"multiplier": "lut", "pipeline": "fast",
                      "layers": {"s1": {"mode": "unrolled"}}}),
]


@pytest.mark.parametrize("network,config", NETWORK_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(NETWORK_CASES)])
def test_network_lut_bit_exact(network, config):
    """Whole networks with LUT products equal the emulator beat for beat under random idle
    input cycles and output stalls; the hardware's multiplier count is the schedule's, which
    counts no LUT product."""
    from rnnrtl.hw.network import NetworkCore
    from rnnrtl.schedule import matrix_units, multipliers
    from test_hw_network import _design, _emulate, _run
    d = _design(network, config)
    core = NetworkCore(d.network)
    T = d.network.timesteps
    assert core.multipliers == sum(multipliers(L, T) for L in d.network.layers)
    luts = [u for L in d.network.flat_layers for u in matrix_units(L) if u.multiplier == "lut"]
    assert luts and all(u.multipliers == 0 for u in luts)
    _check_manifest_costs(d, core)
    inputs, outputs = _emulate(d, 4)
    _run(core, inputs, outputs, idle=0.3, stall=0.3)


def _check_manifest_costs(design, core):
    """The manifest's ``matrices`` (from the IR) state what the hardware's MatVecs build."""
    from rnnrtl.manifest import matrix_entries
    matvecs = []
    for hw in core.layers:
        if hasattr(hw, "matvec"):
            matvecs.append(hw.matvec)
        else:
            cell = hw.stages[0].cell if hasattr(hw, "stages") else hw.cell
            matvecs += [cell.projection, *cell.loop_matvecs]
    entries = matrix_entries(design.network)
    assert len(entries) == len(matvecs)
    for entry, mv in zip(entries, matvecs):
        cost = mv.cost()
        assert {k: entry[k] for k in cost} == cost, entry
        assert (entry["rows"], entry["cols"], entry["reuse"]) == (mv.rows, mv.cols, mv.reuse)


# -- Verilator and yosys ------------------------------------------------------------------------------

def _lstm(seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(3, name="lstm"),
                              keras.layers.Dense(2, name="out")], name="lut_lstm")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.slow
def test_verilator_lstm_lut(tmp_path):
    """The one Verilator check: a small LSTM with every matrix in LUTs, under stalls, equals the
    emulator and its measured latency / II equal the manifest's."""
    import rnnrtl
    from rnnrtl import verify
    design = rnnrtl.convert(_lstm(), {"multiplier": "lut", "precision": "fixed<10,3>",
                                      "tables": {"sigmoid": {"size": 64}, "tanh": {"size": 64}}})
    x = np.random.default_rng(1).standard_normal((16, 4, 3))
    design.write(tmp_path / "core", x=x)
    summary = verify.simulate(tmp_path / "core", seed=1, build_dir=tmp_path / "build",
                              backpressure=0.3, idle=0.3)
    assert summary.mismatches == 0, summary.first_mismatch
    assert summary.tests["random_stalls"]["passed"], summary.tests["random_stalls"]["problems"]
    assert (summary.latency, summary.ii) == (design.timing.latency, design.timing.ii)
    assert summary.passed, summary.problems
    manifest = json.loads((tmp_path / "core" / "manifest.json").read_text())
    assert manifest["multipliers"] == design.timing.multipliers == 3 * 3   # the cell's f·c, i·g, o·tanh(c)
    assert {m["multiplier"] for m in manifest["matrices"]} == {"lut"}


@pytest.mark.slow
def test_yosys_lut_design_maps_no_dsp(tmp_path):
    """yosys xcup on a tiny SimpleRNN -> Dense with every matrix in LUTs: no DSP at all, and its
    logic LUTs within a stated factor of the manifest's cost model: at least half its adder bits
    (the shift-add adders are built, not folded away) and at most 2.5 times (the adder trees,
    the tanh table and the control are the rest; measured 1.9x, and the same design with
    ``multiplier: dsp`` has 937 LUTs fewer and 71 DSPs, 0.7 LUT per adder bit)."""
    import keras
    import rnnrtl
    from rnnrtl.synth.core import read_core
    from rnnrtl.synth.estimate import run_estimate
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.SimpleRNN(6, name="rnn"),
                              keras.layers.Dense(4, name="out")], name="tinylut")
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-1, 1, w.shape) for w in model.get_weights()])
    design = rnnrtl.convert(model, {"multiplier": "lut", "precision": "fixed<10,3>",
                                    "tables": {"tanh": {"size": 64, "range": 4}}})
    core = read_core(design, outdir=tmp_path / "core", samples=4)
    est = run_estimate(core, "xcup", tmp_path / "estimate")
    matrices = core.manifest["matrices"]
    assert {m["multiplier"] for m in matrices} == {"lut"}
    assert design.timing.multipliers == core.manifest["multipliers"] == 0
    assert est.resources["dsp"] == 0
    bits = sum(m["adder_bits"] for m in matrices)
    assert 0.5 * bits <= est.resources["lut_logic"] <= 2.5 * bits, (est.resources, bits)
