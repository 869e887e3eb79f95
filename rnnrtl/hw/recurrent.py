# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``RecurrentLayer``: the stream shell shared by the LSTM, GRU and SimpleRNN cells (static mode).

Structure::

    i (x_t beats) ─► input projection  W·x_t + b  (MatVec, reuse R_x) ─► ax queue ─┐
                                                                                  ▼
    h_{t-1} ──────► loop: U·h with ax as adder-tree addend ─► gates ─► tail ─► h_t ─► o (beats)

The input projection does not depend on the state, so it runs ahead of the loop, decoupled by a
small queue; only the recurrent products and the cell's tail sit on the per-step path. One step of
one sequence (a *job*) enters the loop every :attr:`step_cycles` cycles: a subclass builds the loop
(:meth:`_build_loop`, :meth:`_elaborate_loop`) and states its depth. The state is zero at the start
of every sequence: the job that carries ``last`` writes zeros into the state after computing its
output. ``return_sequences`` layers emit a beat per step, others one beat (``last`` set) per
sequence.

Flow control: an ``x`` beat is accepted when the projection's multipliers are free (every ``R_x``
cycles) and the ax queue has room for its result; a job starts when its ``ax`` is queued, the loop
is free, and — if the job emits a beat — the output queue has room. Nothing stalls inside the
pipelines, so no beat is ever lost; back-pressure only delays acceptance.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from .common import OutputQueue, beat_layout, beat_signature, shape_of
from .matvec import MatVec

__all__ = ["RecurrentLayer"]


class RecurrentLayer(wiring.Component):
    """Base class; see :mod:`rnnrtl.hw.cells` for the concrete cells.

    Ports: ``i`` (beats of ``in_features`` lanes, ``input_fmt``), ``o`` (beats of ``units`` lanes,
    ``output_fmt``).
    """

    def __init__(self, layer, *, tree_fanin: int = 4, queue_depth: int = 2):
        self.layer = layer
        self.tree_fanin = tree_fanin
        self._queue_depth = queue_depth
        self.projection = MatVec(
            weights=layer.kernel.codes, weight_frac=layer.kernel.fmt.frac_bits,
            x_type=layer.input_fmt.int_type, reuse=layer.schedule.reuse_input,
            bias=None if layer.bias is None else layer.bias.codes,
            bias_frac=None if layer.bias is None else layer.bias.fmt.frac_bits,
            tree_fanin=tree_fanin)
        self._build_loop()
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, layer.in_features)),
            "o": Out(beat_signature(layer.output_fmt, layer.units)),
        })

    # -- for subclasses ------------------------------------------------------------------------------

    #: Multipliers in the cell's tail (per unit), besides the matrix products.
    TAIL_MULTIPLIERS = 0

    def _build_loop(self):
        """Create the loop's units (MatVecs, activation units) without elaborating them."""
        raise NotImplementedError

    @property
    def step_cycles(self) -> int:
        """Cycles from a job's start to the next job's start: the depth of the recurrent loop."""
        raise NotImplementedError

    @property
    def loop_matvecs(self) -> list:
        raise NotImplementedError

    def _elaborate_loop(self, m, *, start, h, ax, clear):
        """Build the loop. On ``start`` (one cycle), ``h`` and ``ax`` hold the state and the input
        projection of the job. Must return ``(h_new, h_we)``: ``h_we`` high in cycle
        ``start + step_cycles - 1`` with the new state ``h_new`` (lanes of ``output_fmt``). Any
        other state the subclass keeps must be written to zero instead when ``clear`` is high then."""
        raise NotImplementedError

    # -- figures ---------------------------------------------------------------------------------------

    @property
    def multipliers(self) -> int:
        return (self.projection.multipliers + sum(mv.multipliers for mv in self.loop_matvecs)
                + self.TAIL_MULTIPLIERS * self.layer.units)

    @property
    def projection_latency(self) -> int:
        """Cycles from an ``x`` beat's acceptance to its projection offered to the loop."""
        return self.projection.latency + OutputQueue.latency

    @property
    def output_latency(self) -> int:
        """Cycles from a job's start to its output beat offered on ``o``."""
        return self.step_cycles - 1 + OutputQueue.latency

    # -- hardware ------------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L = self.layer
        N = L.units
        m.submodules.projection = px = self.projection
        ax_layout = data.StructLayout({
            "data": data.ArrayLayout(shape_of(px.out_type), px.rows), "last": 1})
        m.submodules.ax_queue = axq = OutputQueue(ax_layout, depth=self._queue_depth)
        m.submodules.out_queue = outq = OutputQueue(beat_layout(L.output_fmt, N),
                                                    depth=self._queue_depth)

        # Front: x beats into the input projection, results into the ax queue.
        Rx = px.ii
        cooldown = Signal(range(Rx))
        take_x = Signal()
        m.d.comb += [
            self.i.ready.eq((cooldown == 0) & axq.can_issue),
            take_x.eq(self.i.valid & self.i.ready),
            px.start.eq(take_x),
            px.x.eq(self.i.payload.data),
            axq.issue.eq(take_x),
        ]
        if Rx > 1:
            with m.If(take_x):
                m.d.sync += cooldown.eq(Rx - 1)
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
        last_pipe = Signal(px.latency)
        m.d.sync += last_pipe.eq((last_pipe << 1) | (take_x & self.i.payload.last))
        m.d.comb += [
            axq.w_en.eq(px.done),
            axq.w_data.data.eq(px.y),
            axq.w_data.last.eq(last_pipe[px.latency - 1]),
        ]

        # Loop control: one job every step_cycles.
        D = self.step_cycles
        wait = Signal(range(D))
        start = Signal()
        emits = Signal()
        job_last = Signal()
        job_emits = Signal()
        m.d.comb += [
            emits.eq(axq.o.payload.last if not L.return_sequences else 1),
            start.eq(axq.o.valid & (wait == 0) & (~emits | outq.can_issue)),
            axq.o.ready.eq(start),
            outq.issue.eq(start & emits),
        ]
        with m.If(start):
            m.d.sync += [wait.eq(D - 1), job_last.eq(axq.o.payload.last), job_emits.eq(emits)]
        with m.Elif(wait != 0):
            m.d.sync += wait.eq(wait - 1)

        h = Signal(data.ArrayLayout(shape_of(L.output_fmt), N))
        h_new, h_we = self._elaborate_loop(m, start=start, h=h, ax=axq.o.payload.data,
                                           clear=job_last)
        with m.If(h_we):
            for lane in range(N):
                m.d.sync += h[lane].eq(h_new[lane])
            with m.If(job_last):
                m.d.sync += h.eq(0)
        m.d.comb += [
            outq.w_en.eq(h_we & job_emits),
            outq.w_data.last.eq(job_last),
        ]
        for lane in range(N):
            m.d.comb += outq.w_data.data[lane].eq(h_new[lane])
        wiring.connect(m, wiring.flipped(self.o), outq.o)
        return m
