# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components refused by their constructor are never elaborated.)
"""Tests of ``rnnrtl.hw.activation``: the ActivationUnit against the numpy half, exhaustively.

Every code of a small input type goes through the unit (several lanes per cycle, with idle cycles
in between); the expected codes come from :func:`rnnrtl.fixed.requantize` and
:meth:`rnnrtl.activations.Table.lookup`, i.e. what the emulator computes. The latency is read
from the component.
"""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest

from rnnrtl.activations import Ramp, Table, TableGeometry
from rnnrtl.fixed import FixedFormat, IntType, Overflow, Rounding, requantize, shift_round
from rnnrtl.hw import ActivationUnit
from rnnrtl.hw.activation import LATENCIES
from rnnrtl.hgq2_frontend import QSpec
from rnnrtl.ir import Activation
from rnnrtl.numerics.hgq2 import quantizer_table
from units import run_valid_unit


def _table(function, fmt, *, size, half_range, out_fmt, index_rounding=Rounding.TRN, sample="center"):
    geometry = TableGeometry.for_range(size=size, half_range=half_range, in_frac=fmt.frac_bits,
                                       index_rounding=index_rounding)
    table = Table(function, fmt.frac_bits, geometry, out_fmt, sample=sample)
    return Activation(function, fmt.frac_bits, out_fmt, table)


def _overflows(codes, src_frac, dst: FixedFormat):
    """Which codes :func:`requantize` saturates or wraps (rounded value outside dst's range)."""
    rounded = shift_round(codes, src_frac - dst.frac_bits, dst.rounding)
    return (rounded < dst.min_code) | (rounded > dst.max_code)


def _expected(act: Activation, in_type: IntType, fmt: FixedFormat, codes):
    """What the emulator computes: requantize into fmt, then ``_Layer.activation``."""
    code, _ = requantize(codes, in_type.frac, fmt)
    over = _overflows(codes, in_type.frac, fmt)
    if act.table is not None:
        out = act.table.lookup(code)
    else:
        relu = np.maximum(code, 0) if act.function == "relu" else code
        out, _ = requantize(relu, fmt.frac_bits, act.out_fmt)
        over = over | _overflows(relu, fmt.frac_bits, act.out_fmt)
    return code, out, over


def run_unit(dut: ActivationUnit, vectors, rng):
    """``(o, code, overflow)`` of each vector, fed with random idle cycles between."""
    return run_valid_unit(dut, vectors, rng, idle=0.2, outputs=("o", "code", "overflow"),
                          quiet=("overflow",))


IN8 = IntType(8, True, 5)
FMT = FixedFormat(6, 3)  # fixed<6,3>, RND, SAT: a shift of 2 and saturation of large inputs
CASES = [
    ("sigmoid", IN8, FMT, lambda f: _table("sigmoid", f, size=64, half_range=8,
                                            out_fmt=FixedFormat(8, 0, signed=False))),
    ("tanh-fine-bins", IN8, FMT, lambda f: _table("tanh", f, size=64, half_range=2,
                                                   out_fmt=FixedFormat(8, 1))),
    ("hard_sigmoid-hls4ml", IN8, FMT, lambda f: _table(
        "hard_sigmoid", f, size=32, half_range=4, out_fmt=FixedFormat(7, 1),
        index_rounding=Rounding.TRN_ZERO, sample="left")),
    ("tanh-wrap", IntType(7, True, 2), FixedFormat(5, 3, rounding=Rounding.RND_CONV, overflow=Overflow.WRAP),
     lambda f: _table("tanh", f, size=16, half_range=4, out_fmt=FixedFormat(6, 1))),
    ("relu", IN8, FMT, lambda f: Activation("relu", f.frac_bits,
                                            FixedFormat(5, 3, rounding=Rounding.TRN, overflow=Overflow.WRAP))),
    ("relu-unsigned-out", IN8, FMT, lambda f: Activation("relu", f.frac_bits,
                                                         FixedFormat(4, 2, signed=False))),
    ("linear", IN8, FMT, lambda f: Activation("linear", f.frac_bits,
                                              FixedFormat(4, 2, rounding=Rounding.RND_CONV,
                                                          overflow=Overflow.SAT_SYM))),
    ("linear-unsigned-in", IntType(7, False, 4), FixedFormat(6, 4, signed=False),
     lambda f: Activation("linear", f.frac_bits, FixedFormat(6, 3, rounding=Rounding.RND_INF))),
]


