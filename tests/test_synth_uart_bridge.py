"""rnnrtl.synth.uart_bridge: the bridge simulated over its serial lines with Amaranth's simulator,
with a toy core and with a real rnnrtl core."""

import re

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from rnnrtl.synth.uart import uart_read, uart_write
from rnnrtl.synth.uart_bridge import UARTBridge
from rnnrtl.synth.uart_wire import STATUS_LAST, STATUS_MARK, BeatCodec
from synth_helpers import TOY_MANIFEST, manifest, write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


class ToyCore(wiring.Component):
    """3-byte beats in, 2-byte beats out: ``out = in[0:16] + in[16:24]``, ``tlast`` passed on;
    accepts a beat only every 5 cycles (so the bridge must wait for it)."""
    s_axis_tdata: In(24)
    s_axis_tvalid: In(1)
    s_axis_tready: Out(1)
    s_axis_tlast: In(1)
    m_axis_tdata: Out(16)
    m_axis_tvalid: Out(1)
    m_axis_tready: In(1)
    m_axis_tlast: Out(1)

    def elaborate(self, platform):
        m = Module()
        cool = Signal(range(5))
        with m.If(cool != 0):
            m.d.sync += cool.eq(cool - 1)
        with m.If(self.m_axis_tvalid & self.m_axis_tready):
            m.d.sync += self.m_axis_tvalid.eq(0)
        m.d.comb += self.s_axis_tready.eq(~self.m_axis_tvalid & (cool == 0))
        with m.If(self.s_axis_tvalid & self.s_axis_tready):
            m.d.sync += [self.m_axis_tdata.eq(self.s_axis_tdata[:16] + self.s_axis_tdata[16:]),
                         self.m_axis_tlast.eq(self.s_axis_tlast), self.m_axis_tvalid.eq(1),
                         cool.eq(4)]
        return m


def _simulate(dut, send, nreply, divisor, *, max_cycles=50_000):
    """Run ``send`` against ``dut`` until ``nreply`` bytes came back on ``tx`` (or time is up)."""
    got = {}
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def tx(ctx):
        await ctx.tick().repeat(3)
        await send(ctx)

    async def rx(ctx):
        got["bytes"] = await uart_read(ctx, dut.tx, nreply, divisor=divisor)

    sim.add_testbench(tx, background=True)
    sim.add_testbench(rx)
    steps = 0
    while steps < 2 * max_cycles and sim.advance():   # two time steps per clock cycle
        steps += 1
    assert "bytes" in got, "the bridge did not send every expected byte"
    return got["bytes"]


def _toy_reply(beats):
    out = b""
    for k, (a, b) in enumerate(beats):
        out += bytes([STATUS_MARK | (STATUS_LAST if k == len(beats) - 1 else 0)])
        out += ((a & 0xFFFF) + b & 0xFFFF).to_bytes(2, "little")
    return out


def test_bridge_toy_core():
    """Two frames (with a zero-count header between them, ignored), bytes spaced at random."""
    divisor = 4
    codec = BeatCodec(TOY_MANIFEST)
    seqs = [[[-2, 200], [258, 1], [0, 255]], [[32767, 255]]]
    data = codec.encode_sequence(seqs[0]) + b"\x00\x00" + codec.encode_sequence(seqs[1])
    expected = _toy_reply(seqs[0]) + _toy_reply(seqs[1])
    dut = UARTBridge(ToyCore(), divisor=divisor, timeout=10_000)
    gaps = np.random.default_rng(1).integers(0, 4, len(data))

    async def send(ctx):
        await uart_write(ctx, dut.rx, data, divisor=divisor, gaps=gaps)

    assert _simulate(dut, send, len(expected), divisor) == expected


def test_bridge_timeout_resets():
    """A frame cut short is dropped after the timeout; the next frame is answered normally."""
    divisor = 4
    codec = BeatCodec(TOY_MANIFEST)
    seq = [[1, 2], [3, 4]]
    dut = UARTBridge(ToyCore(), divisor=divisor, timeout=300)
    partial = codec.encode_sequence([[9, 9], [9, 9]])[:6]   # header, one beat and a byte

    async def send(ctx):
        await uart_write(ctx, dut.rx, partial, divisor=divisor)
        await ctx.tick().repeat(400)
        assert ctx.get(dut.aborts) == 1
        await uart_write(ctx, dut.rx, codec.encode_sequence(seq), divisor=divisor)

    # The half frame's first beat reached the core (whose result goes out, tlast low) before
    # the timeout reset it; then the full frame's two beats.
    expected = bytes([STATUS_MARK, 18, 0]) + _toy_reply(seq)
    assert _simulate(dut, send, len(expected), divisor) == expected


