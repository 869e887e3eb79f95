"""A cocotb 2.x testbench for any rnnrtl core, driven only by its ``manifest.json`` and vectors.

Nothing here knows the hardware: port names, the bit map of each ``tdata`` lane (with sign
extension), beats per sequence, clock, reset, latency and II all come from the manifest the core
was written with, and the stimulus and expected outputs from ``vectors.npz`` (``x_codes``
``[samples, T, F]``, ``y_codes`` ``[samples, beats, lanes]``). It imports numpy and cocotb only.

Run it through :func:`rnnrtl.verify.simulate` (which builds the core once and sets the
environment), or with any cocotb runner, setting:

=========================  =========================================================================
``RNNRTL_OUTDIR``          the design directory (``manifest.json``, ``vectors.npz``, ``<top>.v``)
``RNNRTL_SAMPLES``         sequences checked by ``random_stalls`` (default: every vector)
``RNNRTL_SEED``            seed of the random stalls (default 0)
``RNNRTL_IDLE``            probability of an idle cycle before each input beat (default 0.3)
``RNNRTL_BACKPRESSURE``    probability that ``m_axis_tready`` is low in a cycle with a beat offered
                           (default 0.3)
``RNNRTL_RESULTS``         folder for one ``<test>.json`` result per test (optional)
=========================  =========================================================================

Tests: ``random_stalls`` (every sample, random idle input cycles and output backpressure),
``full_rate_timing`` (latency and II measured at full rate equal the manifest's; the II is the
spacing of sequence starts averaged over the repeating pattern of an interleaved core), and
``reset_mid_sequence`` (reset with a half-sent sequence in the core, then fresh sequences are
exact). Each checks outputs with a :class:`Scoreboard`: exact integers per lane, in order, nothing
lost or duplicated, ``tlast`` where the manifest says.

Cycle discipline (cocotb 2.x): inputs are written just after a falling clock edge, then the
handshake is sampled in ``ReadOnly`` of the same half cycle; a beat sampled with valid and ready
high transfers at the next rising edge, whose index is the beat's cycle. The driver and the monitor
sleep through cycles in which nothing can happen (``tready`` or ``tvalid`` low) and wake on the
signal's rising edge, which makes long recurrent steps cheap to simulate.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import (Event, FallingEdge, First, ReadOnly, RisingEdge, SimTimeoutError,
                             Timer, with_timeout)

PERIOD_NS = 10
#: Longest repeating pattern of sequence starts looked for when the manifest gives no period.
MAX_II_PERIOD = 8
#: Back-to-back sequences sent to measure the II (at least; more if the manifest's period asks):
#: enough for the longest pattern to repeat three times after a start-up sequence.
SEQUENCES_FOR_II = 3 * MAX_II_PERIOD + 3


# -- settings and the manifest ---------------------------------------------------------------------

@dataclass
class Settings:
    """What the environment asks for (see the module docstring)."""
    outdir: Path
    samples: int | None
    seed: int
    idle: float
    backpressure: float
    results: Path | None

    @classmethod
    def from_env(cls) -> "Settings":
        outdir = os.environ.get("RNNRTL_OUTDIR")
        if not outdir:
            raise RuntimeError("set RNNRTL_OUTDIR to the design directory (manifest.json, vectors.npz)")
        samples = os.environ.get("RNNRTL_SAMPLES")
        results = os.environ.get("RNNRTL_RESULTS")
        settings = cls(outdir=Path(outdir), samples=int(samples) if samples else None,
                       seed=int(os.environ.get("RNNRTL_SEED", "0")),
                       idle=float(os.environ.get("RNNRTL_IDLE", "0.3")),
                       backpressure=float(os.environ.get("RNNRTL_BACKPRESSURE", "0.3")),
                       results=Path(results) if results else None)
        for name in ("idle", "backpressure"):
            p = getattr(settings, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"RNNRTL_{name.upper()} = {p}: a probability in [0, 1)")
        return settings


class LaneCodec:
    """Packs lane codes into a ``tdata`` word and unpacks (sign-extending) from the manifest's map."""

    def __init__(self, stream: dict):
        self.width = stream["tdata_width"]
        self.lanes = [(lane["lsb"], lane["width"], bool(lane["signed"])) for lane in stream["lanes"]]
        for lsb, width, _ in self.lanes:
            if lsb + width > self.width:
                raise ValueError(f"lane at bits [{lsb}, {lsb + width}) exceeds tdata width {self.width}")

    def __len__(self):
        return len(self.lanes)

    def pack(self, codes) -> int:
        word = 0
        for k, ((lsb, width, signed), code) in enumerate(zip(self.lanes, codes, strict=True)):
            code = int(code)
            lo, hi = (-(1 << width - 1), 1 << width - 1) if signed else (0, 1 << width)
            if not lo <= code < hi:
                raise ValueError(f"lane {k}: code {code} does not fit {width} bits "
                                 f"({'signed' if signed else 'unsigned'})")
            word |= (code & ((1 << width) - 1)) << lsb
        return word

    def unpack(self, word: int) -> list[int]:
        out = []
        for lsb, width, signed in self.lanes:
            v = (word >> lsb) & ((1 << width) - 1)
            if signed and v >> (width - 1):
                v -= 1 << width
            out.append(v)
        return out


