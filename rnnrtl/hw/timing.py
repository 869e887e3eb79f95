"""Exact timing before simulation: the generic chain simulation of beat-level timing models.

Each hardware layer's control is deterministic: which cycle it accepts a beat, when a job starts,
when a result reaches its output queue. Every stream component of a chain has a beat-level model
of its flow control beside it (``timing_model()``: :class:`~rnnrtl.hw.dense.DenseModel`,
:class:`~rnnrtl.hw.static_model.StaticModel`, :class:`~rnnrtl.hw.unrolled_model.UnrolledModel`,
:class:`~rnnrtl.hw.common.CreditLinkModel`; with ``input: sequence``
:class:`~rnnrtl.hw.unrolled_sequence.SequenceUnrolledModel` and
:class:`~rnnrtl.hw.sequence_input.SerializerModel`), which replays exactly its component's rules, reading
every delay from the hardware objects' own properties. A model has ``in_ready()``,
``out_valid()``, ``out`` (its output queue's model: ``head()``), ``snapshot(cycle)`` and
``tick(cycle, in_valid, in_last, out_ready) -> (taken, last flag of the beat read or None)``.

:func:`network_timing` chains them like :class:`~rnnrtl.hw.network.NetworkCore` and measures,
with the input offered at full rate and the output always ready:

* ``latency``: cycles from the transfer of a sequence's first input beat to the transfer of its
  last output beat (the sequence entering an empty pipeline);
* ``ii``: cycles between the first-beat transfers of consecutive sequences in steady state, found
  exactly (the models' state repeats: :func:`_steady_state`) and averaged over the repeating
  pattern of starts (``ii_period`` sequences; :func:`steady_ii`), which ``ii_sequences``
  back-to-back sequences show twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["ChainModel", "LayerTiming", "NetworkTiming", "network_timing", "simulate", "steady_ii"]


#: Most back-to-back sequences the model runs looking for its steady state.
_MAX_II_SEQUENCES = 100_000


class ChainModel:
    """Models chained by streams, as one model (the timing model protocol): how
    :func:`network_timing` runs a network's chain, and the model of a component made of a chain
    (:class:`rnnrtl.hw.bidirectional.Chain`)."""

    def __init__(self, models):
        self.models = list(models)

    @property
    def out(self):
        """The last model's output queue (read anew: a model may switch queues)."""
        return self.models[-1].out

    def in_ready(self):
        return self.models[0].in_ready()

    def out_valid(self):
        return self.models[-1].out_valid()

    def snapshot(self, cycle):
        return tuple(m.snapshot(cycle) for m in self.models)

    def tick(self, cycle, in_valid, in_last, out_ready):
        """One cycle: ``(input taken, last flag of the output beat taken or None)``. Every decision
        reads the state at the cycle's start."""
        models = self.models
        valid = [in_valid] + [m.out_valid() for m in models[:-1]]
        lasts = [in_last] + [m.out.head() if m.out_valid() else False for m in models[:-1]]
        ready = [m.in_ready() for m in models[1:]] + [out_ready]
        ticks = [m.tick(cycle, valid[k], lasts[k], ready[k]) for k, m in enumerate(models)]
        return ticks[0][0], ticks[-1][1]


def _step(models, cycle, in_valid, in_last):
    """One cycle of the chained models (a :class:`ChainModel`), output always ready."""
    return models.tick(cycle, in_valid, in_last, True)


def simulate(hw_layers, sequences: int, timesteps: int, out_beats: int, limit: int = 10_000_000):
    """Cycle of every input and output transfer, ``sequences`` back to back at full rate."""
    models = ChainModel(hw.timing_model() for hw in hw_layers)
    beats = [(s, t == timesteps - 1) for s in range(sequences) for t in range(timesteps)]
    in_times, out_times = [], []
    cycle = 0
    while len(out_times) < sequences * out_beats:
        more = len(in_times) < len(beats)
        take, last = _step(models, cycle, more, more and beats[len(in_times)][1])
        if take:
            in_times.append(cycle)
        if last is not None:
            out_times.append(cycle)
        cycle += 1
        if cycle > limit:
            raise RuntimeError("timing model did not finish; the flow control deadlocks")
    return in_times, out_times


def _steady_state(hw_layers, timesteps: int, limit: int = _MAX_II_SEQUENCES):
    """``(ii, period, sequences)`` of an endless stream of sequences at full rate.

    The models are finite machines with a constant input, so their state (relative to the current
    cycle) taken right after each sequence's first beat is accepted eventually repeats: if the
    state after start ``k`` equals the state after start ``k0``, starts repeat their spacing with
    a period of ``k - k0`` sequences from ``k0`` on, for ever. ``ii`` is the mean spacing over that
    period; ``sequences = k0 + 2·period + 1`` back-to-back sequences show two whole periods."""
    models = ChainModel(hw.timing_model() for hw in hw_layers)
    seen, starts, sent, cycle = {}, [], 0, 0
    while len(starts) <= limit:
        step = sent % timesteps
        take, _ = _step(models, cycle, True, step == timesteps - 1)
        if take:
            sent += 1
            if step == 0:
                starts.append(cycle)
                key = models.snapshot(cycle)
                if key in seen:
                    k0, period = seen[key], len(starts) - 1 - seen[key]
                    return steady_ii(starts, period), period, k0 + 2 * period + 1
                seen[key] = len(starts) - 1
        cycle += 1
    raise RuntimeError(f"timing model: no steady state within {limit} sequences")


