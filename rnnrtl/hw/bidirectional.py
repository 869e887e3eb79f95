# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""Recurrent layers that read a sequence backwards: ``go_backwards`` and ``Bidirectional``.

:class:`Chain` runs stream components one after the other as one component (a standalone
``go_backwards`` layer is a :class:`~rnnrtl.hw.sequence_buffer.SequenceReverser` feeding the layer's
shell). :class:`BidirectionalLayer` builds Keras' ``Bidirectional``::

            ┌─► forward:  queue of T ─► shell ─► [queue of T beats] ─┐
    i ─► fork                                                          join ─► merge ─► queue ─► o
            └─► backward:  reverser  ─► shell ─► [reverser]          ─┘

(a direction with ``go_backwards`` starts with a reverser, one without with a queue; the stages in
brackets exist with ``return_sequences``.) The fork offers each input beat to both paths and takes
it when both are ready. The backward direction cannot start before the sequence's last beat: its
reverser collects the sequence (``T`` beats) and replays it reversed. The forward direction reads
the stream as it arrives, through a queue of ``T`` beats so that it never holds up the fork: without
it the input would enter at the forward cell's pace (one beat per step) and the backward direction
would start only when the forward one is done, doubling the latency. (Reading the forward input
from the reverser's memory instead would save the queue but start the forward direction ``T``
cycles late and hold the buffer until both had read it.) With ``return_sequences`` the backward
outputs come out in processing order and Keras pairs them with the forward outputs in input
order: a second reverser re-reverses them, and a queue of ``T`` beats holds the forward outputs
meanwhile. The join takes one beat of each path when both offer one and the output queue has a
credit for it; :class:`Merge` combines them (bit-exact with :func:`rnnrtl.emulator.merge`) through
one register stage (:attr:`Merge.stages`) into the queue. Measured by the
timing model: the II is the slower direction's alone (reversers of an unrolled shell have two
banks, :data:`BANKS_UNROLLED`), the latency grows by about ``T`` (``2T`` with
``return_sequences``).
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from ..errors import HardwareError
from .common import (OutputQueue, OutputQueueModel, beat_layout, beat_signature, delay, pending,
                     requantized)
from .sequence_buffer import SequenceReverser, StreamQueue
from .timing import ChainModel

__all__ = ["Chain", "Merge", "BidirectionalLayer", "BidirectionalModel", "backwards_layer",
           "needs_timesteps", "reverser_banks", "BANKS_STATIC", "BANKS_UNROLLED"]


def needs_timesteps(layer, timesteps) -> int:
    """The sequence length a reversing layer's buffers hold; :class:`HardwareError` without one."""
    if not timesteps:
        raise HardwareError(
            f"layer {layer.name!r}: reading a sequence backwards (go_backwards, Bidirectional) "
            "buffers the whole sequence, so the hardware needs a fixed sequence length; give the "
            "model's Input a number of time steps or set 'timesteps' in the configuration")
    return timesteps