@dataclass
class Beat:
    """One beat of a stream: lane codes, ``tlast``, and where it belongs (sample, beat index)."""
    sample: int
    index: int
    codes: list
    last: bool


class Core:
    """The manifest, the vectors and the DUT's handles, named as the manifest says."""

    def __init__(self, dut, settings: Settings):
        self.dut = dut
        self.settings = settings
        self.manifest = json.loads((settings.outdir / "manifest.json").read_text())
        m = self.manifest
        vectors = np.load(settings.outdir / m["vectors"]["file"])
        self.x_codes, self.y_codes = vectors["x_codes"], vectors["y_codes"]
        self.in_codec, self.out_codec = LaneCodec(m["input"]), LaneCodec(m["output"])
        self.in_beats = m["input"]["beats_per_sequence"]
        self.out_beats = m["output"]["beats_per_sequence"]
        if self.x_codes.shape[1:] != (self.in_beats, len(self.in_codec)):
            raise ValueError(f"x_codes shape {self.x_codes.shape} does not match the manifest "
                             f"({self.in_beats} beats of {len(self.in_codec)} lanes)")
        if self.y_codes.shape[1:] != (self.out_beats, len(self.out_codec)):
            raise ValueError(f"y_codes shape {self.y_codes.shape} does not match the manifest "
                             f"({self.out_beats} beats of {len(self.out_codec)} lanes)")
        self.samples = len(self.x_codes)
        self.clk = getattr(dut, m["clock"]["name"])
        self.rst = getattr(dut, m["reset"]["name"])
        self.rst_active = 1 if m["reset"]["active"] == "high" else 0
        self.latency = m["timing"]["latency"]
        self.ii = m["timing"]["ii"]
        self.s_axis = self._port(m["input"])
        self.m_axis = self._port(m["output"])

    def _port(self, stream):
        prefix = stream["interface"]
        return {"data": getattr(self.dut, stream["tdata"]),
                "valid": getattr(self.dut, f"{prefix}_tvalid"),
                "ready": getattr(self.dut, f"{prefix}_tready"),
                "last": getattr(self.dut, f"{prefix}_tlast")}

    def input_beats(self, samples) -> list[Beat]:
        return [Beat(s, t, self.x_codes[s, t].tolist(), t == self.in_beats - 1)
                for s in samples for t in range(self.in_beats)]

    def expected_beats(self, samples) -> list[Beat]:
        return [Beat(s, b, self.y_codes[s, b].tolist(), b == self.out_beats - 1)
                for s in samples for b in range(self.out_beats)]

    def seq_cycles(self) -> int:
        """A generous bound on cycles per sequence at full rate."""
        return max(self.ii, self.in_beats, self.out_beats, 1)


def cycle_now() -> int:
    """Index of the next rising edge when called between a falling edge and that rising edge."""
    return int(get_sim_time("ns")) // PERIOD_NS + 1


# -- the pieces ------------------------------------------------------------------------------------

def at_falling_edge() -> bool:
    """True in the time step of a falling clock edge (the clock starts high at time 0)."""
    return get_sim_time("ns") % PERIOD_NS == PERIOD_NS / 2


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