@dataclass
class LayerTiming:
    name: str
    kind: str
    latency: int           # one sequence through this layer alone
    ii: int                # cycles between sequence starts through this layer alone
    cycles_per_step: int   # recurrent: loop depth; dense: cycles between beats
    multipliers: int
    #: Bits of the sequence buffers a layer reading backwards adds (go_backwards, Bidirectional;
    #: :mod:`rnnrtl.hw.bidirectional`), 0 for others.
    buffer_bits: int = 0
    #: Cycles of ``latency`` those buffers add: the layer's latency minus the largest of its
    #: recurrent shells' alone (the backward direction waits for the whole sequence).
    buffer_latency: int = 0

    def to_dict(self) -> dict:
        """The figures; the buffer figures only for a layer that has buffers."""
        return {k: v for k, v in vars(self).items() if not (k.startswith("buffer_") and not v)}


@dataclass
class NetworkTiming:
    latency: int
    ii: int
    cycles_per_step: int
    multipliers: int
    timesteps: int
    layers: list = field(default_factory=list)
    #: Sequences over which ``ii`` is averaged: in steady state the spacing of sequence starts
    #: repeats with this period (interleaved slots start sequences in a pattern; a fast layer
    #: feeding a slow one may too).
    ii_period: int = 1
    #: Back-to-back sequences at full rate whose last ``2 · ii_period`` starts are in the steady
    #: state (the start-up transient is long when a fast layer feeds a slow one and the queues
    #: between them fill first).
    ii_sequences: int = 3

    def to_dict(self) -> dict:
        return {"latency": self.latency, "ii": self.ii, "ii_period": self.ii_period,
                "ii_sequences": self.ii_sequences,
                "cycles_per_step": self.cycles_per_step,
                "multipliers": self.multipliers, "timesteps": self.timesteps,
                "layers": [l.to_dict() for l in self.layers]}


def _measure(hw_layers, timesteps, out_beats):
    """``(latency, ii, period, sequences)``; see :func:`_steady_state`."""
    in_t, out_t = simulate(hw_layers, 1, timesteps, out_beats)
    return (out_t[-1] - in_t[0], *_steady_state(hw_layers, timesteps))


def _latency(shell, in_beats):
    """Latency of one recurrent shell alone, for sequences of ``in_beats`` beats."""
    out_beats = in_beats if shell.layer.return_sequences else 1
    in_t, out_t = simulate([shell], 1, in_beats, out_beats)
    return out_t[-1] - in_t[0]


def steady_ii(starts, period: int = 1):
    """Cycles per sequence in steady state: the spacing of sequence starts averaged over the last
    whole period (interleaved slots start sequences in a pattern that repeats every ``period``)."""
    ii = Fraction(starts[-1] - starts[-1 - period], period)
    return int(ii) if ii.denominator == 1 else round(float(ii), 3)


def network_timing(core, *, timesteps: int | None = None) -> NetworkTiming:
    """Timing of a :class:`~rnnrtl.hw.network.NetworkCore` (and of each of its layers alone) for
    sequences of ``timesteps`` steps (default: the network's): its ``layers`` alone, then its
    ``chain`` (the layers and the credit links between them, in stream order)."""
    network, hw_layers = core.network, core.layers
    T = timesteps or network.timesteps
    if T is None:
        raise ValueError("the model has a variable sequence length; give timesteps")
    # input: sequence: one beat per sequence into the first layer (rnnrtl.hw.network); its shells
    # (behind the serializer) still see T steps.
    first_beats = 1 if getattr(core, "input", "step") == "sequence" else T
    layers, beats = [], T
    for k, (ir_layer, hw) in enumerate(zip(network.layers, hw_layers)):
        in_beats = first_beats if k == 0 else beats
        shell_beats = beats
        if getattr(ir_layer, "return_sequences", True) is False:
            beats = 1
        lat, ii, _, _ = _measure([hw], in_beats, beats)
        per_step = hw.step_cycles if hasattr(hw, "step_cycles") else hw.ii
        bits = getattr(hw, "buffer_bits", 0)
        added = lat - max(_latency(shell, shell_beats) for shell in hw.shells) if bits else 0
        layers.append(LayerTiming(ir_layer.name, ir_layer.kind, lat, ii, per_step, hw.multipliers,
                                  buffer_bits=bits, buffer_latency=added))
        # A later layer sees beats per sequence; its own "timesteps" are those beats.
    latency, ii, period, sequences = _measure(core.chain, first_beats, beats)
    per_step = max(l.cycles_per_step for l in layers if l.kind != "dense") \
        if any(l.kind != "dense" for l in layers) else layers[0].cycles_per_step
    return NetworkTiming(latency=latency, ii=ii, cycles_per_step=per_step,
                         multipliers=sum(l.multipliers for l in layers), timesteps=T, layers=layers,
                         ii_period=period, ii_sequences=sequences)