class Chain(wiring.Component):
    """Stream components ``stages`` (name -> component, in stream order) chained as one: ``i`` of
    the first, ``o`` of the last. Its figures sum (``multipliers``, ``bits`` of buffers) or take
    the largest (``step_cycles``) of its stages'; ``layer`` is the IR layer it builds."""

    def __init__(self, stages: dict, *, layer=None):
        self.stages = dict(stages)
        self.layer = layer
        parts = list(self.stages.values())
        super().__init__({"i": In(parts[0].signature.members["i"].signature.flip()),
                          "o": Out(parts[-1].signature.members["o"].signature)})

    def _figures(self, name):
        return [getattr(s, name) for s in self.stages.values() if hasattr(s, name)]

    @property
    def multipliers(self) -> int:
        return sum(self._figures("multipliers"))

    @property
    def step_cycles(self) -> int:
        return max(self._figures("step_cycles"))

    @property
    def slots(self) -> int:
        return math.lcm(*self._figures("slots"), 1)

    @property
    def buffer_bits(self) -> int:
        """Bits of the sequence buffers and queues this chain adds to its layers' own."""
        return sum(self._figures("bits")) + sum(self._figures("buffer_bits"))

    @property
    def shells(self) -> list:
        """The recurrent shells in the chain (what it would be without its buffers)."""
        out = []
        for s in self.stages.values():
            out += s.shells if hasattr(s, "shells") else ([s] if hasattr(s, "step_cycles") else [])
        return out

    def timing_model(self) -> ChainModel:
        return ChainModel(s.timing_model() for s in self.stages.values())

    def elaborate(self, platform):
        m = Module()
        for name, stage in self.stages.items():
            m.submodules[name] = stage
        parts = list(self.stages.values())
        wiring.connect(m, wiring.flipped(self.i), parts[0].i)
        for a, b in zip(parts, parts[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, parts[-1].o, wiring.flipped(self.o))
        return m


def reverser_banks(layer) -> int:
    """Banks of the sequence reversers of recurrent ``layer``: ``BANKS_STATIC`` for a static shell,
    ``BANKS_UNROLLED`` for an unrolled one (see :data:`BANKS_UNROLLED`)."""
    return BANKS_UNROLLED if layer.schedule.mode == "unrolled" else BANKS_STATIC


#: A static shell takes ``T·D`` cycles per sequence, so a reverser replaying one sequence while it
#: collects nothing costs it little: one bank (``T`` beats). An unrolled shell takes a sequence
#: every ``max(T, D + 1)`` cycles, and one bank would double its II (collect ``T``, then replay
#: ``T``): two banks, the next sequence collected while this one is replayed.
BANKS_STATIC, BANKS_UNROLLED = 1, 2


def backwards_layer(layer, shell, *, timesteps) -> Chain:
    """A ``go_backwards`` recurrent layer: a reverser of its input sequence, then its ``shell``."""
    T = needs_timesteps(layer, timesteps)
    return Chain({"reverse": SequenceReverser(layer.input_fmt, layer.in_features, depth=T,
                                              banks=reverser_banks(layer)),
                  "cell": shell}, layer=layer)


class Merge:
    """The merge of a :class:`~rnnrtl.ir.Bidirectional`, combinational: :meth:`apply` returns the
    merged lanes (codes of ``output_fmt``) from the two directions' lanes. Keep in sync with
    :func:`rnnrtl.emulator.merge` (the same requantizations)."""

    def __init__(self, layer: ir.Bidirectional):
        self.layer = layer

    @property
    def multipliers(self) -> int:
        return self.layer.units if self.layer.merge_mode == "mul" else 0

    #: Register stages of the merge: the rounded value is registered before its saturation
    #: (:func:`rnnrtl.hw.common.requantized`), so the buffer's read, the product or sum and the
    #: rounding take one cycle and the saturation the next.
    stages = 1

    def apply(self, m, hf, hb) -> list:
        """The merged lanes, :attr:`stages` cycles after ``hf`` and ``hb``."""
        L, fmt, S = self.layer, self.layer.output_fmt, self.stages
        ff, fb = L.forward.output_fmt.frac_bits, L.backward.output_fmt.frac_bits
        out = []
        if L.merge_mode == "concat":
            for k, (lane, frac) in enumerate([(v, ff) for v in hf] + [(v, fb) for v in hb]):
                out.append(requantized(m, S, f"merge{k}", lane, frac, fmt)[0])
            return out
        frac = max(ff, fb)
        for k, (a, b) in enumerate(zip(hf, hb)):
            if L.merge_mode == "mul":
                value, src = a * b, ff + fb
            else:
                value = (a << (frac - ff)) + (b << (frac - fb))
                src = frac + (L.merge_mode == "ave")   # ave: the sum with one more fractional bit
            out.append(requantized(m, S, f"merge{k}", value, src, fmt)[0])
        return out


class BidirectionalLayer(wiring.Component):
    """The hardware of an IR :class:`~rnnrtl.ir.Bidirectional` (see the module docstring).

    Ports: ``i`` (beats of ``in_features`` lanes, ``input_fmt``), ``o`` (beats of ``units`` lanes,
    ``output_fmt``). ``shell(layer)`` builds a direction's recurrent shell
    (:func:`rnnrtl.hw.network.hardware_layer`); ``timesteps`` (required) sizes the buffers."""

    #: Beats the output queue holds, counting those in the merge: enough for one beat every cycle
    #: (a credit is held from the join to the beat's transfer, ``Merge.stages + 1`` cycles).
    QUEUE_DEPTH = Merge.stages + 2

    def __init__(self, layer: ir.Bidirectional, *, shell, timesteps: int | None):
        T = needs_timesteps(layer, timesteps)
        self.layer = layer
        self.merge = Merge(layer)
        paths = []
        for direction, is_backward in ((layer.forward, False), (layer.backward, True)):
            stages = {}
            if not direction.go_backwards:  # (a reversing direction's reverser takes it all)
                stages["queue"] = StreamQueue(layer.input_fmt, layer.in_features, depth=T)
            stages["cell"] = shell(direction)
            if layer.return_sequences and is_backward:
                stages["order"] = SequenceReverser(direction.output_fmt, direction.units, depth=T,
                                                   banks=reverser_banks(direction))
            elif layer.return_sequences:
                stages["order"] = StreamQueue(direction.output_fmt, direction.units, depth=T)
            paths.append(Chain(stages, layer=direction))
        self.forward, self.backward = paths
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, layer.in_features)),
            "o": Out(beat_signature(layer.output_fmt, layer.units)),
        })

    @property
    def multipliers(self) -> int:
        return self.forward.multipliers + self.backward.multipliers + self.merge.multipliers

    @property
    def step_cycles(self) -> int:
        return max(self.forward.step_cycles, self.backward.step_cycles)

    @property
    def slots(self) -> int:
        return math.lcm(self.forward.slots, self.backward.slots)

    @property
    def buffer_bits(self) -> int:
        """Bits of the sequence buffers and queues the two directions add to their shells."""
        return self.forward.buffer_bits + self.backward.buffer_bits

    @property
    def shells(self) -> list:
        return self.forward.shells + self.backward.shells

    def timing_model(self) -> "BidirectionalModel":
        return BidirectionalModel(self)

    def elaborate(self, platform):
        m = Module()
        m.submodules.forward = fwd = self.forward
        m.submodules.backward = bwd = self.backward
        layout = beat_layout(self.layer.output_fmt, self.layer.units)
        m.submodules.queue = q = OutputQueue(layout, depth=self.QUEUE_DEPTH)
        # Fork: each path sees the beat while the other can take it too.
        m.d.comb += [
            fwd.i.payload.eq(self.i.payload), bwd.i.payload.eq(self.i.payload),
            fwd.i.valid.eq(self.i.valid & bwd.i.ready), bwd.i.valid.eq(self.i.valid & fwd.i.ready),
            self.i.ready.eq(fwd.i.ready & bwd.i.ready),
        ]
        # Join: one beat of each path, while the output queue has a credit for it; merged, it
        # enters the queue ``Merge.stages`` cycles later.
        S = self.merge.stages
        join = Signal()
        merged = self.merge.apply(m, list(fwd.o.payload.data), list(bwd.o.payload.data))
        m.d.comb += [
            fwd.o.ready.eq(bwd.o.valid & q.can_issue), bwd.o.ready.eq(fwd.o.valid & q.can_issue),
            join.eq(fwd.o.valid & bwd.o.valid & q.can_issue),
            q.issue.eq(join),
            q.w_en.eq(delay(m, join, S, "joined")),
            q.w_data.as_value().eq(Cat(*merged, delay(m, fwd.o.payload.last, S, "joined_last"))),
        ]
        wiring.connect(m, q.o, wiring.flipped(self.o))
        return m


