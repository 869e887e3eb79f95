# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``SequenceUnrolledLayer``: ``mode: unrolled`` with ``input: sequence``, whole sequences pipelined.

The first layer of a network with ``input: sequence`` (:mod:`rnnrtl.hw.sequence_input`) receives
all ``T × F`` input codes of a sequence in one beat (lane ``t·F + f``: feature ``f`` of step ``t``).
An unrolled layer then needs no router: its ``T`` stages (one cell each, as in
:mod:`rnnrtl.hw.unrolled`) run in lock step, and a sequence flows through them like data through
any pipeline::

    i (one beat = x_0 … x_T-1) ─► enter ─► x_0 (1 cycle)      ─► stage 0 ─► h_0, c_0 ─►
                                       ├─► x_1 (1 + D cycles)  ─► stage 1 ─► h_1, c_1 ─► …
                                       └─► x_T-1 (1 + (T-1)·D) ─► stage T-1 ─► h_T-1 ─► output queue ─► o

Schedule of a sequence entering in cycle ``E`` (exact; :class:`SequenceUnrolledModel` replays it):

* Stage ``t``'s input projection starts in ``E + 1 + t·D`` with ``x_t``, the beat's slice ``t``
  carried there by a delay line (``D`` = the cell's :attr:`~rnnrtl.hw.cell.Cell.step_cycles`,
  ``Lx`` its projection's latency); its loop starts ``Lx`` later, when the projection is done,
  in ``S_t = E + 1 + Lx + t·D``.
* Stage ``t`` writes its new ``h`` in ``S_t + D − 1`` (and an LSTM's ``c`` earlier, in its cycle
  ``w`` of the job) into a register of stage ``t + 1``, whose job starts in ``S_{t+1} = S_t + D``.
  A cell reads a state element in cycle ``d`` of its job (``d ≥ w + 1 − D``: it reads each
  element at or before the cycle where it writes it), so the stage reads that register through a
  delay line of ``d − (w + 1 − D)`` cycles: every read sees the state of its own sequence,
  though the register holds the next sequence's from ``J`` cycles later.
* A new sequence may enter every ``J`` cycles (:attr:`~rnnrtl.hw.cell.Cell.job_spacing`, the
  multipliers' initiation interval: the reuse factor) while its output beats have credits in the
  output queues. Nothing in the stages ever waits, so the initiation interval is ``J`` — 1 cycle
  at reuse 1 — and the latency ``1 + Lx + T·D`` cycles (the last ``h`` written in
  ``S_{T-1} + D − 1``, offered by its output queue a cycle later).
* Output: the last stage's ``h`` (one beat, ``last`` high); with ``return_sequences`` every
  stage's ``h_t`` into a queue of its own, read round-robin (stage 0, 1, …, ``T − 1``), so the
  beats leave in order and a sequence takes at least ``T`` cycles of the output. Every emitting
  queue takes a credit when the sequence enters (:attr:`SequenceUnrolledLayer.queue_depth`).

Not built here (:func:`rnnrtl.hw.network.hardware_layer` puts a
:class:`~rnnrtl.hw.sequence_input.SequenceSerializer` in front of the step-per-beat shell for
them): masking (a masked step keeps the state), ``go_backwards``, ``Bidirectional``,
``interleave``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError
from .cell import CellFigures
from .cells import cell_of
from .common import OutputQueue, OutputQueueModel, beat_layout, beat_signature, countdown, delay, \
    pending, shape_of, wrap_increment
from .pipelining import Pipelining
from .sequence_input import sequence_lanes

__all__ = ["SequenceUnrolledLayer", "SequenceStage", "SequenceUnrolledModel"]


def _state_signature(layouts: dict) -> wiring.Signature:
    """The state a stage hands on, seen from the producer: for each element ``name`` its new value
    and ``name_we``, high in the cycle the consumer registers it."""
    members = {}
    for name, layout in layouts.items():
        members[name] = Out(layout)
        members[f"{name}_we"] = Out(1)
    return wiring.Signature(members)


class _PipedState:
    """One state element as a stage's cell sees it (the store interface of
    :mod:`rnnrtl.hw.static`'s bank), for the lock-step schedule of the module docstring. The cell
    passes ``tag(d)[0]`` as the slot; this stage's ``tag`` makes it ``d``, the cycle of the job.

    :meth:`read` returns a placeholder for the state in cycle ``d``; :meth:`write` hands the new
    value on (nowhere from the last stage) and notes its cycle ``w``; :meth:`finish` connects the
    placeholders once ``w`` is known: zeros in stage 0, else the received register delayed by
    ``d − (w + 1 − D)`` cycles."""

    def __init__(self, name, layout, *, incoming, outgoing):
        self.name, self.layout = name, layout
        self.incoming, self.outgoing = incoming, outgoing
        self.reads, self.w = [], None

    def read(self, d):
        value = Signal(self.layout, name=f"{self.name}_at{d}")
        self.reads.append((d, value))
        return value

    def write(self, m, w, value, clear, keep=None):
        if keep is not None:
            raise HardwareError("a masked model's layer is not built as a SequenceUnrolledLayer")
        self.w = w
        if self.outgoing is not None:
            m.d.comb += [getattr(self.outgoing, self.name).eq(value),
                         getattr(self.outgoing, f"{self.name}_we").eq(1)]

    def finish(self, m, D: int):
        if self.incoming is None:
            for _, value in self.reads:
                m.d.comb += value.eq(Const(0, data.Layout.cast(self.layout).size))
            return
        received = Signal(self.layout, name=f"{self.name}_in", reset_less=True)
        with m.If(getattr(self.incoming, f"{self.name}_we")):
            m.d.sync += received.eq(getattr(self.incoming, self.name))
        arrival = self.w + 1 - D   # the cycle of this stage's job from which `received` holds it
        for d, value in self.reads:
            if d < arrival:
                raise HardwareError(f"state {self.name!r} read in cycle {d} of a job, before it "
                                    f"arrives (cycle {arrival})")
            m.d.comb += value.eq(delay(m, received, d - arrival, f"{self.name}_at{d}_d",
                                       reset_less=True))


class SequenceStage(CellFigures, wiring.Component):
    """Stage ``index`` of a :class:`SequenceUnrolledLayer`: one cell that computes step ``index``
    of every sequence. Ports: ``start`` (In), the projection's start, with ``x`` (In, the step's
    codes) in that cycle; ``state_in`` (all but stage 0) and ``state_out`` (all but the last),
    :func:`_state_signature`; ``y`` and ``y_we`` (Out): the new ``h``, in the cycle ``y_we`` is high
    (the loop start + ``D − 1``)."""

    def __init__(self, layer, *, index: int, timesteps: int, tree_fanin: int = 4):
        self.layer, self.index, self.timesteps = layer, index, timesteps
        self.first, self.last = index == 0, index == timesteps - 1
        # jobs every J cycles: every unit's result goes through a delay line (results_held False)
        pipelining = Pipelining.of(layer.schedule)
        # x is held (by the delay line feeding it) in the projection's start cycle, and the cell
        # reads the projection then or through delay lines: its result register may go (the
        # ``projection`` place).
        self.cell = cell_of(layer, pipelining=pipelining, tree_fanin=tree_fanin,
                            projection_unregistered=pipelining.projection == 0)
        layouts = self.cell.state_layouts()
        sig = {"start": In(1), "x": In(data.ArrayLayout(shape_of(layer.input_fmt), layer.in_features)),
               "y": Out(layouts["h"]), "y_we": Out(1)}
        if not self.first:
            sig["state_in"] = In(_state_signature(layouts))
        if not self.last:
            sig["state_out"] = Out(_state_signature(layouts))
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        D = self.step_cycles
        m.submodules.matvec_input = px = self.projection
        m.d.comb += [px.start.eq(self.start), px.x.eq(self.x)]
        stores = {name: _PipedState(name, layout,
                                    incoming=None if self.first else self.state_in,
                                    outgoing=None if self.last else self.state_out)
                  for name, layout in self.cell.state_layouts().items()}
        zero = Const(0, 1)
        h_new, h_we = self.cell.elaborate_into(m, start=px.done, h=stores["h"], ax=px.y,
                                               tag=lambda d: (d, zero, None),
                                               bank=stores.__getitem__)
        with m.If(h_we):
            stores["h"].write(m, D - 1, h_new, None)
        for store in stores.values():
            store.finish(m, D)
        m.d.comb += [self.y.eq(h_new), self.y_we.eq(h_we)]
        return m


class SequenceUnrolledLayer(wiring.Component):
    """A recurrent layer as ``T`` lock-step stages taking whole sequences (module docstring).

    Ports: ``i`` (beats of ``T × in_features`` lanes of ``input_fmt``, step-major; its ``last``
    flag is not looked at), ``o`` (beats of ``units`` lanes of ``output_fmt``, as
    :class:`~rnnrtl.hw.unrolled.UnrolledLayer`'s)."""

    def __init__(self, layer, *, tree_fanin: int = 4, timesteps: int | None = None):
        where = f"layer {layer.name!r}: mode 'unrolled' with input: sequence"
        lanes = sequence_lanes(layer.in_features, timesteps)
        if layer.schedule.mode != "unrolled" or layer.schedule.interleave > 1 \
                or getattr(layer, "go_backwards", False):
            raise HardwareError(f"{where} builds forward layers of mode 'unrolled' without "
                                "interleave only (rnnrtl.hw.network.hardware_layer picks the shell)")
        self.layer = layer
        self.stages = [SequenceStage(layer, index=t, timesteps=timesteps, tree_fanin=tree_fanin)
                       for t in range(timesteps)]
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, lanes)),
            "o": Out(beat_signature(layer.output_fmt, layer.units)),
        })

    # -- figures -------------------------------------------------------------------------------------

    @property
    def timesteps(self) -> int:
        return len(self.stages)

    @property
    def step_cycles(self) -> int:
        """``D``: cycles from a stage's loop start to the next stage's (one cell's)."""
        return self.stages[0].step_cycles

    @property
    def job_spacing(self) -> int:
        """``J``: least cycles between two sequences entering (the multipliers' initiation
        interval)."""
        return self.stages[0].job_spacing

    @property
    def emitting(self) -> list:
        """Indices of the stages whose ``h`` leaves the layer, in output order."""
        return list(range(self.timesteps)) if self.layer.return_sequences else [self.timesteps - 1]

    def write_cycle(self, t: int) -> int:
        """Cycles from a sequence's entry to stage ``t``'s ``h`` write (module docstring)."""
        return 1 + self.stages[0].projection.latency + t * self.step_cycles + self.step_cycles - 1

    @property
    def ii(self) -> int:
        """Cycles between sequence starts at full rate with the output always ready: ``J``, or
        ``max(J, T)`` with ``return_sequences`` (``T`` beats leave per sequence)."""
        return max(self.job_spacing, self.timesteps) if self.layer.return_sequences \
            else self.job_spacing

    @property
    def latency(self) -> int:
        """Cycles from a sequence's entry to its last beat offered on ``o``: ``1 + Lx + T·D``."""
        return self.write_cycle(self.timesteps - 1) + OutputQueue.latency

    @property
    def queue_depth(self) -> int:
        """Credits of each output queue: a credit is held from a sequence's entry to its beat's
        transfer, at the latest ``write_cycle(T − 1) + 1`` cycles later at full rate (+ 1: the
        credit count is a register), for sequences entering every :attr:`ii` cycles; with
        ``return_sequences`` ``T`` more cycles pass while the beats of a sequence leave in turn."""
        span = self.latency + 1 + (self.timesteps if self.layer.return_sequences else 0)
        return -(-span // self.ii) + 1

    @property
    def multipliers(self) -> int:
        return sum(stage.multipliers for stage in self.stages)

    @property
    def delay_bits(self) -> int:
        """Register bits of the delay lines that carry step ``t``'s codes ``1 + t·D`` cycles to
        stage ``t``: ``Σ_t (1 + t·D) · F · W`` (the state's delay lines inside the stages, and the
        output queues' storage, not included)."""
        T, D = self.timesteps, self.step_cycles
        lanes = self.layer.in_features * self.layer.input_fmt.width
        return sum(1 + t * D for t in range(T)) * lanes

    def timing_model(self) -> "SequenceUnrolledModel":
        return SequenceUnrolledModel(self)

    # -- hardware ------------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L, T, D = self.layer, self.timesteps, self.step_cycles
        F = L.in_features
        stages = self.stages
        for t, stage in enumerate(stages):
            m.submodules[f"stage{t}"] = stage
        for a, b in zip(stages, stages[1:]):
            wiring.connect(m, a.state_out, b.state_in)

        out_layout = beat_layout(L.output_fmt, L.units)
        queues = []
        for t in self.emitting:
            q = OutputQueue(out_layout, depth=self.queue_depth)
            m.submodules[f"out_queue{t}"] = q
            queues.append(q)
            m.d.comb += [q.w_en.eq(stages[t].y_we), q.w_data.data.eq(stages[t].y),
                         q.w_data.last.eq(int(t == T - 1))]

        # Entry: every J cycles at most, with a credit in every output queue.
        enter = Signal()
        gap_ok = countdown(m, enter, self.job_spacing - 1, "gap")
        credits = Const(1)
        for q in queues:
            credits = credits & q.can_issue
        m.d.comb += [self.i.ready.eq(gap_ok & credits), enter.eq(self.i.valid & self.i.ready)]
        for q in queues:
            m.d.comb += q.issue.eq(enter)

        # Step t's codes and start reach stage t 1 + t·D cycles after the entry.
        beat = self.i.payload.data
        start = delay(m, enter, 1, "start0")
        for t, stage in enumerate(stages):
            if t:
                start = delay(m, start, D, f"start{t}")
            x = Signal(stage.x.shape(), name=f"x{t}")
            m.d.comb += [x[f].eq(beat[t * F + f]) for f in range(F)]
            m.d.comb += [stage.start.eq(start),
                         stage.x.eq(delay(m, x, 1 + t * D, f"x{t}_d", reset_less=True))]

        # Output: the one queue, or every stage's round-robin.
        if len(queues) == 1:
            wiring.connect(m, queues[0].o, wiring.flipped(self.o))
        else:
            rd = Signal(range(T))
            m.d.comb += [self.o.valid.eq(Array(q.o.valid for q in queues)[rd]),
                         self.o.payload.eq(Array(q.o.payload.as_value() for q in queues)[rd])]
            for t, q in enumerate(queues):
                m.d.comb += q.o.ready.eq(self.o.ready & (rd == t))
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += rd.eq(wrap_increment(rd, T))
        return m


class SequenceUnrolledModel:
    """The beat-level model of a :class:`SequenceUnrolledLayer` (the timing model protocol of
    :mod:`rnnrtl.hw.timing`; keep in sync): entry every ``J`` cycles with a credit in every output
    queue, stage ``t``'s beat written :meth:`~SequenceUnrolledLayer.write_cycle` cycles after the
    entry, queues read round-robin."""

    def __init__(self, hw: SequenceUnrolledLayer):
        self.J, self.T = hw.job_spacing, hw.timesteps
        self.delays = [(k, hw.write_cycle(t), t == hw.timesteps - 1)
                       for k, t in enumerate(hw.emitting)]
        self.queues = [OutputQueueModel(hw.queue_depth) for _ in self.delays]
        self.gap, self.rd = 0, 0
        self.writes = {}   # cycle -> ((queue, last flag), ...)

    @property
    def out(self):
        return self.queues[self.rd]

    def in_ready(self):
        return self.gap == 0 and all(q.can_issue() for q in self.queues)

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return (self.gap, self.rd, tuple(q.snapshot() for q in self.queues),
                pending(self.writes, cycle))

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        out = self.out
        read = out.valid() and out_ready
        last = out.head() if read else None
        written = dict(self.writes.pop(cycle, ()))
        for k, q in enumerate(self.queues):
            q.tick(issue=take, write=written.get(k), read=read and q is out)
        if take:
            for k, d, flag in self.delays:
                at = cycle + d
                self.writes[at] = self.writes.get(at, ()) + ((k, flag),)
        self.gap = self.J - 1 if take else max(self.gap - 1, 0)
        if read and len(self.queues) > 1:
            self.rd = (self.rd + 1) % len(self.queues)
        return take, last
