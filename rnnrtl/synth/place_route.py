"""nextpnr-ecp5 with the router chosen by measurement: router1 within a routing budget, router2
when router1 runs past it.

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
   had 91 and 70 arcs left, falling fast, at 600 s), and never past :data:`HARD_LIMIT` times the
   budget. Stopped, its log is kept as ``<log>.router1`` and the same command runs again with
   router2, which always finishes (the same seed places the same way; about a minute of routing
   on that design). The outcome (:class:`RouteOutcome`) says which router's result was kept,
   and is written beside the log as ``<log>.route.json``.

The budget is wall-clock time, so a much slower or busier machine falls back sooner; the
environment variable :data:`BUDGET_ENV` sets it in seconds.

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
           "RouteOutcome", "route_budget", "route_with_budget", "router1_gives_up", "read_outcome",
           "wrapper_script", "main"]

#: Seconds of routing router1 gets before router2 takes over (module docstring).
ROUTER1_BUDGET_S = 600.0

#: The environment variable that overrides :data:`ROUTER1_BUDGET_S` (seconds, a number >= 0).
BUDGET_ENV = "RNNRTL_ROUTER1_BUDGET_S"

#: The log line with which nextpnr-ecp5's router1 begins routing the design's nets.
ROUTING_STARTED = "Info: Setting up routing queue."

#: Seconds between two looks at router1's log.
POLL_S = 1.0

#: Past its budget router1 goes on while each of its last this many progress lines (one per
#: thousand iterations) has fewer arcs left to route than any line before it.
STALL_REPORTS = 2

#: router1 is stopped at this many times its budget even while it converges.
HARD_LIMIT = 3

#: router1's pace is taken over its last this many thousands of iterations (one batch's can be a
#: fifth of the batches' around it).
PACE_REPORTS = 4


@dataclass
class RouteOutcome:
    """Which router's result a :func:`route_with_budget` kept: ``router`` (``'router1'`` or
    ``'router2'``), the seconds of the whole run kept (``seconds``), and when router1 was stopped,
    its seconds of routing (``router1_stopped_s``)."""
    router: str
    seconds: float
    router1_stopped_s: float | None = None

    def describe(self) -> str:
        """One phrase for a report: ``router1``, or ``router2 (router1 stopped after N s of
        routing)``."""
        if self.router1_stopped_s is None:
            return self.router
        return f"{self.router} (router1 stopped after {self.router1_stopped_s:.0f} s of routing)"


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
                      step: str = "nextpnr-ecp5") -> RouteOutcome:
    """Run ``command`` (nextpnr-ecp5 and its arguments, with ``--log``, without ``--router``) in
    ``cwd`` with router1, and again with router2 if router1 gives up (:func:`router1_gives_up`
    with ``budget_s``, default :func:`route_budget`); see the module docstring. A failing run raises
    :class:`~rnnrtl.errors.BuildError` naming ``step``."""
    if "--router" in command:
        raise ValueError("route_with_budget chooses the router; give a command without --router")
    log = _option(command, "--log")
    if log is None:
        raise ValueError("route_with_budget watches nextpnr's log; give --log")
    budget = route_budget() if budget_s is None else budget_s
    cwd = Path(cwd)
    log_path = cwd / log
    t0 = time.monotonic()
    stopped = _router1_within(command, cwd, log_path, budget, step)
    if stopped is None:
        outcome = RouteOutcome("router1", round(time.monotonic() - t0, 1))
    else:
        log_path.replace(log_path.with_name(log_path.name + ".router1"))
        t1 = time.monotonic()
        run_tool(command + ["--router", "router2"], cwd, step, log)
        outcome = RouteOutcome("router2", round(time.monotonic() - t1, 1), round(stopped, 1))
    (cwd / f"{log}.route.json").write_text(json.dumps(asdict(outcome)) + "\n")
    return outcome


def _router1_within(command, cwd: Path, log_path: Path, budget: float, step: str) -> float | None:
    """Run ``command`` with router1; None when it finished, else the seconds it had routed when
    it was stopped (:func:`router1_gives_up`)."""
    out = log_path.with_name(log_path.name + ".out")
    with open(out, "w") as sink:
        proc = subprocess.Popen(command + ["--router", "router1"], cwd=cwd, stdout=sink,
                                stderr=subprocess.STDOUT, text=True)
    routing_since = None
    seen = 0
    progress: list[tuple[int, float]] = []
    try:
        while True:
            try:
                code = proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if log_path.is_file():
                with open(log_path, "rb") as f:
                    f.seek(seen)
                    text = f.read()
                whole = text[:text.rfind(b"\n") + 1]   # a half-written line: read again next time
                seen += len(whole)
                lines = whole.decode(errors="replace").splitlines()
                if routing_since is None and ROUTING_STARTED in lines:
                    routing_since = time.monotonic()
                progress += [(int(m.group(1)), float(m.group(2)))
                             for m in map(_PROGRESS.match, lines) if m]
            if routing_since is not None and \
                    router1_gives_up(time.monotonic() - routing_since, budget, progress):
                _stop(proc)
                return time.monotonic() - routing_since
    except BaseException:
        _stop(proc)
        raise
    output = out.read_text(errors="replace")
    out.unlink()
    if code != 0:
        raise tool_failure(step, code, cwd, log_path.name, output)
    return None


#: router1's progress line, every thousand iterations: ``Info: <iterations> | <re-routed arcs
#: with and without rip-up> | <delta> | <arcs left> | <seconds of the batch> <seconds in all>|``.
_PROGRESS = re.compile(r"Info:\s+\d+\s*\|\s*\d+\s+\d+\s*\|\s*-?\d+\s+-?\d+\s*\|\s*(\d+)\s*\|"
                       r"\s*[0-9.]+\s+([0-9.]+)\s*\|")


def router1_gives_up(elapsed: float, budget: float, progress: list[tuple[int, float]]) -> bool:
    """Whether router1 is stopped, routing for ``elapsed`` seconds with ``progress`` (its progress
    lines so far: arcs left to route, seconds of routing). Within ``budget`` it goes on; past it,
    only while it converges: each of its last :data:`STALL_REPORTS` lines a new low of the arcs
    left, and at the pace of its last :data:`PACE_REPORTS` thousand iterations the arcs left
    routed before :data:`HARD_LIMIT` times the budget; never past that."""
    if elapsed <= budget:
        return False
    if elapsed > HARD_LIMIT * budget or len(progress) <= STALL_REPORTS:
        return True
    left = [a for a, _ in progress]
    if not all(left[k] < min(left[:k]) for k in range(len(left) - STALL_REPORTS, len(left))):
        return True
    (before, t0), (now, t1) = progress[-1 - min(PACE_REPORTS, len(progress) - 1)], progress[-1]
    pace = (before - now) / max(t1 - t0, 1e-3)          # arcs per second
    return t1 + now / pace > HARD_LIMIT * budget


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
    this Python and passes its arguments on: an Amaranth build script's ``$NEXTPNR_ECP5``."""
    path = Path(folder) / name
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