@pytest.mark.parametrize("timeout", [1, 2, 3, 7])
def test_deframer_aborts_in_the_timeout_th_idle_cycle(timeout):
    """Mid-frame, ``abort`` pulses in the ``timeout``-th cycle in a row without a byte after the
    last byte taken, and nowhere before (gaps shorter than the timeout between bytes)."""
    from rnnrtl.synth.uart_bridge import BeatDeframer
    from rnnrtl.synth.uart_wire import HEADER_BYTES
    dut = BeatDeframer(in_bytes=2, timeout=timeout)
    # the header (a count of 0x0303.. beats), then three data bytes: the frame stays incomplete,
    # and the last byte leaves half a beat (no beat state after it)
    gaps = np.random.default_rng(timeout).integers(0, timeout, HEADER_BYTES + 3)
    aborts, taken = [], []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0

        async def tick():
            nonlocal cycle
            if ctx.get(dut.abort):
                aborts.append(cycle)
            await ctx.tick()
            cycle += 1

        for gap in gaps:
            for _ in range(gap):
                await tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, 3)
            while not ctx.get(dut.i.ready):
                await tick()
            taken.append(cycle)
            await tick()
            ctx.set(dut.i.valid, 0)
        for _ in range(timeout + 5):
            await tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(taken) == HEADER_BYTES + 3
    assert aborts == [taken[-1] + timeout]


def test_bridge_tiny_core(tiny):
    """A real core (the tiny SimpleRNN) over the serial lines: replies equal the emulator's."""
    design, core = tiny
    divisor = 4
    vectors = np.load(core / "vectors.npz")
    codec = BeatCodec(manifest(core))
    count = 3
    data = b"".join(codec.encode_sequence(x) for x in vectors["x_codes"][:count])
    dut = UARTBridge(design.hardware(), divisor=divisor, timeout=100_000)

    async def send(ctx):
        await uart_write(ctx, dut.rx, data, divisor=divisor)

    raw = _simulate(dut, send, count * codec.reply_bytes, divisor, max_cycles=20_000)
    codes, lasts = codec.decode_reply(raw)
    assert np.array_equal(np.reshape(codes, vectors["y_codes"][:count].shape),
                          vectors["y_codes"][:count])
    assert lasts == [True] * count



def _cells(text):
    """``[(type, name, {port: first wire})]`` of the cells of an RTLIL text's modules."""
    return [(m.group(1), m.group(2), dict(re.findall(r"connect \\(\S+) (\S+)", m.group(3))))
            for m in re.finditer(r"  cell (\S+) (\S+)\n((?:    .*\n)*)  end", text)]


def test_core_reset_on_the_global_network_of_an_ecp5():
    """On an ECP5 board the core's reset register drives a DCCA buffer (nextpnr routes its output
    on a global), and the buffer's output is the reset of the core; without a platform there is no
    buffer."""
    from amaranth.back import rtlil

    from rnnrtl.platforms import ULX3S85FPlatform
    cells = _cells(rtlil.convert(UARTBridge(ToyCore(), divisor=4, timeout=100),
                                 platform=ULX3S85FPlatform()))
    [(kind, ports)] = [(k, p) for k, name, p in cells if name == "\\core_rst_global_buffer"]
    assert kind == "\\DCCA" and ports["CE"] == "1'1"
    [core] = [p for k, name, p in cells if name == "\\core"]
    assert core["core_rst"] == ports["CLKO"]
    assert any(k == "$dff" and p["Q"] == ports["CLKI"] for k, _, p in cells)  # from a register
    plain = _cells(rtlil.convert(UARTBridge(ToyCore(), divisor=4, timeout=100)))
    assert not any(kind == "\\DCCA" for kind, _, _ in plain)
