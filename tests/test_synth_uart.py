# amaranth: UnusedElaboratable=no
# (the refused divisor leaves a receiver that is never elaborated)
"""rnnrtl.synth.uart: the bit-time divisor, and the transmitter and receiver back to back over a
simulated line."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from rnnrtl.synth.uart import UARTReceiver, UARTTransmitter, uart_divisor


def test_uart_divisor():
    assert uart_divisor(25e6, 115200) == 217
    with pytest.raises(ValueError, match="too fast"):
        uart_divisor(1e6, 1_000_000)
    with pytest.raises(ValueError, match="off by"):
        uart_divisor(1000, 220)        # 5 cycles per bit: 200 baud
    with pytest.raises(ValueError, match="divisor must be an integer >= 4"):
        UARTReceiver(divisor=3)


def test_transmitter_to_receiver():
    """Bytes from the transmitter's stream arrive on the receiver's, in order (``uart_write`` and
    ``uart_read`` drive and read a line in the bridge's tests)."""
    divisor = 4
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=divisor)
    m.submodules.rx = rx = UARTReceiver(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [0x00, 0xA5, 0xFF, 0x3C]
    got = []
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def send(ctx):
        for byte in data:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            await ctx.tick()

    async def receive(ctx):
        ctx.set(rx.o.ready, 1)
        while len(got) < len(data):
            await ctx.tick().until(rx.o.valid)
            got.append(ctx.get(rx.o.payload))
        assert not ctx.get(rx.overrun) and not ctx.get(rx.framing_error)

    sim.add_testbench(send, background=True)
    sim.add_testbench(receive)
    sim.run_until(1e-6 * 20 * divisor * 12 * len(data))
    assert got == data

