# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""The network top: layers chained by streams, and its AXI4-Stream face for Verilog users.

:func:`hardware_layer` is the one place that chooses the hardware of an IR layer: a
:class:`~rnnrtl.hw.dense.DenseLayer`, or for a recurrent layer the shell its schedule asks for
(:class:`~rnnrtl.hw.static.StaticLayer` or :class:`~rnnrtl.hw.unrolled.UnrolledLayer`, each
holding the layer's cell). :class:`NetworkCore` chains one hardware layer per IR layer (``i`` of the first to ``o`` of the
last) with :func:`amaranth.lib.wiring.connect`. :class:`AXIStreamTop` wraps it with flat ports named
as AXI4-Stream (``s_axis_tdata/tvalid/tready/tlast`` in, ``m_axis_*`` out) so the emitted Verilog
drops into block designs: lane ``k`` of a beat occupies bits ``[k·W, (k+1)·W)`` of ``tdata``
(two's complement for signed formats), ``tdata`` is padded with zeros to a whole number of bytes,
and ``tlast`` marks the last beat of a sequence (input: the last time step; output: the last beat
of the sequence's result).

With ``input: sequence`` (the configuration's, :func:`rnnrtl.config.input_kind`) one input beat
holds a whole sequence, ``T × F`` lanes step-major (lane ``t·F + f`` is feature ``f`` of step
``t``; ``tlast`` is not looked at, every beat is a sequence): the first layer is then
:func:`sequence_input_layer`'s. Every later layer, and the output, are as with ``input: step``.

Submodule names come from Keras layer names, which may hold any character (a space ends a Verilog
escaped identifier: yosys cannot read it back): :func:`hardware_names` makes them identifiers,
unique, and leaves clean names as they are; :attr:`NetworkCore.names` maps each back.
"""

from __future__ import annotations

import re

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from ..config import input_kind
from .bidirectional import BidirectionalLayer, backwards_layer
from .common import CreditLink, RegisterSlice, beat_signature
from .dense import DenseLayer
from .masking import step_masks
from .pipelining import Pipelining
from .sequence_input import SerializedLayer, sequence_lanes
from .static import StaticLayer
from .unrolled import UnrolledLayer
from .unrolled_sequence import SequenceUnrolledLayer

__all__ = ["NetworkCore", "AXIStreamTop", "hardware_layer", "hardware_names", "sequence_input_layer",
           "tdata_width"]


def hardware_names(names) -> list[str]:
    """One identifier per name, in order: every character outside ``[A-Za-z0-9_]`` replaced by
    ``_`` (a name with none is kept as it is), then ``_2``, ``_3`` … appended to a name already
    taken (by an earlier name, or by a later name that is clean)."""
    names = list(names)
    clean = [re.sub(r"[^A-Za-z0-9_]", "_", name) or "_" for name in names]
    kept = {c for c, name in zip(clean, names) if c == name}
    out, taken = [], set()
    for c, name in zip(clean, names):
        candidate, k = c, 1
        while candidate in taken or (candidate != name and candidate in kept):
            k += 1
            candidate = f"{c}_{k}"
        taken.add(candidate)
        out.append(candidate)
    return out


def hardware_layer(layer, *, timesteps: int | None = None, mask=None):
    """The hardware component of an IR layer (``timesteps``: the sequence length, if fixed): a
    :class:`DenseLayer`, or the shell of a recurrent layer's ``mode`` around its cell; its adder
    trees sum ``layer.schedule.adder_fanin`` terms per register stage. A recurrent layer with
    ``go_backwards`` gets a sequence reverser in front of its shell, a ``Bidirectional`` both
    directions, their buffers and the merge (:mod:`rnnrtl.hw.bidirectional`). ``mask``: the
    layer's :class:`~rnnrtl.hw.masking.StepMask` in a masked model
    (:func:`~rnnrtl.hw.masking.step_masks`; a mask never reaches a layer reading backwards:
    :func:`rnnrtl.masking.check_layers`)."""
    if isinstance(layer, ir.Bidirectional):
        return BidirectionalLayer(layer, timesteps=timesteps,
                                  shell=lambda sub: hardware_layer(sub, timesteps=timesteps))
    tree_fanin = layer.schedule.adder_fanin
    masking = {} if mask is None else {"mask": mask}
    if isinstance(layer, ir.Dense):
        return DenseLayer(layer, tree_fanin=tree_fanin, **masking)
    shell = UnrolledLayer if layer.schedule.mode == "unrolled" else StaticLayer
    hw = shell(layer, tree_fanin=tree_fanin, timesteps=timesteps, **masking)
    return backwards_layer(layer, hw, timesteps=timesteps) if layer.go_backwards else hw


def sequence_input_layer(layer, *, timesteps, mask=None):
    """The hardware of the first layer of an ``input: sequence`` network, which takes beats of a
    whole sequence (``timesteps × in_features`` lanes, step-major): a forward recurrent layer of
    ``mode: unrolled`` in a model without masking is a
    :class:`~rnnrtl.hw.unrolled_sequence.SequenceUnrolledLayer` (a new sequence every
    ``job_spacing`` cycles); any other layer is :func:`hardware_layer`'s behind a
    :class:`~rnnrtl.hw.sequence_input.SequenceSerializer` (one step per beat into it)."""
    sequence_lanes(layer.in_features, timesteps)
    pipelined = isinstance(layer, (ir.LSTM, ir.GRU, ir.SimpleRNN)) and mask is None \
        and layer.schedule.mode == "unrolled" and layer.schedule.interleave == 1 \
        and not layer.go_backwards   # (else UnrolledLayer's own error, behind the serializer)
    if pipelined:
        return SequenceUnrolledLayer(layer, tree_fanin=layer.schedule.adder_fanin,
                                     timesteps=timesteps)
    return SerializedLayer(layer, hardware_layer(layer, timesteps=timesteps, mask=mask),
                           timesteps=timesteps)


def tdata_width(fmt, lanes: int) -> int:
    """Width of an AXI4-Stream ``tdata`` bus carrying ``lanes`` codes of ``fmt``, padded to bytes."""
    return -(-(fmt.width * lanes) // 8) * 8


class NetworkCore(wiring.Component):
    """All layers of a :class:`~rnnrtl.ir.Network`, chained by streams of beats.

    Between two layers of which either has a ``link`` count (:class:`~rnnrtl.hw.pipelining.Pipelining`;
    ``pipeline: deep``), the stream passes a :class:`~rnnrtl.hw.common.CreditLink` of the larger
    count of stages: two layers placed far apart then exchange beats and credits through
    registers, and no handshake signal crosses from one to the other combinationally; with
    ``link_slices`` the link has a register slice at each end, and with ``port_slices`` a register
    slice stands between the network's input (output) stream and its first (last) layer.
    With ``input: sequence`` the first layer is :func:`sequence_input_layer`'s and ``i`` carries
    :attr:`in_lanes` = ``T × F`` lanes, :attr:`in_beats` = 1 beat per sequence.
    :attr:`chain` lists the layers and links in stream order (what
    :func:`rnnrtl.hw.timing.network_timing` models); :attr:`names` maps each submodule's name
    (:func:`hardware_names`) to the Keras layer it comes from.
    """

    def __init__(self, network: ir.Network):
        self.network = network
        T = network.timesteps
        #: What one input beat carries: "step" or "sequence" (:func:`rnnrtl.config.input_kind`).
        self.input = input_kind(network.config)
        builders = [sequence_input_layer if self.input == "sequence" else hardware_layer] \
            + [hardware_layer] * (len(network.layers) - 1)
        self.layers = [build(layer, timesteps=T, mask=mask)
                       for build, layer, mask in zip(builders, network.layers, step_masks(network))]
        #: Lanes of an input beat (``in_features``, or ``T × in_features`` with input: sequence).
        self.in_lanes = network.in_features if self.input == "step" \
            else sequence_lanes(network.in_features, T)
        #: Input beats per sequence (``None``: the model's length, which may vary).
        self.in_beats = 1 if self.input == "sequence" else T
        named = [(network.layers[0].name, network.layers[0].name, self.layers[0])]
        first, last = network.layers[0], network.layers[-1]
        if Pipelining.of(first.schedule).port_slices:
            named.insert(0, (f"{first.name}_in_slice", first.name, RegisterSlice(
                self.layers[0].i.signature.members["payload"].shape)))
        for a, b, a_hw, hw in zip(network.layers, network.layers[1:], self.layers, self.layers[1:]):
            pa, pb = Pipelining.of(a.schedule), Pipelining.of(b.schedule)
            stages = max(pa.link, pb.link)
            if stages:  # (the beat as the layer sends it: with a masked flag in a masked model)
                slices = pa.link_slices or pb.link_slices
                # A layer whose output queue can give its beats a cycle late hands them to the
                # link that way: the link's first beat register becomes a register of the queue's
                # read pointers, beside its memory.
                late = not slices and hasattr(a_hw, "late_output")
                if late:
                    a_hw.late_output = True
                # So does the link's receiving queue to a layer that registers its input first.
                late_out = not slices and getattr(hw, "takes_late_input", False)
                if late_out:
                    hw.late_input = True
                named.append((f"{a.name}_link", a.name,
                              CreditLink(a_hw.o.signature.members["payload"].shape, stages=stages,
                                         slices=slices, late_payload=late,
                                         late_output=late_out)))
            named.append((b.name, b.name, hw))
        if Pipelining.of(last.schedule).port_slices:
            named.append((f"{last.name}_out_slice", last.name, RegisterSlice(
                self.layers[-1].o.signature.members["payload"].shape)))
        generated = hardware_names(name for name, _, _ in named)
        self._named = [(g, stage) for g, (_, _, stage) in zip(generated, named)]
        #: submodule name -> the Keras layer name it comes from (a link: the layer it follows).
        self.names = {g: keras_name for g, (_, keras_name, _) in zip(generated, named)}
        self.chain = [stage for _, stage in self._named]
        super().__init__({
            "i": In(beat_signature(network.input_fmt, self.in_lanes)),
            "o": Out(beat_signature(network.output_fmt, network.out_features)),
        })

    @property
    def multipliers(self) -> int:
        return sum(layer.multipliers for layer in self.layers)

    def elaborate(self, platform):
        m = Module()
        for name, stage in self._named:
            m.submodules[name] = stage
        wiring.connect(m, wiring.flipped(self.i), self.chain[0].i)
        for a, b in zip(self.chain, self.chain[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, self.chain[-1].o, wiring.flipped(self.o))
        return m


class AXIStreamTop(wiring.Component):
    """:class:`NetworkCore` with AXI4-Stream named, flat ports (see the module docstring)."""

    def __init__(self, network: ir.Network):
        self.core = NetworkCore(network)
        self.network = network
        self.in_width = tdata_width(network.input_fmt, self.core.in_lanes)
        self.out_width = tdata_width(network.output_fmt, network.out_features)
        super().__init__({
            "s_axis_tdata": In(self.in_width),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(self.out_width),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        net = self.network
        in_bits = net.input_fmt.width * core.in_lanes
        out_bits = net.output_fmt.width * net.out_features
        m.d.comb += [
            core.i.payload.data.as_value().eq(self.s_axis_tdata[:in_bits]),
            core.i.payload.last.eq(self.s_axis_tlast),
            core.i.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(core.i.ready),
            self.m_axis_tdata[:out_bits].eq(core.o.payload.data.as_value()),
            self.m_axis_tlast.eq(core.o.payload.last),
            self.m_axis_tvalid.eq(core.o.valid),
            core.o.ready.eq(self.m_axis_tready),
        ]
        return m
