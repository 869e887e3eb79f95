"""A cocotb 2.x testbench for any rnnrtl core, driven only by its ``manifest.json`` and vectors.

Nothing here knows the hardware: port names, the bit map of each ``tdata`` lane (with sign
extension), beats per sequence, clock, reset, latency and II all come from the manifest the core
was written with, and the stimulus and expected outputs from ``vectors.npz`` (``x_codes``
``[samples, T, F]``, ``y_codes`` ``[samples, beats, lanes]``). It imports numpy, cocotb and its
sibling pieces only: ``core`` (settings, the manifest's view of the core, the clock), ``stream``
(:class:`Driver`, :class:`Monitor`) and ``scoreboard`` (:class:`Scoreboard`, the II measurement),
relatively, so it is imported as a module of its package (``rnnrtl.sim.testbench``, or the copy
:func:`rnnrtl.verify.simulate` makes in each run folder).

Run it through :func:`rnnrtl.verify.simulate` (which builds the core once and sets the
environment), or with any cocotb runner (test module ``rnnrtl.sim.testbench``), setting:

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
import random
import time

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, First, RisingEdge, SimTimeoutError, Timer, with_timeout

from .core import PERIOD_NS, Beat, Core, Settings
from .scoreboard import MAX_II_PERIOD, Scoreboard, same_ii, steady_ii
from .stream import Driver, Monitor

#: Back-to-back sequences sent to measure the II (at least; more if the manifest's period asks):
#: enough for the longest pattern to repeat three times after a start-up sequence.
SEQUENCES_FOR_II = 3 * MAX_II_PERIOD + 3


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
