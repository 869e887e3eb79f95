"""One lane of an :class:`~rnnrtl.hw.activation.ActivationUnit`, as a unit of its own.

The lanes of an activation unit are the same circuit (same formats), so each is a submodule:
the written Verilog defines it once and instantiates it per lane (:mod:`rnnrtl.rtlil_dedup`)
instead of repeating its dozen operations for every one of up to a hundred lanes. The arithmetic
is :mod:`rnnrtl.fixed`'s, as the unit's docstring describes; these components only draw the
border around a lane.

* :class:`RequantizeLane`: the input code requantized into ``fmt`` (the rounding, then the
  saturation; with ``registered``, the rounded value and the first overflow in registers between
  them, the unit's stage 2).
* :class:`OutputLane`: for ``relu`` / ``linear`` (and softmax logits), the requantized code
  through the activation into ``out_fmt`` (negatives zeroed for ``relu``; with ``registered``,
  the output's rounded value in a register before its saturation, the unit's stage 4).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat, IntType, requantize_through_rounded, saturate_value
from .common import requantized, shape_of, wire, wires

__all__ = ["RequantizeLane", "OutputLane"]


class RequantizeLane(wiring.Component):
    """``code`` = ``i`` (an ``in_type`` value) requantized into ``fmt`` through ``acc_fmt`` (or
    directly when ``None``), ``over`` = some requantization saturated or wrapped; combinational,
    or with ``registered`` one cycle later (the rounded value registered, no reset).

    Ports: ``i: In(in_type)``, ``code: Out(fmt)``, ``over: Out(1)``.
    """

    def __init__(self, *, in_type: IntType, fmt: FixedFormat, acc_fmt: FixedFormat | None,
                 registered: bool):
        self._in_type, self._fmt, self._acc_fmt = in_type, fmt, acc_fmt
        self._registered = bool(registered)
        super().__init__({"i": In(shape_of(in_type)), "code": Out(shape_of(fmt)), "over": Out(1)})

    def elaborate(self, platform):
        m = Module()
        shifted, over = requantize_through_rounded(self.i, self._in_type.frac, self._acc_fmt,
                                                   self._fmt, wires(m, "in"))
        if self._registered:
            rounded = Signal(shifted.shape(), name="rounded", reset_less=True)
            over_mid = Signal(name="over_mid", reset_less=True)
            m.d.sync += [rounded.eq(shifted), over_mid.eq(over)]
            shifted, over = rounded, over_mid
        else:
            shifted = wire(m, shifted, "rounded")
        code, more = saturate_value(shifted, self._fmt, wires(m, "sat"))
        m.d.comb += [self.code.eq(code), self.over.eq(over | more)]
        return m


class OutputLane(wiring.Component):
    """``o`` = ``code`` (a ``fmt`` code) through ``function`` (``relu`` zeroes negatives; any
    other is the identity) requantized into ``out_fmt``; ``over`` = that requantization
    saturated. Combinational, or with ``registered`` one cycle later (the rounded value
    registered, no reset).

    Ports: ``code: In(fmt)``, ``o: Out(out_fmt)``, ``over: Out(1)``.
    """

    def __init__(self, *, fmt: FixedFormat, function: str, out_fmt: FixedFormat, registered: bool):
        self._fmt, self._function, self._out_fmt = fmt, function, out_fmt
        self._registered = bool(registered)
        super().__init__({"code": In(shape_of(fmt)), "o": Out(shape_of(out_fmt)), "over": Out(1)})

    def elaborate(self, platform):
        m = Module()
        code = self.code
        if self._function == "relu" and self._fmt.signed:
            code = wire(m, Mux(code < 0, 0, code), "relu")
        value, over = requantized(m, int(self._registered), "out_rounded", code,
                                  self._fmt.frac_bits, self._out_fmt)
        m.d.comb += [self.o.eq(value), self.over.eq(over)]
        return m
