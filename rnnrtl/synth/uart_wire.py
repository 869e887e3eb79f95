"""The wire format of the UART link between a PC and a board's core, and its host half.

Contract: this module defines the bytes on the wire; the board half
(:class:`~rnnrtl.synth.uart_bridge.BeatDeframer` / :class:`~rnnrtl.synth.uart_bridge.BeatFramer`)
and the host half (:class:`BeatCodec`, used by ``scripts/host_infer.py``) both follow it; keep
them in sync. It imports no hardware, so a host script needs only the standard library and this.

* UART: 8 data bits, no parity, 1 stop bit, least significant bit first (8N1).
* Host -> board, one *frame* per sequence: the number of beats ``N`` as :data:`HEADER_BYTES`
  bytes little-endian (``1 .. MAX_BEATS``; a count of 0 is ignored), then ``N`` beats of
  ``in_bytes = s_axis_tdata width / 8`` bytes each, every beat's ``tdata`` little-endian (byte 0
  is ``tdata[7:0]``). ``tlast`` is high on the ``N``-th beat, so the frame is exactly one sequence.
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

__all__ = ["STATUS_MARK", "STATUS_LAST", "HEADER_BYTES", "MAX_BEATS", "BeatCodec"]

#: Status byte before each output beat: ``STATUS_MARK | (STATUS_LAST if tlast else 0)``.
STATUS_MARK = 0x80
STATUS_LAST = 0x01
#: Bytes of the beat count that opens a frame.
HEADER_BYTES = 2
#: Most beats a frame can hold.
MAX_BEATS = (1 << (8 * HEADER_BYTES)) - 1


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
