"""Exact timing before simulation: a beat-level model of the layers' flow control.

Each hardware layer's control is deterministic: which cycle it accepts a beat, when a job starts,
when a result reaches its output queue. :class:`_DenseModel` and :class:`_RecurrentModel` replay
exactly the rules of :mod:`rnnrtl.hw.dense` and :mod:`rnnrtl.hw.recurrent` (keep in sync; the
simulation tests compare the two), reading every delay from the hardware objects' own properties.
:func:`network_timing` chains them like :class:`~rnnrtl.hw.network.NetworkCore` and measures, with
the input offered at full rate and the output always ready:

* ``latency``: cycles from the transfer of a sequence's first input beat to the transfer of its
  last output beat (the sequence entering an empty pipeline);
* ``ii``: cycles between the first-beat transfers of consecutive sequences, in steady state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .dense import DenseLayer

__all__ = ["LayerTiming", "NetworkTiming", "network_timing"]


class _Queue:
    """:class:`~rnnrtl.hw.common.OutputQueue`: credits, then a FIFO visible one cycle after write."""

    def __init__(self, depth):
        self.depth, self.items, self.in_flight = depth, deque(), 0

    def can_issue(self):
        return len(self.items) + self.in_flight < self.depth

    def valid(self):
        return bool(self.items)

    def head(self):
        return self.items[0]

    def tick(self, *, issue, write, read):
        if read:
            self.items.popleft()
        if write is not None:
            self.items.append(write)
        self.in_flight += int(issue) - int(write is not None)


class _DenseModel:
    def __init__(self, hw: DenseLayer):
        self.ii, self.latency = hw.ii, hw.latency
        self.out = _Queue(hw._queue_depth)
        self.cooldown, self.writes = 0, {}

    def in_ready(self):
        return self.cooldown == 0 and self.out.can_issue()

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


class _RecurrentModel:
    def __init__(self, hw):
        self.rx, self.lx = hw.projection.ii, hw.projection.latency
        self.step, self.seq = hw.step_cycles, hw.layer.return_sequences
        self.axq, self.out = _Queue(hw._queue_depth), _Queue(hw._queue_depth)
        self.cooldown, self.wait = 0, 0
        self.ax_writes, self.h_writes = {}, {}

    def in_ready(self):
        return self.cooldown == 0 and self.axq.can_issue()

    def out_valid(self):
        return self.out.valid()

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        ax_write = self.ax_writes.pop(cycle, None)
        emits = self.axq.valid() and (self.seq or self.axq.head())
        start = self.axq.valid() and self.wait == 0 and (not emits or self.out.can_issue())
        h_write = self.h_writes.pop(cycle, None)
        out_write = h_write[0] if h_write is not None and h_write[1] else None
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        if take:  # the projection's result reaches the ax queue in its done cycle
            self.ax_writes[cycle + self.lx] = in_last
        if start:  # the new state (and any output beat) is written step - 1 cycles later
            self.h_writes[cycle + self.step - 1] = (self.axq.head(), emits)
        self.axq.tick(issue=take, write=ax_write, read=start)
        self.out.tick(issue=start and emits, write=out_write, read=read)
        self.cooldown = self.rx - 1 if take else max(self.cooldown - 1, 0)
        self.wait = self.step - 1 if start else max(self.wait - 1, 0)
        return take, last


def _model(hw):
    return _DenseModel(hw) if isinstance(hw, DenseLayer) else _RecurrentModel(hw)


def _simulate(hw_layers, sequences: int, timesteps: int, out_beats: int, limit: int = 10_000_000):
    """Cycle of every input and output transfer, ``sequences`` back to back at full rate."""
    models = [_model(hw) for hw in hw_layers]
    beats = [(s, t == timesteps - 1) for s in range(sequences) for t in range(timesteps)]
    in_times, out_times = [], []
    cycle = 0
    while len(out_times) < sequences * out_beats:
        valid = [len(in_times) < len(beats)] + [m.out_valid() for m in models[:-1]]
        lasts = [beats[len(in_times)][1] if valid[0] else False] + \
                [m.out.head() if m.out_valid() else False for m in models[:-1]]
        ready = [m.in_ready() for m in models[1:]] + [True]
        for k, m in enumerate(models):
            take, last = m.tick(cycle, valid[k], lasts[k], ready[k])
            if k == 0 and take:
                in_times.append(cycle)
            if k == len(models) - 1 and last is not None:
                out_times.append(cycle)
        cycle += 1
        if cycle > limit:
            raise RuntimeError("timing model did not finish; the flow control deadlocks")
    return in_times, out_times


@dataclass
class LayerTiming:
    name: str
    kind: str
    latency: int           # one sequence through this layer alone
    ii: int                # cycles between sequence starts through this layer alone
    cycles_per_step: int   # recurrent: loop depth; dense: cycles between beats
    multipliers: int


@dataclass
class NetworkTiming:
    latency: int
    ii: int
    cycles_per_step: int
    multipliers: int
    timesteps: int
    layers: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"latency": self.latency, "ii": self.ii, "cycles_per_step": self.cycles_per_step,
                "multipliers": self.multipliers, "timesteps": self.timesteps,
                "layers": [vars(l) for l in self.layers]}


def _measure(hw_layers, timesteps, out_beats, sequences=6):
    in_t, out_t = _simulate(hw_layers, 1, timesteps, out_beats)
    latency = out_t[-1] - in_t[0]
    in_t, _ = _simulate(hw_layers, sequences, timesteps, out_beats)
    starts = in_t[::timesteps]
    return latency, starts[-1] - starts[-2]


def network_timing(network, hw_layers, *, timesteps: int | None = None) -> NetworkTiming:
    """Timing of a network (and of each layer alone) for sequences of ``timesteps`` steps."""
    T = timesteps or network.timesteps
    if T is None:
        raise ValueError("the model has a variable sequence length; give timesteps")
    layers, beats = [], T
    for ir_layer, hw in zip(network.layers, hw_layers):
        in_beats = beats
        if getattr(ir_layer, "return_sequences", True) is False:
            beats = 1
        lat, ii = _measure([hw], in_beats, beats)
        per_step = hw.step_cycles if hasattr(hw, "step_cycles") else hw.ii
        layers.append(LayerTiming(ir_layer.name, ir_layer.kind, lat, ii, per_step, hw.multipliers))
        # A later layer sees beats per sequence; its own "timesteps" are those beats.
    latency, ii = _measure(hw_layers, T, beats)
    per_step = max(l.cycles_per_step for l in layers if l.kind != "dense") \
        if any(l.kind != "dense" for l in layers) else layers[0].cycles_per_step
    return NetworkTiming(latency=latency, ii=ii, cycles_per_step=per_step,
                         multipliers=sum(l.multipliers for l in layers), timesteps=T, layers=layers)
