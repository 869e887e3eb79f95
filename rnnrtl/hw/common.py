"""Shared hardware pieces: shapes of formats, stream beat layouts, the output queue with credits.

A *beat* is one vector (one time step, or one sequence result) with a ``last`` flag marking the
end of a sequence, carried inside the stream payload as a :class:`~amaranth.lib.data.StructLayout`
(``data``: one lane per vector element, ``last``: 1 bit).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat, IntType

__all__ = ["shape_of", "beat_layout", "beat_signature", "OutputQueue", "delay"]


def shape_of(t):
    """The Amaranth shape of a :class:`FixedFormat` code or an :class:`IntType` value."""
    if isinstance(t, FixedFormat):
        return signed(t.width) if t.signed else unsigned(t.width)
    if isinstance(t, IntType):
        return signed(t.width) if t.signed else unsigned(t.width)
    raise TypeError(f"expected a FixedFormat or IntType, got {t!r}")


def beat_layout(fmt: FixedFormat, lanes: int) -> data.StructLayout:
    """Payload of one beat: ``lanes`` codes of ``fmt`` and the end-of-sequence flag."""
    return data.StructLayout({"data": data.ArrayLayout(shape_of(fmt), lanes), "last": 1})


def beat_signature(fmt: FixedFormat, lanes: int) -> stream.Signature:
    return stream.Signature(beat_layout(fmt, lanes))


class OutputQueue(wiring.Component):
    """A FIFO in front of an output stream, with credits for results still in the pipeline.

    A pipeline that cannot stall asks :attr:`can_issue` before starting work that will produce a
    beat, pulses ``issue`` when it starts it, and pulses ``w_en`` with ``w_data`` when the beat comes
    out. ``can_issue`` is high while ``depth`` exceeds the beats queued plus those in flight, so no
    beat is ever dropped however long ``o`` is back-pressured. A beat written in cycle ``c`` is
    offered on ``o`` from cycle ``c + 1`` (:attr:`latency`).
    """

    latency = 1

    def __init__(self, layout, *, depth: int):
        if depth < 1:
            raise ValueError(f"depth {depth} must be >= 1")
        self._depth = depth
        self._layout = layout
        super().__init__({
            "issue": In(1),
            "can_issue": Out(1),
            "w_en": In(1),
            "w_data": In(layout),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        width = data.Layout.cast(self._layout).size
        m.submodules.fifo = q = fifo.SyncFIFO(width=width, depth=self._depth)
        in_flight = Signal(range(self._depth + 1))
        m.d.comb += [
            q.w_data.eq(self.w_data.as_value()),
            q.w_en.eq(self.w_en),
            self.o.payload.eq(q.r_data),
            self.o.valid.eq(q.r_rdy),
            q.r_en.eq(self.o.ready),
            self.can_issue.eq(q.level + in_flight < self._depth),
        ]
        with m.If(self.issue & ~self.w_en):
            m.d.sync += in_flight.eq(in_flight + 1)
        with m.Elif(~self.issue & self.w_en):
            m.d.sync += in_flight.eq(in_flight - 1)
        return m


def delay(m, value, cycles: int, name: str = "d", *, reset_less: bool = False):
    """``value`` delayed by ``cycles`` register stages (``cycles = 0``: ``value`` itself);
    ``reset_less`` for a datapath delay line (registers without a reset, which can become a hard
    block's own)."""
    for k in range(cycles):
        reg = Signal.like(value, name=f"{name}_{k}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value
