# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``UnrolledLayer``: ``mode: unrolled`` (hls4ml's non-static), one cell per time step.

Structure, for a sequence length ``T``::

    i ─► router (step counter) ─► x queue 0 ─► projection 0 ─► loop 0 ─► h₀ ─► (y queue 0)
                     │                                          │ state (h₀, c₀)
                     ├──────────► x queue 1 ─► projection 1 ─► loop 1 ─► h₁ ─► (y queue 1)
                     ⋮                                          ⋮
                     └──────────► x queue T-1 ─► projection T-1 ─► loop T-1 ─► h_T-1 ─► y queue T-1 ─► o

Stage ``t`` holds a whole cell (a :class:`~rnnrtl.hw.cell.Cell`, with its own multipliers and tables)
that only ever computes step ``t``: it takes beat ``t`` of every sequence and the state the stage
before produced for that sequence (zero for stage 0), and hands its new state to stage ``t + 1``.
Sequences follow each other down the chain, so a new one can start while the previous is still in
later stages: the II is ``max(T, D + 1, Lx)`` cycles (``D`` = :attr:`step_cycles` of one cell,
``Lx`` its input projection's latency) instead of the static cell's ``T · D``, for ``T`` times the
multipliers. The latency of one sequence
is the static cell's. (With ``input: sequence`` a first layer gets whole sequences in one beat and
its stages run in lock step, a sequence every ``job_spacing`` cycles:
:mod:`rnnrtl.hw.unrolled_sequence`.)

Rules (mirrored exactly by :class:`rnnrtl.hw.unrolled_model.UnrolledModel`; keep in sync):

* Router: beat ``k`` of the input goes to the x queue of stage ``k mod T`` (the layer counts beats;
  a sequence is exactly ``T`` beats and the input's ``last`` flags are not looked at). A beat is
  accepted while that queue has room and — for a sequence's first beat only — at least :attr:`ii`
  cycles after the previous sequence's first beat (pacing: the queues are sized for that rate, so
  at full rate nothing waits for room; a no-op when ``ii == T``).
* Projection of stage ``t``: starts when its x queue holds a beat and the previous projection's
  result has been used by a loop start (or is being used in this cycle); ``Lx`` cycles later its
  result is ready and held until the loop starts with it.
