# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""``SequenceSerializer``: a whole sequence per input beat (``input: sequence``) fed to a layer
that reads one time step per beat.

With ``input: sequence`` (:mod:`rnnrtl.config`) the core's input beat holds all ``T × F`` codes
of a sequence, step-major: lane ``t·F + f`` is feature ``f`` of step ``t`` (hls4ml's io_parallel
layout). An unrolled recurrent first layer takes such a beat whole
(:class:`~rnnrtl.hw.unrolled_sequence.SequenceUnrolledLayer`); every other first layer (static,
interleaved, ``go_backwards``, ``Bidirectional``, masked, a ``Dense``) gets this serializer in
front (:func:`rnnrtl.hw.network.hardware_layer`), which holds the beat and hands its steps on one
per beat, ``last`` high on step ``T − 1``.

Rules (mirrored by :class:`SerializerModel`; keep in sync): a beat is accepted while the
serializer holds none (``ready`` is a flip-flop: no path from the output's ``ready`` to the
input's); while it holds one, step ``k`` (a counter) is offered on ``o``, and each transfer moves
to the next step; the transfer of step ``T − 1`` empties it. A sequence therefore takes ``T + 1``
cycles at least (one to load, ``T`` to send), which a static layer (``T·D`` cycles per sequence)
never notices.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError
from .bidirectional import Chain
from .common import beat_signature

__all__ = ["SequenceSerializer", "SerializerModel", "SerializedLayer", "sequence_lanes"]


def sequence_lanes(features: int, timesteps) -> int:
    """Lanes of an input beat holding a whole sequence of ``timesteps`` steps of ``features``
    (step-major), checked: the length must be fixed."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise HardwareError(
            f"input: sequence puts all time steps into one beat, so it needs a fixed sequence "
            f"length, and timesteps is {timesteps!r}; give the Keras Input a fixed length or "
            "timesteps: N in the configuration, or use input: step")
    return features * timesteps


class SequenceSerializer(wiring.Component):
    """Beats of ``T × lanes`` codes of ``fmt`` (a whole sequence, step-major) in on ``i``; beats of
    ``lanes`` codes (one step each, ``last`` on step ``T − 1``) out on ``o`` (module docstring).
    The ``last`` flag of ``i`` is not looked at: every beat is a sequence."""

    def __init__(self, fmt, lanes: int, *, timesteps: int):
        self.fmt, self.lanes = fmt, lanes
        self.timesteps = timesteps
        super().__init__({
            "i": In(beat_signature(fmt, sequence_lanes(lanes, timesteps))),
            "o": Out(beat_signature(fmt, lanes)),
        })

    def timing_model(self) -> "SerializerModel":
        return SerializerModel(self)

    def elaborate(self, platform):
        m = Module()
        T = self.timesteps
        step_width = data.Layout.cast(self.o.payload.data.shape()).size
        held = Signal(len(self.i.payload.data.as_value()), name="held")  # steps still to send, step 0 low
        full = Signal()
        step = Signal(range(T))
        final = step == T - 1
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(full),
                     self.o.payload.data.eq(held[:step_width]),
                     self.o.payload.last.eq(final)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += held.eq(held >> step_width)
            with m.If(final):
                m.d.sync += [full.eq(0), step.eq(0)]
            with m.Else():
                m.d.sync += step.eq(step + 1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [held.eq(self.i.payload.data.as_value()), full.eq(1), step.eq(0)]
        return m


class SerializerModel:
    """The beat-level model of a :class:`SequenceSerializer` (the timing model protocol of
    :mod:`rnnrtl.hw.timing`; keep in sync)."""

    def __init__(self, hw: SequenceSerializer):
        self.T = hw.timesteps
        self.full, self.step = False, 0

    @property
    def out(self):
        return self

    def head(self):
        """The ``last`` flag of the step offered."""
        return self.step == self.T - 1

    def in_ready(self):
        return not self.full

    def out_valid(self):
        return self.full

    def snapshot(self, cycle):
        return self.full, self.step

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and not self.full
        read = self.full and out_ready
        last = self.head() if read else None
        if read:
            self.full, self.step = (False, 0) if last else (True, self.step + 1)
        if take:
            self.full, self.step = True, 0
        return take, last


class SerializedLayer(Chain):
    """A layer's hardware ``hw`` (a step per beat) behind a :class:`SequenceSerializer`: a
    :class:`~rnnrtl.hw.bidirectional.Chain` of the two whose figures are the layer's."""

    def __init__(self, layer, hw, *, timesteps: int):
        self.hw = hw
        super().__init__({"serialize": SequenceSerializer(layer.input_fmt, layer.in_features,
                                                          timesteps=timesteps),
                          "layer": hw}, layer=layer)

    @property
    def step_cycles(self) -> int:
        """The layer's (a Dense: its :attr:`ii`)."""
        return self.hw.step_cycles if hasattr(self.hw, "step_cycles") else self.hw.ii

    @property
    def ii(self) -> int:
        return self.hw.ii
