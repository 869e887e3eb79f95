# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``StaticLayer``: the static stream shell around one LSTM, GRU or SimpleRNN cell.

The shell holds a :class:`~rnnrtl.hw.cell.Cell` (the input projection and the loop) and feeds it
jobs; the cell adds its loop into the shell's module (:meth:`~rnnrtl.hw.cell.Cell.elaborate_into`).

Structure::

    i (x_t beats) ─► x queue of slot s mod K ─► job ─► input projection W·x_t + b (MatVec, R_x)
                                                          │ (Lx cycles)
    h_{t-1} of the job's slot ──► loop: U·h with W·x_t + b as adder-tree addend ─► gates ─► tail
                                                          ─► h_t into the slot's state ─► o beats

A *job* is one time step of one sequence. Sequences take *slots* round-robin (sequence ``s`` uses
slot ``s mod K``, ``K`` the layer's ``interleave``); each slot keeps its own state (``h``, and ``c``
for an LSTM) and its own queue of input beats. A job's input projection starts at the job's start
and its result enters the recurrent product's adder tree ``Lx`` cycles later (the *loop start*), so
only ``U·h`` and the cell's tail sit on the per-step path: a slot's next job may start
:attr:`step_cycles` (``D``) cycles after its previous one. With ``K = 1`` that is static mode
(hls4ml's default); with ``K > 1`` up to ``K`` sequences share the loop's pipeline, one job every
:attr:`job_spacing` cycles (the multipliers' initiation interval), so throughput grows about ``K``
times until ``K · job_spacing`` reaches ``D``. (``mode: unrolled`` is another shell around the same
cells, one per time step: :mod:`rnnrtl.hw.unrolled`.)

Rules (mirrored exactly by :class:`rnnrtl.hw.static_model.StaticModel`; keep in sync): an ``x``
beat is accepted while the queue of the slot it belongs to has room. A job of slot ``k`` starts when its queue holds a beat, ``D``
cycles have passed since slot ``k``'s previous job, ``job_spacing`` cycles since any job, the job's
output beat (if it emits one) has room in the output queue, and — for a sequence's last step —
the previous sequence's last step has started (results leave in order). Among ready slots the
first at or after the round-robin pointer wins. The state of a slot is zero at the start of every
sequence: the last job writes zeros after computing its output. ``return_sequences`` layers emit
a beat per step (``K = 1`` only, as beats of interleaved sequences would mix), others one beat per
sequence.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError
from .cell import CellFigures, write_state
from .cells import cell_of
from .masking import StepMask, masked_flag
from .common import (COPY_LOADS, WRITE_LEAD, OutputQueue, Queue, beat_layout, beat_signature,
                     copy_groups, countdown, delay, fanout_copies, wrap_increment)
from .pipelining import Pipelining
from .static_model import StaticModel

__all__ = ["StaticLayer"]


class _Bank:
    """Per-slot state registers: ``slots`` copies of ``layout``, read and written by slot index."""

    def __init__(self, layout, slots: int, name: str):
        self.layout = layout
        self.regs = [Signal(layout, name=f"{name}{k}") for k in range(slots)]

    def read(self, slot):
        if len(self.regs) == 1:
            return self.regs[0]
        flat = Array(reg.as_value() for reg in self.regs)[slot]
        return data.View(self.layout, flat)

    def write(self, m, slot, value, clear, keep=None, lanes=None):
        """In ``m``'s current condition: the slot's state becomes ``value``, or zero if ``clear``;
        else it stays as it is if ``keep`` (a masked step; ``None``: never). ``lanes``: only
        these lanes of the state's array (``None``: all of it)."""
        for k, reg in enumerate(self.regs):
            if lanes is None:
                parts = [(reg, value)]
            else:
                parts = [(reg[n], value[n]) for n in lanes]
            with m.If((slot == k) if len(self.regs) > 1 else 1):
                with m.If(clear):
                    m.d.sync += [r.eq(0) for r, _ in parts]
                if keep is None:
                    with m.Else():
                        m.d.sync += [r.eq(v) for r, v in parts]
                else:
                    with m.Elif(~keep):
                        m.d.sync += [r.eq(v) for r, v in parts]

    def lane_groups(self) -> list[list[int]]:
        """The state's lanes in groups of about :data:`~rnnrtl.hw.common.COPY_LOADS` flip-flops
        per slot: each group written under its own copy of the write's control
        (:func:`~rnnrtl.hw.common.fanout_copies`)."""
        lanes = self.layout.length
        groups = copy_groups(lanes, COPY_LOADS // max(1, self.layout.elem_shape.width))
        return [[n for n in range(lanes) if groups[n] == g] for g in range(groups[-1] + 1)]


class StaticLayer(CellFigures, wiring.Component):
    """The static shell around the cell of an IR recurrent layer (see the module docstring).

    Ports: ``i`` (beats of ``in_features`` lanes, ``input_fmt``), ``o`` (beats of ``units`` lanes,
    ``output_fmt``). ``timesteps`` (the sequence length) sizes the slots' input queues when
    ``interleave > 1``. ``mask`` (:class:`~rnnrtl.hw.masking.StepMask`, a masked model): how the
    layer recognises masked steps (the codes of ``i``'s beats, or their ``masked`` flag) and
    whether ``o``'s beats carry the flag on; a masked job keeps the slot's state and emits the
    slot's current ``h`` (:mod:`rnnrtl.hw.masking`).
    """

    def __init__(self, layer, *, tree_fanin: int = 4, queue_depth: int | None = None,
                 timesteps: int | None = None, mask: StepMask | None = None):
        if layer.schedule.mode != "static":
            raise HardwareError(
                f"layer {layer.name!r}: mode {layer.schedule.mode!r} is built by "
                "rnnrtl.hw.unrolled.UnrolledLayer (rnnrtl.hw.network.hardware_layer picks it), not "
                "by the static shell")
        self.layer = layer
        self.mask = mask
        self.slots = layer.schedule.interleave
        if self.slots > 1 and layer.return_sequences:
            raise HardwareError(
                f"layer {layer.name!r}: interleave {self.slots} needs return_sequences=False (the "
                "beats of interleaved sequences would mix on the output stream); use interleave 1")
        if self.slots > 1 and not timesteps:
            raise HardwareError(f"layer {layer.name!r}: interleave needs a fixed sequence length")
        self.x_depth = timesteps if self.slots > 1 else 2
        self.pipelining = pipelining = Pipelining.of(layer.schedule)
        # One slot: a job's next step starts step_cycles after this one, so every unit's result
        # (held until its next one) stays put for the rest of the step.
        self.cell = cell_of(layer, pipelining=pipelining, tree_fanin=tree_fanin,
                            results_held=self.slots == 1)
        #: Cycles from a beat's transfer on ``o`` to its output credit's release (the
        #: ``release`` count: the output queue sits where the new state leaves the tail, its
        #: credit count with the scheduler).
        self.release_stages = pipelining.release
        #: ``o.payload`` a cycle after its transfer (:class:`~rnnrtl.hw.common.OutputQueue`'s
        #: ``late``): set by the network, before elaboration, when a credit link with
        #: ``late_payload`` takes the output.
        self.late_output = False
        # An emitting job holds an output credit from its start until its beat is taken (and
        # released): enough credits for the jobs in flight at full rate (one beat per step with
        # return_sequences).
        held = self.projection.latency + self.step_cycles + 1 + self.release_stages
        rate = max(self.step_cycles, self.job_spacing)
        #: Beats the output queue holds (its credits).
        self.queue_depth = queue_depth or (-(-held // rate) + 1 if layer.return_sequences else 2)
        carried, passes = mask is not None and mask.carried, mask is not None and mask.passes
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, layer.in_features, masked=carried)),
            "o": Out(beat_signature(layer.output_fmt, layer.units, masked=passes)),
        })

    # -- figures ---------------------------------------------------------------------------------------

    @property
    def projection_latency(self) -> int:
        """Cycles from a beat's acceptance by an idle layer to its job's loop start: one through
        the slot's input queue, then ``Lx`` (the projection's latency) from the job's start."""
        return 1 + self.projection.latency

    @property
    def output_latency(self) -> int:
        """Cycles from a job's loop start to its output beat offered on ``o``."""
        return self.step_cycles - 1 + OutputQueue.latency

    def timing_model(self) -> StaticModel:
        """The beat-level model of this shell's flow control (:mod:`rnnrtl.hw.timing`)."""
        return StaticModel(self)

    # -- hardware ------------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L = self.layer
        N, K = L.units, self.slots
        D, J, Lx = self.step_cycles, self.job_spacing, self.projection.latency
        chain = self.pipelining.loop_start_chain
        m.submodules.matvec_input = px = self.projection
        mask = self.mask
        out_layout = beat_layout(L.output_fmt, N, masked=mask is not None and mask.passes)
        # A late queue takes its write WRITE_LEAD cycles ahead too (a job's state write comes
        # D - 1 cycles after its loop start, every time), for a tree of copies to its pointers.
        lead = min(WRITE_LEAD, D - 1) if self.late_output else 0
        m.submodules.out_queue = outq = OutputQueue(out_layout, depth=self.queue_depth,
                                                    release_stages=self.release_stages,
                                                    late=self.late_output, lead=lead)
        # Input: beats of sequence s into the queue of slot s mod K (a masked model: with the
        # step's masked flag, from the beat or from its codes).
        x_layout = beat_layout(L.input_fmt, L.in_features, masked=mask is not None)
        width = data.Layout.cast(x_layout).size
        entry = self.i.payload
        if mask is not None and not mask.carried:
            entry = Signal(x_layout, name="x_entry")
            m.d.comb += [entry.data.eq(self.i.payload.data), entry.last.eq(self.i.payload.last),
                         entry.masked.eq(masked_flag(mask, self.i.payload, L.in_features))]
        queues = []
        for k in range(K):
            q = Queue(width=width, depth=self.x_depth)
            m.submodules[f"x_queue{k}"] = q
            queues.append(q)
        in_slot = Signal(range(K))
        w_rdy = Array(q.w_rdy for q in queues)[in_slot] if K > 1 else queues[0].w_rdy
        m.d.comb += self.i.ready.eq(w_rdy)
        for k, q in enumerate(queues):
            m.d.comb += [q.w_data.eq(entry.as_value()),
                         q.w_en.eq(self.i.valid & self.i.ready & (in_slot == k))]
        if K > 1:
            with m.If(self.i.valid & self.i.ready & self.i.payload.last):
                m.d.sync += in_slot.eq(wrap_increment(in_slot, K))

        # Job scheduler.
        heads = [data.View(x_layout, q.r_data) for q in queues]
        start = Signal()
        slot = Signal(range(K))
        # Each slot's D-cycle step and the J-cycle gap between any two jobs (countdown flags).
        idle = [countdown(m, start & (slot == k), D - 1, f"busy{k}") for k in range(K)]
        gap_zero = countdown(m, start, J - 1, "gap")
        rr = Signal(range(K))
        next_out = Signal(range(K))
        ready = Signal(K)
        for k in range(K):
            last = heads[k].last
            emits = last if not L.return_sequences else 1
            m.d.comb += ready[k].eq(queues[k].r_rdy & idle[k]
                                    & (~last | (next_out == k)) & (~emits | outq.can_issue))
        m.d.comb += start.eq(gap_zero & ready.any())
        # First ready slot at or after the round-robin pointer.
        for offset in reversed(range(K)):
            for base in range(K):
                k = (base + offset) % K
                with m.If((rr == base) & ready[k]):
                    m.d.comb += slot.eq(k)
        job_last = Signal()
        job_emits = Signal()
        m.d.comb += [
            job_last.eq(Array(h.last for h in heads)[slot] if K > 1 else heads[0].last),
            job_emits.eq(job_last if not L.return_sequences else 1),
            px.start.eq(start),
            px.x.eq(Array(h.data.as_value() for h in heads)[slot] if K > 1 else heads[0].data),
            outq.issue.eq(start & job_emits),
        ]
        for k, q in enumerate(queues):
            m.d.comb += q.r_en.eq(start & (slot == k))
        if K > 1:
            with m.If(start):
                m.d.sync += rr.eq(wrap_increment(slot, K))
                with m.If(job_last):
                    m.d.sync += next_out.eq(wrap_increment(slot, K))

        # Tags (slot, last, emits) travel with the job: Lx cycles to the loop start, then D more.
        # loop_start_chain: so does the job's start, and that copy is the loop start (the projection's done
        # comes in the same cycle): a chain of free-running registers from the scheduler, which the
        # placer can spread over the way to the loop, instead of one route from the projection's
        # last register to the loop's wide fanout.
        tag0 = Cat(slot, job_last, job_emits, start if chain else 0)
        if mask is not None:  # the job's masked flag travels with it to the state write
            tag0 = Cat(tag0, Array(h.masked for h in heads)[slot] if K > 1 else heads[0].masked)
        tags = [delay(m, tag0, Lx, "jobtag")]
        for d in range(D):
            tags.append(delay(m, tags[-1], 1, f"looptag{d}"))
        nslot = len(slot)
        loop_start = tags[0][nslot + 2] if chain else px.done

        def tag(d):
            t = tags[d]
            return t[:nslot], t[nslot], (t[nslot + 3] if mask is not None else None)

        def tag_copies(d, count):
            """``count`` copies of tag(d) with its job's start bit (``(slot, last, masked,
            start)`` each), ``d >= 1``: registers beside ``looptag{d}``, one per group of the
            state's lanes written in cycle d of the loop (fanout_copies)."""
            return [(t[:nslot], t[nslot], t[nslot + 3] if mask is not None else None, t[nslot + 2])
                    for t in fanout_copies(m, tags[d - 1], count, f"looptag{d}_copy")]

        layouts = self.cell.state_layouts()
        h = _Bank(layouts["h"], K, "h")
        copies = tag_copies if chain and D > 1 else None
        h_new, h_we = self.cell.elaborate_into(m, start=loop_start, h=h, ax=px.y, tag=tag,
                                               bank=lambda name: _Bank(layouts[name], K, name),
                                               tag_copies=copies)
        we_slot, we_last, we_masked = tag(D - 1)
        we_emits = tags[D - 1][nslot + 1]
        # The state's registers, spread with the units that read them: with the loop start chain,
        # written under a copy of the write's control per group of lanes.
        write_state(m, h, h_new, cycle=D - 1, enable=h_we, tag=tag, tag_copies=copies)
        if lead:   # the state write lead cycles ahead: its job's loop start and emits flag
            ahead = D - 1 - lead
            started = tags[ahead][nslot + 2] if chain else \
                delay(m, loop_start, ahead, "write_ahead")    # (with the chain: in the tag)
            m.d.comb += outq.w_en_lead.eq(started & tags[ahead][nslot + 1])
        m.d.comb += [
            outq.w_en.eq(h_we & we_emits),
            outq.w_data.last.eq(we_last),
        ]
        if mask is None:
            m.d.comb += outq.w_data.data.eq(h_new)
        else:  # a masked step emits the state it keeps: the previous output
            m.d.comb += outq.w_data.data.eq(Mux(we_masked, h.read(we_slot).as_value(),
                                                h_new.as_value()))
            if mask.passes:
                m.d.comb += outq.w_data.masked.eq(we_masked)
        wiring.connect(m, wiring.flipped(self.o), outq.o)
        return m