def _hgq2(function, rounding, **q):
    """An HGQ2 gate quantizer's table (numerics: hgq2) on codes of ``fmt``."""
    return lambda fmt: quantizer_table(function, QSpec(rounding=rounding, overflow=Overflow.SAT,
                                                       where="t.q", **q), fmt, "test")


#: HGQ2's hard sigmoid and hard tanh: clipped ramps (a ROM only at latency 0, where the ramp is
#: logic), and one rounding (half to even) that is no ramp. The ``-ramp`` cases are ramps.
RAMP_CASES = [
    ("hard_sigmoid-hgq2-ramp", IN8, FMT,
     _hgq2("hard_sigmoid", Rounding.RND, k=1, i=1, f=2, affine=(0.25, 0.5))),
    ("tanh-hgq2-trn-ramp", IN8, FMT, _hgq2("tanh", Rounding.TRN, k=1, i=0, f=3)),
    ("tanh-hgq2-coarse-ramp", IntType(9, True, 4), FMT, _hgq2("tanh", Rounding.RND, k=1, i=0, f=1)),
    ("tanh-hgq2-rnd-conv", IN8, FMT, _hgq2("tanh", Rounding.RND_CONV, k=1, i=0, f=2)),
]
CASES += RAMP_CASES


@pytest.mark.parametrize("latency", [n for n in LATENCIES if n], ids=lambda n: f"latency{n}")
@pytest.mark.parametrize("lanes", [3, 4])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_exhaustive(case, lanes, latency):
    name, in_type, fmt, make = case
    act = make(fmt)
    rng = random.Random(f"{name}-{lanes}-{latency == 7}")
    codes = np.arange(in_type.min_value, in_type.max_value + 1, dtype=np.int64)
    rng.shuffle(codes)
    pad = -len(codes) % lanes
    codes = np.concatenate([codes, codes[:pad]])
    want_code, want_out, want_over = _expected(act, in_type, fmt, codes)
    assert want_over.any() and not want_over.all()  # both cases are exercised
    dut = ActivationUnit(in_type=in_type, fmt=fmt, activation=act, lanes=lanes, latency=latency)
    assert dut.latency == latency
    assert dut.roms == (1 if act.table is not None else 0)
    vectors = codes.reshape(-1, lanes).tolist()
    outs = run_unit(dut, vectors, rng)
    assert len(outs) == len(vectors)
    for n, (o, code, over) in enumerate(outs):
        lanes_ = slice(n * lanes, (n + 1) * lanes)
        assert code == want_code[lanes_].tolist(), f"code of vector {n}: {vectors[n]}"
        assert o == want_out[lanes_].tolist(), f"output of vector {n}: {vectors[n]}"
        assert over == int(want_over[lanes_].any()), f"overflow of vector {n}: {vectors[n]}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_exhaustive_combinational(case):
    """Latency 0 (``pipeline: fast``): every input code, ``o``, ``code`` and ``overflow`` in the
    same cycle (no clock at all), ``o_valid`` following ``i_valid`` and ``overflow`` 0 without it."""
    from amaranth.sim import Simulator
    name, in_type, fmt, make = case
    act = make(fmt)
    lanes = 4
    codes = np.arange(in_type.min_value, in_type.max_value + 1, dtype=np.int64)
    codes = np.concatenate([codes, codes[:-len(codes) % lanes]])
    want_code, want_out, want_over = _expected(act, in_type, fmt, codes)
    dut = ActivationUnit(in_type=in_type, fmt=fmt, activation=act, lanes=lanes, latency=0)
    assert dut.latency == 0
    assert (dut.ramp is not None) == name.endswith("-ramp")
    assert dut.roms == int(act.table is not None and not name.endswith("-ramp"))
    vectors = codes.reshape(-1, lanes).tolist()
    got = []

    async def bench(ctx):
        for n, v in enumerate(vectors):
            valid = n % 3 != 2
            ctx.set(dut.i, v)
            ctx.set(dut.i_valid, valid)
            got.append(([ctx.get(dut.o[k]) for k in range(lanes)],
                        [ctx.get(dut.code[k]) for k in range(lanes)],
                        ctx.get(dut.overflow), ctx.get(dut.o_valid), valid))
            await ctx.delay(1e-6)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for n, (o, code, over, o_valid, valid) in enumerate(got):
        lanes_ = slice(n * lanes, (n + 1) * lanes)
        assert o == want_out[lanes_].tolist(), f"output of vector {n}: {vectors[n]}"
        assert code == want_code[lanes_].tolist(), f"code of vector {n}: {vectors[n]}"
        assert o_valid == valid
        assert over == (valid and int(want_over[lanes_].any())), f"overflow of vector {n}"


