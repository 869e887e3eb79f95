# amaranth: UnusedElaboratable=no
"""rnnrtl.hw.common.wire and requantized: each shared expression is emitted once (issue 18).

Amaranth's lowering copies an expression for every place it is read, so a requantization written
as one expression emitted its rounding adder once per read of the rounded value by the
saturation (and nested requantizations multiplied the copies). These tests count the netlist's
cells, and check by simulation that the named wires change no value.
"""

import collections

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal, signed
from amaranth.hdl import _ir
from amaranth.sim import Simulator

from rnnrtl.fixed import FixedFormat, Overflow, Rounding, requantize, requantize_value
from rnnrtl.hw.common import requantized, wire


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


def test_wire_leaves_signals_and_slices_alone():
    m = Module()
    x = Signal(8)
    assert wire(m, x, "w") is x
    assert wire(m, x[2:5], "w").value is x
    w = wire(m, x + 1, "w")
    assert isinstance(w, Signal) and w.shape() == (x + 1).shape() and w.name == "w"


@pytest.mark.parametrize("rounding", [Rounding.RND, Rounding.TRN, Rounding.RND_CONV])
@pytest.mark.parametrize("overflow", [Overflow.SAT, Overflow.WRAP])
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
