"""Exact timing before simulation: a beat-level model of the layers' flow control.

Each hardware layer's control is deterministic: which cycle it accepts a beat, when a job starts,
when a result reaches its output queue. :class:`_DenseModel`, :class:`_RecurrentModel` and
:class:`_UnrolledModel` replay exactly the rules of :mod:`rnnrtl.hw.dense`,
:mod:`rnnrtl.hw.recurrent` and :mod:`rnnrtl.hw.unrolled` (keep in sync; the simulation tests
compare them), reading every delay from the hardware objects' own properties.
:func:`network_timing` chains them (and :class:`_LinkModel` for the credit links between them)
like :class:`~rnnrtl.hw.network.NetworkCore` and measures, with the input offered at full rate
and the output always ready:

* ``latency``: cycles from the transfer of a sequence's first input beat to the transfer of its
  last output beat (the sequence entering an empty pipeline);
* ``ii``: cycles between the first-beat transfers of consecutive sequences in steady state, found
  exactly (the models' state repeats: :func:`_steady_state`) and averaged over the repeating
  pattern of starts (``ii_period`` sequences; :func:`steady_ii`), which ``ii_sequences``
  back-to-back sequences show twice.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from dataclasses import dataclass, field

from .common import CreditLink
from .dense import DenseLayer
from .unrolled import UnrolledLayer

__all__ = ["LayerTiming", "NetworkTiming", "network_timing", "steady_ii"]


class _Queue:
    """:class:`~rnnrtl.hw.common.OutputQueue`: credits, then a FIFO visible one cycle after write;
    a beat read frees its credit ``release_stages`` cycles later."""

    def __init__(self, depth, release_stages=0):
        self.depth, self.items, self.in_flight = depth, deque(), 0
        self.releasing = [False] * release_stages   # reads whose credit is not back yet

    def can_issue(self):
        return len(self.items) + self.in_flight + sum(self.releasing) < self.depth

    def valid(self):
        return bool(self.items)

    def head(self):
        return self.items[0]

    def snapshot(self):
        return tuple(self.items), self.in_flight, tuple(self.releasing)

    def tick(self, *, issue, write, read):
        if read:
            self.items.popleft()
        if self.releasing:
            self.releasing = [read] + self.releasing[:-1]
        if write is not None:
            self.items.append(write)
        self.in_flight += int(issue) - int(write is not None)


class _DenseModel:
    def __init__(self, hw: DenseLayer):
        self.ii, self.latency = hw.ii, hw.latency
        self.out = _Queue(hw._queue_depth, hw.release_stages)
        self.cooldown, self.writes = 0, {}

    def in_ready(self):
        return self.cooldown == 0 and self.out.can_issue()

    def snapshot(self, cycle):
        return self.cooldown, self.out.snapshot(), _pending(self.writes, cycle)

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
        self.K, self.D, self.J = hw.slots, hw.step_cycles, hw.job_spacing
        self.lx, self.seq = hw.projection.latency, hw.layer.return_sequences
        self.queues = [deque() for _ in range(self.K)]   # x beats (their last flags), per slot
        self.x_depth = hw.x_depth
        self.out = _Queue(hw._queue_depth, hw.release_stages)
        self.in_slot, self.rr, self.next_out, self.gap = 0, 0, 0, 0
        self.busy = [0] * self.K
        self.writes = {}  # cycle -> (last, emits): the state write of a job

    def in_ready(self):
        return len(self.queues[self.in_slot]) < self.x_depth

    def snapshot(self, cycle):
        return (tuple(tuple(q) for q in self.queues), self.in_slot, self.rr, self.next_out,
                self.gap, tuple(self.busy), self.out.snapshot(), _pending(self.writes, cycle))

    def out_valid(self):
        return self.out.valid()

    def _ready(self, k):
        if not self.queues[k] or self.busy[k]:
            return False
        last = self.queues[k][0]
        emits = self.seq or last
        return (not last or self.next_out == k) and (not emits or self.out.can_issue())

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        slot = None
        if self.gap == 0:
            slot = next((k % self.K for k in range(self.rr, self.rr + self.K) if self._ready(k % self.K)),
                        None)
        write = self.writes.pop(cycle, None)
        out_write = write[0] if write is not None and write[1] else None
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        # registered updates
        emits = False
        if slot is not None:
            job_last = self.queues[slot].popleft()
            emits = self.seq or job_last
            self.writes[cycle + self.lx + self.D - 1] = (job_last, emits)
        if take:  # the FIFO's write is visible from the next cycle, as the pop above came first
            self.queues[self.in_slot].append(in_last)
        self.out.tick(issue=slot is not None and emits, write=out_write, read=read)
        self.busy = [max(b - 1, 0) for b in self.busy]
        self.gap = max(self.gap - 1, 0)
        if slot is not None:
            self.busy[slot] = self.D - 1
            self.gap = self.J - 1
            self.rr = (slot + 1) % self.K
            if job_last:
                self.next_out = (slot + 1) % self.K
        if take and in_last:
            self.in_slot = (self.in_slot + 1) % self.K
        return take, last


class _UnrolledStage:
    """One stage of :class:`_UnrolledModel`: its registers."""

    def __init__(self, stage):
        self.first, self.depth = stage.first, stage.x_depth
        self.queued = 0            # beats in the x queue (its level)
        self.held = False          # a projection in flight or its result unused
        self.ax_ready = False
        self.done_at = None        # cycle of the projection's done pulse
        self.busy = 0
        self.has_state = False     # an unused state from the previous stage (stage 0: zero state)
        self.out = _Queue(stage.out_depth) if stage.emits else None
        self.writes = {}           # cycle of a job's h write -> the beat's last flag

    def snapshot(self, cycle):
        done = self.done_at - cycle if self.done_at is not None and self.done_at > cycle else None
        return (self.queued, self.held, self.ax_ready, done, self.busy, self.has_state,
                self.out and self.out.snapshot(), _pending(self.writes, cycle))


class _UnrolledModel:
    """:class:`~rnnrtl.hw.unrolled.UnrolledLayer`: router with pacing, per-stage x queue,
    projection, job rule and output queue, round-robin reader (keep in sync)."""

    def __init__(self, hw):
        self.T, self.P, self.D = hw.timesteps, hw.ii, hw.step_cycles
        self.lx = hw.stages[0].projection.latency
        self.seq = hw.layer.return_sequences
        self.stages = [_UnrolledStage(stage) for stage in hw.stages]
        self.step, self.pace, self.rd = 0, 0, 0

    @property
    def out(self):
        """The output queue ``o`` reads now."""
        return self.stages[self.rd if self.seq else -1].out

    def in_ready(self):
        st = self.stages[self.step]
        return st.queued < st.depth and (self.step != 0 or self.pace == 0)

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return self.step, self.pace, self.rd, tuple(st.snapshot(cycle) for st in self.stages)

    def tick(self, cycle, in_valid, in_last, out_ready):
        T, stages = self.T, self.stages
        take = in_valid and self.in_ready()
        done = [st.done_at == cycle for st in stages]
        starts, px_starts = [], []
        for t, st in enumerate(stages):
            successor_free = t == T - 1 or not stages[t + 1].has_state
            start = ((done[t] or st.ax_ready) and (st.first or st.has_state) and st.busy == 0
                     and successor_free and (st.out is None or st.out.can_issue()))
            starts.append(start)
            px_starts.append(st.queued > 0 and (not st.held or start))
        out = self.out
        read = out.valid() and out_ready
        last = out.head() if read else None
        # registered updates
        handed = []
        for t, st in enumerate(stages):
            write = st.writes.pop(cycle, None)
            handed.append(write is not None)
            if st.out is not None:
                st.out.tick(issue=starts[t], write=write, read=read and st.out is out)
        for t, st in enumerate(stages):
            if px_starts[t]:
                st.queued -= 1
                st.done_at = cycle + self.lx
            st.held = px_starts[t] or (st.held and not starts[t])
            st.ax_ready = not starts[t] and (done[t] or st.ax_ready)
            st.busy = self.D - 1 if starts[t] else max(st.busy - 1, 0)
            if starts[t]:
                st.writes[cycle + self.D - 1] = t == T - 1
            if t > 0:
                st.has_state = handed[t - 1] or (st.has_state and not starts[t])
        if take:  # the FIFO's write is visible from the next cycle, as the pop above came first
            stages[self.step].queued += 1
        self.pace = self.P - 1 if take and self.step == 0 else max(self.pace - 1, 0)
        if take:
            self.step = (self.step + 1) % T
        if read and self.seq:
            self.rd = (self.rd + 1) % T
        return take, last


class _LinkModel:
    """:class:`~rnnrtl.hw.common.CreditLink`: beats ``stages`` cycles forward into a queue visible
    a cycle after its write, credits ``stages`` cycles back; ready while a credit is held (the
    count after the previous cycle's send and return)."""

    def __init__(self, hw: CreditLink):
        self.out = _Queue(hw.depth)
        self.credits = hw.depth
        self.forward = [None] * hw.stages    # last flags of beats on their way, newest first
        self.back = [False] * hw.stages      # credits on their way back, newest first

    def in_ready(self):
        return self.credits != 0

    def out_valid(self):
        return self.out.valid()

    def snapshot(self, cycle):
        return self.out.snapshot(), self.credits, tuple(self.forward), tuple(self.back)

    def tick(self, cycle, in_valid, in_last, out_ready):
        take = in_valid and self.in_ready()
        read = self.out.valid() and out_ready
        last = self.out.head() if read else None
        self.out.tick(issue=self.forward[-1] is not None, write=self.forward[-1], read=read)
        self.credits += int(self.back[-1]) - int(take)
        self.forward = [in_last if take else None] + self.forward[:-1]
        self.back = [read] + self.back[:-1]
        return take, last


def _model(hw):
    if isinstance(hw, CreditLink):
        return _LinkModel(hw)
    if isinstance(hw, DenseLayer):
        return _DenseModel(hw)
    return _UnrolledModel(hw) if isinstance(hw, UnrolledLayer) else _RecurrentModel(hw)


#: Most back-to-back sequences the model runs looking for its steady state.
_MAX_II_SEQUENCES = 100_000


def _pending(writes: dict, cycle: int):
    """Scheduled events, by cycles from now (for :meth:`snapshot`)."""
    return tuple(sorted((c - cycle, v) for c, v in writes.items() if c > cycle))


def _step(models, cycle, in_valid, in_last):
    """One cycle of the chained models, output always ready: ``(input taken, last flag of the
    output beat taken or None)``. Every decision reads the state at the cycle's start."""
    valid = [in_valid] + [m.out_valid() for m in models[:-1]]
    lasts = [in_last] + [m.out.head() if m.out_valid() else False for m in models[:-1]]
    ready = [m.in_ready() for m in models[1:]] + [True]
    ticks = [m.tick(cycle, valid[k], lasts[k], ready[k]) for k, m in enumerate(models)]
    return ticks[0][0], ticks[-1][1]


def _simulate(hw_layers, sequences: int, timesteps: int, out_beats: int, limit: int = 10_000_000):
    """Cycle of every input and output transfer, ``sequences`` back to back at full rate."""
    models = [_model(hw) for hw in hw_layers]
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
    models = [_model(hw) for hw in hw_layers]
    seen, starts, sent, cycle = {}, [], 0, 0
    while len(starts) <= limit:
        step = sent % timesteps
        take, _ = _step(models, cycle, True, step == timesteps - 1)
        if take:
            sent += 1
            if step == 0:
                starts.append(cycle)
                key = tuple(m.snapshot(cycle) for m in models)
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
                "layers": [vars(l) for l in self.layers]}


