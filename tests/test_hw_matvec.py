# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components built only to read their properties, or refused by
# their constructor, are never elaborated.)
"""Tests of ``rnnrtl.hw.matvec``: the MatVec against exact integer arithmetic done here.

Expected values are Python-integer sums written in this file (no rnnrtl code); the latency and the
multiplier count are read from the component's properties. Every configuration runs back-to-back
starts (one every ``ii`` cycles) and sparse starts with random gaps; ``x`` and ``addend`` carry
garbage outside start cycles, so sampling is checked too.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from rnnrtl.fixed import FixedFormat, IntType
from rnnrtl.hw import MatVec
from rnnrtl.ir import Weights, matvec_type


def _rand_lane(rng, t: IntType):
    return rng.randint(t.min_value, t.max_value)


def _expected(W, x, *, weight_frac, x_type, frac, bias=None, bias_frac=None, addend=None,
              addend_type=None):
    pfrac = x_type.frac + weight_frac
    out = []
    for j, row in enumerate(W):
        acc = sum(int(w) * int(v) for w, v in zip(row, x)) << (frac - pfrac)
        if bias is not None:
            acc += int(bias[j]) << (frac - bias_frac)
        if addend is not None:
            acc += int(addend[j]) << (frac - addend_type.frac)
        out.append(acc)
    return out


def _extreme_inputs(W, x_type):
    """Inputs that drive each row to its largest and smallest possible value."""
    vecs = []
    for row in W:
        hi = [x_type.max_value if w > 0 else x_type.min_value for w in row]
        lo = [x_type.min_value if w > 0 else x_type.max_value for w in row]
        vecs += [hi, lo]
    return vecs


def run_matvec(dut: MatVec, xs, addends, starts, rng, hold_addend=False):
    """Drive ``start`` on the cycles in ``starts``; return ``[(cycle, y)]`` of every ``done``.
    Between starts ``x`` (and ``addend``, unless ``hold_addend``) carry garbage; ``y`` must hold
    between results where it is a register (:attr:`MatVec.registered`)."""
    results = []
    held = []
    top = dut
    if not dut.latency:     # no register at all: a clock domain for the testbench's ticks
        top = Module()
        top.submodules.dut = dut
        beat = Signal()
        top.d.sync += beat.eq(~beat)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    has_addend = dut.addend_type is not None

    async def testbench(ctx):
        at = {c: n for n, c in enumerate(starts)}
        last_y = None
        for cycle in range(starts[-1] + dut.latency + 3):
            if cycle in at:
                n = at[cycle]
                ctx.set(dut.start, 1)
                ctx.set(dut.x, xs[n])
                if has_addend:
                    ctx.set(dut.addend, addends[n])
            else:  # garbage: the caller need not hold its inputs
                ctx.set(dut.start, 0)
                ctx.set(dut.x, [_rand_lane(rng, dut.x_type) for _ in range(dut.cols)])
                if has_addend and not hold_addend:
                    ctx.set(dut.addend, [_rand_lane(rng, dut.addend_type) for _ in range(dut.rows)])
            y = ctx.get(dut.y)
            y = [y[j] for j in range(dut.rows)]
            if ctx.get(dut.done):
                results.append((cycle, y))
                last_y = y
            elif last_y is not None:
                held.append(y == last_y)
            await ctx.tick()

    sim.add_testbench(testbench)
    sim.run()
    assert all(held) or not dut.registered, "y changed between results"
    return results


CASES = [
    # id, rows, cols, x_type, weight bits, weight_frac, reuse, fanin, bias (bits, frac), addend
    ("r1-fanin2", 3, 5, IntType(6, True, 3), 5, 4, 1, 2, None, None),
    ("r1-bias-addend", 3, 4, IntType(5, True, 2), 4, 3, 1, 4, (6, 9), IntType(7, True, 6)),
    ("r1-one-stage", 3, 4, IntType(5, True, 2), 4, 3, 1, 6, (6, 9), IntType(7, True, 6)),
    ("div-bias-finer", 3, 5, IntType(6, True, 3), 5, 4, 5, 4, (8, 10), None),
    ("div-fanin2", 4, 3, IntType(4, True, 1), 6, 2, 3, 2, (5, 1), None),
    ("nondiv-addend", 3, 5, IntType(6, True, -2), 5, -1, 4, 2, (6, -5), IntType(8, True, 0)),
    ("nondiv-unsigned-x", 2, 4, IntType(5, False, 5), 4, 3, 3, 4, None, IntType(6, True, 9)),
    ("last-block-short", 2, 4, IntType(5, True, 2), 5, 3, 7, 2, (6, 2), None),
    ("r2-addend", 3, 4, IntType(5, True, 1), 5, 2, 2, 2, (6, 3), IntType(6, True, 3)),
    ("single-multiplier", 2, 3, IntType(5, True, 2), 5, 3, 6, 4, (6, 4), IntType(5, False, 2)),
    # deep reuse (> 16 MAC cycles: with operand stages the weight ROM is split in groups of 16)
    ("r20-rom-groups", 3, 13, IntType(6, True, 3), 6, 3, 20, 2, (8, 6), IntType(7, True, 4)),
    ("r37-rom-groups", 2, 40, IntType(5, True, 2), 5, 2, 37, 3, None, None),
    # > 64 MAC cycles: ten groups of 16, picked four by four, then one of the three picks
    ("r150-rom-picks", 2, 80, IntType(5, True, 2), 5, 2, 150, 2, (7, 3), None),
]


def _weights_and_bias(case, rng):
    """Random weights of a case (a zero and the most negative weight among them) and its bias:
    ``(W, bias, bias_frac)``."""
    _, rows, cols, _, wbits, _, _, _, bias_spec, _ = case
    W = np.array([[rng.randint(-(1 << (wbits - 1)), (1 << (wbits - 1)) - 1) for _ in range(cols)]
                  for _ in range(rows)], dtype=np.int64)
    W[0, 1] = 0  # zero weights need no special handling
    W[rows - 1, cols - 1] = -(1 << (wbits - 1))
    bias = bias_frac = None
    if bias_spec is not None:
        bbits, bias_frac = bias_spec
        bias = np.array([rng.randint(-(1 << (bbits - 1)), (1 << (bbits - 1)) - 1) for _ in range(rows)])
    return W, bias, bias_frac


_SHALLOW = dict(start_stages=0)
_REGISTERED = dict(start_stages=1)
_DEEP = dict(start_stages=1, counter_stages=2, operand_stages=1, product_stages=2, copy_stages=3,
             enable_copies=True)
#: Each stage alone (at reuse > 1), so each one's latency term is checked on its own (the counters'
#: start copies need the registered start).
_ALONE = [dict(operand_stages=1), dict(product_stages=2), dict(copy_stages=1), dict(copy_stages=2),
          dict(copy_stages=3),
          dict(enable_copies=True), dict(start_stages=1, counter_stages=1),
          dict(start_stages=1, counter_stages=2)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("spacing", ["back-to-back", "sparse"])
@pytest.mark.parametrize("stages", [_SHALLOW, _REGISTERED, _DEEP],
                         ids=["", "registered-start", "deep"])
def test_matvec(case, spacing, stages):
    _check_matvec(case, spacing, stages)


@pytest.mark.parametrize("case", CASES[-3:], ids=[c[0] for c in CASES[-3:]])
@pytest.mark.parametrize("stages", _ALONE, ids=lambda s: "-".join(s))
def test_matvec_stage_alone(case, stages):
    _check_matvec(case, "back-to-back", stages)


def _full_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("stages", [_SHALLOW, _DEEP], ids=["", "deep"])
def test_matvec_weights_in_memory(case, stages):
    """Weights and bias in memories sized for any codes of their formats (``weights: file``):
    the same results in the same cycles (the latency formula of the constants)."""
    _check_matvec(case, "back-to-back", stages, memory=True)


def _check_matvec(case, spacing, stages, memory=False):
    name, rows, cols, x_type, wbits, wfrac, reuse, fanin, bias_spec, addend_type = case
    rng = random.Random(f"{name}-{spacing}")
    W, bias, bias_frac = _weights_and_bias(case, rng)
    if memory:
        stages = {**stages, "weight_range": _full_range(wbits)}
        if bias is not None:
            stages["bias_range"] = _full_range(bias_spec[0])
    dut = MatVec(weights=W, weight_frac=wfrac, x_type=x_type, reuse=reuse, bias=bias,
                 bias_frac=bias_frac, addend_type=addend_type, tree_fanin=fanin, **stages)

    assert dut.ii == reuse
    s = {k: stages.get(f"{k}_stages", 0) for k in ("start", "counter", "operand", "product", "copy")}
    macs = reuse > 1
    assert dut.latency == reuse + 3 * macs + dut.tree_stages + s["start"] + macs * (
        s["counter"] * s["start"] + s["operand"] * (1 + (reuse > 16) + (reuse > 64)) + s["product"] + s["copy"])
    assert dut.multipliers == math.ceil(rows * cols / reuse)
    fracs = [x_type.frac + wfrac] + ([bias_frac] if bias is not None else []) + \
            ([addend_type.frac] if addend_type is not None else [])
    assert dut.frac == max(fracs)

    xs = _extreme_inputs(W, x_type) + [[_rand_lane(rng, x_type) for _ in range(cols)] for _ in range(6)]
    addends = None
    if addend_type is not None:
        ext = [[addend_type.max_value] * rows, [addend_type.min_value] * rows]
        addends = [ext[n % 2] if n < 2 * rows else [_rand_lane(rng, addend_type) for _ in range(rows)]
                   for n in range(len(xs))]
    if spacing == "back-to-back":
        starts = [2 + n * dut.ii for n in range(len(xs))]
    else:
        starts, c = [], 1
        for _ in xs:
            starts.append(c)
            c += dut.ii + rng.randint(0, 2 * dut.latency)
    results = run_matvec(dut, xs, addends, starts, rng)

    assert [c for c, _ in results] == [s + dut.latency for s in starts]
    lo, hi = dut.out_type.min_value, dut.out_type.max_value
    for n, (_, y) in enumerate(results):
        want = _expected(W, xs[n], weight_frac=wfrac, x_type=x_type, frac=dut.frac, bias=bias,
                         bias_frac=bias_frac, addend=None if addends is None else addends[n],
                         addend_type=addend_type)
        assert y == want, f"result {n}"
        assert all(lo <= v <= hi for v in want)


ADDEND_CASES = [c for c in CASES if c[-1] is not None]


@pytest.mark.parametrize("case", ADDEND_CASES, ids=[c[0] for c in ADDEND_CASES])
@pytest.mark.parametrize("stages", [_SHALLOW, _DEEP], ids=["", "deep"])
def test_matvec_addend_held(case, stages):
    """With ``addend_held`` the caller holds the addend until ``done`` and starts nothing sooner:
    the results are the same, without the MatVec's own copies of the addend."""
    name, rows, cols, x_type, wbits, wfrac, reuse, fanin, bias_spec, addend_type = case
    rng = random.Random(f"{name}-held")
    W, bias, bias_frac = _weights_and_bias(case, rng)
    kw = dict(weights=W, weight_frac=wfrac, x_type=x_type, reuse=reuse, bias=bias,
              bias_frac=bias_frac, addend_type=addend_type, tree_fanin=fanin, **stages)
    dut = MatVec(**kw, addend_held=True)
    assert dut.latency == MatVec(**kw).latency
    xs = _extreme_inputs(W, x_type) + [[_rand_lane(rng, x_type) for _ in range(cols)] for _ in range(6)]
    addends = [[_rand_lane(rng, addend_type) for _ in range(rows)] for _ in xs]
    starts, c = [], 1
    for _ in xs:
        starts.append(c)
        c += dut.latency + rng.randint(0, 3)
    results = run_matvec(dut, xs, addends, starts, rng, hold_addend=True)
    assert [c for c, _ in results] == [s + dut.latency for s in starts]
    for n, (_, y) in enumerate(results):
        assert y == _expected(W, xs[n], weight_frac=wfrac, x_type=x_type, frac=dut.frac, bias=bias,
                              bias_frac=bias_frac, addend=addends[n], addend_type=addend_type), n


