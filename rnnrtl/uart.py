"""A UART link to a core's AXI4-Stream ports, so a board can run inferences sent from a PC.

Wire format (both halves live here, side by side: :class:`BeatDeframer` / :class:`BeatFramer` in
hardware, :class:`BeatCodec` on the host; keep them in sync):

* UART: 8 data bits, no parity, 1 stop bit, least significant bit first (8N1).
* Host -> board, one *frame* per sequence: the number of beats ``N`` as 2 bytes little-endian
  (``1 .. 65535``; a count of 0 is ignored), then ``N`` beats of ``in_bytes = s_axis_tdata width / 8``
  bytes each, every beat's ``tdata`` little-endian (byte 0 is ``tdata[7:0]``). ``tlast`` is high on
  the ``N``-th beat, so the frame is exactly one sequence.
* Board -> host, per output beat: a status byte ``0x80 | tlast`` (:data:`STATUS_MARK`,
  :data:`STATUS_LAST`), then ``out_bytes`` bytes of ``m_axis_tdata``, little-endian.
* A frame left incomplete for ``timeout`` clock cycles (no byte arrives while the bridge waits for
  one) is dropped and the core is reset for one cycle, so a host that gave up mid-frame can start
  afresh after waiting longer than the timeout.

Flow control: the UART has none towards the host. Bytes wait in a FIFO of ``rx_depth`` while the
core is not ready; if it overflows, ``overrun`` rises (sticky until reset). The core only stalls
its input when its results are not sent fast enough, so a host keeps few sequences in flight
(``scripts/host_infer.py`` waits for each reply by default).
"""


from amaranth.hdl import Cat, ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["STATUS_MARK", "STATUS_LAST", "HEADER_BYTES", "MAX_BEATS", "uart_divisor",
           "UARTReceiver", "UARTTransmitter", "BeatDeframer", "BeatFramer", "UARTBridge",
           "BeatCodec", "beat_stream", "uart_write", "uart_read"]

#: Status byte before each output beat: ``STATUS_MARK | (STATUS_LAST if tlast else 0)``.
STATUS_MARK = 0x80
STATUS_LAST = 0x01
#: Bytes of the beat count that opens a frame.
HEADER_BYTES = 2
MAX_BEATS = (1 << (8 * HEADER_BYTES)) - 1


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


def _check_positive(value, what, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def beat_stream(width: int) -> stream.Signature:
    """A stream of ``{data: width bits, last: 1 bit}`` beats."""
    return stream.Signature(data.StructLayout({"data": width, "last": 1}))


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
        self.divisor = _check_positive(divisor, "divisor", 4)
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
        self.divisor = _check_positive(divisor, "divisor", 4)
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


class BeatDeframer(wiring.Component):
    """Frames of bytes (see the module docstring) to beats of ``in_bytes`` bytes with ``last``.

    ``abort`` pulses for one cycle when a frame is dropped after ``timeout`` idle cycles.
    """

    def __init__(self, *, in_bytes: int, timeout: int):
        self.in_bytes = _check_positive(in_bytes, "in_bytes")
        self.timeout = _check_positive(timeout, "timeout")
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

        # Waiting mid-frame for a byte that does not come: count, and give up after `timeout`.
        waiting = Signal()
        timed_out = Signal()
        m.d.comb += timed_out.eq(waiting & ~self.i.valid & (idle == self.timeout - 1))
        with m.If(waiting & ~self.i.valid):
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
        self.out_bytes = _check_positive(out_bytes, "out_bytes")
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
    a UART: bytes on ``rx`` in, results on ``tx`` out (wire format in the module docstring).

    ``core`` is any component with those flat ports in the ``sync`` domain, e.g.
    :class:`rnnrtl.hw.network.AXIStreamTop` or a black box of its Verilog; its ``tdata`` widths must
    be whole bytes. The core runs in a local domain whose reset is ``sync``'s or a frame timeout.
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
        self.divisor = _check_positive(divisor, "divisor", 4)
        self.timeout = _check_positive(timeout, "timeout")
        self.rx_depth = _check_positive(rx_depth, "rx_depth")
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

        m.domains.core = core_domain = ClockDomain("core", local=True)
        m.d.comb += [core_domain.clk.eq(ClockSignal("sync")),
                     core_domain.rst.eq(ResetSignal("sync", allow_reset_less=True) | deframer.abort)]
        m.submodules.core = DomainRenamer("core")(self.core)
        c = self.core

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
            c.s_axis_tdata.eq(deframer.o.payload.data),
            c.s_axis_tlast.eq(deframer.o.payload.last),
            c.s_axis_tvalid.eq(deframer.o.valid),
            deframer.o.ready.eq(c.s_axis_tready),
            framer.i.payload.data.eq(c.m_axis_tdata),
            framer.i.payload.last.eq(c.m_axis_tlast),
            framer.i.valid.eq(c.m_axis_tvalid),
            c.m_axis_tready.eq(framer.i.ready),
            tx.i.payload.eq(framer.o.payload),
            tx.i.valid.eq(framer.o.valid),
            framer.o.ready.eq(tx.i.ready),
            self.tx.eq(tx.tx),
            self.overrun.eq(overrun | rx.overrun),
            self.framing_error.eq(rx.framing_error),
            self.busy.eq(rx_fifo.r_rdy | deframer.o.valid | c.m_axis_tvalid | framer.o.valid),
        ]
        return m


