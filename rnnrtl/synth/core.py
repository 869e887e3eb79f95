"""A written core as a build starts from it, and the hardware that wraps it.

Contract: a build never elaborates the network again. The core enters every flow as the files
:meth:`Design.write <rnnrtl.Design.write>` wrote (``<top>.v``, its RTLIL when written,
``manifest.json``), and :class:`ManifestCore` instantiates that Verilog from the manifest's
``ports`` list alone, so what is built is what the testbenches verified.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..design import Design
from ..flow import load_saved
from ..manifest import load_manifest
from ..weights_file import copy_weight_files, weight_files

__all__ = ["Core", "read_core", "ManifestCore", "RegisteredPorts"]


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

    def weight_files(self) -> list[Path]:
        """The core's ``weights: file`` memory contents (``.hex``, read by its Verilog's
        ``$readmemh`` relative to the tool's folder: :mod:`rnnrtl.weights_file`); none inline."""
        return [self.dir / name for name in weight_files(self.manifest)]

    def read_commands(self, folder: Path) -> list[str]:
        """Copy the core into ``folder`` and return the yosys command reading it: its RTLIL when
        there is one (fast; it holds the weights), else its Verilog (with its weight files, which
        yosys reads from ``folder``)."""
        src = self.rtlil or self.verilog
        shutil.copyfile(src, folder / src.name)
        copy_weight_files(self.dir, self.manifest, folder)
        return [f"read_rtlil {src.name}" if src.suffix == ".il" else f"read_verilog {src.name}"]


def read_core(design_or_outdir, *, outdir=None, samples: int = 64) -> Core:
    """The core of a :class:`~rnnrtl.Design` (written to ``outdir/core``, with its RTLIL) or of a
    folder ``Design.write`` wrote (a saved IR beside it, ``design.json``, is read when present).

    Raises :class:`~rnnrtl.errors.FlowError` when the folder holds no manifest, a damaged one, or
    one naming a Verilog file that is missing (:func:`rnnrtl.manifest.load_manifest`).
    """
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
            network = load_saved(core_dir).network
    manifest = load_manifest(core_dir)
    return Core(core_dir.resolve(), manifest, network)


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