* Loop start (a *job*) of stage ``t``, all of: a projection result is ready (or completes in this
  cycle); the stage holds an unused state (stage 0: always, the zero state); ``D`` cycles have
  passed since its previous job; stage ``t + 1`` holds no unused state (``free``, a register); and,
  if the stage emits an output beat, its output queue has a credit. The job uses the state (it
  is *unused* no more); its new state is written into stage ``t + 1`` (``h`` in cycle ``D - 1`` of
  the job, an LSTM's ``c`` earlier) and becomes unused there from the next cycle.
* Why a stage may overwrite the state its successor works with: the successor started its job with
  that state at least one cycle before this stage's job started, and a cell reads each state
  element only at or before the cycle of its own job where it writes that element, and writes
  all of it by cycle ``D − 1`` (the static shell relies on the same: a job reads and then
  overwrites its slot's state, and the slot's next job starts ``D`` cycles later). So the
  successor's reads always see the old state and its next job the new one.
* Output: with ``return_sequences`` every stage emits ``h_t`` into its own output queue and ``o``
  reads the queues round-robin (stage 0, 1, …, T-1, 0, …), so beats leave in sequence order;
  otherwise stage ``T - 1`` alone emits. Queue depths (:attr:`UnrolledStage.x_depth`,
  :attr:`UnrolledStage.out_depth`) are what the full-rate schedule needs (derived in their
  docstrings).
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError
from .cell import CellFigures
from .cells import cell_of
from .masking import StepMask, masked_flag
from .common import (OutputQueue, Queue, beat_layout, beat_signature, countdown, shape_of,
                     wrap_increment)
from .pipelining import Pipelining
from .unrolled_model import UnrolledModel

__all__ = ["UnrolledLayer", "UnrolledStage", "handoff_signature"]


def handoff_signature(layouts: dict) -> wiring.Signature:
    """The state one stage hands to the next, seen from the producer. For each state element
    ``name`` (``h``; also ``c`` for an LSTM): ``name`` (Out), the new value, and ``name_we`` (Out),
    high in the cycle the consumer must register it; ``h_we`` is the last of them and makes the
    state *unused* in the consumer. ``free`` (In): the consumer holds no unused state, so the
    producer may start a job."""
    members = {}
    for name, layout in layouts.items():
        members[name] = Out(layout)
        members[f"{name}_we"] = Out(1)
    members["free"] = In(1)
    return wiring.Signature(members)


class _Handoff:
    """A state element as a stage's loop sees it, with the interface of the static shell's
    state bank (``rnnrtl.hw.static``): :meth:`read` gives the state this stage received (zero in
    stage 0); :meth:`write` hands the new state to the next stage (nowhere from the last stage,
    whose step is a sequence's last: the static shell's ``clear`` is therefore never needed), or,
    with ``keep`` (a masked step), the state :attr:`kept`: the one the job started with."""

    def __init__(self, current, port=None, name: str = "h"):
        self.current, self.port, self.name = current, port, name
        #: The state the current job started with (set by a stage of a masked model).
        self.kept = current

    def read(self, slot=None):
        return self.current

    def write(self, m, slot, value, clear, keep=None):
        if keep is not None:
            value = Mux(keep, Value.cast(self.kept), Value.cast(value))
        if self.port is not None:
            m.d.comb += [getattr(self.port, self.name).eq(value),
                         getattr(self.port, f"{self.name}_we").eq(1)]


class UnrolledStage(CellFigures, wiring.Component):
    """Stage ``index`` of an unrolled layer: the shell around one cell (:attr:`cell`, which brings
    the projection, the loop and their figures).

    Ports: ``x`` (the beats of step ``index``: data lanes only; with ``mask``, a masked model, the
    lanes as ``data`` beside the step's ``masked`` flag); ``state_in`` (``In``
    :func:`handoff_signature`, all but stage 0); ``state_out`` (``Out``, all but the last stage);
    ``y`` (output beats of ``h``, ``last`` high from the last stage; only on a stage that emits:
    every stage with ``return_sequences``, else the last; with the ``masked`` flag when
    ``mask.passes``). A masked job hands on the state it started with and emits its ``h``.
    """

    def __init__(self, layer, *, index: int, timesteps: int, tree_fanin: int = 4,
                 mask: StepMask | None = None):
        self.layer = layer
        self.mask = mask
        self.cell = cell_of(layer, pipelining=Pipelining.of(layer.schedule), tree_fanin=tree_fanin)
        self.index, self.timesteps = index, timesteps
        self.first, self.last = index == 0, index == timesteps - 1
        self.emits = bool(layer.return_sequences) or self.last
        lanes = data.ArrayLayout(shape_of(layer.input_fmt), layer.in_features)
        if mask is not None:
            lanes = data.StructLayout({"data": lanes, "masked": 1})
        sig = {"x": In(stream.Signature(lanes))}
        if not self.first:
            sig["state_in"] = In(handoff_signature(self.cell.state_layouts()))
        if not self.last:
            sig["state_out"] = Out(handoff_signature(self.cell.state_layouts()))
        if self.emits:
            passes = mask is not None and mask.passes
            sig["y"] = Out(beat_signature(layer.output_fmt, layer.units, masked=passes))
        super().__init__(sig)

    # -- figures -------------------------------------------------------------------------------------

    @property
    def period(self) -> int:
        """``P = max(T, D + 1, Lx)`` (``D + 0`` when ``T = 1``): the cycles between sequence starts the
        layer sustains. ``T``: a sequence's beats at one per cycle. ``D + 1``: a stage's next job
        waits for its successor to start with the state it handed over, which arrives ``D`` cycles
        after its own job started. ``Lx``: a projection waits until the previous result is used."""
        T, D, Lx = self.timesteps, self.step_cycles, self.projection.latency
        return max(T, D + (T > 1), Lx)

    @property
    def x_depth(self) -> int:
        """At full rate, beat ``t`` of sequence ``s`` is accepted in cycle ``s·P + t`` and stage
        ``t``'s job for it starts in ``s·P + 1 + Lx + t·D``; its projection starts when the job of
        ``s - 1`` does. The queue then holds ``⌊(1 + Lx + t·(D − 1)) / P⌋ − 1`` beats when the next
        arrives: this depth always has room for it."""
        t, D, Lx = self.index, self.step_cycles, self.projection.latency
        return max(1, (1 + Lx + t * (D - 1)) // self.period)

    @property
    def out_depth(self) -> int:
        """A credit is held from a job's start to its beat's transfer. With ``return_sequences``,
        stage ``t``'s beat of sequence ``s`` waits until the last beat of ``s - 1`` is read, in cycle
        ``(s − 1)·P + 1 + Lx + T·D``; the credits then in use need ``⌊((T − t)·D + t + 1) / P⌋``
        (at least 1), and one more lets a consumer slower than a beat per cycle (a Dense with
        reuse) take the burst of beats that follows without stalling the stages. A lone last
        stage needs one."""
        t, T, D = self.index, self.timesteps, self.step_cycles
        if not self.layer.return_sequences:
            return 1
        return max(1, ((T - t) * D + t + 1) // self.period) + 1

    # -- hardware ------------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L = self.layer
        D = self.step_cycles
        m.submodules.matvec_input = px = self.projection
        width = data.Layout.cast(self.x.payload.shape()).size
        m.submodules.x_queue = q = Queue(width=width, depth=self.x_depth)
        m.d.comb += [q.w_data.eq(self.x.payload.as_value()), q.w_en.eq(self.x.valid),
                     self.x.ready.eq(q.w_rdy)]

        # State received (registers written by the previous stage), and state handed on.
        start = Signal()
        handoffs = {}
        for name, layout in self.cell.state_layouts().items():
            if self.first:
                current = data.View(layout, Const(0, data.Layout.cast(layout).size))
            else:
                current = Signal(layout, name=f"{name}_in")
                with m.If(getattr(self.state_in, f"{name}_we")):
                    m.d.sync += current.eq(getattr(self.state_in, name))
            handoffs[name] = _Handoff(current, None if self.last else self.state_out, name)
        if self.first:
            has_state = Const(1)
        else:
            has_state = Signal()   # an unused state: written, no job started with it yet
            with m.If(start):
                m.d.sync += has_state.eq(0)
            with m.If(self.state_in.h_we):
                m.d.sync += has_state.eq(1)
            m.d.comb += self.state_in.free.eq(~has_state)
        successor_free = Const(1) if self.last else self.state_out.free

        # Projection: one result held until a job uses it.
        held = Signal()      # a projection in flight, or its result not used yet
        ax_ready = Signal()  # its result is in px.y
        ax_valid = px.done | ax_ready
        px_start = q.r_rdy & (~held | start)
        head = data.View(self.x.payload.shape(), q.r_data)
        m.d.comb += [px.start.eq(px_start), q.r_en.eq(px_start),
                     px.x.eq(q.r_data if self.mask is None else head.data.as_value())]
        with m.If(px_start):
            m.d.sync += held.eq(1)
        with m.Elif(start):
            m.d.sync += held.eq(0)
        with m.If(start):
            m.d.sync += ax_ready.eq(0)
        with m.Elif(px.done):
            m.d.sync += ax_ready.eq(1)

        # Jobs: one at a time, D cycles apart.
        credit = Const(1)
        if self.emits:
            passes = self.mask is not None and self.mask.passes
            m.submodules.out_queue = outq = OutputQueue(
                beat_layout(L.output_fmt, L.units, masked=passes),
                depth=self.out_depth)
            credit = outq.can_issue
        idle = countdown(m, start, D - 1, "busy")
        m.d.comb += start.eq(ax_valid & has_state & idle & successor_free & credit)

        px_masked = job_masked = None
        if self.mask is not None:
            # The step's masked flag goes with its projection (px_masked, the job's flag in its
            # start cycle), then with its job (job_masked, from the next cycle until the next job,
            # D cycles at least: past the job's state writes); the job keeps the state it started
            # with (the predecessor may hand on the next sequence's meanwhile).
            px_masked, job_masked = Signal(name="px_masked"), Signal(name="job_masked")
            with m.If(px_start):
                m.d.sync += px_masked.eq(head.masked)
            with m.If(start):
                m.d.sync += job_masked.eq(px_masked)
            if not self.first:
                for name, handoff in handoffs.items():
                    handoff.kept = Signal.like(handoff.current, name=f"{name}_kept")
                    with m.If(start):
                        m.d.sync += handoff.kept.eq(handoff.current)

        zero = Const(0, 1)
        h_new, h_we = self.cell.elaborate_into(m, start=start, h=handoffs["h"], ax=px.y,
                                               tag=lambda d: (zero, zero, job_masked if d
                                                              else px_masked),
                                               bank=handoffs.__getitem__)
        with m.If(h_we):
            handoffs["h"].write(m, None, h_new, None, keep=job_masked)
        if self.emits:
            h_out = h_new if job_masked is None else \
                Mux(job_masked, Value.cast(handoffs["h"].kept), Value.cast(h_new))
            m.d.comb += [outq.issue.eq(start), outq.w_en.eq(h_we), outq.w_data.data.eq(h_out),
                         outq.w_data.last.eq(int(self.last))]
            if self.mask is not None and self.mask.passes:
                m.d.comb += outq.w_data.masked.eq(job_masked)
            wiring.connect(m, wiring.flipped(self.y), outq.o)
        return m


class UnrolledLayer(wiring.Component):
    """A recurrent layer as ``T`` stages, one per time step (see the module docstring).

    Ports: ``i`` (beats of ``in_features`` lanes, ``input_fmt``), ``o`` (beats of ``units`` lanes,
    ``output_fmt``), as :class:`~rnnrtl.hw.static.StaticLayer`. ``timesteps`` is the sequence
    length, which must be fixed. ``mask`` (:class:`~rnnrtl.hw.masking.StepMask`, a masked model):
    the router gives each stage the step's masked flag (from the beat's codes or its flag); a
    masked job hands on and emits the state it started with.
    """

    def __init__(self, layer, *, tree_fanin: int = 4, timesteps: int | None = None, mask=None):
        where = f"layer {layer.name!r}: mode 'unrolled'"
        if layer.schedule.mode != "unrolled":
            raise HardwareError(f"layer {layer.name!r}: mode {layer.schedule.mode!r} is built by "
                                "StaticLayer; UnrolledLayer builds mode 'unrolled' only")
        if not timesteps:
            raise HardwareError(
                f"{where} builds one cell per time step, so it needs a fixed sequence length, and "
                "the model's input has none (timesteps None); give the Keras Input a fixed length, "
                "or use mode 'static' (optionally with interleave K) for variable lengths")
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
            raise HardwareError(f"{where}: timesteps {timesteps!r} must be a whole number >= 1")
        if layer.schedule.interleave > 1:
            raise HardwareError(
                f"{where} with interleave {layer.schedule.interleave}: interleave applies to "
                "mode 'static' only (an unrolled stage works on one sequence at a time, and a new "
                "sequence already starts every ~max(T, step cycles) cycles); use interleave 1 with "
                "'unrolled', or mode 'static' with interleave K")
        self.layer = layer
        self.mask = mask
        self.stages = [UnrolledStage(layer, index=t, timesteps=timesteps, tree_fanin=tree_fanin,
                                     mask=mask) for t in range(timesteps)]
        carried, passes = mask is not None and mask.carried, mask is not None and mask.passes
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, layer.in_features, masked=carried)),
            "o": Out(beat_signature(layer.output_fmt, layer.units, masked=passes)),
        })

    # -- figures -------------------------------------------------------------------------------------

    @property
    def timesteps(self) -> int:
        return len(self.stages)

    @property
    def step_cycles(self) -> int:
        """``D``: cycles from a stage's job start to the job start it enables in the next stage
        (one cell's :attr:`~rnnrtl.hw.cell.Cell.step_cycles`)."""
        return self.stages[0].step_cycles

    @property
    def ii(self) -> int:
        """Cycles between sequence starts at full rate: :attr:`UnrolledStage.period`,
        ``max(T, D + 1, Lx)``."""
        return self.stages[0].period

    @property
    def latency(self) -> int:
        """Cycles from a sequence's first beat (accepted by an idle layer, the rest following at
        full rate) to its last output beat taken: ``1 + Lx + T·D`` (the static cell's). Beat ``t``
        is queued in cycle ``t + 1``, its projection done ``Lx`` later, and stage ``t``'s job starts
        in ``1 + Lx + t·D``; the last job writes its ``h`` ``D − 1`` cycles after its start, which
        the output queue offers :attr:`OutputQueue.latency` (1) cycle later."""
        D = self.step_cycles
        return (1 + self.stages[0].projection.latency + (self.timesteps - 1) * D + D - 1
                + OutputQueue.latency)

    @property
    def multipliers(self) -> int:
        """``T`` times one cell's (projection, loop products and tail)."""
        return sum(stage.multipliers for stage in self.stages)

    def timing_model(self) -> UnrolledModel:
        """The beat-level model of this layer's flow control (:mod:`rnnrtl.hw.timing`)."""
        return UnrolledModel(self)

    # -- hardware ------------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        T, P = self.timesteps, self.ii
        stages = self.stages
        for t, stage in enumerate(stages):
            m.submodules[f"stage{t}"] = stage
        for a, b in zip(stages, stages[1:]):
            wiring.connect(m, a.state_out, b.state_in)

        # Router: beat k to stage k mod T; a sequence's first beat paced P cycles after the last.
        step = Signal(range(T))
        pace_ok = Const(1)
        take = self.i.valid & self.i.ready
        if P > T:
            pace = Signal(range(P))
            pace_ok = (step != 0) | (pace == 0)
            with m.If(take & (step == 0)):
                m.d.sync += pace.eq(P - 1)
            with m.Elif(pace != 0):
                m.d.sync += pace.eq(pace - 1)
        x_ready = Array(s.x.ready for s in stages)[step] if T > 1 else stages[0].x.ready
        m.d.comb += self.i.ready.eq(x_ready & pace_ok)
        mask = self.mask
        if mask is not None:  # the step's masked flag: from the beat, or from its codes
            masked = masked_flag(mask, self.i.payload, self.layer.in_features)
        for t, stage in enumerate(stages):
            if mask is None:
                m.d.comb += stage.x.payload.eq(self.i.payload.data)
            else:
                m.d.comb += [stage.x.payload.data.eq(self.i.payload.data),
                             stage.x.payload.masked.eq(masked)]
            m.d.comb += stage.x.valid.eq(self.i.valid & pace_ok & (step == t))
        if T > 1:
            with m.If(take):
                m.d.sync += step.eq(wrap_increment(step, T))

        # Output: the last stage's beats, or every stage's read round-robin.
        if not self.layer.return_sequences or T == 1:
            wiring.connect(m, stages[-1].y, wiring.flipped(self.o))
        else:
            rd = Signal(range(T))
            m.d.comb += [self.o.valid.eq(Array(s.y.valid for s in stages)[rd]),
                         self.o.payload.eq(Array(s.y.payload.as_value() for s in stages)[rd])]
            for t, stage in enumerate(stages):
                m.d.comb += stage.y.ready.eq(self.o.ready & (rd == t))
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += rd.eq(wrap_increment(rd, T))
        return m
