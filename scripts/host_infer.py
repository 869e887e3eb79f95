"""Run inferences on a board over its USB UART and check every reply against the emulator.

Usage: python scripts/host_infer.py CORE_DIR --port /dev/ttyUSB0 [--baud 115200] [--count N]
                                    [--window 1] [--timeout 2.0]

CORE_DIR is the folder ``Design.write`` (or ``rnnrtl.synth.build.build``, in ``<outdir>/core``)
wrote: ``manifest.json`` describes the lanes and ``vectors.npz`` holds ``x_codes`` (sent) and
``y_codes`` (expected, bit-exact). The board runs the bitstream of ``rnnrtl build --target
ulx3s_85f`` or the Arty A7 project, at the same baud rate. The wire format is
``rnnrtl.synth.uart_wire``'s (``BeatCodec``); the serial port is driven with the standard library
only (``termios``, POSIX), no pyserial.

``--window`` sequences are kept in flight (1 = wait for each reply; more is faster, but the
board's UART has no flow control, so keep it small unless the replies are short). Exit status:
0 when every reply matches, 1 otherwise.
"""

import argparse
import json
import os
import select
import sys
import termios
import time
import tty
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rnnrtl.synth.uart_wire import BeatCodec  # noqa: E402

#: Longer than the board's frame timeout (platforms/uart_board.py), so a half frame left by an
#: earlier, interrupted run is dropped before the first frame of this one.
SETTLE_S = 0.4


class Serial:
    """A raw 8N1 serial port (termios), no flow control."""

    def __init__(self, port: str, baud: int):
        speed = getattr(termios, f"B{baud}", None)
        if speed is None:
            raise SystemExit(f"baud rate {baud} is not one termios knows")
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
                    | termios.CS8 | termios.CLOCAL | termios.CREAD)
        attrs[4] = attrs[5] = speed
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def write(self, data: bytes):
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.fd], [], 5.0)
            if not ready:
                raise TimeoutError("the serial port does not accept data")
            view = view[os.write(self.fd, view):]

    def read(self, size: int, timeout: float) -> bytes:
        out, deadline = bytearray(), time.monotonic() + timeout
        while len(out) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                out += os.read(self.fd, size - len(out))
        return bytes(out)

    def drain(self, seconds: float) -> int:
        """Wait ``seconds``, discarding whatever arrives; the number of bytes discarded."""
        return len(self.read(1 << 20, seconds))

    def close(self):
        os.close(self.fd)


def run(core_dir: Path, port: str, baud: int, count: int | None, window: int, timeout: float) -> int:
    manifest = json.loads((core_dir / "manifest.json").read_text())
    vectors = np.load(core_dir / "vectors.npz")
    x_codes, y_codes = vectors["x_codes"], vectors["y_codes"]
    # [samples, T, F] as the manifest's beats of lanes (input per_beat "sequence": one beat of
    # T x F lanes, step-major: the same codes reshaped row-major)
    x_codes = x_codes.reshape(len(x_codes), manifest["input"]["beats_per_sequence"],
                              len(manifest["input"]["lanes"]))
    count = len(x_codes) if count is None else min(count, len(x_codes))
    codec = BeatCodec(manifest)
    expected_last = [False] * (codec.out_beats - 1) + [True]
    link = Serial(port, baud)
    try:
        stray = link.drain(SETTLE_S)
        if stray:
            print(f"discarded {stray} stray bytes from the board")
        in_flight, sent, done, bad = deque(), 0, 0, []
        t0 = time.perf_counter()
        while done < count:
            while sent < count and len(in_flight) < window:
                link.write(codec.encode_sequence(x_codes[sent]))
                in_flight.append(sent)
                sent += 1
            k = in_flight.popleft()
            raw = link.read(codec.reply_bytes, timeout)
            if len(raw) < codec.reply_bytes:
                print(f"sequence {k}: {len(raw)} of {codec.reply_bytes} reply bytes within "
                      f"{timeout} s — is the bitstream loaded and the baud rate {baud}?")
                return 1
            codes, lasts = codec.decode_reply(raw)
            if not np.array_equal(np.asarray(codes), y_codes[k]) or lasts != expected_last:
                bad.append((k, codes, lasts))
            done += 1
        elapsed = time.perf_counter() - t0
    finally:
        link.close()
    print(f"{count - len(bad)}/{count} sequences bit-exact in {elapsed:.2f} s "
          f"({count / elapsed:.1f} sequences/s over the UART at {baud} baud)")
    for k, codes, lasts in bad[:5]:
        print(f"  sequence {k}: got {codes} (tlast {lasts}), expected {y_codes[k].tolist()}")
    return 0 if not bad else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("core_dir", type=Path, help="folder with manifest.json and vectors.npz")
    ap.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0")
    ap.add_argument("--baud", type=int, default=115200, help="must match the build (default 115200)")
    ap.add_argument("--count", type=int, default=None, help="sequences to run (default: all vectors)")
    ap.add_argument("--window", type=int, default=1, help="sequences in flight (default 1)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    args = ap.parse_args()
    sys.exit(run(args.core_dir, args.port, args.baud, args.count, max(1, args.window), args.timeout))


if __name__ == "__main__":
    main()