@pytest.mark.parametrize("reuse", [1, 4, 12])
def test_out_type_matches_ir(reuse):
    """out_type is as narrow as the weights allow: the same as rnnrtl.ir.matvec_type."""
    rng = np.random.default_rng(reuse)
    fmt = FixedFormat(6, 2)
    wfmt = FixedFormat(5, 1)
    W = Weights(wfmt, rng.integers(-16, 16, size=(3, 4)))
    b = Weights(FixedFormat(8, 1), rng.integers(-128, 128, size=3))
    dut = MatVec(weights=W.codes, weight_frac=wfmt.frac_bits, x_type=fmt.int_type, reuse=reuse,
                 bias=b.codes, bias_frac=b.fmt.frac_bits)
    assert dut.out_type == matvec_type(fmt, W, b)
    # Narrower than the generic bound from the formats alone.
    generic = IntType.join((fmt.int_type * wfmt.int_type).sum_of(4).align(dut.frac),
                           b.fmt.int_type.align(dut.frac))
    assert dut.out_type.width <= generic.width


def test_all_zero_weights():
    dut = MatVec(weights=np.zeros((2, 2), dtype=int), weight_frac=0, x_type=IntType(4, True, 0), reuse=2)
    rng = random.Random(0)
    results = run_matvec(dut, [[3, -4], [7, 7]], None, [1, 1 + dut.ii], rng)
    assert [y for _, y in results] == [[0, 0], [0, 0]]


