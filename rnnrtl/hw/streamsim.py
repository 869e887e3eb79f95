"""Stream helpers for Amaranth simulation testbenches, shared by every hardware test.

Both helpers count clock cycles from the moment they are called, one per ``tick``, so a sender and
a receiver started together in one simulation number cycles alike; the cycle of each transfer is
returned so tests can check latency and initiation interval against a component's properties.
"""

from __future__ import annotations

import numpy as np

__all__ = ["send_beats", "recv_beats"]


async def send_beats(ctx, port, beats, *, rng=None, idle: float = 0.0):
    """Drive ``beats`` (``(lanes, last)`` pairs) into stream ``port``; random idle cycles with
    probability ``idle``. Returns the cycle of each transfer."""
    rng = rng or np.random.default_rng(0)
    times, cycle, index = [], 0, 0
    while index < len(beats):
        lanes, last = beats[index]
        offer = not (idle and rng.random() < idle)
        ctx.set(port.valid, int(offer))
        if offer:
            ctx.set(port.payload, {"data": [int(v) for v in lanes], "last": int(last)})
        _, _, ready = await ctx.tick().sample(port.ready)
        if offer and ready:
            times.append(cycle)
            index += 1
        cycle += 1
    ctx.set(port.valid, 0)
    return times


async def recv_beats(ctx, port, count: int, *, rng=None, stall: float = 0.0, lanes: int,
                     timeout: int = 100_000):
    """Take ``count`` beats from stream ``port``, refusing with probability ``stall`` each cycle.
    Returns ``(beats, times)``: ``(lanes list, last)`` pairs and the cycle of each transfer."""
    rng = rng or np.random.default_rng(1)
    beats, times, cycle = [], [], 0
    while len(beats) < count:
        take = not (stall and rng.random() < stall)
        ctx.set(port.ready, int(take))
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if take and valid:
            beats.append(([int(payload.data[i]) for i in range(lanes)], int(payload.last)))
            times.append(cycle)
        cycle += 1
        if cycle > timeout:
            raise TimeoutError(f"only {len(beats)} of {count} beats after {timeout} cycles")
    ctx.set(port.ready, 0)
    return beats, times
