"""Whole-sequence buffers on a stream of beats: :class:`SequenceReverser` and :class:`StreamQueue`,
each with its beat-level timing model beside it (:mod:`rnnrtl.hw.timing`; keep in sync).

A recurrent layer that reads its input backwards (``go_backwards``, the backward direction of a
``Bidirectional``) cannot take its first step before the sequence's last beat has arrived: the
:class:`SequenceReverser` collects a sequence into a memory and replays it in reverse. The same unit
re-reverses a backward direction's output sequence (``Bidirectional`` with ``return_sequences``),
and :class:`StreamQueue` holds the forward direction's outputs meanwhile.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat
from .common import OutputQueueModel, Queue, beat_layout, beat_signature, shape_of

__all__ = ["SequenceReverser", "SequenceReverserModel", "StreamQueue", "StreamQueueModel"]


class SequenceReverser(wiring.Component):
    """Collects one sequence of beats (``lanes`` codes of ``fmt``) and offers it in reverse order.

    Contract: a sequence is the beats up to and including the one with ``last``, at most
    :attr:`depth` of them (the network's time steps). While *collecting*, ``i.ready`` is high and
    each beat taken is written at the next address of a memory of ``depth × lanes × width`` bits
    (:attr:`bits`); the beat with ``last`` ends the collection. From the next cycle the unit
    *replays*: ``o.valid`` is high and ``o`` offers the stored beats from the last written to the
    first, ``last`` set on the first one (the sequence's first beat); after it is taken the unit
    collects again. ``i.ready`` and ``o.valid`` are flip-flops, and the two phases never overlap, so
    one sequence takes ``T`` cycles to collect and ``T`` transfers to replay: a sequence's first
    beat out is offered :attr:`latency` cycle after its last beat in.

    The memory is read asynchronously (as :class:`~rnnrtl.hw.common.Queue`'s): distributed RAM on
    an FPGA.
    """

    latency = 1

    def __init__(self, fmt: FixedFormat, lanes: int, *, depth: int):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth {depth!r} must be a whole number >= 1 (the sequence length)")
        if lanes < 1:
            raise ValueError(f"lanes {lanes!r} must be >= 1")
        self.fmt, self.lanes, self.depth = fmt, lanes, depth
        super().__init__({"i": In(beat_signature(fmt, lanes)), "o": Out(beat_signature(fmt, lanes))})

    @property
    def bits(self) -> int:
        """Bits of memory: ``depth`` beats of ``lanes`` codes."""
        return self.depth * self.lanes * shape_of(self.fmt).width

    def timing_model(self) -> "SequenceReverserModel":
        return SequenceReverserModel(self)

    def elaborate(self, platform):
        m = Module()
        width = self.lanes * shape_of(self.fmt).width
        m.submodules.storage = storage = Memory(shape=width, depth=self.depth, init=[])
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")
        wr, rd = Signal(range(self.depth)), Signal(range(self.depth))
        replay = Signal()
        m.d.comb += [
            self.i.ready.eq(~replay),
            self.o.valid.eq(replay),
            w_port.addr.eq(wr), w_port.data.eq(self.i.payload.data.as_value()),
            w_port.en.eq(self.i.valid & ~replay),
            r_port.addr.eq(rd),
            self.o.payload.data.eq(r_port.data),
            self.o.payload.last.eq(rd == 0),
        ]
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.payload.last):
                m.d.sync += [replay.eq(1), rd.eq(wr)]
            with m.Else():
                m.d.sync += wr.eq(wr + 1)
        with m.If(self.o.valid & self.o.ready):
            with m.If(rd == 0):
                m.d.sync += [replay.eq(0), wr.eq(0)]
            with m.Else():
                m.d.sync += rd.eq(rd - 1)
        return m


class _Head:
    """The ``out`` face of a model whose output's ``last`` flag is computed, not queued."""

    def __init__(self, head):
        self.head = head


class SequenceReverserModel:
    """The beat-level model of a :class:`SequenceReverser` (keep in sync): collect until ``last``,
    then replay from the last address down to 0, ``last`` on address 0."""

    def __init__(self, hw: SequenceReverser):
        self.replay, self.wr, self.rd = False, 0, 0
        self.out = _Head(lambda: self.rd == 0)

    def in_ready(self):
        return not self.replay

    def out_valid(self):
        return self.replay

    def snapshot(self, cycle):
        return self.replay, self.wr, self.rd

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and not self.replay
        read = self.replay and out_ready
        last = (self.rd == 0) if read else None
        if take:
            if in_last:
                self.replay, self.rd = True, self.wr
            else:
                self.wr += 1
        if read:
            if self.rd == 0:
                self.replay, self.wr = False, 0
            else:
                self.rd -= 1
        return take, last


class StreamQueue(wiring.Component):
    """A FIFO of ``depth`` beats between two streams (:class:`~rnnrtl.hw.common.Queue`): ``i.ready``
    while it has room, ``o.valid`` while it holds a beat, both flip-flops; a beat taken in cycle
    ``c`` is offered from ``c + 1``. :attr:`bits` of memory."""

    def __init__(self, fmt: FixedFormat, lanes: int, *, depth: int):
        self.layout = beat_layout(fmt, lanes)
        self.depth = depth
        super().__init__({"i": In(beat_signature(fmt, lanes)), "o": Out(beat_signature(fmt, lanes))})

    @property
    def bits(self) -> int:
        return self.depth * data.Layout.cast(self.layout).size

    def timing_model(self) -> "StreamQueueModel":
        return StreamQueueModel(self)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = q = Queue(width=data.Layout.cast(self.layout).size, depth=self.depth)
        m.d.comb += [
            q.w_data.eq(self.i.payload.as_value()), q.w_en.eq(self.i.valid), self.i.ready.eq(q.w_rdy),
            self.o.payload.eq(q.r_data), self.o.valid.eq(q.r_rdy), q.r_en.eq(self.o.ready),
        ]
        return m


class StreamQueueModel:
    """The beat-level model of a :class:`StreamQueue` (keep in sync)."""

    def __init__(self, hw: StreamQueue):
        self.out = OutputQueueModel(hw.depth)

    def in_ready(self):
        return self.out.can_issue()

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return self.out.snapshot()

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        self.out.tick(issue=take, write=in_last if take else None, read=read)
        return take, last

