"""A board top: an rnnrtl core behind the board's USB UART (see :mod:`rnnrtl.synth.uart_wire` for
the wire format and ``scripts/host_infer.py`` for the PC side).

LEDs, when the board has them: 0 blinks (the clock runs), 1 lights while a beat is in flight,
2 on a receive overrun (bytes lost: send fewer sequences at once), 3 on a UART framing error
(wrong baud rate). Both errors stay lit until reset.
"""

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io

from rnnrtl.synth.uart import uart_divisor
from rnnrtl.synth.uart_bridge import UARTBridge

__all__ = ["UARTBoardTop"]

#: A frame left incomplete this long is dropped and the core reset (seconds).
FRAME_TIMEOUT_S = 0.25


class UARTBoardTop(Elaboratable):
    """``core`` (AXI4-Stream ports) on the platform's ``uart`` 0 at ``baud``, in the ``sync``
    domain: clocked and reset by ``clock`` (an elaboratable driving ``sync``'s clock and reset,
    with its ``frequency`` in Hz, e.g. :class:`rnnrtl.synth.ecp5_pll.ECP5PLL`), or by the
    platform's default clock when ``clock`` is ``None``. The baud divisor, the frame timeout and
    the blink count are of that clock."""

    def __init__(self, core, *, baud: int = 115200, clock=None):
        self.core = core
        self.baud = baud
        self.clock = clock

    def elaborate(self, platform):
        m = Module()
        if self.clock is None:
            clk = platform.default_clk_frequency
        else:
            m.domains.sync = ClockDomain("sync")
            m.submodules.clock = self.clock
            clk = self.clock.frequency
        m.submodules.bridge = bridge = UARTBridge(
            self.core, divisor=uart_divisor(clk, self.baud), timeout=int(clk * FRAME_TIMEOUT_S))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [bridge.rx.eq(rx.i), tx.o.eq(bridge.tx)]

        blink = Signal(range(int(clk // 2) + 1))
        led0 = Signal()
        m.d.sync += blink.eq(blink + 1)
        with m.If(blink == int(clk // 2)):
            m.d.sync += [blink.eq(0), led0.eq(~led0)]
        for index, value in enumerate((led0, bridge.busy, bridge.overrun, bridge.framing_error)):
            try:
                led = platform.request("led", index, dir="-")
            except ResourceError:
                break
            m.submodules[f"led_{index}"] = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(value)
        return m