class BidirectionalModel:
    """The beat-level model of a :class:`BidirectionalLayer` (keep in sync): the two paths'
    models behind the fork, the join into an output queue visible a cycle after its write."""

    def __init__(self, hw: BidirectionalLayer):
        self.fwd, self.bwd = hw.forward.timing_model(), hw.backward.timing_model()
        self.out = OutputQueueModel(hw.QUEUE_DEPTH)
        self.S = hw.merge.stages
        self.merging = {}    # cycle a merged beat enters the output queue -> its last flag

    def in_ready(self):
        return self.fwd.in_ready() and self.bwd.in_ready()

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return (self.fwd.snapshot(cycle), self.bwd.snapshot(cycle), self.out.snapshot(),
                pending(self.merging, cycle))

    def tick(self, cycle, in_valid, in_last, out_ready):
        rf, rb = self.fwd.in_ready(), self.bwd.in_ready()
        vf, vb, room = self.fwd.out_valid(), self.bwd.out_valid(), self.out.can_issue()
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        take, joined = self.fwd.tick(cycle, in_valid and rb, in_last, vb and room)
        self.bwd.tick(cycle, in_valid and rf, in_last, vf and room)
        if joined is not None:   # (forward's last flag)
            self.merging[cycle + self.S] = joined
        self.out.tick(issue=joined is not None, write=self.merging.pop(cycle, None), read=read)
        return take, last
