"""Resource estimates: the bare core synthesised by yosys, and for ECP5 placed and routed by
nextpnr out of context.

Contract: :func:`run_estimate` reads a written :class:`~rnnrtl.synth.core.Core` and writes only
into its folder. An estimate (``'xc7'``, ``'xcup'``, ``'ecp5'``) counts LUT / FF / DSP / BRAM from
yosys ``stat -json`` of the core's module; for ``'ecp5'`` nextpnr also places and routes the core
inside :class:`~rnnrtl.synth.core.RegisteredPorts` (every port registered) for an Fmax and the
critical path, after moving the flip-flops around each multiplier into its ``MULT18X18D`` and the
flip-flops behind each table ROM's read ports into the ``DP16KD`` output registers
(:mod:`rnnrtl.synth.ecp5_pack`; yosys leaves both off).

yosys runs ``synth_xilinx`` with ``-flatten``: on Amaranth's hierarchical Verilog its ``abc9``
step otherwise fails an internal assertion; and its coarse step runs without ``share``
(SAT-based resource sharing, which took over half an hour on an LSTM(128) core and finds nothing
to share in a MatVec). Multi-port ROMs are replicated between the two yosys runs
(:mod:`rnnrtl.synth.rom_split`), and the memories moved into a module of their own
(:mod:`rnnrtl.synth.memory_module`); the second maps them there
(:func:`~rnnrtl.synth.yosys.memories_apart`), then flattens them back into the core. A large core
(:data:`PART_CELLS`) is then mapped in two parts at once, one yosys process each, and its counts
are the parts' summed (:mod:`rnnrtl.synth.partition`).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import verilog

from ..errors import BuildError, ConfigError
from .core import Core, ManifestCore, RegisteredPorts
from .constant_registers import PASS as FOLD_PASS
from .ecp5_pack import pack_registers_file
from .multipliers import multiplier_inventory, multiplier_note
from .fanout import register_fanouts
from .memory_module import move_memories
from .partition import mark_parts, merge_stats, part_commands, part_module
from .place_route import route_budget, route_with_budget
from .rom_split import MULTIPORT_ROM_FIX, split_rom_ports
from .seeds import best_run, check_seeds, cores, side_by_side
from .yosys import (KEEP_COPIES, NO_ABC_VERIFY, memories_apart, nextpnr_options,
                    nextpnr_summary, overfull_cells, run_tool, run_yosys, stat_resources, tool,
                    yosys_command)

__all__ = ["ESTIMATES", "PART_CELLS", "SPLIT_REGISTERS", "Estimate", "run_estimate",
           "estimate_verilog"]

#: Estimate families: yosys ``synth_xilinx -family xc7`` / ``-family xcup``, ``synth_ecp5``.
ESTIMATES = ("xc7", "xcup", "ecp5")

#: A Xilinx estimate of a core with at least this many cells after the coarse step (word-level
#: cells: an adder, a register, a multiplexer of any width) maps it in two parts at once, one yosys
#: process each, on a machine with two cores or more (:mod:`rnnrtl.synth.partition`). The jet
#: LSTM at reuse 40 has 6,281; big-vu9p's LSTM(128) 54,855.
PART_CELLS = 20_000

#: yosys's own ``splitcells`` on every register: each is cut where the use of its bits changes
#: (one register per signal). Another tool's Verilog may keep a whole pipeline stage in one
#: register (alkaid: up to 21,474 bits), and ``synth_xilinx``'s ``xilinx_dsp`` (yosys 0.70) then
#: stalls in its C-register matcher, whose index takes time in the square of a register's width
#: (0.22 / 0.97 / 3.47 s for one register of 5,000 / 10,000 / 20,000 bits; alkaid's jet-size GRU
#: did not leave it in 72 minutes). FF, SRL, DSP and carry cells are those of the unsplit flow;
#: ABC maps the logic in another order, which moves LUT counts by its order noise (alkaid's GRU(5):
#: 57,766 LUT split against 57,807 unsplit; the unsplit flow with the cells renamed at random,
#: ``rename -scramble-name``, 57,659).
SPLIT_REGISTERS = "splitcells t:$*dff*"

_LIBS = {  # what synth_xilinx / synth_ecp5 read in their 'begin' step (skipped by a resumed run)
    "xilinx": ["read_verilog -lib -specify +/xilinx/cells_sim.v", "read_verilog -lib +/xilinx/cells_xtra.v"],
    "ecp5": ["read_verilog -lib -specify +/lattice/cells_sim_ecp5.v +/lattice/cells_bb_ecp5.v"],
}


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
    fmax_source: str = ""            # 'routed, <router>' or 'placed (pre-routing estimate)'
    roms_split: int = 0              # multi-port ROMs replicated before memory mapping
    dsp_registers_packed: int = 0    # ecp5 only: MULT18X18D input/output registers packed
    ebr_registers_packed: int = 0    # ecp5 only: DP16KD read ports given their output register
    runtime_s: float = 0.0
    seed: int | None = None          # ecp5 only: the nextpnr seed of the run reported (the best)
    #: ecp5 only: every nextpnr run, in the order run: ``seed``, ``fmax_mhz``, ``critical_path``,
    #: ``runtime_s``, ``router`` (the router kept, :meth:`RouteOutcome.describe
    #: <rnnrtl.synth.place_route.RouteOutcome.describe>`; None unrouted).
    runs: list = field(default_factory=list)
    #: ecp5 only: the widest flip-flop-driven nets of the netlist placed (rnnrtl.synth.fanout),
    #: at most five, widest first.
    fanouts: list = field(default_factory=list)


def _synth_xilinx(family: str, top: str) -> str:
    """An estimate's ``synth_xilinx``: the bare core out of context, so without I/O buffers
    (``-noiopad``) or a clock buffer (``-noclkbuf``: the BUFG is the top's; inserting it took 40 s
    of big-vu9p's yosys), flattened (module docstring)."""
    return f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf -flatten"


def run_estimate(core: Core, family: str, folder, *, freq_mhz: float = 200.0, seed: int = 1,
                 seeds=None, route: bool = True, router: str | None = None,
                 parts: int | None = None) -> Estimate:
    """Synthesise the bare core for ``family`` (see the module docstring) in ``folder``.

    Two yosys runs: up to memory mapping (then :func:`~rnnrtl.synth.rom_split.split_rom_ports` on the netlist), and the
    rest; ``stat -json`` of the core's module gives the counts. For ``'ecp5'``, ``route=False``
    stops nextpnr after placement: the Fmax and critical path are then its pre-routing estimate
    (minutes instead of the half hour or more routing a ~40k-LUT design takes); nextpnr routes
    with router1 within a budget, else router2 (:mod:`rnnrtl.synth.place_route`), unless
    ``router`` (``'router1'`` or ``'router2'``) names the one router to use. ``seeds`` (a
    sequence of nextpnr seeds, instead of the one ``seed``) places and routes the one synthesised
    netlist once per seed (reports ``nextpnr-seed<N>.json``, logs ``nextpnr-seed<N>.log``), as many
    at once as the machine has cores, and reports the run of the highest Fmax;
    :attr:`Estimate.runs` holds every run's figures, in the order of ``seeds``.
    ``parts`` (Xilinx families) maps the core after memory mapping in that many parts at once
    (:mod:`rnnrtl.synth.partition`; logs ``yosys_2_part<k>.log``); by default two for a core of
    :data:`PART_CELLS` coarse cells or more on a machine of two cores or more, else one.
    """
    if family not in ESTIMATES:
        raise ConfigError(f"estimate {family!r} is unknown; valid: {', '.join(ESTIMATES)}")
    nextpnr_options(router)      # an unknown router refused before yosys runs
    route_budget()               # and a bad RNNRTL_ROUTER1_BUDGET_S
    _check_parts(parts, family)
    seeds = check_seeds((seed,) if seeds is None else seeds)
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    top = core.top
    read_core_cmds = core.read_commands(folder)
    if family in ("xc7", "xcup"):
        # synth_xilinx's coarse step without ``share``: its SAT-based resource sharing ran for
        # more than half an hour on the LSTM(128) core, and a MatVec has nothing to share (one
        # multiplier per block, by design).
        first, second, fine = _xilinx_steps(family, top, read_core_cmds, [
            *KEEP_COPIES, "techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH=6", "alumacc",
            "opt", "memory -nomap", "opt_clean"])
    else:
        wrapper_name = f"{top}_regs"
        wrapper = RegisteredPorts(ManifestCore(core.manifest, keep_hierarchy=True))
        (folder / f"{wrapper_name}.v").write_text(
            verilog.convert(wrapper, name=wrapper_name, emit_src=False))
        synth = f"synth_ecp5 -top {wrapper_name}"
        first = [*read_core_cmds, f"read_verilog {wrapper_name}.v",
                 f"{synth} -run begin:coarse", *KEEP_COPIES, f"{synth} -run coarse:map_ram",
                 f"select {top} {wrapper_name}",
                 "write_json -selected coarse.json"]
        second = _LIBS["ecp5"] + [NO_ABC_VERIFY, "read_json coarse_split.json",
                                  f"hierarchy -top {wrapper_name}", MULTIPORT_ROM_FIX,
                                  *memories_apart(synth, "map_ram")]
        fine = f"{synth} -run map_ffram: -json {wrapper_name}.json"
    roms_split = _synthesise(first, second, fine, family, top, folder, parts)
    cells = _module_cells(folder, top)
    res = stat_resources(cells, family)
    inv = multiplier_inventory(core.network) if core.network is not None else None
    est = Estimate(family, folder, res, cells, roms_split=roms_split,
                   multiplier_note=multiplier_note(int(core.manifest.get("multipliers", 0)),
                                                   res["dsp"], family, inv))
    if family == "ecp5":
        est.ebr_registers_packed, est.dsp_registers_packed = pack_registers_file(
            folder / f"{wrapper_name}.json")
        est.fanouts = register_fanouts(folder / f"{wrapper_name}.json", top)[:5]
        def place_and_route(s: int) -> dict:
            name = "nextpnr" if len(seeds) == 1 else f"nextpnr-seed{s}"
            return _nextpnr_ecp5(folder, wrapper_name, seed=s, freq_mhz=freq_mhz, router=router,
                                 route=route, name=name)

        # One nextpnr per core at once (each is one thread): 3 seeds on 2 cores in two rounds.
        summaries = dict(zip(seeds, side_by_side(place_and_route, seeds)))
        for s in seeds:
            est.runs.append({"seed": s, **{k: summaries[s][k] for k in
                                           ("fmax_mhz", "critical_path", "runtime_s", "router")}})
        est.seed = best_run(est.runs)["seed"]
        best = summaries[est.seed]
        est.fmax_mhz, est.critical_path, est.placed = (best["fmax_mhz"], best["critical_path"],
                                                       best["utilization"])
        est.fmax_source = f"routed, {best['router']}" if route else "placed (pre-routing estimate)"
    est.runtime_s = time.perf_counter() - t0
    return est


def _check_parts(parts, family: str):
    """Refuse a ``parts`` argument other than None or an integer >= 1 (1 for ecp5)."""
    if parts is not None and (isinstance(parts, bool) or not isinstance(parts, int) or parts < 1
                              or (parts > 1 and family == "ecp5")):
        raise ConfigError(f"parts {parts!r} is out of range; valid: an integer >= 1, 1 for ecp5")


def _xilinx_steps(family: str, top: str, reads: list[str], coarse: list[str] | None = None,
                  *, foreign: bool = False) -> tuple[list[str], list[str], str]:
    """The ``first``, ``second`` and ``fine`` yosys steps of a Xilinx estimate of ``top``
    (:func:`_synthesise`): ``reads`` the design, ``synth_xilinx`` to its coarse step, then
    ``coarse`` in its place (None: ``synth_xilinx``'s own); then the memories mapped apart
    (:func:`~rnnrtl.synth.yosys.memories_apart`) and ``synth_xilinx -run map_ffram:``.
    ``foreign`` (another tool's Verilog, :func:`estimate_verilog`): before ``synth_xilinx``'s
    prepare step the design is flattened, its constant register bits are found at once with the
    native yosys (:mod:`~rnnrtl.synth.constant_registers`; YoWASP's yosys, which cannot run the
    pass, leaves them to its ``opt`` loop: the same netlist, later) and its registers are cut by
    the use of their bits (:data:`SPLIT_REGISTERS`)."""
    synth = _synth_xilinx(family, top)
    if coarse is None:
        coarse = [f"{synth} -run coarse:map_memory"]
    begin = [f"{synth} -run begin:coarse"]
    if foreign:
        fold = [FOLD_PASS] if yosys_command() is not None else []
        begin = [f"{synth} -run begin:prepare", "proc", "flatten", *fold, SPLIT_REGISTERS,
                 f"{synth} -run prepare:coarse"]
    first = [*reads, *begin, *coarse, f"select {top}", "write_json -selected coarse.json"]
    second = _LIBS["xilinx"] + [NO_ABC_VERIFY, "read_json coarse_split.json",
                                f"hierarchy -top {top}", MULTIPORT_ROM_FIX,
                                *memories_apart(synth, "map_memory")]
    return first, second, f"{synth} -run map_ffram:"


def _synthesise(first: list[str], second: list[str], fine: str, family: str, top: str,
                folder: Path, parts: int | None) -> int:
    """The two yosys runs of an estimate in ``folder``: ``first`` (``yosys_1.log``) writes the
    coarse netlist of ``top`` (``coarse.json``); its multi-port ROMs are split
    (:func:`~rnnrtl.synth.rom_split.split_rom_ports`) and, in ``parts`` parts (None: the
    default, :func:`_parts`), its cells marked (:func:`~rnnrtl.synth.partition.mark_parts`);
    then its memories are moved into a module of their own
    (:func:`~rnnrtl.synth.memory_module.move_memories`);
    ``second`` reads it back and maps its memories, then ``fine`` maps the rest in one process
    (``yosys_2.log``) or :func:`_fine_in_parts`. Leaves ``stat.json``; returns the ROMs split."""
    run_yosys(first, folder, f"yosys ({family}, to memory mapping)", "yosys_1.log")
    netlist = json.loads((folder / "coarse.json").read_text())
    roms_split = split_rom_ports(netlist)
    parts = parts or _parts(netlist, top, family)
    if parts > 1:
        mark_parts(netlist, top, parts)
    move_memories(netlist, top)
    (folder / "coarse_split.json").write_text(json.dumps(netlist))
    (folder / "coarse.json").unlink()
    del netlist
    if parts == 1:
        run_yosys(second + [fine, "tee -q -o stat.json stat -json"], folder, f"yosys ({family})",
                  "yosys_2.log")
    else:
        _fine_in_parts(second, family, top, parts, folder)
    (folder / "coarse_split.json").unlink()
    return roms_split


def _parts(netlist: dict, top: str, family: str) -> int:
    """How many parts an estimate maps ``top`` in by default (:func:`run_estimate`)."""
    cells = sum(1 for c in netlist["modules"][top]["cells"].values() if c["type"] != "$scopeinfo")
    return 2 if family != "ecp5" and cells >= PART_CELLS and cores() >= 2 else 1


def _fine_in_parts(second: list[str], family: str, top: str, parts: int, folder: Path):
    """The rest of a Xilinx estimate in ``parts`` parts (:mod:`rnnrtl.synth.partition`): the memory
    mapping ``second`` then the split (``yosys_2.log``), then ``synth_xilinx -run map_ffram:`` of
    every part at once (``yosys_2_part<k>.log``); ``stat.json`` is their counts summed."""
    run_yosys(second + part_commands(top, parts), folder, f"yosys ({family}, in {parts} parts)",
              "yosys_2.log")
    for k in range(parts):      # an inout port would not keep its driver: the counts would drop
        if re.search(r"^\s*wire .*\binout\b", (folder / f"part{k}.il").read_text(), re.M):
            raise BuildError(f"estimate {family}: part {k} of the core has an inout port after the "
                             f"split; see {folder / 'yosys_2.log'}")

    def fine(k: int) -> dict:
        name = part_module(top, k)
        run_yosys(_LIBS["xilinx"] + [NO_ABC_VERIFY, f"read_rtlil part{k}.il",
                                     f"hierarchy -top {name}",
                                     f"{_synth_xilinx(family, name)} -run map_ffram:",
                                     f"tee -q -o stat_part{k}.json stat -json"],
                  folder, f"yosys ({family}, part {k} of {parts})", f"yosys_2_part{k}.log")
        return json.loads((folder / f"stat_part{k}.json").read_text())

    stats = side_by_side(fine, range(parts))
    (folder / "stat.json").write_text(json.dumps(merge_stats(stats, top), indent=1))
    for k in range(parts):
        (folder / f"part{k}.il").unlink()


def estimate_verilog(files, top: str, family: str, folder, *, parts: int | None = None) -> Estimate:
    """yosys's LUT / FF / DSP / BRAM estimate of a Verilog design that rnnrtl did not write (another
    tool's RTL, to compare with an rnnrtl core on equal terms): ``files`` read with
    ``read_verilog -sv``, then the yosys runs of a core's estimate (:func:`run_estimate`, with
    yosys's default coarse step: ``share`` included), the large design mapped in ``parts``
    parts at once likewise (logs ``yosys_1.log``, ``yosys_2.log``, ``yosys_2_part<k>.log``),
    ``stat -json`` of ``top``. Before the prepare step, with the native yosys, the design's
    constant register bits are found in one pass (:mod:`~rnnrtl.synth.constant_registers`: a
    pipeline that carries constants through N stages otherwise takes N iterations of ``opt``
    over the whole netlist; the cells are the same), and its registers are cut by the use of
    their bits (:data:`SPLIT_REGISTERS`: a register of a whole pipeline stage otherwise stalls
    ``xilinx_dsp``). yosys reads copies of ``files`` in ``folder / 'sources'``. Xilinx families
    only; writes only into ``folder``."""
    if family not in ("xc7", "xcup"):
        raise ConfigError(f"estimate {family!r} of foreign Verilog is not supported; valid: xc7, xcup")
    _check_parts(parts, family)
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # yosys runs in ``folder`` and reads relative names (YoWASP's sees that folder only), as it
    # reads a core's copy (Core.read_commands)
    sources = folder / "sources"
    sources.mkdir(exist_ok=True)
    reads = []
    for k, f in enumerate(files):
        copy = sources / f"{k}_{Path(f).name}"
        shutil.copyfile(f, copy)
        reads.append(f"read_verilog -sv {copy.relative_to(folder)}")
    first, second, fine = _xilinx_steps(family, top, reads, foreign=True)
    roms_split = _synthesise(first, second, fine, family, top, folder, parts)
    cells = _module_cells(folder, top)
    return Estimate(family, folder, stat_resources(cells, family), cells, roms_split=roms_split,
                    runtime_s=time.perf_counter() - t0)


def _module_cells(folder: Path, top: str) -> dict:
    """yosys cell type -> count of module ``top`` in ``folder/stat.json`` (``stat -json``),
    without Amaranth's ``$scopeinfo`` cells."""
    stat = json.loads((folder / "stat.json").read_text())
    mod = stat["modules"].get(f"\\{top}") or stat["modules"].get(top)
    if mod is None:
        raise BuildError(f"yosys stat in {folder} has no module {top!r}: {list(stat['modules'])}")
    return {k: v for k, v in mod["num_cells_by_type"].items() if not k.startswith("$scopeinfo")}


#: What nextpnr-ecp5's cell types of its utilisation table are, for a user's error message.
_ECP5_CELLS = {"TRELLIS_FF": "flip-flops (TRELLIS_FF)", "TRELLIS_COMB": "LUT4 sites (TRELLIS_COMB)",
               "MULT18X18D": "multipliers (MULT18X18D)", "DP16KD": "block RAMs (DP16KD)",
               "TRELLIS_RAMW": "LUT-RAM write ports (TRELLIS_RAMW)"}


def _nextpnr_ecp5(folder: Path, wrapper_name: str, *, seed: int, freq_mhz: float,
                  router: str | None, route: bool, name: str) -> dict:
    """One out-of-context nextpnr-ecp5 run of ``<wrapper_name>.json`` in ``folder`` (report
    ``<name>.json``, log ``<name>.log``): :func:`~rnnrtl.synth.yosys.nextpnr_summary` and
    ``runtime_s``."""
    t0 = time.perf_counter()
    command = [tool("nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--out-of-context",
               "--json", f"{wrapper_name}.json", "--freq", f"{freq_mhz:g}",
               "--timing-allow-fail", "--seed", str(seed), *nextpnr_options(router),
               *(() if route else ("--no-route",)),
               "--report", f"{name}.json", "--log", f"{name}.log", "--quiet"]
    step = f"nextpnr-ecp5 (out of context, seed {seed})"
    try:
        if route and router is None:
            used = route_with_budget(command, folder, step=step).describe()
        else:
            run_tool(command, folder, step, f"{name}.log")
            used = router if route else None
    except BuildError as e:
        log = folder / f"{name}.log"
        over = overfull_cells(log.read_text(errors="replace")) if log.is_file() else []
        if not over:
            raise
        needs = ", ".join(f"{used:,} {_ECP5_CELLS.get(kind, kind)} of {available:,} "
                          f"({100 * used // available} %)" for kind, used, available in over)
        raise BuildError(f"estimate ecp5: the core does not fit the ECP5-85F (LFE5U-85F), so "
                         f"nextpnr cannot place it: it needs {needs}; yosys's counts are in "
                         f"{folder / 'stat.json'}") from e
    summary = nextpnr_summary(json.loads((folder / f"{name}.json").read_text()))
    if summary["fmax_mhz"] is None:     # --no-route: the report has no timing, the log has
        found = re.findall(r"Max frequency for clock '[^']*': ([0-9.]+) MHz",
                           (folder / f"{name}.log").read_text(errors="replace"))
        summary["fmax_mhz"] = float(found[-1]) if found else None
    summary["runtime_s"] = round(time.perf_counter() - t0, 1)
    summary["router"] = used
    return summary
