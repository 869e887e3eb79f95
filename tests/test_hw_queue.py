"""``Queue`` against Amaranth's ``SyncFIFO``: the same ports must behave identically, cycle by
cycle, under random writes and reads (``Queue`` only moves its ready flags into flip-flops)."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import fifo
from amaranth.sim import Simulator

from rnnrtl.hw.common import Queue


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_queue_matches_syncfifo(depth):
    m = Module()
    m.submodules.ours = ours = Queue(width=8, depth=depth)
    m.submodules.ref = ref = fifo.SyncFIFO(width=8, depth=depth)
    rng = random.Random(depth)
    mismatches = []
    seen = {"writes": 0, "reads": 0, "full": 0}

    async def testbench(ctx):
        for cycle in range(600):
            w_en, r_en, data = rng.random() < 0.55, rng.random() < 0.5, rng.randrange(256)
            for q in (ours, ref):
                ctx.set(q.w_en, w_en)
                ctx.set(q.r_en, r_en)
                ctx.set(q.w_data, data)
            got = [ctx.get(ours.w_rdy), ctx.get(ours.r_rdy), ctx.get(ours.level)]
            want = [ctx.get(ref.w_rdy), ctx.get(ref.r_rdy), ctx.get(ref.level)]
            if want[1]:
                got.append(ctx.get(ours.r_data))
                want.append(ctx.get(ref.r_data))
            if got != want:
                mismatches.append((cycle, got, want))
            seen["writes"] += w_en and want[0]
            seen["reads"] += r_en and want[1]
            seen["full"] += not want[0]
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, mismatches[:5]
    assert seen["writes"] > 100 and seen["reads"] > 100 and seen["full"] > 10, seen
