"""``UnrolledModel``: the beat-level timing model of the unrolled shell (:mod:`rnnrtl.hw.unrolled`).

It replays exactly the rules of :class:`~rnnrtl.hw.unrolled.UnrolledLayer` (its module docstring;
keep in sync, ``tests/test_timing.py`` compares them cycle by cycle): the router with pacing, each
stage's x queue, projection, job rule and output queue, and the round-robin reader. Every delay
is read from the layer's own properties. :mod:`rnnrtl.hw.timing` chains models like this one.
"""

from __future__ import annotations

from .common import OutputQueueModel, pending

__all__ = ["UnrolledModel"]


class _StageState:
    """The registers of one stage of :class:`UnrolledModel`."""

    def __init__(self, stage):
        self.first, self.depth = stage.first, stage.x_depth
        self.queued = 0            # beats in the x queue (its level)
        self.held = False          # a projection in flight or its result unused
        self.ax_ready = False
        self.done_at = None        # cycle of the projection's done pulse
        self.busy = 0
        self.has_state = False     # an unused state from the previous stage (stage 0: zero state)
        self.out = OutputQueueModel(stage.out_depth) if stage.emits else None
        self.writes = {}           # cycle of a job's h write -> the beat's last flag

    def snapshot(self, cycle):
        done = self.done_at - cycle if self.done_at is not None and self.done_at > cycle else None
        return (self.queued, self.held, self.ax_ready, done, self.busy, self.has_state,
                self.out and self.out.snapshot(), pending(self.writes, cycle))


class UnrolledModel:
    """The model of one :class:`~rnnrtl.hw.unrolled.UnrolledLayer` ``hw`` (the timing model
    protocol: ``in_ready``, ``out_valid``, ``out``, ``snapshot``, ``tick``)."""

    def __init__(self, hw):
        self.T, self.P, self.D = hw.timesteps, hw.ii, hw.step_cycles
        self.lx = hw.stages[0].projection.latency
        self.seq = hw.layer.return_sequences
        self.stages = [_StageState(stage) for stage in hw.stages]
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
