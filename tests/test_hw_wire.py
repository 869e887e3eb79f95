# amaranth: UnusedElaboratable=no
"""rnnrtl.hw.common.wire, requantized and register_bank: each shared expression is emitted once,
and registers that load every cycle are one bank (issue 18).

Amaranth's lowering copies an expression for every place it is read, so a requantization written
as one expression emitted its rounding adder once per read of the rounded value by the
saturation (and nested requantizations multiplied the copies). These tests count the netlist's
cells, and check by simulation that the named wires and the banks change no value.
"""

import collections

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal, signed, unsigned
from amaranth.hdl import _ir
from amaranth.sim import Simulator

from rnnrtl.fixed import FixedFormat, Overflow, Rounding, requantize, requantize_value
from rnnrtl.hw.common import register_bank, requantized, wire


def _operators(m, ports):
    netlist = _ir.build_netlist(Fragment.get(m, None), ports)
    return collections.Counter(c.operator for c in netlist.cells if type(c).__name__ == "Operator")


def _adders_of(build):
    x, o = Signal(signed(20), name="x"), Signal(signed(8), name="o")
    m = Module()
    m.d.sync += o.eq(build(m, x))
    return _operators(m, [x, o])["+"]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_requantized_emits_one_adder_per_rounding(depth):
    fmt = FixedFormat(12, 4, rounding=Rounding.RND, overflow=Overflow.SAT)

    def chain(m, x, named):
        v, frac = x, 10
        for d in range(depth):
            v = requantized(m, 0, f"r{d}", v, frac, fmt)[0] if named else \
                requantize_value(v, frac, fmt)[0]
            frac = fmt.frac_bits + 2      # read as 2 more fractional bits: each level rounds
        return v

    named = _adders_of(lambda m, x: chain(m, x, True))
    assert named == depth                 # one rounding adder per requantization
    # the plain expression is copied for each read: more adders, growing with the depth
    assert _adders_of(lambda m, x: chain(m, x, False)) > named


@pytest.mark.parametrize("overflow", [Overflow.SAT, Overflow.SAT_SYM, Overflow.SAT_ZERO])
def test_saturation_range_tests_are_emitted_once(overflow):
    """The saturation reads its range tests (the bits above the range all copies of the sign) in
    its multiplexers and its overflow flag: through named wires they are one reduction pair."""
    fmt = FixedFormat(8, 3, overflow=overflow)

    def count(named):
        x, o, v = Signal(signed(20), name="x"), Signal(signed(8), name="o"), Signal(name="v")
        m = Module()
        code, over = requantized(m, 0, "r", x, 10, fmt) if named else requantize_value(x, 10, fmt)
        m.d.sync += [o.eq(code), v.eq(over)]
        ops = _operators(m, [x, o, v])
        return ops["r|"], ops["r&"]

    # (the symmetric range's extra test, the low bits all zero, is one more reduction)
    assert count(True) == (1 + (overflow is Overflow.SAT_SYM), 1)
    assert count(False)[1] > 1                # the plain expression: one copy per read


def test_register_bank_is_one_register_with_each_values_bits():
    """Values wider than their width are truncated, narrower ones extended by their signedness
    (as a Signal of that width would hold them); the bank is one flip-flop cell, a cycle late."""
    a, b, c = Signal(signed(6), name="a"), Signal(signed(3), name="b"), Signal(unsigned(3), name="c")
    widths = [4, 5, 5]
    m = Module()
    regs = register_bank(m, [a, b, c], widths, "bank")
    outs = [Signal(signed(w), name=f"o{k}") for k, w in enumerate(widths)]
    m.d.comb += [o.eq(r) for o, r in zip(outs, regs)]
    netlist = _ir.build_netlist(Fragment.get(m, None), [a, b, c, *outs])
    assert sum(type(cell).__name__ == "FlipFlop" for cell in netlist.cells) == 1

    def held(value, bits):               # what Signal(signed(bits)).eq(value) holds
        value &= (1 << bits) - 1
        return value - (1 << bits) if value >> (bits - 1) else value

    rng = np.random.default_rng(5)
    cases = [(int(rng.integers(-32, 32)), int(rng.integers(-4, 4)), int(rng.integers(0, 8)))
             for _ in range(40)]
    seen = []

    async def bench(ctx):
        for va, vb, vc in cases:
            ctx.set(a, va)
            ctx.set(b, vb)
            ctx.set(c, vc)
            await ctx.tick()
            seen.append(tuple(ctx.get(o) for o in outs))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(held(va, 4), vb, vc) for va, vb, vc in cases]


def test_wire_leaves_signals_and_slices_alone():
    m = Module()
    x = Signal(8)
    assert wire(m, x, "w") is x
    assert wire(m, x[2:5], "w").value is x
    w = wire(m, x + 1, "w")
    assert isinstance(w, Signal) and w.shape() == (x + 1).shape() and w.name == "w"


@pytest.mark.parametrize("rounding", [Rounding.RND, Rounding.TRN, Rounding.RND_CONV])
@pytest.mark.parametrize("overflow", list(Overflow))
def test_requantized_values_match_numpy(rounding, overflow):
    """Exhaustive over a 9-bit input: the wired requantization gives rnnrtl.fixed.requantize's codes."""
    fmt = FixedFormat(5, 2, rounding=rounding, overflow=overflow)
    src_frac = 5
    x = Signal(signed(9))
    m = Module()
    code, over = requantized(m, 0, "q", x, src_frac, fmt)
    got_code, got_over = Signal.like(code), Signal()
    m.d.comb += [got_code.eq(code), got_over.eq(over)]
    inputs = np.arange(-256, 256, dtype=np.int64)
    want_codes, _ = requantize(inputs, src_frac, fmt)
    want_over = [requantize(inputs[k:k + 1], src_frac, fmt)[1] > 0 for k in range(len(inputs))]
    results = []

    async def bench(ctx):
        for v in inputs:
            ctx.set(x, int(v))
            results.append((ctx.get(got_code), ctx.get(got_over)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert [c for c, _ in results] == [int(v) for v in want_codes]
    assert [bool(o) for _, o in results] == want_over
