"""The stream pieces: a :class:`Driver` for the core's input, a :class:`Monitor` on its output.

Both follow AXI4-Stream rules with random stalls (idle input cycles, output backpressure) and the
cycle discipline of :mod:`testbench`: inputs change just after a falling edge, the handshake is
sampled in ``ReadOnly`` of the same half cycle. Imports cocotb only.
"""

from __future__ import annotations

import random

from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from .core import Beat, Core, at_falling_edge, cycle_now

__all__ = ["Driver", "Monitor"]


class Driver:
    """Offers beats on the input stream, with a random idle cycle before a beat with probability
    ``idle``; holds ``tvalid`` and the beat until ``tready`` (AXI4-Stream rules).

    While ``tready`` is low the driver sleeps until it rises instead of polling every cycle, then
    samples the handshake after the next falling edge like every other cycle."""

    def __init__(self, core: Core, *, idle: float, rng: random.Random):
        self.core, self.idle, self.rng = core, idle, rng
        self.port = core.s_axis
        self.codec = core.in_codec
        self.transfers = 0

    def quiet(self):
        self.port["valid"].value = 0
        self.port["last"].value = 0

    async def send(self, beats: list[Beat]) -> list[int]:
        """Send ``beats`` in order, starting at the next falling edge; returns the cycle of each
        transfer. Returns after the falling edge that follows the last transfer, ``tvalid`` low."""
        port, idle, rng = self.port, self.idle, self.rng
        falling, read_only = FallingEdge(self.core.clk), ReadOnly()
        ready_rises = RisingEdge(port["ready"])
        valid, data, last, ready = port["valid"], port["data"], port["last"], port["ready"]
        cycles = []
        await falling
        for beat in beats:
            while idle and rng.random() < idle:
                valid.value = 0
                await falling
            data.value = self.codec.pack(beat.codes)
            last.value = int(beat.last)
            valid.value = 1
            await read_only
            while not ready.value:
                await ready_rises
                if not at_falling_edge():
                    await falling
                await read_only
            cycles.append(cycle_now())
            self.transfers += 1
            await falling
        self.quiet()
        return cycles


class Monitor:
    """Takes beats from the output stream, refusing with probability ``backpressure`` in a cycle,
    and hands each ``(codes, last, cycle)`` to ``sink``. Runs until cancelled.

    While ``tvalid`` is low the monitor sleeps until it rises; ``tready`` is drawn afresh in every
    cycle in which a beat is offered (and held high throughout when ``backpressure`` is 0)."""

    def __init__(self, core: Core, sink, *, backpressure: float, rng: random.Random):
        self.core, self.sink, self.backpressure, self.rng = core, sink, backpressure, rng
        self.port = core.m_axis
        self.codec = core.out_codec

    async def run(self):
        port, bp, rng = self.port, self.backpressure, self.rng
        falling, read_only = FallingEdge(self.core.clk), ReadOnly()
        valid, data, last, ready_port = port["valid"], port["data"], port["last"], port["ready"]
        valid_rises = RisingEdge(valid)
        ready = True
        ready_port.value = 1
        await falling
        while True:  # here: in the time step of a falling edge, before ReadOnly
            if bp:
                ready = rng.random() >= bp
                ready_port.value = int(ready)
            await read_only
            if not valid.value:
                await valid_rises
                if not at_falling_edge():
                    await falling
                continue
            if ready:
                self.sink(self.codec.unpack(data.value.to_unsigned()), bool(last.value), cycle_now())
            await falling