def test_latency_formula():
    W = np.ones((4, 4), dtype=int)
    for reuse, fanin in [(1, 2), (1, 4), (2, 2), (16, 4), (5, 3)]:
        dut = MatVec(weights=W, weight_frac=0, x_type=IntType(4, True, 0), reuse=reuse, tree_fanin=fanin,
                     bias=np.zeros(4, dtype=int), bias_frac=0)
        # Row leaves: segments (blocks of `reuse` products touching the row) + 1 bias.
        segs = max(len({(j * 4 + i) // reuse for i in range(4)}) for j in range(4))
        leaves, stages = segs + 1, 0
        while leaves > 1:
            leaves, stages = math.ceil(leaves / fanin), stages + 1
        assert dut.tree_stages == max(1, stages)
        assert dut.latency == reuse + 3 * (reuse > 1) + dut.tree_stages


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(reuse=0), ValueError, r"reuse 0 .*1\.\.6"),
    (dict(reuse=7), ValueError, r"reuse 7 .*1\.\.6"),
    (dict(reuse=1.5), TypeError, r"reuse"),
    (dict(tree_fanin=1), ValueError, r"tree_fanin 1 .*>= 2"),
    (dict(weights=np.ones(3, dtype=int)), ValueError, r"weights .*2 dimension"),
    (dict(weights=np.ones((2, 3))), TypeError, r"weights .*integer"),
    (dict(weights=np.ones((0, 3), dtype=int)), ValueError, r"non-empty"),
    (dict(bias=np.ones(3, dtype=int), bias_frac=0), ValueError, r"bias must have shape \(2,\)"),
    (dict(bias=np.ones(2, dtype=int)), ValueError, r"bias_frac"),
    (dict(bias_frac=3), ValueError, r"bias_frac 3 given without bias"),
    (dict(x_type=FixedFormat(4, 2)), TypeError, r"x_type"),
    (dict(addend_type="int8"), TypeError, r"addend_type"),
    (dict(weight_frac="3"), TypeError, r"weight_frac"),
    (dict(start_stages=2), ValueError, r"start_stages 2 .*0\.\.1"),
    (dict(counter_stages=3), ValueError, r"counter_stages 3 .*0\.\.2"),
    (dict(operand_stages=True), TypeError, r"operand_stages must be an integer"),
    (dict(copy_stages=-1), ValueError, r"copy_stages -1"),
    (dict(copy_stages=4), ValueError, r"copy_stages 4 .*0\.\.3"),
    (dict(enable_copies=1), TypeError, r"enable_copies must be a bool"),
    (dict(addend_held=1), TypeError, r"addend_held must be a bool"),
    (dict(weight_range=(0, 0)), ValueError, r"weight_range \(0, 0\) does not hold every code"),
    (dict(weight_range=(2, 1)), ValueError, r"weight_range .* is empty"),
    (dict(weight_range=5), TypeError, r"weight_range must be a pair"),
    (dict(weight_range=(-2, 2), bias=np.ones(2, dtype=int), bias_frac=0), ValueError,
     r"bias_range must be given"),
    (dict(bias_range=(-2, 2)), ValueError, r"bias_range .* without weight_range"),
    (dict(weight_range=(-2, 2), multiplier="lut"), ValueError,
     r"multiplier 'lut' with weights in a memory"),
])
def test_bad_arguments(kwargs, error, match):
    args = dict(weights=np.ones((2, 3), dtype=int), weight_frac=0, x_type=IntType(4, True, 0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MatVec(**args)


# -- per-product casts (numerics: hls4ml) -----------------------------------------------------------

def _fmt(text):
    return FixedFormat.parse(text)


PRODUCT_CASES = [
    # id, rows, cols, x format, weight format, product format, reuse, bias format, addend
    ("trn-r1", 3, 4, "ap_fixed<8,3>", "ap_fixed<7,2>", "ap_fixed<8,3>", 1, "ap_fixed<8,3>", None),
    ("trn-div", 4, 3, "ap_fixed<8,3>", "ap_fixed<7,2>", "ap_fixed<7,4>", 3, "ap_fixed<10,2>", None),
    ("trn-nondiv-addend", 3, 5, "ap_fixed<6,2>", "ap_fixed<6,1>", "ap_fixed<6,3>", 4, None, "addend"),
    ("rnd-r1-addend", 3, 3, "ap_fixed<7,3>", "ap_fixed<6,2>", "ap_fixed<6,3,AP_RND>", 1, "ap_fixed<6,1>",
     "addend"),
    ("rnd_conv-nondiv", 2, 5, "ap_fixed<7,2>", "ap_fixed<7,3>", "ap_fixed<8,4,AP_RND_CONV>", 3,
     "ap_fixed<9,5>", None),
    ("trn_zero-div", 3, 4, "ap_fixed<6,3>", "ap_fixed<6,2>", "ap_fixed<5,3,AP_TRN_ZERO>", 2,
     "ap_fixed<6,3>", None),
    ("finer-than-products", 2, 3, "ap_fixed<5,2>", "ap_fixed<5,2>", "ap_fixed<12,4>", 4, "ap_fixed<6,2>",
     None),
    ("unsigned-x-rnd_inf", 3, 3, "ap_ufixed<6,2>", "ap_fixed<6,2>", "ap_fixed<7,3,AP_RND_INF>", 9,
     "ap_fixed<6,2>", None),
]


@pytest.mark.parametrize("memory", [False, True], ids=["", "memory"])
@pytest.mark.parametrize("case", PRODUCT_CASES, ids=[c[0] for c in PRODUCT_CASES])
def test_matvec_product_fmt_equals_emulator(case, memory):
    """Every product cast into ``product_fmt`` before summing: the result, requantized into
    ``product_fmt`` (what every consumer does), equals the emulator's ``sum q_P(W·x) + q_P(b)`` —
    its ``_MatVec`` and ``_bias`` — for extreme and random inputs, back to back; the same with the
    weights and the cast bias in memories sized by the formats (``memory``: ``weights: file``)."""
    from rnnrtl.emulator import _MatVec, _bias
    from rnnrtl.fixed import requantize
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
    dut = MatVec.of(W, x_type=x_fmt.int_type, reuse=reuse, bias=bias, addend_type=addend_type,
                    product_fmt=P, weights_in_memory=memory)
    assert (dut.plan.weight_range is not None) == memory
    assert dut.multipliers == math.ceil(rows * cols / reuse) and dut.ii == reuse
    assert dut.frac == P.frac_bits and dut.product_fmt == P

    xs = _extreme_inputs(W.codes, x_fmt.int_type) + \
        [[_rand_lane(rng, x_fmt.int_type) for _ in range(cols)] for _ in range(10)]
    addends = None if addend_type is None else \
        [[_rand_lane(rng, addend_type) for _ in range(rows)] for _ in xs]
    starts = [2 + n * dut.ii for n in range(len(xs))]
    results = run_matvec(dut, xs, addends, starts, rng)
    assert [c for c, _ in results] == [s + dut.latency for s in starts]

    emu = _MatVec(W, x_fmt.int_type, "test", P)
    want = emu(np.array(xs, dtype=np.int64))
    assert emu.frac == P.frac_bits
    if bias is not None:
        want = want + _bias(bias, P)[0]
    if addends is not None:
        want = want + np.array(addends, dtype=np.int64)
    got = np.array([y for _, y in results], dtype=np.int64)
    np.testing.assert_array_equal(requantize(got, dut.frac, P)[0], requantize(want, P.frac_bits, P)[0])
    lo, hi = dut.out_type.min_value, dut.out_type.max_value
    assert got.min() >= lo and got.max() <= hi


def test_matvec_product_cast_wraps_each_product():
    """A product outside ``product_fmt`` wraps on its own (hls4ml's cast), so the unwrapped sum
    differs from the exact one while both agree modulo 2^W; the adder tree is sized for P."""
    P = _fmt("ap_fixed<4,2>")                      # codes -8..7, 2 fractional bits
    W = np.array([[7, 7]], dtype=np.int64)         # weight frac 0
    dut = MatVec(weights=W, weight_frac=0, x_type=IntType(4, True, 2), reuse=1, product_fmt=P)
    results = run_matvec(dut, [[7, 7]], None, [1], random.Random(0))
    (_, y), = results
    assert y == [2 * (49 - 3 * 16)]                # each 49 wraps to 1 (mod 2^4)
    assert dut.out_type.width <= P.width + 1


def test_matvec_product_fmt_must_wrap():
    with pytest.raises(ValueError, match="must wrap"):
        MatVec(weights=np.ones((2, 2), dtype=int), weight_frac=0, x_type=IntType(4, True, 0),
               product_fmt=FixedFormat(8, 4))
    with pytest.raises(TypeError, match="product_fmt"):
        MatVec(weights=np.ones((2, 2), dtype=int), weight_frac=0, x_type=IntType(4, True, 0),
               product_fmt="ap_fixed<8,4>")