def test_bad_arguments():
    fmt = FixedFormat(6, 3)
    sig = _table("sigmoid", fmt, size=16, half_range=4, out_fmt=FixedFormat(8, 0, signed=False))
    ok = dict(in_type=IN8, fmt=fmt, activation=sig, lanes=2)
    with pytest.raises(ValueError, match=r"lanes 0 .*>= 1"):
        ActivationUnit(**{**ok, "lanes": 0})
    with pytest.raises(TypeError, match=r"in_type"):
        ActivationUnit(**{**ok, "in_type": fmt})
    with pytest.raises(ValueError, match=r"in_frac 3 .*fixed<6,2.*has 4"):
        ActivationUnit(**{**ok, "fmt": FixedFormat(6, 2)})
    with pytest.raises(ValueError, match=r"needs a Table"):
        ActivationUnit(**{**ok, "activation": Activation("tanh", 3, FixedFormat(8, 1))})
    with pytest.raises(ValueError, match=r"takes no table"):
        ActivationUnit(**{**ok, "activation": Activation("relu", 3, FixedFormat(8, 1), sig.table)})
    with pytest.raises(ValueError, match=r"unsupported activation 'swish'"):
        ActivationUnit(**{**ok, "activation": Activation("swish", 3, FixedFormat(8, 1))})
    bad = Table("sigmoid", 3, sig.table.geometry, sig.out_fmt, contents=np.full(16, 256))
    with pytest.raises(ValueError, match=r"256\.\.256, outside ufixed<8,0"):
        ActivationUnit(**{**ok, "activation": Activation("sigmoid", 3, sig.out_fmt, bad)})


# -- numerics: hls4ml: tables indexed by truncation toward zero, sums through the accumulator -------

def _hls4ml_table(function, fmt, *, size, out_fmt):
    """An hls4ml table as the hls4ml profile's quantizer builds it (its contents, left-edge
    samples, TRN_ZERO index) over hls4ml's fixed range."""
    from rnnrtl.hls4ml import TABLE_RANGES, table_contents
    geometry = TableGeometry.for_range(size=size, half_range=TABLE_RANGES[function],
                                       in_frac=fmt.frac_bits, index_rounding=Rounding.TRN_ZERO)
    contents = table_contents(function, size, FixedFormat.parse("ap_fixed<18,8>"), out_fmt)
    table = Table(function, fmt.frac_bits, geometry, out_fmt, sample="left", contents=contents)
    return Activation(function, fmt.frac_bits, out_fmt, table)


HLS4ML_CASES = [
    # id, in_type, accumulator, fmt (the activation's input), activation
    ("sigmoid-shift2", IntType(9, True, 6), FixedFormat.parse("ap_fixed<7,2>"),
     FixedFormat.parse("ap_fixed<8,4>"),
     lambda f: _hls4ml_table("sigmoid", f, size=64, out_fmt=FixedFormat.parse("ap_fixed<8,2>"))),
    ("tanh-shift-left", IntType(9, True, 6), FixedFormat.parse("ap_fixed<7,2>"),
     FixedFormat.parse("ap_fixed<8,4>"),
     lambda f: _hls4ml_table("tanh", f, size=256, out_fmt=FixedFormat.parse("ap_fixed<8,2>"))),
    ("tanh-acc-is-fmt", IntType(10, True, 7), FixedFormat.parse("ap_fixed<8,3>"),
     FixedFormat.parse("ap_fixed<8,3>"),
     lambda f: _hls4ml_table("tanh", f, size=32, out_fmt=FixedFormat.parse("ap_fixed<8,3>"))),
    ("relu-through-acc", IntType(9, True, 6), FixedFormat.parse("ap_fixed<7,2,AP_RND>"),
     FixedFormat.parse("ap_fixed<6,3>"),
     lambda f: Activation("relu", f.frac_bits, FixedFormat.parse("ap_fixed<6,3>"))),
]


