"""nextpnr-ecp5 with the router chosen by measurement: router1 within a routing budget, router2
with timing-driven rip-up when router1 runs past it, plain router2 when that churns.

Every rnnrtl place and route on ECP5 (the estimate, :func:`rnnrtl.synth.estimate.run_estimate`,
and board builds, :mod:`rnnrtl.synth.build`) runs through :func:`route_with_budget` unless the
caller names a router:

1. nextpnr places and routes with router1. On the jet LSTM's ECP5 configuration router1 closed
   timing where router2 did not (estimate 164.8 / 156.7 / 188.9 MHz at seeds 1 / 2 / 3 against
   router2's 129.2 / 148.1 / 153.2; the ULX3S top 153.1 against 131.3 at seed 1), because it
   routes timing-critical connections first.
2. router1 does not always converge: on the ULX3S top at seed 2 it still had 325 arcs to route
   after 37 minutes, each thousand iterations slower than the last. So once the log shows routing
   has begun, router1 has :data:`ROUTER1_BUDGET_S` seconds (it took 112-348 s on most
   placements); past them it goes on only while its progress lines (one per thousand
   iterations) show it converging, :func:`router1_gives_up` (two placements of the ULX3S top
   had 91 and 70 arcs left, falling fast, at 600 s; another 295, after one line up), and never
   past :data:`HARD_LIMIT` times the budget. Stopped, its log is kept as ``<log>.router1`` and
   the same command runs again with router2 (the same seed places the same way).
3. router2 first runs with nextpnr's timing-driven rip-up (``--tmg-ripup``): on the ULX3S top at
   seed 3, where router1 stalled, it routed the same placement at 148.9 MHz in 48 iterations,
   against 128.5 MHz without it. But the rip-up is experimental: while arcs fail timing it rips
   them up again each iteration, up to nextpnr's 1,500 (a 16-MAC netlist aimed at 200 MHz,
   which reaches 80: 1,500 iterations, 12 minutes). So it has :data:`RIPUP_ITERATIONS`
   iterations; past them it is stopped, its log kept as ``<log>.router2-ripup``, and plain
   router2 runs, which always finishes (about a minute of routing on the ULX3S top).

The outcome (:class:`RouteOutcome`) says which router's result was kept and why, and is written
beside the log as ``<log>.route.json``.

The budget and router1's pace are measured in the CPU time nextpnr has used
(:class:`_ProcessClock`: user and system time from Linux's ``/proc``; wall-clock time where there
is none). So a machine busy with other work routes a placement as an idle one does, only later.
With a wall-clock budget, the jet LSTM's estimate at seed 3, run beside the test suite, stopped
router1 after 1,156 s of routing (960, 599, 733, 549 arcs left) and kept plain router2's
111.8 MHz; on an idle machine router1 routed the same core at that seed in 423 s, at 169.1 MHz
(yosys's mapping 5 LUT4 apart). A slower machine still falls back sooner. The environment
variable :data:`BUDGET_ENV` sets the budget in seconds.

``python -m rnnrtl.synth.place_route ARGS`` takes nextpnr-ecp5's own arguments (with ``--log``,
without ``--router``) and runs :func:`route_with_budget` in the working directory: an Amaranth
build script runs it as its ``$NEXTPNR_ECP5`` (:func:`wrapper_script`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BuildError, ConfigError
from .yosys import run_tool, tool, tool_failure

__all__ = ["ROUTER1_BUDGET_S", "BUDGET_ENV", "ROUTING_STARTED", "STALL_REPORTS", "HARD_LIMIT",
           "RIPUP_ITERATIONS", "RouteOutcome", "route_budget", "route_with_budget",
           "router1_gives_up", "read_outcome", "wrapper_script", "main"]

#: Seconds of routing (nextpnr's CPU time) router1 gets before router2 takes over (module
#: docstring).
ROUTER1_BUDGET_S = 600.0

#: The environment variable that overrides :data:`ROUTER1_BUDGET_S` (seconds, a number >= 0).
BUDGET_ENV = "RNNRTL_ROUTER1_BUDGET_S"

#: The log line with which nextpnr-ecp5's router1 begins routing the design's nets.
ROUTING_STARTED = "Info: Setting up routing queue."

#: Seconds between two looks at router1's log.
POLL_S = 1.0

#: Past its budget router1 goes on while one of its last this many progress lines (one per
#: thousand iterations) has fewer arcs left to route than any line before it: a converging run
#: may go up once between two lows (the ULX3S top at seed 1: 632, 428, 445, 295 arcs left at 600 s
#: of routing), a stalled one does not come down again (session 16's seed 3: 388, 205, 128, 211).
STALL_REPORTS = 2

#: router1 is stopped at this many times its budget even while it converges.
HARD_LIMIT = 3

#: router1's pace is taken over its last this many thousands of iterations (one batch's can be a
#: fifth of the batches' around it).
PACE_REPORTS = 4

#: Iterations router2's timing-driven rip-up has before plain router2 takes over (module
#: docstring): the ULX3S top's placements routed in 39-48.
RIPUP_ITERATIONS = 200


@dataclass
class RouteOutcome:
    """Which router's result a :func:`route_with_budget` kept: ``router`` (``'router1'`` or
    ``'router2'``), the seconds of the whole run kept (``seconds``, wall-clock); when router1 was
    stopped, its seconds of routing (``router1_stopped_s``, nextpnr's CPU time); with router2,
    whether it kept its timing-driven rip-up (``ripup``) or stopped it after
    ``ripup_stopped_iter`` iterations."""
    router: str
    seconds: float
    router1_stopped_s: float | None = None
    ripup: bool = False
    ripup_stopped_iter: int | None = None

    def describe(self) -> str:
        """One phrase for a report: ``router1``; ``router2 with timing-driven rip-up, router1
        stopped after N s of routing``; or ``router2, router1 stopped after N s of routing, the
        rip-up after M iterations``."""
        if self.router1_stopped_s is None:
            return self.router
        router1 = f"router1 stopped after {self.router1_stopped_s:.0f} s of routing"
        if self.ripup:
            return f"{self.router} with timing-driven rip-up, {router1}"
        return f"{self.router}, {router1}, the rip-up after {self.ripup_stopped_iter} iterations"


def route_budget() -> float:
    """:data:`ROUTER1_BUDGET_S`, or :data:`BUDGET_ENV`'s value when set."""
    text = os.environ.get(BUDGET_ENV)
    if text is None or text == "":
        return ROUTER1_BUDGET_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{BUDGET_ENV}={text!r} is not a budget; valid: seconds, a number >= 0")
    return value


def _option(args: list[str], name: str) -> str | None:
    """The value of nextpnr option ``name`` in ``args`` (``--name value``), or None."""
    for k, arg in enumerate(args[:-1]):
        if arg == name:
            return args[k + 1]
    return None


def route_with_budget(command: list[str], cwd: Path, *, budget_s: float | None = None,
                      ripup_iterations: int = RIPUP_ITERATIONS,
                      step: str = "nextpnr-ecp5") -> RouteOutcome:
    """Run ``command`` (nextpnr-ecp5 and its arguments, with ``--log``, without ``--router``) in
    ``cwd`` with router1; if router1 gives up (:func:`router1_gives_up` with ``budget_s``, default
    :func:`route_budget`), again with router2 and its timing-driven rip-up; if that runs past
    ``ripup_iterations`` (default :data:`RIPUP_ITERATIONS`), again with plain router2. See the
    module docstring. A failing run raises :class:`~rnnrtl.errors.BuildError` naming ``step``."""
    if "--router" in command:
        raise ValueError("route_with_budget chooses the router; give a command without --router")
    log = _option(command, "--log")
    if log is None:
        raise ValueError("route_with_budget watches nextpnr's log; give --log")
    budget = route_budget() if budget_s is None else budget_s
    cwd = Path(cwd)
    log_path = cwd / log
    t0 = time.monotonic()
    stopped = _watched(command + ["--router", "router1"], cwd, log_path, step,
                       _Router1Watch(budget))
    if stopped is None:
        outcome = RouteOutcome("router1", round(time.monotonic() - t0, 1))
    else:
        log_path.replace(log_path.with_name(log_path.name + ".router1"))
        t1 = time.monotonic()
        ripup_stopped = _watched(command + ["--router", "router2", "--tmg-ripup"], cwd, log_path,
                                 step, _IterationWatch(ripup_iterations))
        if ripup_stopped is not None:
            log_path.replace(log_path.with_name(log_path.name + ".router2-ripup"))
            t1 = time.monotonic()
            run_tool(command + ["--router", "router2"], cwd, step, log)
        outcome = RouteOutcome("router2", round(time.monotonic() - t1, 1), round(stopped, 1),
                               ripup=ripup_stopped is None, ripup_stopped_iter=ripup_stopped)
    (cwd / f"{log}.route.json").write_text(json.dumps(asdict(outcome)) + "\n")
    return outcome


class _ProcessClock:
    """The seconds of CPU time (user and system, all threads) process ``pid`` has used, read from
    Linux's ``/proc/<pid>/stat`` at each call; where that file is missing (another system), the
    wall-clock seconds since this clock was made. Once the process has exited it reads the last
    value it saw."""

    def __init__(self, pid: int):
        self.stat = Path(f"/proc/{pid}/stat")
        self.cpu = self.stat.is_file()
        self.tick = os.sysconf("SC_CLK_TCK") if self.cpu else 1
        self.t0 = time.monotonic()
        self.last = 0.0

    def __call__(self) -> float:
        if not self.cpu:
            return time.monotonic() - self.t0
        try:
            # the fields after the command's closing parenthesis: state is field 3, utime 14,
            # stime 15 (proc(5)), in clock ticks
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
            self.last = (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            pass
        return self.last


class _Router1Watch:
    """router1's log, read as it is written with the time ``now`` nextpnr has used so far
    (:class:`_ProcessClock`): :meth:`gives_up` by :func:`router1_gives_up`, each progress line
    timed when it was read; :meth:`stopped_at` the seconds it had routed."""

    def __init__(self, budget: float):
        self.budget = budget
        self.routing_since = None
        self.progress: list[tuple[int, float]] = []

    def feed(self, lines: list[str], now: float):
        if self.routing_since is None and ROUTING_STARTED in lines:
            self.routing_since = now
        if self.routing_since is not None:
            self.progress += [(int(m.group(1)), now - self.routing_since)
                              for m in map(_PROGRESS.match, lines) if m]

    def gives_up(self, now: float) -> bool:
        return self.routing_since is not None and \
            router1_gives_up(now - self.routing_since, self.budget, self.progress)

    def stopped_at(self, now: float) -> float:
        return now - self.routing_since


class _IterationWatch:
    """router2's log: :meth:`gives_up` once an iteration line numbers more than ``limit``;
    :meth:`stopped_at` that iteration (``now``, the time nextpnr has used, is not read)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.iteration = 0

    def feed(self, lines: list[str], now: float):
        self.iteration = max([self.iteration] + [int(m.group(1))
                                                 for m in map(_ITERATION.match, lines) if m])

    def gives_up(self, now: float) -> bool:
        return self.iteration > self.limit

    def stopped_at(self, now: float) -> int:
        return self.iteration


def _watched(command, cwd: Path, log_path: Path, step: str, watch):
    """Run ``command``, feeding ``watch`` (:class:`_Router1Watch`, :class:`_IterationWatch`) the
    lines of its log as they are written, with the CPU time the run has used
    (:class:`_ProcessClock`); None when it finished, else ``watch.stopped_at(...)`` when the watch
    gave up and the run was stopped."""
    out = log_path.with_name(log_path.name + ".out")
    with open(out, "w") as sink:
        proc = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, text=True)
    clock = _ProcessClock(proc.pid)
    seen = 0
    try:
        while True:
            try:
                code = proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = clock()
            if log_path.is_file():
                with open(log_path, "rb") as f:
                    f.seek(seen)
                    text = f.read()
                whole = text[:text.rfind(b"\n") + 1]   # a half-written line: read again next time
                seen += len(whole)
                watch.feed(whole.decode(errors="replace").splitlines(), now)
            if watch.gives_up(now):
                _stop(proc)
                out.unlink()                # a stopped run's output is of no use; its log stays
                return watch.stopped_at(now)
    except BaseException:
        _stop(proc)
        raise
    output = out.read_text(errors="replace")
    out.unlink()
    if code != 0:
        raise tool_failure(step, code, cwd, log_path.name, output)
    return None


#: router1's progress line, every thousand iterations: ``Info: <iterations> | <re-routed arcs
#: with and without rip-up> | <delta> | <arcs left> | <seconds of the batch> <seconds in all>|``
#: (nextpnr's seconds are wall-clock; a watch times a line by nextpnr's CPU time when it reads it).
_PROGRESS = re.compile(r"Info:\s+\d+\s*\|\s*\d+\s+\d+\s*\|\s*-?\d+\s+-?\d+\s*\|\s*(\d+)\s*\|"
                       r"\s*[0-9.]+\s+([0-9.]+)\s*\|")

#: router2's line per iteration: ``Info:     iter=<n> wires=... tmgfail=... archfail=...``.
_ITERATION = re.compile(r"Info:\s+iter=(\d+)\s")


def router1_gives_up(elapsed: float, budget: float, progress: list[tuple[int, float]]) -> bool:
    """Whether router1 is stopped, routing for ``elapsed`` seconds with ``progress`` (its progress
    lines so far: arcs left to route, seconds of routing; CPU time in a run). Within ``budget``
    it goes on; past it, only while it converges: one of its last :data:`STALL_REPORTS` lines a
    new low of the arcs left, and at the pace of the :data:`PACE_REPORTS` thousand iterations up
    to the latest low the arcs left there routed, from the last line on, before
    :data:`HARD_LIMIT` times the budget; never past that."""
    if elapsed <= budget:
        return False
    if elapsed > HARD_LIMIT * budget or len(progress) <= STALL_REPORTS:
        return True
    left = [a for a, _ in progress]
    lows = [k for k in range(len(left) - STALL_REPORTS, len(left)) if left[k] < min(left[:k])]
    if not lows:
        return True
    (before, t0), (now, t1) = progress[max(lows[-1] - PACE_REPORTS, 0)], progress[lows[-1]]
    pace = (before - now) / max(t1 - t0, 1e-3)          # arcs per second
    return progress[-1][1] + now / pace > HARD_LIMIT * budget


def _stop(proc: subprocess.Popen):
    """Stop ``proc`` (and wait for it)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_outcome(folder: Path, log: str) -> RouteOutcome | None:
    """The :class:`RouteOutcome` a run wrote beside ``log`` in ``folder``, or None."""
    path = Path(folder) / f"{log}.route.json"
    if not path.is_file():
        return None
    return RouteOutcome(**json.loads(path.read_text()))


def wrapper_script(folder: Path, name: str = "nextpnr-ecp5-routed") -> Path:
    """An executable script in ``folder`` that runs ``python -m rnnrtl.synth.place_route`` with
    this Python and passes its arguments on: an Amaranth build script's ``$NEXTPNR_ECP5``. The
    path returned is absolute: the build script runs in ``folder``, which a user may have named
    relative to another directory."""
    path = Path(folder).resolve() / name
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m {__name__} \"$@\"\n")
    path.chmod(0o755)
    return path


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        outcome = route_with_budget([tool("nextpnr-ecp5"), *args], Path.cwd())
    except (BuildError, ConfigError, ValueError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print(f"rnnrtl.synth.place_route: kept {outcome.describe()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # terminated (a build stopped): stop nextpnr too, through route_with_budget's cleanup
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