class BeatCodec:
    """The host half of the wire format, from a manifest's ``input`` and ``output`` sections.

    Lanes are packed into ``tdata`` by the manifest's bit map (``lsb``, ``width``, ``signed``),
    never by assumption.
    """

    def __init__(self, manifest: dict):
        try:
            self.in_lanes = manifest["input"]["lanes"]
            self.out_lanes = manifest["output"]["lanes"]
            self.in_bytes = manifest["input"]["tdata_width"] // 8
            self.out_bytes = manifest["output"]["tdata_width"] // 8
            self.out_beats = manifest["output"]["beats_per_sequence"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"manifest lacks the input/output stream description ({e})") from None

    @staticmethod
    def pack(codes, lanes) -> int:
        """``tdata`` of one beat from its lane codes (two's complement in each lane's bits)."""
        if len(codes) != len(lanes):
            raise ValueError(f"{len(codes)} codes for {len(lanes)} lanes")
        value = 0
        for code, lane in zip(codes, lanes):
            code, w = int(code), lane["width"]
            lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if lane["signed"] else (0, (1 << w) - 1)
            if not lo <= code <= hi:
                raise ValueError(f"code {code} does not fit lane {lane['lane']} ({lane['format']})")
            value |= (code & ((1 << w) - 1)) << lane["lsb"]
        return value

    @staticmethod
    def unpack(value: int, lanes) -> list[int]:
        """Lane codes of one beat's ``tdata``."""
        codes = []
        for lane in lanes:
            w = lane["width"]
            code = (value >> lane["lsb"]) & ((1 << w) - 1)
            if lane["signed"] and code >> (w - 1):
                code -= 1 << w
            codes.append(code)
        return codes

    def encode_sequence(self, x_codes) -> bytes:
        """One frame: the beat count and every beat of ``x_codes`` (``[timesteps, lanes]``)."""
        beats = len(x_codes)
        if not 1 <= beats <= MAX_BEATS:
            raise ValueError(f"a frame holds 1..{MAX_BEATS} beats, got {beats}")
        out = bytearray(beats.to_bytes(HEADER_BYTES, "little"))
        for codes in x_codes:
            out += self.pack(codes, self.in_lanes).to_bytes(self.in_bytes, "little")
        return bytes(out)

    @property
    def reply_bytes(self) -> int:
        """Bytes the board sends back for one sequence."""
        return self.out_beats * (1 + self.out_bytes)

    def decode_reply(self, raw: bytes) -> tuple[list[list[int]], list[bool]]:
        """Lane codes and ``tlast`` of each output beat in ``raw`` (whole beats only)."""
        step = 1 + self.out_bytes
        if len(raw) % step:
            raise ValueError(f"{len(raw)} bytes is not a whole number of {step}-byte output beats")
        codes, lasts = [], []
        for k in range(0, len(raw), step):
            status = raw[k]
            if status & ~STATUS_LAST != STATUS_MARK:
                raise ValueError(f"byte {k} of the reply is {status:#04x}, not a status byte "
                                 f"({STATUS_MARK:#04x} | last): the link lost sync")
            value = int.from_bytes(raw[k + 1:k + step], "little")
            codes.append(self.unpack(value, self.out_lanes))
            lasts.append(bool(status & STATUS_LAST))
        return codes, lasts


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