def _measure(hw_layers, timesteps, out_beats):
    """``(latency, ii, period, sequences)``; see :func:`_steady_state`."""
    in_t, out_t = _simulate(hw_layers, 1, timesteps, out_beats)
    return (out_t[-1] - in_t[0], *_steady_state(hw_layers, timesteps))


def steady_ii(starts, period: int = 1):
    """Cycles per sequence in steady state: the spacing of sequence starts averaged over the last
    whole period (interleaved slots start sequences in a pattern that repeats every ``period``)."""
    ii = Fraction(starts[-1] - starts[-1 - period], period)
    return int(ii) if ii.denominator == 1 else round(float(ii), 3)


def network_timing(network, hw_chain, *, timesteps: int | None = None) -> NetworkTiming:
    """Timing of a network (and of each layer alone) for sequences of ``timesteps`` steps;
    ``hw_chain``: the hardware layers and the credit links between them, in stream order
    (:attr:`rnnrtl.hw.network.NetworkCore.chain`)."""
    T = timesteps or network.timesteps
    if T is None:
        raise ValueError("the model has a variable sequence length; give timesteps")
    hw_layers = [hw for hw in hw_chain if not isinstance(hw, CreditLink)]
    layers, beats = [], T
    for ir_layer, hw in zip(network.layers, hw_layers):
        in_beats = beats
        if getattr(ir_layer, "return_sequences", True) is False:
            beats = 1
        lat, ii, _, _ = _measure([hw], in_beats, beats)
        per_step = hw.step_cycles if hasattr(hw, "step_cycles") else hw.ii
        layers.append(LayerTiming(ir_layer.name, ir_layer.kind, lat, ii, per_step, hw.multipliers))
        # A later layer sees beats per sequence; its own "timesteps" are those beats.
    latency, ii, period, sequences = _measure(hw_chain, T, beats)
    per_step = max(l.cycles_per_step for l in layers if l.kind != "dense") \
        if any(l.kind != "dense" for l in layers) else layers[0].cycles_per_step
    return NetworkTiming(latency=latency, ii=ii, cycles_per_step=per_step,
                         multipliers=sum(l.multipliers for l in layers), timesteps=T, layers=layers,
                         ii_period=period, ii_sequences=sequences)
