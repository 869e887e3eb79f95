"""Whole-sequence buffers on a stream of beats: :class:`SequenceReverser` and :class:`StreamQueue`,
each with its beat-level timing model beside it (:mod:`rnnrtl.hw.timing`; keep in sync).

A recurrent layer that reads its input backwards (``go_backwards``, the backward direction of a
``Bidirectional``) cannot take its first step before the sequence's last beat has arrived: the
:class:`SequenceReverser` collects a sequence into a memory and replays it in reverse. The same unit
re-reverses a backward direction's output sequence (``Bidirectional`` with ``return_sequences``),
and :class:`StreamQueue` holds the forward direction's outputs meanwhile.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat
from .common import OutputQueueModel, Queue, beat_layout, beat_signature, shape_of

__all__ = ["SequenceReverser", "SequenceReverserModel", "StreamQueue", "StreamQueueModel"]


class SequenceReverser(wiring.Component):
    """Collects sequences of beats (``lanes`` codes of ``fmt``) and offers each in reverse order.

    Contract: a sequence is the beats up to and including the one with ``last``, at most
    :attr:`depth` of them (the network's time steps). The memory holds ``banks`` (1 or 2)
    sequences of ``depth × lanes × width`` bits (:attr:`bits`). A bank *collects* a sequence
    (``i.ready`` high while the bank being written is not full; each beat taken is written at its
    next address) and, once it holds one, *replays* it: ``o`` offers the stored beats from the
    last written to the first, ``last`` set on the first one (the sequence's first beat); after
    that beat is taken the bank is free again. Banks are written and read in turn: with two, the
    next sequence is collected while this one is replayed (double buffering: the input is never
    held up by the replay, at twice the memory); with one, a sequence takes ``T`` cycles to collect
    and ``T`` transfers to replay, one after the other. ``i.ready`` and ``o.valid`` are
    flip-flops; a sequence's first beat out is offered :attr:`latency` cycle after its last beat
    in (when its bank is the one read next).

    The memory is read asynchronously (as :class:`~rnnrtl.hw.common.Queue`'s): distributed RAM on
    an FPGA.
    """

    latency = 1

    def __init__(self, fmt: FixedFormat, lanes: int, *, depth: int, banks: int = 1):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth {depth!r} must be a whole number >= 1 (the sequence length)")
        if lanes < 1:
            raise ValueError(f"lanes {lanes!r} must be >= 1")
        if banks not in (1, 2):
            raise ValueError(f"banks {banks!r} must be 1 or 2")
        self.fmt, self.lanes, self.depth, self.banks = fmt, lanes, depth, banks
        super().__init__({"i": In(beat_signature(fmt, lanes)), "o": Out(beat_signature(fmt, lanes))})

    @property
    def bits(self) -> int:
        """Bits of memory: ``banks × depth`` beats of ``lanes`` codes."""
        return self.banks * self.depth * self.lanes * shape_of(self.fmt).width

    def timing_model(self) -> "SequenceReverserModel":
        return SequenceReverserModel(self)

    def elaborate(self, platform):
        m = Module()
        T, banks = self.depth, self.banks
        width = self.lanes * shape_of(self.fmt).width
        m.submodules.storage = storage = Memory(shape=width, depth=banks * T, init=[])
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")
        full = [Signal(name=f"full{b}") for b in range(banks)]  # bank b holds a whole sequence
        top = [Signal(range(T), name=f"top{b}") for b in range(banks)]   # its last address
        wb, rb = Signal(range(banks)), Signal(range(banks))   # the banks written and read
        wr, k = Signal(range(T)), Signal(range(T))             # write address, beats replayed

        def pick(regs, bank):   # (no index with one bank: Yosys would shift a 0-bit index)
            return Array(regs)[bank] if banks > 1 else regs[0]

        base = (lambda b: b * T) if banks > 1 else (lambda b: 0)
        take, read = self.i.valid & self.i.ready, self.o.valid & self.o.ready
        m.d.comb += [
            self.i.ready.eq(~pick(full, wb)),
            self.o.valid.eq(pick(full, rb)),
            w_port.addr.eq(base(wb) + wr), w_port.data.eq(self.i.payload.data.as_value()),
            w_port.en.eq(take),
            r_port.addr.eq(base(rb) + pick(top, rb) - k),
            self.o.payload.data.eq(r_port.data),
            self.o.payload.last.eq(k == pick(top, rb)),
        ]
        with m.If(take):
            with m.If(self.i.payload.last):
                m.d.sync += [pick(full, wb).eq(1), pick(top, wb).eq(wr), wr.eq(0)]
                if banks > 1:
                    m.d.sync += wb.eq(~wb)
            with m.Else():
                m.d.sync += wr.eq(wr + 1)
        with m.If(read):
            with m.If(k == pick(top, rb)):
                m.d.sync += [pick(full, rb).eq(0), k.eq(0)]
                if banks > 1:
                    m.d.sync += rb.eq(~rb)
            with m.Else():
                m.d.sync += k.eq(k + 1)
        return m


class _Head:
    """The ``out`` face of a model whose output's ``last`` flag is computed, not queued."""

    def __init__(self, head):
        self.head = head


class SequenceReverserModel:
    """The beat-level model of a :class:`SequenceReverser` (keep in sync): banks collect in turn
    until ``last``, then replay in turn from their last address down, ``last`` on address 0."""

    def __init__(self, hw: SequenceReverser):
        self.banks = hw.banks
        self.full, self.top = [False] * hw.banks, [0] * hw.banks
        self.wb = self.rb = self.wr = self.k = 0
        self.out = _Head(lambda: self.k == self.top[self.rb])

    def in_ready(self):
        return not self.full[self.wb]

    def out_valid(self):
        return self.full[self.rb]

    def snapshot(self, cycle):
        return tuple(self.full), tuple(self.top), self.wb, self.rb, self.wr, self.k

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        read = out_ready and self.out_valid()
        last = (self.k == self.top[self.rb]) if read else None
        if read:   # (a read and a write in one cycle touch different banks)
            if last:
                self.full[self.rb], self.k = False, 0
                self.rb = (self.rb + 1) % self.banks
            else:
                self.k += 1
        if take:
            if in_last:
                self.full[self.wb], self.top[self.wb], self.wr = True, self.wr, 0
                self.wb = (self.wb + 1) % self.banks
            else:
                self.wr += 1
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

