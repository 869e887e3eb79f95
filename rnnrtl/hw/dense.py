# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``DenseLayer``: a Keras Dense layer as a stream component, one output beat per input beat.

``pre = q_pre(W·x + b)``, ``out = q_out(act(pre))`` (``docs/numerics.md``), with a
:class:`~rnnrtl.hw.matvec.MatVec` of reuse ``R`` and an
:class:`~rnnrtl.hw.activation.ActivationUnit`. Beats are accepted every ``R`` cycles while the
output queue has room; the ``last`` flag travels with its beat.

Under ``numerics: hls4ml`` (``layer.product_fmt``, docs/hls4ml.md) the MatVec casts every product
and the bias into ``product_fmt`` and the sum is requantized through it:
``pre = q_pre(q_P(Σ q_P(W·x) + q_P(b)))``; a softmax with tables (``activation.softmax``) is computed
by a :class:`~rnnrtl.hw.softmax.SoftmaxUnit` after ``pre`` (otherwise the host applies softmax to
the logits the layer outputs).

Timing: a beat accepted in cycle ``c`` is offered on ``o`` in cycle ``c + latency`` with
``latency = matvec.latency + act.latency + softmax + extra + 1 (queue)``, ``softmax`` being the
:class:`~rnnrtl.hw.softmax.SoftmaxUnit`'s latency (0 without one) and ``extra`` 1 when the
activation's output format differs from the layer's result format (one more requantization).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from .activation import ActivationUnit
from .common import (WRITE_LEAD, OutputQueue, OutputQueueModel, beat_layout, beat_signature,
                     countdown, delay, delayed_pulse, pending, requantized)
from .masking import StepMask, masked_flag
from .matvec import MatVec
from .pipelining import Pipelining
from .cell import one_stage_fanin
from .softmax import SoftmaxUnit

__all__ = ["DenseLayer", "DenseModel"]