class Scoreboard:
    """Compares received beats with the expected ones, in order: exact codes per lane and ``tlast``.

    A beat with nothing left to expect is an error (duplicated or spurious); beats still expected
    at the end are lost. Counts mismatching *samples* and keeps the first mismatch's description.
    """

    def __init__(self):
        self.expected: deque[Beat] = deque()
        self.received = 0
        self.cycles: list[int] = []
        self.bad_samples: set[int] = set()
        self.checked_samples: set[int] = set()
        self.first_mismatch: str | None = None
        self.errors: list[str] = []
        self.done = Event()

    def expect(self, beats: list[Beat]):
        self.expected.extend(beats)
        self.done.clear()

    def _fail(self, sample, text):
        if sample is not None:
            self.bad_samples.add(sample)
        if self.first_mismatch is None:
            self.first_mismatch = text
        if len(self.errors) < 20:
            self.errors.append(text)

    def __call__(self, codes, last, cycle):
        self.received += 1
        self.cycles.append(cycle)
        if not self.expected:
            self._fail(None, f"unexpected output beat {codes} (tlast={int(last)}) at cycle {cycle}: "
                             "nothing more was expected (a duplicated or spurious beat)")
            return
        exp = self.expected.popleft()
        self.checked_samples.add(exp.sample)
        for lane, (e, g) in enumerate(zip(exp.codes, codes)):
            if e != g:
                self._fail(exp.sample, f"sample {exp.sample}, beat {exp.index}, lane {lane}: "
                                       f"expected {e}, got {g} (cycle {cycle}; expected beat "
                                       f"{exp.codes}, got {codes})")
                break
        else:
            if exp.last != last:
                self._fail(exp.sample, f"sample {exp.sample}, beat {exp.index}: tlast expected "
                                       f"{int(exp.last)}, got {int(last)} (cycle {cycle})")
        if not self.expected:
            self.done.set()

    def lost(self) -> str | None:
        if not self.expected:
            return None
        head = self.expected[0]
        return (f"{len(self.expected)} output beats never arrived, the first being sample "
                f"{head.sample}, beat {head.index} ({self.received} received)")

    @property
    def mismatches(self) -> int:
        return len(self.bad_samples)


def steady_ii(starts: list[int], period: int | None) -> tuple[Fraction, int]:
    """Cycles per sequence in steady state from the first-beat cycles ``starts``: the spacing
    averaged over the last whole ``period`` (interleaved cores start sequences in a pattern that
    repeats; the manifest's ``timing.ii`` is that average). Without a period, the shortest one
    whose pattern repeats three times at the end of ``starts`` is used."""
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    if period is None:
        period = next((p for p in range(1, MAX_II_PERIOD + 1) if 3 * p <= len(gaps) and
                       gaps[-p:] == gaps[-2 * p:-p] == gaps[-3 * p:-2 * p]), 1)
    return Fraction(starts[-1] - starts[-1 - period], period), period


def same_ii(measured: Fraction, manifest_ii) -> bool:
    """The manifest writes an integer II as is and a fractional one rounded to 3 decimals."""
    if measured.denominator == 1:
        return int(measured) == manifest_ii
    return abs(float(measured) - float(manifest_ii)) < 5e-4


# -- the bench: clock, reset, waiting, results -----------------------------------------------------

