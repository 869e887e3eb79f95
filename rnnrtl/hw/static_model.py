"""``StaticModel``: the beat-level timing model of the static shell (:mod:`rnnrtl.hw.static`).

It replays exactly the rules of :class:`~rnnrtl.hw.static.StaticLayer` (keep in sync; the
simulation tests in ``tests/test_timing.py`` compare them cycle by cycle): which cycle a beat is
accepted into its slot's queue, when a job starts (round-robin among ready slots, ``D`` cycles per
slot, ``job_spacing`` between any two, a credit of the output queue for an emitting job, results in
order), and when its beat reaches the output queue. Every delay is read from the shell's own
properties. :mod:`rnnrtl.hw.timing` chains models like this one.
"""

from __future__ import annotations

from collections import deque

from .common import OutputQueueModel, pending

__all__ = ["StaticModel"]


class StaticModel:
    """The model of one :class:`~rnnrtl.hw.static.StaticLayer` ``hw`` (the timing model
    protocol: ``in_ready``, ``out_valid``, ``out``, ``snapshot``, ``tick``)."""

    def __init__(self, hw):
        self.K, self.D, self.J = hw.slots, hw.step_cycles, hw.job_spacing
        self.lx, self.seq = hw.projection.latency, hw.layer.return_sequences
        self.queues = [deque() for _ in range(self.K)]   # x beats (their last flags), per slot
        self.x_depth = hw.x_depth
        self.out = OutputQueueModel(hw.queue_depth, hw.release_stages)
        self.in_slot, self.rr, self.next_out, self.gap = 0, 0, 0, 0
        self.busy = [0] * self.K
        self.writes = {}  # cycle -> (last, emits): the state write of a job

    def in_ready(self):
        return len(self.queues[self.in_slot]) < self.x_depth

    def snapshot(self, cycle):
        return (tuple(tuple(q) for q in self.queues), self.in_slot, self.rr, self.next_out,
                self.gap, tuple(self.busy), self.out.snapshot(), pending(self.writes, cycle))

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
