"""Shared hardware pieces: shapes of formats, stream beat layouts, queues, the register slice of a
stream, the credit link between layers, the output queue with credits (each queue with its beat-level timing model beside it, for
:mod:`rnnrtl.hw.timing`), and small register helpers.

A *beat* is one vector (one time step, or one sequence result) with a ``last`` flag marking the
end of a sequence, carried inside the stream payload as a :class:`~amaranth.lib.data.StructLayout`
(``data``: one lane per vector element, ``last``: 1 bit).
"""

from __future__ import annotations

from collections import deque

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat, IntType, requantize_through_rounded, saturate_value

__all__ = ["QUEUE_BANK_BITS", "queue_banks", "shape_of", "beat_layout", "beat_signature", "Queue", "CreditLink", "CreditLinkModel",
           "OutputQueue", "OutputQueueModel", "WRITE_LEAD", "RegisterSlice", "RegisterSliceModel", "pending", "delay", "delayed_pulse", "pulse_copies",
           "COPY_ATTR", "COPY_LOADS", "fanout_copies", "fanout_tree", "copy_groups",
           "countdown", "wrap_increment", "wire", "wires", "requantized", "register_bank"]


#: Bits of a :class:`Queue`'s beat stored in one memory, with its own pointers.
QUEUE_BANK_BITS = 128