class DenseLayer(wiring.Component):
    """Ports: ``i`` (beats of ``layer.in_features`` lanes in ``layer.input_fmt``), ``o`` (beats of
    ``layer.units`` lanes in ``layer.output_fmt``). ``mask`` (:class:`~rnnrtl.hw.masking.StepMask`,
    a masked model whose mask a later recurrent layer needs): a step's masked flag (from ``i``'s
    codes or its flag) travels with its beat, as ``last`` does, to ``o``'s flag."""

    def __init__(self, layer: ir.Dense, *, tree_fanin: int = 4, queue_depth: int | None = None,
                 mask: StepMask | None = None):
        self.layer = layer
        self.mask = mask
        self.pipelining = pipelining = Pipelining.of(layer.schedule)
        self.matvec = MatVec.of(layer.kernel, bias=layer.bias, x_type=layer.input_fmt.int_type,
                                reuse=layer.schedule.reuse_input,
                                tree_fanin=one_stage_fanin(layer.kernel, tree_fanin, pipelining),
                                product_fmt=layer.product_fmt, pipelining=pipelining,
                                multiplier=layer.schedule.multiplier_input,
                                weights_in_memory=layer.schedule.weights == "file")
        activation, self.softmax = layer.activation, None
        if activation.softmax is not None:  # pre, then the softmax tables
            self.softmax = SoftmaxUnit(softmax=activation.softmax, lanes=layer.units)
            activation = ir.Activation("linear", layer.pre_fmt.frac_bits, layer.pre_fmt)
        self.act = ActivationUnit(in_type=self.matvec.out_type, fmt=layer.pre_fmt,
                                  activation=activation, lanes=layer.units,
                                  acc_fmt=layer.product_fmt,
                                  # a softmax reads a registered (held) pre-activation
                                  latency=max(pipelining.activation, int(self.softmax is not None)))
        self._extra = int(layer.activation.out_fmt != layer.output_fmt)
        #: Cycles from a beat's transfer on ``o`` to its queue credit's release (``release``).
        self.release_stages = pipelining.release
        #: ``o.payload`` a cycle after its transfer (:class:`~rnnrtl.hw.common.OutputQueue`'s
        #: ``late``): set by the network, before elaboration, when a credit link with
        #: ``late_payload`` takes the output.
        self.late_output = False
        #: ``i.payload`` a cycle after its transfer (a credit link's receiving queue built
        #: ``late``): set by the network, before elaboration, when :attr:`takes_late_input`.
        self.late_input = False
        # A beat holds a queue credit from its acceptance until it is taken and released,
        # latency + 1 + release_stages cycles: this many credits sustain one beat per ii cycles.
        #: Beats the output queue holds (its credits).
        self.queue_depth = queue_depth or -(-(self.latency + 1 + self.release_stages) // self.ii) + 1
        carried, passes = mask is not None and mask.carried, mask is not None and mask.passes
        super().__init__({
            "i": In(beat_signature(layer.input_fmt, layer.in_features, masked=carried)),
            "o": Out(beat_signature(layer.output_fmt, layer.units, masked=passes)),
        })

    @property
    def takes_late_input(self) -> bool:
        """Whether the layer can take ``i.payload`` a cycle after its transfer (:attr:`late_input`):
        its MatVec registers ``x`` first (a start stage)."""
        return self.matvec.takes_late_x and self._datapath_latency >= 2

    @property
    def ii(self) -> int:
        """Cycles between accepted beats at full rate."""
        return self.matvec.ii

    @property
    def latency(self) -> int:
        """Cycles from a beat's acceptance to its result offered on ``o``."""
        return self._datapath_latency + OutputQueue.latency

    @property
    def _datapath_latency(self) -> int:
        softmax = self.softmax.latency if self.softmax is not None else 0
        return self.matvec.latency + self.act.latency + softmax + self._extra

    @property
    def multipliers(self) -> int:
        softmax = self.softmax.multipliers if self.softmax is not None else 0
        return self.matvec.multipliers + softmax

    def timing_model(self) -> "DenseModel":
        """The beat-level model of this layer's flow control (:mod:`rnnrtl.hw.timing`)."""
        return DenseModel(self)

    def elaborate(self, platform):
        m = Module()
        L = self.layer
        m.submodules.matvec = mv = self.matvec
        m.submodules[self.act.instance_name("output")] = act = self.act
        passes = self.mask is not None and self.mask.passes
        out_layout = beat_layout(L.output_fmt, L.units, masked=passes)
        # A late queue (wide, and read beside its memories) takes its write a few cycles ahead
        # too, for a tree of copies to its write pointers: the result of a beat accepted in cycle
        # c is written in cycle c + the datapath's latency, every time.
        lead = min(WRITE_LEAD, self._datapath_latency) if self.late_output else 0
        m.submodules.queue = queue = OutputQueue(out_layout, depth=self.queue_depth,
                                                 release_stages=self.release_stages,
                                                 late=self.late_output, lead=lead)
        R = mv.ii
        start = Signal()
        idle = countdown(m, start, R - 1, "cooldown")  # ready: two flip-flops ANDed
        m.d.comb += [
            self.i.ready.eq(idle & queue.can_issue),
            start.eq(self.i.valid & self.i.ready),
            queue.issue.eq(start),
            mv.start.eq(start),
            mv.x.eq(self.i.payload.data),
            act.i.eq(mv.y),
            act.i_valid.eq(mv.done),
        ]
        if lead:
            m.d.comb += queue.w_en_lead.eq(delayed_pulse(m, start, self._datapath_latency - lead,
                                                         "write_ahead"))
        # The last flag rides a shift register as long as the datapath (from a cycle later when
        # the payload comes late: the MatVec's x then skips its first start stage).
        late = self.late_input
        mv.x_late = late
        taken = start if not late else delay(m, start, 1, "start_late")
        depth = self._datapath_latency - late
        last_pipe = Signal(depth)
        m.d.sync += last_pipe.eq((last_pipe << 1) | (taken & self.i.payload.last))
        if passes:  # and so does the masked flag (rnnrtl.hw.masking)
            mask_pipe = Signal(depth)
            masked = masked_flag(self.mask, self.i.payload, L.in_features)
            m.d.sync += mask_pipe.eq((mask_pipe << 1) | (taken & masked))
            m.d.comb += queue.w_data.masked.eq(mask_pipe[depth - 1])
        act_o, act_valid = act.o, act.o_valid
        if self.softmax is not None:
            m.submodules.softmax = sm = self.softmax
            m.d.comb += [sm.i.eq(act.o), sm.i_valid.eq(act.o_valid)]
            act_o, act_valid = sm.o, sm.o_valid
        if self._extra:
            out_data = Signal.like(queue.w_data.data)
            out_valid = Signal()
            codes = [requantized(m, 0, f"out_rounded{lane}", act_o[lane],
                                 L.activation.out_fmt.frac_bits, L.output_fmt)[0]
                     for lane in range(L.units)]
            with m.If(act_valid):
                m.d.sync += [out_data[lane].eq(codes[lane]) for lane in range(L.units)]
            m.d.sync += out_valid.eq(act_valid)
        else:
            out_data, out_valid = act_o, act_valid
        m.d.comb += [
            queue.w_en.eq(out_valid),
            queue.w_data.data.eq(out_data),
            queue.w_data.last.eq(last_pipe[depth - 1]),
        ]
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        return m


class DenseModel:
    """The beat-level model of a :class:`DenseLayer` (keep in sync): a beat accepted every ``ii``
    cycles while the output queue has a credit; its result written into the queue ``latency - 1``
    cycles later."""

    def __init__(self, hw: DenseLayer):
        self.ii, self.latency = hw.ii, hw.latency
        self.out = OutputQueueModel(hw.queue_depth, hw.release_stages)
        self.cooldown, self.writes = 0, {}

    def in_ready(self):
        return self.cooldown == 0 and self.out.can_issue()

    def snapshot(self, cycle):
        return self.cooldown, self.out.snapshot(), pending(self.writes, cycle)

    def out_valid(self):
        return self.out.valid()

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        read = self.out.valid() and out_ready
        write = self.writes.pop(cycle, None)
        last = self.out.head() if read else None
        if take:  # the datapath writes the queue one cycle before the beat is offered
            self.writes[cycle + self.latency - 1] = in_last
        self.out.tick(issue=take, write=write, read=read)
        self.cooldown = self.ii - 1 if take else max(self.cooldown - 1, 0)
        return take, last