class Bench:
    def __init__(self, dut):
        self.settings = Settings.from_env()
        self.core = Core(dut, self.settings)
        self.log = dut._log
        self.started = time.perf_counter()
        self.start_cycle = int(get_sim_time("ns")) // PERIOD_NS  # sim time runs on across tests
        self.result: dict = {}

    async def start(self):
        Clock(self.core.clk, PERIOD_NS, unit="ns").start()
        await self.reset()

    async def reset(self, cycles: int = 3):
        core = self.core
        await FallingEdge(core.clk)
        core.rst.value = core.rst_active
        core.s_axis["valid"].value = 0
        core.s_axis["last"].value = 0
        core.s_axis["data"].value = 0
        core.m_axis["ready"].value = 0
        for _ in range(cycles):
            await RisingEdge(core.clk)
        await FallingEdge(core.clk)
        core.rst.value = 1 - core.rst_active

    def stall_window(self, idle: float, backpressure: float) -> int:
        """Cycles without an output beat after which the core is declared stuck."""
        core = self.core
        return int(4 * (core.latency + core.seq_cycles()) / ((1 - idle) * (1 - backpressure))) + 500

    async def wait_done(self, board: Scoreboard, window: int):
        """Until ``board`` has every expected beat; fails if no beat arrives for ``window`` cycles."""
        while not board.done.is_set():
            before = board.received
            await First(board.done.wait(), Timer(window * PERIOD_NS, unit="ns"))
            if not board.done.is_set() and board.received == before:
                raise AssertionError(f"no output for {window} cycles: {board.lost()}")

    async def send(self, driver: "Driver", beats: list[Beat], *, idle: float) -> list[int]:
        """``driver.send(beats)``, failing if the input is refused for too long."""
        window = self.stall_window(idle, 0.0) * (1 + len(beats) // max(self.core.in_beats, 1))
        try:
            return await with_timeout(driver.send(beats), window * PERIOD_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"input not accepted: {driver.transfers} beats taken, "
                                 f"{len(beats)} offered, within {window} cycles") from None

    async def drain(self, cycles: int):
        await Timer(cycles * PERIOD_NS, unit="ns")

    def finish(self, name: str, board: Scoreboard, problems: list, **extra):
        """Record the result (``RNNRTL_RESULTS/<name>.json``); fail with every problem found."""
        problems = list(problems)
        for text in (board.first_mismatch, board.lost()):
            if text and text not in problems:
                problems.insert(0, text)
        r = self.result
        r.update(test=name, seconds=round(time.perf_counter() - self.started, 3),
                 samples=len(board.checked_samples), mismatches=board.mismatches,
                 first_mismatch=board.first_mismatch, errors=board.errors, lost=board.lost(),
                 cycles=int(get_sim_time("ns")) // PERIOD_NS - self.start_cycle, problems=problems,
                 passed=not problems, **extra)
        if self.settings.results is not None:
            self.settings.results.mkdir(parents=True, exist_ok=True)
            (self.settings.results / f"{name}.json").write_text(json.dumps(r, indent=1))
        if problems:
            raise AssertionError("; ".join(problems))


def _rngs(seed: int, salt: int):
    return random.Random(seed * 1000 + salt), random.Random(seed * 1000 + salt + 500)


# -- the tests -------------------------------------------------------------------------------------

@cocotb.test()
async def random_stalls(dut):
    """Every sample (or ``RNNRTL_SAMPLES``) with random idle input cycles and output backpressure."""
    bench = Bench(dut)
    core, s = bench.core, bench.settings
    n = core.samples if s.samples is None else s.samples
    if not 1 <= n <= core.samples:
        raise ValueError(f"RNNRTL_SAMPLES = {n}: the vectors hold {core.samples} samples")
    await bench.start()
    drv_rng, mon_rng = _rngs(s.seed, 1)
    board = Scoreboard()
    board.expect(core.expected_beats(range(n)))
    monitor = cocotb.start_soon(Monitor(core, board, backpressure=s.backpressure, rng=mon_rng).run())
    sending = cocotb.start_soon(Driver(core, idle=s.idle, rng=drv_rng).send(core.input_beats(range(n))))
    t0, problems = int(get_sim_time("ns")) // PERIOD_NS, []
    try:
        await bench.wait_done(board, bench.stall_window(s.idle, s.backpressure))
        await sending
        await bench.drain(core.latency + 2 * core.seq_cycles() + 10)  # anything extra shows up here
    except AssertionError as e:
        problems.append(str(e))
    finally:
        monitor.cancel()
        sending.cancel()
    bench.finish("random_stalls", board, problems, idle=s.idle, backpressure=s.backpressure,
                 seed=s.seed, run_cycles=int(get_sim_time("ns")) // PERIOD_NS - t0)


@cocotb.test()
async def full_rate_timing(dut):
    """Input at full rate, ``m_axis_tready`` high: measured latency and II equal the manifest's."""
    bench = Bench(dut)
    core = bench.core
    await bench.start()
    board = Scoreboard()
    monitor = cocotb.start_soon(Monitor(core, board, backpressure=0.0, rng=random.Random(0)).run())
    driver = Driver(core, idle=0.0, rng=random.Random(0))
    window = bench.stall_window(0.0, 0.0)
    problems, latency, ii, starts = [], None, None, []
    period = core.manifest["timing"].get("ii_period")  # interleaved cores: pattern length
    try:
        # Latency: one sequence into an idle core.
        board.expect(core.expected_beats([0]))
        sent = await bench.send(driver, core.input_beats([0]), idle=0.0)
        await bench.wait_done(board, window)
        latency = board.cycles[-1] - sent[0]
        await bench.drain(core.latency + 2 * core.seq_cycles() + 10)
        # II: sequences back to back, the spacing of first-beat transfers at the end.
        # (the manifest's ii_sequences: how many the steady state needs, when more)
        count = max(SEQUENCES_FOR_II, 4 * (period or 1) + 3,
                    core.manifest["timing"].get("ii_sequences", 0))
        samples = [(1 + k) % core.samples for k in range(count)]
        board.expect(core.expected_beats(samples))
        sent = await bench.send(driver, core.input_beats(samples), idle=0.0)
        starts = sent[::core.in_beats]
        ii, period = steady_ii(starts, period)
        await bench.wait_done(board, window)
        await bench.drain(core.latency + 2 * core.seq_cycles() + 10)
    except AssertionError as e:
        problems.append(str(e))
    finally:
        monitor.cancel()
    gaps = np.diff(starts).tolist()
    if latency is not None and latency != core.latency:
        problems.append(f"measured latency {latency} cycles, the manifest says {core.latency}")
    if ii is not None and not same_ii(ii, core.ii):
        problems.append(f"measured II {float(ii):g} cycles (first-beat gaps {gaps}, averaged over "
                        f"the last {period}), the manifest says {core.ii}")
    ii_out = None if ii is None else (int(ii) if ii.denominator == 1 else round(float(ii), 3))
    bench.finish("full_rate_timing", board, problems, latency=latency, ii=ii_out, ii_period=period,
                 start_gaps=gaps, expected_latency=core.latency, expected_ii=core.ii)


@cocotb.test()
async def reset_mid_sequence(dut):
    """Reset while a sequence is half sent (and results are in flight); then fresh sequences must
    come out exact, and nothing from before the reset may appear after it."""
    bench = Bench(dut)
    core, s = bench.core, bench.settings
    await bench.start()
    drv_rng, mon_rng = _rngs(s.seed, 2)
    pick = [k % core.samples for k in range(6)]
    # Before the reset: sample 0 whole, then the first half of sample 1. Beats that come out before
    # the reset must be a correct prefix; the rest is abandoned.
    before = Scoreboard()
    before.expect(core.expected_beats(pick[:2]))
    monitor = cocotb.start_soon(Monitor(core, before, backpressure=s.backpressure, rng=mon_rng).run())
    driver = Driver(core, idle=s.idle, rng=drv_rng)
    half = max(core.in_beats // 2, 1)
    beats = core.input_beats(pick[:1]) + core.input_beats(pick[1:2])[:half]
    if core.in_beats == 1:  # no middle to a one-step sequence: reset with two sequences in flight
        beats = core.input_beats(pick[:2])
    problems = []
    try:
        await bench.send(driver, beats, idle=s.idle)
    except AssertionError as e:
        problems.append(f"before the reset: {e}")
    await bench.drain(1 + core.latency // 3)
    monitor.cancel()
    driver.quiet()
    await bench.reset(cycles=3)
    # After the reset: fresh sequences, random stalls, exact outputs and nothing else.
    board = Scoreboard()
    board.expect(core.expected_beats(pick[2:]))
    monitor = cocotb.start_soon(Monitor(core, board, backpressure=s.backpressure, rng=mon_rng).run())
    if before.first_mismatch:
        problems.append(f"before the reset: {before.first_mismatch}")
    try:
        await bench.send(driver, core.input_beats(pick[2:]), idle=s.idle)
        await bench.wait_done(board, bench.stall_window(s.idle, s.backpressure))
        await bench.drain(core.latency + 2 * core.seq_cycles() + 10)
    except AssertionError as e:
        problems.append(str(e))
    finally:
        monitor.cancel()
    bench.finish("reset_mid_sequence", board, problems, beats_before_reset=before.received)