@pytest.mark.parametrize("case", HLS4ML_CASES, ids=[c[0] for c in HLS4ML_CASES])
def test_hls4ml_tables_and_accumulator(case):
    """Every code of the input type: ``code = q_fmt(q_acc(x))`` as the emulator's
    ``_Layer.accumulate`` computes it, then the IR table (hls4ml contents, TRN_ZERO index) or relu."""
    from rnnrtl.fixed import requantize_through
    name, in_type, acc, fmt, make = case
    act = make(fmt)
    rng = random.Random(name)
    codes = np.arange(in_type.min_value, in_type.max_value + 1, dtype=np.int64)
    want_code, _ = requantize_through(codes, in_type.frac, acc, fmt)
    if act.table is not None:
        want_out = act.table.lookup(want_code)
        # the index rounding matters on these codes: floor indexing would differ somewhere
        floor = TableGeometry(act.table.geometry.size, act.table.geometry.shift,
                              act.table.geometry.offset)
        if act.table.geometry.shift > 0:
            assert (act.table.contents[floor.index(want_code)] != want_out).any()
    else:
        want_out, _ = requantize(np.maximum(want_code, 0), fmt.frac_bits, act.out_fmt)
    lanes = 4
    dut = ActivationUnit(in_type=in_type, fmt=fmt, activation=act, lanes=lanes, acc_fmt=acc)
    vectors = np.concatenate([codes, codes[:-len(codes) % lanes]])
    outs = run_unit(dut, vectors.reshape(-1, lanes).tolist(), rng)
    got_code = np.array([c for _, c, _ in outs]).ravel()[:len(codes)]
    got_out = np.array([o for o, _, _ in outs]).ravel()[:len(codes)]
    np.testing.assert_array_equal(got_code, want_code)
    np.testing.assert_array_equal(got_out, want_out)


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@pytest.mark.parametrize("latency", LATENCIES, ids=lambda n: f"latency{n}")
def test_many_lanes_convert(latency):
    """A layer of hundreds of lanes (Dense(256) of the LSTM(128) model) converts to Verilog: the
    lanes' overflow flags are one reduction, not a chain too deep for Amaranth's converters. The
    conversion runs with 300 frames of stack to spare, where a chain of the 256 flags fails
    (checked: a ``|`` chain raises RecursionError there, at 1,024 lanes with Python's default
    limit as well)."""
    from amaranth.back import rtlil
    fmt = FixedFormat(6, 3)
    relu = Activation("relu", 3, FixedFormat(8, 1))
    dut = ActivationUnit(in_type=IN8, fmt=fmt, activation=relu, lanes=256, latency=latency)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 300)
    try:
        text = rtlil.convert(dut)
    finally:
        sys.setrecursionlimit(limit)
    assert "out_over" in text


@pytest.mark.parametrize("size, shift, offset, rounding", [
    (16, 2, 8, Rounding.TRN), (16, 0, 8, Rounding.TRN), (64, 1, 32, Rounding.TRN),
    (16, 9, 8, Rounding.TRN), (8, 3, 4, Rounding.TRN), (16, 2, 5, Rounding.TRN),
    (16, -1, 8, Rounding.TRN), (16, 2, 8, Rounding.TRN_ZERO), (32, 1, 16, Rounding.TRN_ZERO),
])
@pytest.mark.parametrize("width", [3, 8, 10])
def test_index_value_equals_index(size, shift, offset, rounding, width):
    """The hardware table index (a carry-free form for floor-indexed tables centred on zero, an
    adder otherwise) equals the numpy index for every code of a signed input."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    geo = TableGeometry(size, shift, offset, rounding)
    codes = list(range(-(1 << (width - 1)), 1 << (width - 1)))
    want = geo.index(np.array(codes, dtype=np.int64)).tolist()
    m = Module()
    code = Signal(signed(width))
    idx = Signal(geo.index_bits)
    m.d.comb += idx.eq(geo.index_value(code))
    got = []

    async def bench(ctx):
        for c in codes:
            ctx.set(code, c)
            got.append(ctx.get(idx))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


@pytest.mark.parametrize("up, down, add, lo, hi", [
    (0, 1, -60, 0, 30), (0, 0, -5, -3, 9), (0, 3, 4, -2, 5), (1, 0, -7, -6, 20), (2, 0, 1, 0, 31),
])
def test_ramp_found_where_it_is_one(up, down, add, lo, hi):
    """Contents written as a clipped ramp (here, not by rnnrtl) are found to be one: the ramp
    rnnrtl finds gives every entry."""
    index = np.arange(128)
    contents = np.clip(((index << up) + add) >> down, lo, hi)   # >> floors, as Ramp's
    ramp = Ramp.of(contents)
    assert ramp is not None and np.array_equal(ramp.apply(index), contents)


def test_ramp_refused_where_it_is_none():
    """No ramp for contents that are not one: a sigmoid table, a constant, a falling staircase,
    steps of two slopes."""
    sig = _table("sigmoid", FMT, size=64, half_range=8, out_fmt=FixedFormat(8, 0, signed=False))
    assert sig.table.ramp() is None
    for contents in ([3] * 8, [5, 4, 3, 2], [0, 1, 2, 4, 6, 8], [0, 0, 1, 1, 2, 3, 4]):
        assert Ramp.of(np.array(contents)) is None, contents
