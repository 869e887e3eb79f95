"""The UART bridge: a core with AXI4-Stream ports behind a serial line, so a board can run
inferences sent from a PC.

Contract: the bytes on the line follow :mod:`rnnrtl.synth.uart_wire` (frames in, a status byte
and the data bytes per output beat out); :class:`BeatDeframer` and :class:`BeatFramer` are its
board half, :class:`~rnnrtl.synth.uart_wire.BeatCodec` its host half. Bytes come and go through
:mod:`rnnrtl.synth.uart`'s receiver and transmitter.
"""

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal,
                          Signal)
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hw.common import RegisterSlice
from .global_net import global_net
from .uart import UARTReceiver, UARTTransmitter, check_positive
from .uart_wire import HEADER_BYTES, STATUS_MARK

#: Register slices on each of the core's streams in a :class:`UARTBridge` (its docstring).
BRIDGE_SLICES = 2

__all__ = ["beat_stream", "BeatDeframer", "BeatFramer", "UARTBridge"]


def beat_stream(width: int) -> stream.Signature:
    """A stream of ``{data: width bits, last: 1 bit}`` beats."""
    return stream.Signature(data.StructLayout({"data": width, "last": 1}))


class BeatDeframer(wiring.Component):
    """Frames of bytes (:mod:`rnnrtl.synth.uart_wire`) to beats of ``in_bytes`` bytes with ``last``.

    ``abort`` pulses for one cycle when a frame is dropped after ``timeout`` idle cycles.
    """

    def __init__(self, *, in_bytes: int, timeout: int):
        self.in_bytes = check_positive(in_bytes, "in_bytes")
        self.timeout = check_positive(timeout, "timeout")
        super().__init__({
            "i": In(stream.Signature(8)),
            "o": Out(beat_stream(8 * in_bytes)),
            "abort": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.in_bytes
        count = Signal(8 * HEADER_BYTES)     # beats left in the frame, this one included
        index = Signal(range(max(n, HEADER_BYTES)))
        buf = Signal(8 * n)
        idle = Signal(range(self.timeout + 1))
        take = self.i.valid & self.i.ready

        # Waiting mid-frame for a byte that does not come: count, and give up after `timeout`:
        # in the timeout-th cycle in a row without a byte. The count's comparison is made a
        # cycle ahead into a register (``at_limit``: the count is timeout - 1), so that only a
        # LUT lies between it and the state machine (the wide comparison in front of the state
        # register was 7 LUT levels, the ULX3S build's critical path at seed 2).
        waiting = Signal()
        timed_out = Signal()
        counting = waiting & ~self.i.valid
        if self.timeout == 1:
            m.d.comb += timed_out.eq(counting)
        else:
            at_limit = Signal()
            m.d.comb += timed_out.eq(counting & at_limit)
            m.d.sync += at_limit.eq(counting & ~timed_out & (idle == self.timeout - 2))
        with m.If(counting):
            m.d.sync += idle.eq(idle + 1)
        with m.Else():
            m.d.sync += idle.eq(0)
        with m.If(timed_out):
            m.d.comb += self.abort.eq(1)
            m.d.sync += [idle.eq(0), index.eq(0), count.eq(0)]

        with m.FSM():
            with m.State("HEADER"):
                m.d.comb += [self.i.ready.eq(1), waiting.eq(index != 0)]
                with m.If(take):
                    m.d.sync += [count.eq((self.i.payload << 8) | (count >> 8)), index.eq(index + 1)]
                    with m.If(index == HEADER_BYTES - 1):
                        m.d.sync += index.eq(0)
                        m.next = "CHECK"
            with m.State("CHECK"):            # a count of 0 is no frame
                with m.If(count == 0):
                    m.next = "HEADER"
                with m.Else():
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [self.i.ready.eq(1), waiting.eq(1)]
                with m.If(take):
                    m.d.sync += [buf.eq((self.i.payload << (8 * (n - 1))) | (buf >> 8)),
                                 index.eq(index + 1)]
                    with m.If(index == n - 1):
                        m.d.sync += index.eq(0)
                        m.next = "BEAT"
                with m.If(timed_out):
                    m.next = "HEADER"
            with m.State("BEAT"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(buf),
                             self.o.payload.last.eq(count == 1)]
                with m.If(self.o.ready):
                    m.d.sync += count.eq(count - 1)
                    m.next = "DATA"
                    with m.If(count == 1):
                        m.next = "HEADER"
        return m


class BeatFramer(wiring.Component):
    """Beats of ``out_bytes`` bytes with ``last`` to bytes: a status byte, then the data bytes."""

    def __init__(self, *, out_bytes: int):
        self.out_bytes = check_positive(out_bytes, "out_bytes")
        super().__init__({
            "i": In(beat_stream(8 * out_bytes)),
            "o": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.out_bytes
        buf = Signal(8 * n)
        index = Signal(range(n))
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += buf.eq(self.i.payload.data)
                    m.d.sync += [self.o.payload.eq(STATUS_MARK | self.i.payload.last),
                                 self.o.valid.eq(1), index.eq(0)]
                    m.next = "STATUS"
            with m.State("STATUS"):
                with m.If(self.o.ready):
                    m.d.sync += [self.o.payload.eq(buf[:8]), buf.eq(buf >> 8)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(self.o.ready):
                    with m.If(index == n - 1):     # the last data byte has just been sent
                        m.d.sync += self.o.valid.eq(0)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(buf[:8]), buf.eq(buf >> 8),
                                     index.eq(index + 1)]
        return m


class UARTBridge(wiring.Component):
    """A core with AXI4-Stream ports (``s_axis_tdata/tvalid/tready/tlast``, ``m_axis_*``) behind
    a UART: bytes on ``rx`` in, results on ``tx`` out (wire format: :mod:`rnnrtl.synth.uart_wire`).

    ``core`` is any component with those flat ports in the ``sync`` domain, e.g.
    :class:`rnnrtl.hw.network.AXIStreamTop` or a black box of its Verilog; its ``tdata`` widths must
    be whole bytes. The core runs in a local domain whose reset is ``sync``'s or a frame timeout,
    through three registers (three cycles later, and three cycles longer than ``sync``'s), on the
    global network where the platform has one for fabric signals (:func:`global_net`).
    :data:`BRIDGE_SLICES` chained :class:`~rnnrtl.hw.common.RegisterSlice` instances in that
    domain sit on each of the core's streams (reset with the core, so a frame dropped by a
    timeout leaves no beat behind): the bridge's handshake logic reaches the core only through
    flip-flops, in as many register-to-register hops (a cycle more each, each way).
    """

    def __init__(self, core, *, divisor: int, timeout: int, rx_depth: int = 32):
        widths = {}
        for port in ("s_axis_tdata", "m_axis_tdata"):
            try:
                widths[port] = len(getattr(core, port))
            except AttributeError:
                raise TypeError(f"core {core!r} has no {port} port; expected AXI4-Stream ports "
                                f"as rnnrtl.hw.network.AXIStreamTop has") from None
            if widths[port] % 8:
                raise ValueError(f"core port {port} is {widths[port]} bits wide, not whole bytes")
        self.core = core
        self.divisor = check_positive(divisor, "divisor", 4)
        self.timeout = check_positive(timeout, "timeout")
        self.rx_depth = check_positive(rx_depth, "rx_depth")
        self.in_bytes = widths["s_axis_tdata"] // 8
        self.out_bytes = widths["m_axis_tdata"] // 8
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "overrun": Out(1),
            "framing_error": Out(1),
            "aborts": Out(8),        # frames dropped after a timeout (wraps)
            "busy": Out(1),          # a beat is somewhere between rx and tx
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTReceiver(divisor=self.divisor)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=self.rx_depth)
        m.submodules.deframer = deframer = BeatDeframer(in_bytes=self.in_bytes, timeout=self.timeout)
        m.submodules.framer = framer = BeatFramer(out_bytes=self.out_bytes)
        m.submodules.tx = tx = UARTTransmitter(divisor=self.divisor)

        # The core's reset from registers: a frame timeout (a comparison of the idle count) or
        # sync's reset would otherwise reach every register of the core through logic in the
        # same cycle, the longest path of the board at 150 MHz. Three registers, so that the
        # timeout's logic ends at a register of its own by the deframer and the reset crosses
        # the device in two register-to-register hops to the global buffer (the logic to one
        # register beside the buffer was a 62-column route, the ULX3S build's critical path at
        # seed 3; to a second register, with router2, 7.4 ns of routing at seed 2). It is high
        # while sync is in reset and three cycles after, and the third cycle after an abort.
        abort_early = Signal(init=1)
        abort_late = Signal(init=1)
        core_rst = Signal(init=1)
        m.d.sync += [abort_early.eq(deframer.abort), abort_late.eq(abort_early),
                     core_rst.eq(abort_late)]
        m.domains.core = core_domain = ClockDomain("core", local=True)
        m.d.comb += [core_domain.clk.eq(ClockSignal("sync")),
                     core_domain.rst.eq(global_net(m, core_rst, platform, "core_rst_global"))]
        m.submodules.core = DomainRenamer("core")(self.core)
        c = self.core
        # The deframer's valid is a decode of its state and its beat leaves on the core's ready:
        # without a slice, the state register -> the LSTM input queue's storage was the ULX3S
        # build's critical route (6.3 ns of routing: 136.9 MHz against its 150 MHz clock); with
        # one, the state -> the slice's skid register (8.7 ns of routing, router2, seed 3). So
        # BRIDGE_SLICES slices each way: the bridge by the UART's pins and the core spread over
        # the device are that many register-to-register hops apart.
        into_slices, out_slices = ([RegisterSlice(beat_stream(8 * n).members["payload"].shape)
                                    for _ in range(BRIDGE_SLICES)]
                                   for n in (self.in_bytes, self.out_bytes))
        for k in range(BRIDGE_SLICES):
            m.submodules[f"into_core{k}"] = DomainRenamer("core")(into_slices[k])
            m.submodules[f"out_of_core{k}"] = DomainRenamer("core")(out_slices[k])
        for chain in (into_slices, out_slices):
            for a, b in zip(chain, chain[1:]):
                wiring.connect(m, a.o, b.i)
        wiring.connect(m, deframer.o, into_slices[0].i)
        wiring.connect(m, out_slices[-1].o, framer.i)
        into, out_of = into_slices[-1], out_slices[0]     # the slices by the core

        overrun = Signal()
        with m.If(rx.o.valid & ~rx_fifo.w_rdy):
            m.d.sync += overrun.eq(1)
        with m.If(deframer.abort):
            m.d.sync += self.aborts.eq(self.aborts + 1)
        m.d.comb += [
            rx.rx.eq(self.rx),
            rx_fifo.w_data.eq(rx.o.payload),
            rx_fifo.w_en.eq(rx.o.valid),
            rx.o.ready.eq(1),                   # a full FIFO drops the byte (overrun)
            deframer.i.payload.eq(rx_fifo.r_data),
            deframer.i.valid.eq(rx_fifo.r_rdy),
            rx_fifo.r_en.eq(deframer.i.ready),
            c.s_axis_tdata.eq(into.o.payload.data),
            c.s_axis_tlast.eq(into.o.payload.last),
            c.s_axis_tvalid.eq(into.o.valid),
            into.o.ready.eq(c.s_axis_tready),
            out_of.i.payload.data.eq(c.m_axis_tdata),
            out_of.i.payload.last.eq(c.m_axis_tlast),
            out_of.i.valid.eq(c.m_axis_tvalid),
            c.m_axis_tready.eq(out_of.i.ready),
            tx.i.payload.eq(framer.o.payload),
            tx.i.valid.eq(framer.o.valid),
            framer.o.ready.eq(tx.i.ready),
            self.tx.eq(tx.tx),
            self.overrun.eq(overrun | rx.overrun),
            self.framing_error.eq(rx.framing_error),
            self.busy.eq(rx_fifo.r_rdy | deframer.o.valid | c.m_axis_tvalid | framer.o.valid
                         | Cat(sl.o.valid for sl in into_slices + out_slices).any()),
        ]
        return m
