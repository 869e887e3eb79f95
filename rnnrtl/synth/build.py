"""Builds: a written core for a target (a Vivado project, an ECP5 bitstream) and/or a resource
estimate. Orchestration only: each step is another module's.

Contract: :func:`build` starts from a :class:`~rnnrtl.Design` (its core is written first, as
:meth:`Design.write <rnnrtl.Design.write>` does, with its RTLIL) or from a folder that
``Design.write`` wrote, and returns a :class:`BuildResult` naming every file it wrote. The core
always enters a build as that Verilog file, instantiated by
:class:`~rnnrtl.synth.core.ManifestCore` from the manifest's port list, so what is built is what
the testbenches verified. A target is a :class:`~rnnrtl.synth.targets.Target` (the named ones are
``rnnrtl.platforms.TARGETS``; the command line looks names up there).

* Xilinx targets get their Vivado project files (TCL, XDC, Verilog) from Amaranth's build plan
  plus ``package_ip.tcl`` (:mod:`rnnrtl.synth.vivado`); Vivado runs only when it is on ``PATH``.
* ECP5 targets run yosys (reading the core with its multi-port ROMs replicated,
  :mod:`rnnrtl.synth.rom_split`), :mod:`rnnrtl.synth.ecp5_pack`, nextpnr-ecp5 and ecppack
  (YoWASP) to a bitstream. A target with a ``clock_mhz`` runs the core on a clock its PLL makes
  from the board's (:mod:`rnnrtl.synth.ecp5_pll`); nextpnr derives that clock's constraint from
  the board clock's, and the Fmax is compared with it.
* An estimate is :func:`rnnrtl.synth.estimate.run_estimate`'s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildError, ConfigError
from .core import Core, ManifestCore, read_core
from .ecp5_pll import ECP5PLL, PLLSetting, pll_setting
from .estimate import ESTIMATES, Estimate, run_estimate
from .place_route import read_outcome, route_budget, wrapper_script
from .rom_split import MULTIPORT_ROM_FIX, rom_split_verilog
from .seeds import best_run, check_seeds, side_by_side
from .targets import ECP5RegisterPacking, Target
from .vivado import ip_package_tcl, vivado_results, xilinx_part
from .yosys import ABC9_XAIGER1, KEEP_COPIES, nextpnr_options, nextpnr_summary, yowasp_env

__all__ = ["BuildResult", "build"]


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
    seed: int | None = None                       # an ECP5 target's nextpnr seed kept (the best)
    clock: PLLSetting | None = None               # a target's core clock from its PLL, or None
    #: An ECP5 target's nextpnr runs, one per seed: ``seed``, ``fmax_mhz``, ``critical_path``,
    #: ``router``, ``folder`` (several seeds: each built in ``<target>/seed<N>``).
    runs: list = field(default_factory=list)
    #: An ECP5 target's router kept (:meth:`~rnnrtl.synth.place_route.RouteOutcome.describe`).
    router: str | None = None

    @property
    def multipliers(self) -> int:
        return int(self.core.manifest.get("multipliers", 0))

    def summary(self) -> str:
        lines = [f"core {self.core.top}: latency {self.timing.get('latency')} cycles, "
                 f"II {self.timing.get('ii')} cycles, {self.multipliers} multipliers"]
        if self.target:
            lines.append(f"target {self.target}: {self.message}")
            if self.fmax_mhz:
                lines.append(f"  Fmax {self.fmax_mhz:.1f} MHz"
                             + (f" (nextpnr {self.router})" if self.router else ""))
            lines += _seed_lines(self.runs, self.seed)
            if self.resources:
                lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.resources.items()))
        est = self.estimate
        if est:
            r = est.resources
            lines.append(f"estimate {est.family}: LUT {r['lut']}, FF {r['ff']}, DSP {r['dsp']}, "
                         f"BRAM {r['bram']:g}" + (f", Fmax {est.fmax_mhz:.1f} MHz ({est.fmax_source})"
                                                  if est.fmax_mhz else ""))
            if est.critical_path:
                lines.append("  critical path " + _path_text(est.critical_path))
            lines += _seed_lines(est.runs, est.seed)
            if est.fanouts:
                widest = est.fanouts[0]
                lines.append(f"  widest register fanout: {widest.net} ({widest.loads} loads)")
            if est.dsp_registers_packed or est.ebr_registers_packed:
                lines.append(f"  {est.dsp_registers_packed} operand/product registers moved into "
                             f"MULT18X18D cells, {est.ebr_registers_packed} table read registers into "
                             "DP16KD output registers (rnnrtl.synth.ecp5_pack)")
            lines.append("  " + est.multiplier_note)
        return "\n".join(lines)


def _path_text(cp: dict) -> str:
    return (f"{cp['from']} -> {cp['to']}: {cp['delay_ns']} ns ({cp['logic_levels']} logic levels, "
            f"{cp['routing_ns']} ns routing)")


def _seed_lines(runs: list, kept) -> list[str]:
    """One line per nextpnr seed when there were several (the kept one marked)."""
    if len(runs) < 2:
        return []
    lines = []
    for r in runs:
        fmax = f"{r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "no Fmax"
        cp = r.get("critical_path")
        lines.append(f"  seed {r['seed']}: {fmax}" + (" (kept)" if r["seed"] == kept else "")
                     + (f", {r['router']}" if r.get("router") else "")
                     + (f", critical path {_path_text(cp)}" if cp else ""))
    return lines


def build(design_or_outdir, target, *, outdir, estimate=None, run: bool = True,
          baud: int = 115200, freq_mhz: float = 200.0, seed: int = 1, seeds=None,
          route: bool = True, clock_mhz: float | None = None) -> BuildResult:
    """Build a core for ``target`` (a :class:`~rnnrtl.synth.targets.Target`, e.g.
    ``rnnrtl.platforms.TARGETS['ulx3s_85f']``; ``None`` for an estimate only) in ``outdir``; with
    ``estimate`` (``'xc7'``, ``'xcup'``, ``'ecp5'``) also synthesise the bare core for resource
    counts (and an ECP5 Fmax).

    ``run=False`` writes the build files without running any tool. ``baud`` is the board UART's
    rate; ``freq_mhz`` the clock nextpnr aims at in an ECP5 estimate, ``seed`` nextpnr's seed
    (an ECP5 estimate and an ECP5 target alike), ``seeds`` several of them instead (each placed
    and routed, the best kept: :func:`~rnnrtl.synth.seeds.best_run`; a target's build runs whole
    for each seed, in ``<target>/seed<N>``), and
    ``route=False`` takes its Fmax from placement alone (see
    :func:`~rnnrtl.synth.estimate.run_estimate`). ``clock_mhz`` is the core's clock on a target
    whose PLL makes it (``None``: the target's ``clock_mhz``, e.g. 150 MHz on ``ulx3s_85f``);
    :class:`~rnnrtl.errors.ConfigError` when it is not a positive number, the PLL cannot make it
    (:func:`~rnnrtl.synth.ecp5_pll.pll_setting`), or the target has no PLL.
    """
    t0 = time.perf_counter()
    outdir = Path(outdir)
    if estimate is not None and estimate not in ESTIMATES:
        raise ConfigError(f"estimate {estimate!r} is unknown; valid: {', '.join(ESTIMATES)}")
    if target is not None and not isinstance(target, Target):
        raise TypeError(f"target {target!r} is not a rnnrtl.synth.targets.Target; look a name up "
                        f"in rnnrtl.platforms.TARGETS")
    tgt = target
    seeds = check_seeds((seed,) if seeds is None else seeds)
    clock = _core_clock(tgt, clock_mhz)
    route_budget()          # a bad RNNRTL_ROUTER1_BUDGET_S refused before any tool runs
    outdir.mkdir(parents=True, exist_ok=True)       # only once the arguments are known good
    core = read_core(design_or_outdir, outdir=outdir)
    result = BuildResult(tgt.name if tgt else None, outdir, core,
                         files={"verilog": core.verilog, "manifest": core.dir / "manifest.json"},
                         timing=dict(core.manifest.get("timing", {})), clock=clock)
    if tgt is not None:
        _build_target(result, tgt, run=run, baud=baud, seeds=seeds)
    if estimate is not None and run:
        result.estimate = run_estimate(core, estimate, outdir / f"estimate-{estimate}",
                                       freq_mhz=freq_mhz, seeds=seeds, route=route)
    elif estimate is not None:
        result.message += f" Estimate {estimate!r} not run (run=False)."
    result.runtime_s = time.perf_counter() - t0
    return result


_CLOCK_OPTION = "clock_mhz (--clock-mhz)"


def _core_clock(tgt: Target | None, clock_mhz) -> PLLSetting | None:
    """The PLL setting of ``tgt``'s core clock (``clock_mhz``, else the target's own), or
    ``None`` when the core runs on the board's clock; :class:`ConfigError` for a clock the PLL
    cannot make or a target without a PLL."""
    if tgt is None or tgt.clock_mhz is None:
        if clock_mhz is not None:
            where = (f"target {tgt.name!r} has no PLL: its core runs on the board's clock"
                     if tgt is not None else "an estimate alone has no board clock")
            raise ConfigError(f"{_CLOCK_OPTION} {clock_mhz!r}: {where}; give it only for a "
                              f"target that makes its core clock with a PLL (an ECP5 board)")
        return None
    mhz = tgt.clock_mhz if clock_mhz is None else clock_mhz
    if isinstance(mhz, bool) or not isinstance(mhz, (int, float)):
        raise ConfigError(f"{_CLOCK_OPTION} {mhz!r}: give a clock frequency in MHz, a number > 0")
    return pll_setting(tgt.platform().default_clk_frequency, mhz * 1e6, option=_CLOCK_OPTION)


def _build_target(result: BuildResult, tgt: Target, *, run: bool, baud: int, seeds):
    platform = tgt.platform()
    if tgt.family == "ecp5" and not isinstance(platform, ECP5RegisterPacking):
        raise ConfigError(f"target {tgt.name!r}: its platform {type(platform).__name__} does not "
                          f"mix in rnnrtl.synth.targets.ECP5RegisterPacking, which an ECP5 build "
                          f"needs")
    core = result.core
    top = ManifestCore(core.manifest)
    if tgt.top is not None:
        top = tgt.top(top, baud=baud, **({"clock": ECP5PLL(result.clock)} if result.clock else {}))
        name = f"{core.top}_{tgt.name}"
    else:
        name = f"{core.top}_ooc"
    folder = result.outdir / tgt.name
    if tgt.family == "ecp5":
        if len(seeds) == 1:
            _build_ecp5(result, platform, top, name, folder, run=run, seed=seeds[0])
        else:
            _build_ecp5_seeds(result, tgt, top, name, folder, run=run, seeds=seeds)
    else:
        _build_vivado(result, platform, top, name, folder, run=run, board=tgt.top is not None)


def _build_vivado(result: BuildResult, platform, top, name: str, folder: Path, *, run: bool,
                  board: bool):
    """A Vivado project (and the IP packaging TCL); Vivado runs when ``run`` and on ``PATH``."""
    core = result.core
    platform.add_file(core.verilog.name, core.verilog.read_text())
    _add_weight_files(platform, core)
    plan = platform.prepare(top, name=name)
    plan.extract(folder)
    files = result.files
    files["build_script"] = folder / f"{plan.script}.sh"
    files.update(tcl=folder / f"{name}.tcl", xdc=folder / f"{name}.xdc",
                 top_verilog=folder / f"{name}.v", core_verilog=folder / core.verilog.name)
    ip = folder / "package_ip.tcl"
    ip.write_text(ip_package_tcl(core.manifest, xilinx_part(platform)))
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
        period = 1e9 / (platform.default_clk_frequency if board else platform.clock_frequency)
        if "wns_ns" in res:
            result.fmax_mhz = 1e3 / (period - res["wns_ns"])
        result.message = f"Vivado ran in {folder}."


def _add_weight_files(platform, core):
    """A ``weights: file`` core's ``.hex`` files into the build plan, at the paths its Verilog's
    ``$readmemh`` names (relative to the build folder, where the tools run)."""
    for path in core.weight_files():
        platform.add_file(str(path.relative_to(core.dir)), path.read_text())


def _build_ecp5_seeds(result: BuildResult, tgt: Target, top, name: str, folder: Path, *,
                      run: bool, seeds):
    """:func:`_build_ecp5` once per seed, each in ``folder/seed<N>`` with a fresh platform, the
    builds side by side (:func:`~rnnrtl.synth.seeds.side_by_side`; the core's ROMs are split once
    for all); the result keeps the files and figures of the best run
    (:func:`~rnnrtl.synth.seeds.best_run`)."""
    verilog_file = rom_split_verilog(result.core, result.outdir / "rom_split") if run else None
    kept, plans = {}, {}
    for s in seeds:      # elaborated one at a time, run side by side below
        one = BuildResult(result.target, result.outdir, result.core, files=dict(result.files),
                          timing=result.timing, clock=result.clock)
        platform = tgt.platform()
        plans[s] = platform, _plan_ecp5(one, platform, top, name, folder / f"seed{s}", run=run,
                                        seed=s, verilog_file=verilog_file)
        kept[s] = one
    if run:
        side_by_side(lambda s: _run_ecp5(kept[s], *plans[s], name, folder / f"seed{s}"), seeds)
    for s in seeds:
        one = kept[s]
        result.runs.append({"seed": s, "fmax_mhz": one.fmax_mhz,
                            "critical_path": one.critical_path, "router": one.router,
                            "folder": folder / f"seed{s}"})
    best = kept[best_run(result.runs)["seed"]]     # (not run: the first)
    for attr in ("files", "ran", "message", "resources", "fmax_mhz", "critical_path", "seed",
                 "router"):
        setattr(result, attr, getattr(best, attr))
    if not run:
        result.message = (f"ECP5 build files written to {folder}/seed<N> for seeds "
                          f"{', '.join(map(str, seeds))} (run=False: not run).")


def _build_ecp5(result: BuildResult, platform, top, name: str, folder: Path, *, run: bool,
                seed: int):
    """yosys, register packing, nextpnr-ecp5 and ecppack (YoWASP) to a bitstream, when ``run``."""
    plan = _plan_ecp5(result, platform, top, name, folder, run=run, seed=seed)
    if run:
        _run_ecp5(result, platform, plan, name, folder)


def _plan_ecp5(result: BuildResult, platform, top, name: str, folder: Path, *, run: bool,
               seed: int, verilog_file: Path | None = None):
    """The build plan of :func:`_build_ecp5`, extracted into ``folder`` (``verilog_file``: the
    core's ROM-split Verilog when already made)."""
    core = result.core
    if run:
        # yosys reads the core with its multi-port ROMs replicated (see rom_split).
        verilog_file = verilog_file or rom_split_verilog(core, result.outdir / "rom_split")
        result.files["rom_split_verilog"] = verilog_file
    else:
        verilog_file = core.verilog
    platform.add_file(verilog_file.name, verilog_file.read_text())
    _add_weight_files(platform, core)
    # Public Trellis overrides: abc9's first XAIGER writer (yosys#6237), the fanout copies kept and
    # the ROM fix between synth_ecp5's steps, and a nextpnr report.
    plan = platform.prepare(
        top, name=name,
        nextpnr_opts=" ".join([f"--report {name}_report.json --timing-allow-fail", "--seed",
                               str(seed), *nextpnr_options()]),
        synth_opts="-run begin:coarse", script_after_read=ABC9_XAIGER1,
        script_after_synth="\n".join([*KEEP_COPIES, f"synth_ecp5 -top {name} -run coarse:map_ram",
                                       MULTIPORT_ROM_FIX, f"synth_ecp5 -top {name} -run map_ram:"]))
    plan.extract(folder)
    files = result.files
    result.seed = seed
    files["build_script"] = folder / f"{plan.script}.sh"
    files.update(yosys_script=folder / f"{name}.ys", lpf=folder / f"{name}.lpf")
    if not run:
        result.message = f"ECP5 build files written to {folder} (run=False: not run)."
    return plan


def _run_ecp5(result: BuildResult, platform, plan, name: str, folder: Path):
    """Run an extracted ECP5 build plan (:func:`_plan_ecp5`) in ``folder``; its figures into
    ``result``. Its script runs as ``BuildPlan.execute_local`` would run it, but without extracting
    the plan again: ``extract`` changes the process's working directory, so two builds side by
    side must not."""
    files = result.files
    # nextpnr runs through rnnrtl.synth.place_route: router1 within a budget, else router2.
    env = {**yowasp_env(), "NEXTPNR_ECP5": str(wrapper_script(folder))}
    try:
        subprocess.check_call(["sh", f"{plan.script}.sh"], cwd=folder, env=env)
    except subprocess.CalledProcessError as e:
        logs = [p for p in (folder / f"{name}.tim", folder / f"{name}.rpt") if p.is_file()]
        errors = [l for p in logs for l in p.read_text(errors="replace").splitlines() if "ERROR" in l]
        raise BuildError(f"ECP5 build of {name} failed ({e}) in {folder}:\n"
                         + "\n".join(errors[-5:])) from None
    files["bitstream"] = folder / f"{name}.bit"
    files["svf"] = folder / f"{name}.svf"
    summary = nextpnr_summary(json.loads((folder / f"{name}_report.json").read_text()),
                              constraint_mhz=result.clock.f_out_hz / 1e6 if result.clock else None)
    result.ran = True
    outcome = read_outcome(folder, f"{name}.tim")
    result.router = outcome.describe() if outcome else None
    result.fmax_mhz = summary["fmax_mhz"]
    result.critical_path = summary["critical_path"]
    result.resources = summary["utilization"]
    if result.clock is not None:
        clk = result.clock.f_out_hz / 1e6
        board = result.clock.f_in_hz / 1e6
        against = f"the core's {clk:g} MHz clock (PLL from the board's {board:g} MHz)"
    else:
        clk = platform.default_clk_frequency / 1e6
        against = f"the board's {clk:g} MHz clock"
    met = result.fmax_mhz is not None and result.fmax_mhz >= clk
    fmax = "no Fmax" if result.fmax_mhz is None else f"Fmax {result.fmax_mhz:.1f} MHz"
    result.message = (f"bitstream {files['bitstream'].name} written in {folder}; {fmax} against "
                      f"{against}"
                      + ("" if met else " — TIMING NOT MET, the bitstream may misbehave") + ".")