def queue_banks(width: int) -> int:
    """Memories a :class:`Queue` stores a ``width``-bit beat in (:data:`QUEUE_BANK_BITS` bits
    each at most)."""
    return -(-width // QUEUE_BANK_BITS)


#: Bits of a ``late`` :class:`Queue`'s beat read at one copy of the read pointer (four ECP5
#: LUT-RAM cells): the copy sits with them.
LATE_READ_BITS = 16


def shape_of(t):
    """The Amaranth shape of a :class:`FixedFormat` code or an :class:`IntType` value."""
    if isinstance(t, FixedFormat):
        return signed(t.width) if t.signed else unsigned(t.width)
    if isinstance(t, IntType):
        return signed(t.width) if t.signed else unsigned(t.width)
    raise TypeError(f"expected a FixedFormat or IntType, got {t!r}")


def beat_layout(fmt: FixedFormat, lanes: int, *, masked: bool = False) -> data.StructLayout:
    """Payload of one beat: ``lanes`` codes of ``fmt`` and the end-of-sequence flag; with
    ``masked``, also the flag of a masked step (:mod:`rnnrtl.hw.masking`)."""
    fields = {"data": data.ArrayLayout(shape_of(fmt), lanes), "last": 1}
    if masked:
        fields["masked"] = 1
    return data.StructLayout(fields)


def beat_signature(fmt: FixedFormat, lanes: int, *, masked: bool = False) -> stream.Signature:
    return stream.Signature(beat_layout(fmt, lanes, masked=masked))


class Queue(wiring.Component):
    """A first-word-fall-through FIFO with the ports and cycle behaviour of Amaranth's
    :class:`~amaranth.lib.fifo.SyncFIFO` (``w_rdy`` while ``level != depth``, ``r_rdy`` while
    ``level != 0``, ``r_data`` the oldest entry, combinationally), but ``w_rdy`` and ``r_rdy`` are
    flip-flops, loaded from the next level: a stream's ``ready`` and a scheduler's decision start
    at a register instead of a comparison of the level.

    A beat wider than :data:`QUEUE_BANK_BITS` is stored in banks of at most that many bits, each
    a memory with its own write and read pointers: one pointer register addressing every LUT-RAM
    cell of a 1,025-bit beat (257 on ECP5) was a route over a large part of the device. The banks
    have one slot more than ``depth``, so the slot at the write pointer is always free and each bank
    writes it in every cycle (only ``w_en`` decides whether the pointer moves on and keeps it): no
    write enable reaches the banks from the handshake (a copy of ``w_rdy`` per bank, loaded from
    the next level, was an ECP5 critical path across the device).

    ``pointer_enables``: each write pointer (:attr:`write_pointers`: one per bank, or per
    :data:`LATE_READ_BITS` with ``late``) moves on at a write enable of its own (``w_en_pointer``,
    each bit a copy of ``w_en`` from flip-flops near that pointer), for a writer that never writes
    while the queue is full (a :class:`CreditLink`, which holds a credit per free slot; an
    :class:`OutputQueue`, which holds one per beat issued): one ``w_en`` to the pointers of a
    1,025-bit beat's banks was a route across the device. The memories then have the spare slot
    too, and are written in every cycle.

    ``late``: ``r_data`` is the entry that was the oldest one cycle before (what ``r_data`` would
    have shown then), read at a registered copy of each bank's read pointer, for a reader that
    registers the beat it takes (:class:`CreditLink` with ``late_payload``): each
    :data:`LATE_READ_BITS` of the beat are a memory read at a register copy of the read pointer,
    which sits with those few cells (a beat of a thousand bits spans much of an ECP5-85F), instead
    of at the pointer, which sits with the handshake. The slot read is never written in between: a
    write goes to a free slot, and the slot of a beat taken is free only from the next cycle.
    """

    def __init__(self, *, width: int, depth: int, late: bool = False,
                 pointer_enables: bool = False):
        if depth < 1:
            raise ValueError(f"depth {depth} must be >= 1")
        self.width, self.depth, self.late = width, depth, bool(late)
        self.pointer_enables = bool(pointer_enables)
        ports = {
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1, init=1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
            "level": Out(range(depth + 1)),
        }
        if self.pointer_enables:
            ports["w_en_pointer"] = In(len(self.write_pointers))
        super().__init__(ports)

    @property
    def banks(self) -> int:
        """Banks the beat is stored in (:func:`queue_banks`), each with its own read pointer."""
        return queue_banks(self.width)

    @property
    def write_pointers(self) -> list[tuple[int, int, int]]:
        """``(bank, lsb, end)`` of each write pointer's memory, bits ``lsb`` to ``end - 1`` of the
        beat: one per bank, or with ``late`` one per :data:`LATE_READ_BITS` of each bank."""
        pointers = []
        for b in range(self.banks):
            lo, hi = b * QUEUE_BANK_BITS, min(self.width, (b + 1) * QUEUE_BANK_BITS)
            step = LATE_READ_BITS if self.late else hi - lo
            pointers += [(b, part, min(hi, part + step)) for part in range(lo, hi, step)]
        return pointers

    def elaborate(self, platform):
        m = Module()
        depth, banks = self.depth, self.banks
        do_write, do_read = self.w_en & self.w_rdy, self.r_en & self.r_rdy
        level_next = Signal(range(depth + 1))
        m.d.comb += level_next.eq(self.level + do_write - do_read)
        m.d.sync += [self.level.eq(level_next), self.w_rdy.eq(level_next != depth),
                     self.r_rdy.eq(level_next != 0)]
        # The free slot at ``produce`` is written whenever there is one; only ``w_en`` decides
        # whether it is kept, so the storage's write enable is no wide net of handshake logic.
        # Banks (and pointers with enables of their own) have a spare slot: there is always one,
        # and they write in every cycle.
        spare = banks > 1 or self.pointer_enables
        slots = depth + spare
        w_enable = Const(1) if spare else self.w_rdy
        consumers = []
        for b in range(banks):
            suffix = "" if banks == 1 else str(b)
            consume = Signal(range(slots), name=f"consume{suffix}")
            with m.If(do_read):
                m.d.sync += consume.eq(Mux(consume == slots - 1, 0, consume + 1))
            consumers.append(consume)
        # Each pointer reads its own output: synthesis keeps them apart. late: a memory per
        # LATE_READ_BITS of the bank, each read at a copy of the bank's read pointer and written
        # at a write pointer of its own (the same count: one pointer register addressing a bank's
        # every LUT-RAM cell was an 8 ns route on an ECP5-85F).
        for p, (b, lsb, end) in enumerate(self.write_pointers):
            k = (lsb - b * QUEUE_BANK_BITS) // LATE_READ_BITS     # (late) the bank's k-th memory
            suffix = "" if banks == 1 else str(b)
            written = self.w_en_pointer[p] if self.pointer_enables else do_write
            produce = Signal(range(slots), name=f"produce{suffix}" if not self.late else
                             f"produce{suffix}_{k}_")
            with m.If(written):
                m.d.sync += produce.eq(Mux(produce == slots - 1, 0, produce + 1))
            storage = Memory(shape=end - lsb, depth=slots, init=[])
            name = "storage" if banks == 1 else f"storage{b}"
            m.submodules[name if not self.late else f"{name}_{k}"] = storage
            w_port = storage.write_port()
            r_port = storage.read_port(domain="comb")
            read_at = consumers[b] if not self.late else \
                fanout_copies(m, consumers[b], 1, f"consume_late{suffix}_{k}_")[0]
            m.d.comb += [w_port.addr.eq(produce), w_port.data.eq(self.w_data[lsb:end]),
                         w_port.en.eq(w_enable), r_port.addr.eq(read_at),
                         self.r_data[lsb:end].eq(r_port.data)]
        return m


class CreditLink(wiring.Component):
    """A stream link between two components placed far apart, with no combinational path across
    it: the beat and its valid go forward through :attr:`stages` registers into a queue on the
    receiving side, and each beat taken from that queue returns a credit through :attr:`stages`
    registers to the sending side, which sends while it holds a credit. ``i.ready`` is a
    flip-flop (a credit is held), the queue's ``o.valid`` is a flip-flop, and every route between
    the two sides runs from a register to a register.

    With ``slices``, a :class:`RegisterSlice` sits at each end (``i`` → slice → sender, queue →
    slice → ``o``): the handshakes with the neighbours then run between flip-flops of the slice
    and of the neighbour, not from the sender's credit count or the receiving queue (without
    slices, nextpnr put the credit count's ``ready`` across the ECP5-85F from the sending layer's
    output queue: one 7.3 ns route). Each slice adds :attr:`RegisterSlice.latency` (1) cycle and
    two registers of the beat's width.

    A beat taken on ``i`` in cycle ``c`` is offered on ``o`` from cycle ``c + stages + 1`` (+ 2
    with ``slices``; :attr:`latency`). A credit returns ``stages + 1`` cycles after its beat is
    taken from the queue, so the queue holds :attr:`depth` = ``2·stages + 2`` beats, enough to
    take a beat every cycle with ``o`` always ready.

    ``late_payload``: ``i.payload`` comes a cycle after its transfer (an :class:`OutputQueue`
    built with ``late``), and takes the place of the first beat register: same latency.
    ``late_output``: ``o.payload`` comes a cycle after its transfer (the receiving queue is
    built ``late``), for a reader that registers it first (a
    :class:`~rnnrtl.hw.dense.DenseLayer` with ``late_input``).
    """

    def __init__(self, layout, *, stages: int = 2, slices: bool = False,
                 late_payload: bool = False, late_output: bool = False):
        if stages < 1:
            raise ValueError(f"stages {stages} must be >= 1")
        if late_payload and slices:
            raise ValueError("late_payload takes the sender's beat a cycle late; a register "
                             "slice on i cannot")
        self._layout = layout
        self.stages = stages
        self.slices = bool(slices)
        self.late_payload = bool(late_payload)
        if late_output and slices:
            raise ValueError("late_output gives o's payload a cycle late; a register slice on o "
                             "cannot take it")
        self.late_output = bool(late_output)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    @property
    def latency(self) -> int:
        """Cycles from a beat taken on ``i`` to the same beat offered on ``o``."""
        return self.stages + 1 + 2 * self.slices * RegisterSlice.latency

    @property
    def depth(self) -> int:
        """Beats the receiving queue holds: the sender's credits at reset."""
        return 2 * self.stages + 2

    def timing_model(self):
        """:class:`CreditLinkModel`, between two :class:`RegisterSliceModel` with ``slices``."""
        if not self.slices:
            return CreditLinkModel(self)
        from .timing import ChainModel      # (timing imports no hardware module)
        return ChainModel([RegisterSliceModel(), CreditLinkModel(self), RegisterSliceModel()])

    def elaborate(self, platform):
        m = Module()
        depth, stages = self.depth, self.stages
        i, o = self.i, self.o                  # the sender's and the receiving queue's streams
        if self.slices:
            m.submodules.in_slice = in_slice = RegisterSlice(self._layout)
            m.submodules.out_slice = out_slice = RegisterSlice(self._layout)
            wiring.connect(m, wiring.flipped(self.i), in_slice.i)
            wiring.connect(m, out_slice.o, wiring.flipped(self.o))
            i, o = in_slice.o, out_slice.i
        width = data.Layout.cast(self._layout).size
        banked = queue_banks(width) > 1
        m.submodules.queue = q = Queue(width=width, depth=depth, late=self.late_output,
                                       pointer_enables=banked)
        # Sending side: a credit per free entry of the queue, counting those in flight.
        credits = Signal(range(depth + 1), init=depth)
        credits_next = Signal(range(depth + 1))
        can_send = Signal(init=1)
        send = Signal()
        returned = Signal()
        m.d.comb += [
            i.ready.eq(can_send),
            send.eq(i.valid & can_send),
            credits_next.eq(credits - send + returned),
        ]
        m.d.sync += [credits.eq(credits_next), can_send.eq(credits_next != 0)]
        # Forward: the beat and its valid through ``stages`` registers, into the queue (which
        # has room: the sender held a credit for it).
        # A wide queue's banks each take their copy of the write from flip-flops of their own.
        sent = delayed_pulse(m, send, stages, "sent", copies=1 + q.banks * banked)
        m.d.comb += [
            q.w_data.eq(delay(m, i.payload.as_value(), stages - self.late_payload, "beat",
                              reset_less=True)),
            q.w_en.eq(sent[0]),
        ]
        if banked:
            m.d.comb += q.w_en_pointer.eq(Cat(*(sent[1 + b] for b, _, _ in q.write_pointers)))
        # Receiving side: the queue feeds ``o``; each beat taken returns a credit.
        m.d.comb += [
            o.payload.eq(q.r_data),
            o.valid.eq(q.r_rdy),
            q.r_en.eq(o.ready),
            returned.eq(delayed_pulse(m, o.valid & o.ready, stages, "credit")),
        ]
        return m


class RegisterSlice(wiring.Component):
    """A full register slice of a stream (AXI's "skid buffer"): ``i.ready``, ``o.valid`` and
    ``o.payload`` are flip-flops, so neither direction of the handshake passes through it
    combinationally, and it takes a beat every cycle while ``o`` is ready.

    A beat taken on ``i`` in cycle ``c`` is offered on ``o`` from cycle ``c + 1`` (:attr:`latency`).
    When ``o`` stalls with a beat offered, the next beat taken waits in a second register (the
    skid) and ``i.ready`` falls until the skid empties (model: :class:`RegisterSliceModel`, keep
    in sync).
    """

    latency = 1

    def __init__(self, layout):
        self._layout = layout
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def timing_model(self) -> "RegisterSliceModel":
        return RegisterSliceModel()

    def elaborate(self, platform):
        m = Module()
        held = Signal(self._layout, name="held", reset_less=True)
        skid = Signal(self._layout, name="skid", reset_less=True)
        ready = Signal(init=1, name="ready")            # = the skid is empty
        m.d.comb += [self.o.payload.eq(held), self.i.ready.eq(ready)]
        take = self.i.valid & ready
        with m.If(self.o.ready | ~self.o.valid):        # the held beat leaves, or there is none
            with m.If(~ready):
                m.d.sync += [held.eq(skid), self.o.valid.eq(1), ready.eq(1)]
            with m.Else():
                m.d.sync += [held.eq(self.i.payload), self.o.valid.eq(take)]
        with m.Elif(take):
            m.d.sync += [skid.eq(self.i.payload), ready.eq(0)]
        return m


class RegisterSliceModel:
    """The beat-level model of a :class:`RegisterSlice` (keep in sync): the held beat's last flag
    and the skid's (``None``: empty). Its :attr:`out` is itself (``head()``: the held beat's)."""

    def __init__(self):
        self.held = self.skid = None
        self.out = self

    def in_ready(self):
        return self.skid is None

    def out_valid(self):
        return self.held is not None

    def head(self):
        return self.held

    def snapshot(self, cycle):
        return self.held, self.skid

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = bool(in_valid) and self.skid is None
        last = self.held if self.held is not None and out_ready else None
        if out_ready or self.held is None:
            if self.skid is not None:
                self.held, self.skid = self.skid, None
            else:
                self.held = bool(in_last) if take else None
        elif take:
            self.skid = bool(in_last)
        return take, last


#: Cycles ahead of a write a late :class:`OutputQueue`'s writer tells it of the write (its
#: ``lead``): the levels of the tree of copies to the queue's write pointers.
WRITE_LEAD = 2


class OutputQueue(wiring.Component):
    """A FIFO in front of an output stream, with credits for results still in the pipeline.

    A pipeline that cannot stall asks :attr:`can_issue` before starting work that will produce a
    beat, pulses ``issue`` when it starts it, and pulses ``w_en`` with ``w_data`` when the beat comes
    out. ``can_issue`` is high while ``depth`` exceeds the beats queued plus those in flight, so no
    beat is ever dropped however long ``o`` is back-pressured. A beat written in cycle ``c`` is
    offered on ``o`` from cycle ``c + 1`` (:attr:`latency`).

    With ``release_stages`` = ``n``, a beat taken from ``o`` frees its credit ``n`` cycles later
    (the transfer goes through ``n`` registers to the credit count): the queue, which sits where
    its beats leave, and the count, which sits with the scheduler asking ``can_issue``, may then
    be far apart with a register between them.

    ``late``: ``o.payload`` lags ``o.valid`` by one cycle (the beat taken in cycle ``c`` is on
    ``o.payload`` in cycle ``c + 1``; :class:`Queue`'s ``late``), for a :class:`CreditLink` built
    with ``late_payload``.

    ``lead`` = ``n`` ≥ 1: the writer also gives ``w_en_lead``, which is ``w_en``'s value ``n``
    cycles ahead (``w_en`` in cycle ``c`` = ``w_en_lead`` in cycle ``c - n``, always), and each
    of the queue's write pointers moves on at a copy of it from a :func:`fanout_tree` ``n`` levels
    deep (:class:`Queue`'s ``pointer_enables``): ``w_en`` alone reached the pointers of a wide
    late queue's every 16 bits, spread over an ECP5-85F, in one 7.3 ns route. ``w_en`` still keeps
    the queue's level.
    """

    latency = 1

    def __init__(self, layout, *, depth: int, release_stages: int = 0, late: bool = False,
                 lead: int = 0):
        if depth < 1:
            raise ValueError(f"depth {depth} must be >= 1")
        if lead < 0:
            raise ValueError(f"lead {lead} must be >= 0")
        self.late = bool(late)
        self.lead = lead
        self._depth = depth
        self._layout = layout
        self.release_stages = release_stages
        ports = {
            "issue": In(1),
            "can_issue": Out(1, init=1),
            "w_en": In(1),
            "w_data": In(layout),
            "o": Out(stream.Signature(layout)),
        }
        if lead:
            ports["w_en_lead"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        width = data.Layout.cast(self._layout).size
        m.submodules.fifo = q = Queue(width=width, depth=self._depth, late=self.late,
                                      pointer_enables=bool(self.lead))
        if self.lead:
            m.d.comb += q.w_en_pointer.eq(Cat(*fanout_tree(
                m, self.w_en_lead, len(q.write_pointers), "write_copy", levels=self.lead)))
        m.d.comb += [
            q.w_data.eq(self.w_data.as_value()),
            q.w_en.eq(self.w_en),
            self.o.payload.eq(q.r_data),
            self.o.valid.eq(q.r_rdy),
            q.r_en.eq(self.o.ready),
        ]
        # Beats queued or in flight: one more per issue, one fewer per beat taken from ``o``
        # (``release_stages`` cycles later); ``can_issue`` is a flip-flop loaded from the next count.
        held = Signal(range(self._depth + 1))
        held_next = Signal(range(self._depth + 1))
        released = delayed_pulse(m, self.o.valid & self.o.ready, self.release_stages, "released")
        m.d.comb += held_next.eq(held + self.issue - released)
        m.d.sync += [held.eq(held_next), self.can_issue.eq(held_next < self._depth)]
        return m



class OutputQueueModel:
    """The beat-level model of an :class:`OutputQueue`: credits, then a FIFO visible one cycle after
    write; a beat read frees its credit ``release_stages`` cycles later (keep in sync)."""

    def __init__(self, depth, release_stages=0):
        self.depth, self.items, self.in_flight = depth, deque(), 0
        self.releasing = [False] * release_stages   # reads whose credit is not back yet

    def can_issue(self):
        return len(self.items) + self.in_flight + sum(self.releasing) < self.depth

    def valid(self):
        return bool(self.items)

    def head(self):
        return self.items[0]

    def snapshot(self):
        return tuple(self.items), self.in_flight, tuple(self.releasing)

    def tick(self, *, issue, write, read):
        if read:
            self.items.popleft()
        if self.releasing:
            self.releasing = [read] + self.releasing[:-1]
        if write is not None:
            self.items.append(write)
        self.in_flight += int(issue) - int(write is not None)


class CreditLinkModel:
    """The beat-level model of a :class:`CreditLink` (keep in sync): beats ``stages`` cycles forward
    into a queue visible a cycle after its write, credits ``stages`` cycles back; ready while a
    credit is held (the count after the previous cycle's send and return)."""

    def __init__(self, hw: CreditLink):
        self.out = OutputQueueModel(hw.depth)
        self.credits = hw.depth
        self.forward = [None] * hw.stages    # last flags of beats on their way, newest first
        self.back = [False] * hw.stages      # credits on their way back, newest first

    def in_ready(self):
        return self.credits != 0

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return self.out.snapshot(), self.credits, tuple(self.forward), tuple(self.back)

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        self.out.tick(issue=self.forward[-1] is not None, write=self.forward[-1], read=read)
        self.credits += int(self.back[-1]) - int(take)
        self.forward = [in_last if take else None] + self.forward[:-1]
        self.back = [read] + self.back[:-1]
        return take, last


def pending(events: dict, cycle: int):
    """A model's scheduled events (cycle -> value), by cycles from now (for a ``snapshot``)."""
    return tuple(sorted((c - cycle, v) for c, v in events.items() if c > cycle))


def delay(m, value, cycles: int, name: str = "d", *, reset_less: bool = False,
          kept: bool = False):
    """``value`` delayed by ``cycles`` register stages (``cycles = 0``: ``value`` itself);
    ``reset_less`` for a datapath delay line (registers without a reset, which can become a hard
    block's own). ``kept``: the registers carry :data:`COPY_ATTR`, so synthesis keeps this line
    apart from another line of the same value (a delay line per load that is far from the others:
    identical lines merged are one line to all their loads)."""
    attrs = {COPY_ATTR: 1} if kept else {}
    for k in range(cycles):
        reg = Signal.like(value, name=f"{name}_{k}", reset_less=reset_less, attrs=attrs)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def register_bank(m, values, widths, name: str):
    """``values`` in registers that load every cycle (no reset, no enable), ``widths[k]`` bits
    for ``values[k]`` (truncated or extended by its signedness, as ``Signal(signed(w)).eq(value)``
    does); returns each register's bits as a signed value, one cycle after ``values``.

    The same flip-flops as one register per value, held as one register ``name`` (the Verilog has
    its slices): Amaranth builds, checks and emits one flip-flop cell, and yosys writes one
    ``always`` block, where a register per value cost a cell, a declaration and a block each."""
    widths = list(widths)
    fitted = []
    for value, width in zip(values, widths, strict=True):
        value = Value.cast(value)
        if len(value) < width:
            fill = value[-1] if value.shape().signed else Const(0, 1)
            value = Cat(value, fill.replicate(width - len(value)))
        fitted.append(value[:width])
    bank = Signal(sum(widths), name=name, reset_less=True)
    m.d.sync += bank.eq(Cat(*fitted))
    out, lsb = [], 0
    for width in widths:
        out.append(bank[lsb:lsb + width].as_signed())
        lsb += width
    return out


def delayed_pulse(m, pulse, stages: int, name: str, *, copies: int | None = None):
    """``pulse`` (a 1-bit event) ``stages`` cycles later, carried by a toggle flip-flop that flips
    on each event, through ``stages - 1`` registers, and an exclusive or with the toggle's previous
    value. Unlike :func:`delay`'s registers, the toggle reads its own output, so synthesis cannot
    merge it with another register of the same event elsewhere (a credit count's and a link's
    copy of one transfer would be one flip-flop, placed near one of them only).

    Without ``copies`` and with ``stages >= 2`` the event is first registered as it is
    (``<name>_event``) and the toggle flips on that register, one stage later: the toggle's logic
    reads flip-flops only, so the placer can put it anywhere on the way. On ECP5 a flip-flop fed
    by a LUT is packed with that LUT: the toggle fed by the transfer's logic was placed by the
    credit count, and the transfer reached it in one route across the device (the jet LSTM's
    output queue release, the ECP5 estimate's critical path at three placements, 6.2-9.2 ns of
    routing). That event register is a plain one, so yosys merges it with any register of the same
    transfer: in the jet LSTM a credit link's ``credit_event`` is one flip-flop with the Dense
    layer's ``start_late_0`` and its MatVec's ``start_reg3`` (the measured ECP5 figures are with
    that merge; keeping it apart, ``delay(..., kept=True)``, is not measured yet).

    ``copies``: a list of that many copies of the delayed pulse, each from flip-flops of its own
    (the last register and the one after it; with one stage, a toggle each) for loads spread over
    the device: the write pointers of a wide queue's banks, say."""
    if stages == 0:
        return pulse if copies is None else [pulse] * copies
    if copies is None:
        if stages >= 2:
            event = Signal(name=f"{name}_event")
            m.d.sync += event.eq(pulse)
            pulse, stages = event, stages - 1
        toggle = Signal(name=f"{name}_toggle")
        m.d.sync += toggle.eq(toggle ^ pulse)
        late = delay(m, toggle, stages - 1, f"{name}_late")
        return late ^ delay(m, late, 1, f"{name}_seen")
    outs = []
    if stages == 1:
        for c in range(copies):
            toggle = Signal(name=f"{name}_toggle{c}")
            m.d.sync += toggle.eq(toggle ^ pulse)
            outs.append(toggle ^ delay(m, toggle, 1, f"{name}_seen{c}_"))
        return outs
    toggle = Signal(name=f"{name}_toggle")
    m.d.sync += toggle.eq(toggle ^ pulse)
    early = delay(m, toggle, stages - 2, f"{name}_late")
    for c in range(copies):
        late = delay(m, early, 1, f"{name}_late{c}_", kept=True)
        outs.append(late ^ delay(m, late, 1, f"{name}_seen{c}_"))
    return outs


def pulse_copies(m, pulse, count: int, name: str):
    """``count`` copies of ``pulse`` (a 1-bit event never high in two consecutive cycles), each one
    cycle later: ``copy ← pulse ∧ ¬copy`` is the same pulse, and a register that reads its own
    output, so synthesis keeps the copies apart and each can sit with the loads it drives (no one
    flip-flop's route to loads spread over the device)."""
    copies = []
    for g in range(count):
        copy = Signal(name=f"{name}{g}")
        m.d.sync += copy.eq(pulse & ~copy)
        copies.append(copy)
    return copies


#: The attribute of a :func:`fanout_copies` register. yosys merges flip-flops with the same
#: input into one; rnnrtl's yosys scripts set ``keep`` on the cells that drive wires with this
#: attribute (:data:`rnnrtl.synth.yosys.KEEP_COPIES`), so each copy stays with its loads.
COPY_ATTR = "rnnrtl_copy"


def fanout_copies(m, value, count: int, name: str, *, init: int = 0):
    """``count`` registers that each load ``value`` every cycle (each is ``delay(m, value, 1)``),
    for ``count`` groups of loads: one flip-flop per group instead of one net from one flip-flop
    to loads spread over the device (an enable of thousands of data registers crossed an ECP5-85F
    in one 11.5 ns route). Unlike :func:`pulse_copies`, ``value`` may be high in consecutive
    cycles; the copies are kept apart by :data:`COPY_ATTR`, not by their structure. ``init``: their
    value after reset (that of the register they copy)."""
    copies = []
    for g in range(count):
        copy = Signal(Value.cast(value).shape(), name=f"{name}{g}", init=init,
                      attrs={COPY_ATTR: 1})
        m.d.sync += copy.eq(value)
        copies.append(copy)
    return copies


def fanout_tree(m, value, count: int, name: str, *, levels: int):
    """``count`` copies of ``value`` delayed ``levels`` cycles, through a tree of
    :func:`fanout_copies` registers ``levels`` deep (each register loads its parent every cycle):
    a route from the source to any copy crosses the device in ``levels`` hops, where one level of
    copies made it one hop from one flip-flop. Each register's name starts with ``name`` (the
    levels before the last: ``{name}_l{level}_``)."""
    if levels < 1:
        raise ValueError(f"levels {levels} must be >= 1")
    if levels == 1:
        return fanout_copies(m, value, count, name)
    branch = max(1, round(count ** (1 / levels)))
    parents = fanout_tree(m, value, -(-count // branch), f"{name}_l{levels - 1}_",
                          levels=levels - 1)
    return [fanout_copies(m, parents[k // branch], 1, f"{name}{k}_")[0] for k in range(count)]


#: Flip-flops (or other loads) one fanout copy serves: two 16-bit lanes. The lanes of a vector go
#: to units spread over the device (each lane's DSP of an elementwise product, say), so a copy per
#: group of 128 still reached 21 rows across an ECP5-85F (7.5 ns).
COPY_LOADS = 32


def copy_groups(items: int, per_copy: int) -> list[int]:
    """The copy that serves each of ``items`` loads, ``per_copy`` of them to a copy (at least
    one each): ``[0, 0, …, 1, 1, …]``."""
    per_copy = max(1, per_copy)
    return [k // per_copy for k in range(items)]


def countdown(m, load, cycles: int, name: str):
    """A flag that is low for the ``cycles`` cycles after each cycle with ``load`` high, and high
    otherwise (``Const(1)`` when ``cycles`` is 0): a down-counter's "is zero", kept in a register
    of its own so that a decision reading it waits for no comparison."""
    if cycles == 0:
        return Const(1, 1)
    count = Signal(range(cycles + 1), name=name)
    idle = Signal(init=1, name=f"{name}_idle")
    with m.If(load):
        m.d.sync += [count.eq(cycles), idle.eq(0)]
    with m.Elif(~idle):
        m.d.sync += [count.eq(count - 1), idle.eq(count == 1)]
    return idle


def wrap_increment(value, modulus: int):
    """``(value + 1) mod modulus`` for a counter."""
    return Mux(value == modulus - 1, 0, value + 1)


def wire(m, value, name: str):
    """``value`` through a combinational Signal named ``name`` (``value`` itself when it is a
    Signal, a constant or a slice of a Signal).

    Amaranth's lowering copies an expression for every place it is used (``Fragment.prepare``
    rebuilds each statement's expression as a tree), so an expression read ``n`` times is emitted
    ``n`` times, and nested reads multiply: a requantization's rounded value read by the
    saturation's bit tests and its multiplexers was emitted dozens of times per lane. A named wire
    is emitted once, whatever reads it; the circuit is the same."""
    value = Value.cast(value)
    inner = getattr(value, "value", value)          # a Slice's operand
    if isinstance(inner, (Signal, Const)):
        return value
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def requantized(m, stages: int, name: str, value, src_frac: int, fmt: FixedFormat, acc=None):
    """``(code, overflow)`` of ``value`` (``src_frac`` fractional bits) requantized into ``fmt``
    (through ``acc`` first when given: :func:`rnnrtl.fixed.requantize_through_value`, else
    :func:`rnnrtl.fixed.requantize_value`), ``stages`` cycles later: with ``stages`` = 1 the
    rounded value (:func:`rnnrtl.fixed.requantize_through_rounded`) is registered before the
    saturation (:func:`rnnrtl.fixed.saturate_value`), so no stage holds both carry chains. The
    input, the rounded value, the code and the saturation's range tests pass through named wires
    (:func:`wire`, :func:`wires`): each is emitted once."""
    share = wires(m, name)
    shifted, over = requantize_through_rounded(wire(m, value, f"{name}_in"), src_frac, acc, fmt,
                                               share)
    if stages:
        shifted = delay(m, shifted, stages, name, reset_less=True)
        if acc is not None:
            over = delay(m, over, stages, f"{name}_over")
    else:
        shifted = wire(m, shifted, name)
    code, more = saturate_value(shifted, fmt, share)
    return wire(m, code, f"{name}_code"), over | more


def wires(m, name: str):
    """The ``share`` argument of :func:`rnnrtl.fixed.saturate_value` for a circuit in ``m``: each
    shared value through a :func:`wire` named ``<name>_<role>``."""
    return lambda value, role: wire(m, value, f"{name}_{role}")
