"""An 8N1 UART: receiver and transmitter components, the bit-time divisor, and simulation
helpers that drive and read a serial line bit by bit.

Contract: ``divisor`` is clock cycles per bit (at least 4); :func:`uart_divisor` refuses a baud
rate the clock cannot make within 2 %. Framing of beats on top of bytes is
:mod:`rnnrtl.synth.uart_bridge`'s; the bytes' meaning is :mod:`rnnrtl.synth.uart_wire`'s.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["uart_divisor", "check_positive", "UARTReceiver", "UARTTransmitter", "uart_write",
           "uart_read"]


def uart_divisor(clk_freq: float, baud: int, *, tolerance: float = 0.02) -> int:
    """Clock cycles per UART bit; refuses a rate the clock cannot make within ``tolerance``."""
    if baud <= 0 or clk_freq <= 0:
        raise ValueError(f"clock {clk_freq!r} Hz and baud rate {baud!r} must be positive")
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"baud rate {baud} is too fast for a {clk_freq / 1e6:g} MHz clock "
                         f"(needs at least 4 clock cycles per bit)")
    error = abs(clk_freq / divisor - baud) / baud
    if error > tolerance:
        raise ValueError(f"baud rate {baud} from a {clk_freq / 1e6:g} MHz clock is off by "
                         f"{error:.1%} (divisor {divisor}); choose a rate within {tolerance:.0%}")
    return divisor


def check_positive(value, what, minimum=1):
    """``value`` if it is an integer (not a bool) of at least ``minimum``, else ``ValueError``
    naming ``what``: the check of every count and divisor of the UART components."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


class UARTReceiver(wiring.Component):
    """8N1 receiver: the ``rx`` line (idle high) to a stream of bytes on ``o``.

    ``divisor`` is clock cycles per bit. ``rx`` is synchronised (2 flip-flops) and sampled in the
    middle of each bit. A received byte stays on ``o`` until taken; a byte completed while the
    previous one still waits is dropped and sets ``overrun``; a low stop bit drops the byte and
    sets ``framing_error`` (both sticky until reset).
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    overrun: Out(1)
    framing_error: Out(1)

    def __init__(self, *, divisor: int):
        self.divisor = check_positive(divisor, "divisor", 4)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor))
        bits = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):  # the middle of the start bit: still low, or a glitch
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    with m.If(rx):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), shreg.eq(Cat(shreg[1:], rx)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):  # wait for the line to go idle before looking for a start bit
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """8N1 transmitter: bytes from stream ``i`` out on the ``tx`` line (idle high)."""

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, *, divisor: int):
        self.divisor = check_positive(divisor, "divisor", 4)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)      # stop bit, 8 data bits, start bit (sent first)
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq((1 << 9) | (self.i.payload << 1)), bits.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [shreg.eq((1 << 9) | (shreg >> 1)), bits.eq(bits - 1),
                             timer.eq(self.divisor - 1)]
        return m


# -- simulation helpers (Amaranth testbenches) -----------------------------------------------------

async def uart_write(ctx, line, data: bytes, *, divisor: int, gaps=None):
    """Drive ``data`` onto ``line`` as 8N1 characters of ``divisor`` cycles per bit; ``gaps``
    (an iterable of idle bit times before each byte, or ``None``) spaces the bytes out."""
    gaps = iter(gaps) if gaps is not None else None
    for byte in data:
        idle = next(gaps, 0) if gaps is not None else 0
        for bit in [1] * idle + [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
            ctx.set(line, bit)
            await ctx.tick().repeat(divisor)


async def uart_read(ctx, line, count: int, *, divisor: int) -> bytes:
    """Receive ``count`` 8N1 characters from ``line`` (sampled mid-bit); checks each stop bit."""
    out = bytearray()
    while len(out) < count:
        await ctx.tick().until(line == 0)
        await ctx.tick().repeat(divisor // 2)
        if ctx.get(line) != 0:
            continue                    # a glitch, not a start bit
        value = 0
        for k in range(8):
            await ctx.tick().repeat(divisor)
            value |= ctx.get(line) << k
        await ctx.tick().repeat(divisor)
        if ctx.get(line) != 1:
            raise AssertionError(f"character {len(out)} ({value:#04x}) has a low stop bit")
        out.append(value)
    return bytes(out)
