"""rnnrtl.synth.yosys: counting cells, reading nextpnr's report, and the two yosys builds
(pyosys's native one and YoWASP's) agreeing."""

import gzip
import json
from pathlib import Path

import pytest

from rnnrtl.errors import BuildError, ConfigError
from rnnrtl.synth import yosys
from rnnrtl.synth.fanout import register_fanouts
from rnnrtl.synth.yosys import nextpnr_summary, overfull_cells, run_yosys, stat_resources


def test_stat_resources():
    xc7 = stat_resources({"LUT2": 3, "LUT6": 2, "RAM32M": 1, "FDRE": 7, "FDSE": 1,
                          "DSP48E1": 4, "RAMB36E1": 1, "RAMB18E1": 1, "CARRY4": 2}, "xc7")
    assert xc7 == {"lut": 9, "lut_logic": 5, "lut_memory": 4, "ff": 8, "dsp": 4, "bram": 1.5,
                   "carry": 2}
    ecp5 = stat_resources({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 5, "MULT18X18D": 2,
                           "DP16KD": 1}, "ecp5")
    assert (ecp5["lut"], ecp5["ff"], ecp5["dsp"], ecp5["bram"]) == (16, 5, 2, 1)


def test_nextpnr_summary():
    report = {
        "fmax": {"$glbnet$clk": {"achieved": 151.2, "constraint": 200.0}},
        "critical_paths": [{"from": "$glbnet$clk", "to": "$glbnet$clk", "path": [
            {"type": "clk-to-q", "from": {"cell": "a"}, "to": {"cell": "a"}, "delay": 0.5},
            {"type": "routing", "from": {"cell": "a"}, "to": {"cell": "b"}, "delay": 2.0},
            {"type": "logic", "from": {"cell": "b"}, "to": {"cell": "b"}, "delay": 1.0},
            {"type": "routing", "from": {"cell": "b"}, "to": {"cell": "c"}, "delay": 1.5}]}],
        "utilization": {"MULT18X18D": {"used": 3, "available": 156},
                        "DCU": {"used": 0, "available": 2}},
    }
    s = nextpnr_summary(report)
    assert s["fmax_mhz"] == 151.2
    assert s["critical_path"] == {"from": "a", "to": "c", "cells": ["a", "b", "c"],
                                  "logic_levels": 1, "delay_ns": 5.0, "logic_ns": 1.5,
                                  "routing_ns": 3.5}
    assert s["utilization"] == {"MULT18X18D": {"used": 3, "available": 156}}
    assert nextpnr_summary({}) == {"fmax_mhz": None, "critical_path": None, "utilization": {}}


#: The utilisation table of nextpnr-ecp5 0.11's log for a core too big for the ECP5-85F (the jet
#: LSTM with its recurrent products in LUTs at reuse 4, ``pipeline: deep``), abridged.
OVERFULL_LOG = """Info: Logic utilisation before packing:
Info: \t    Total LUT4s:   123456/83640   147%
Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    365     0%
Info: \t              DP16KD:     102/    208    49%
Info: \t          MULT18X18D:     156/    156   100%
Info: \t          TRELLIS_FF:  179723/  83640   214%
Info: \t        TRELLIS_COMB:  185229/  83640   221%
Info: \t        TRELLIS_RAMW:     704/  10455     6%

ERROR: Unable to place cell 'core.lstm.addend_TRELLIS_FF_Q_1630', no BELs remaining to implement \
cell type 'TRELLIS_FF'
"""


def test_overfull_cells_reads_the_device_table():
    assert overfull_cells(OVERFULL_LOG) == [("TRELLIS_FF", 179723, 83640),
                                            ("TRELLIS_COMB", 185229, 83640)]
    fits = OVERFULL_LOG.replace("179723", "79723").replace("185229", "85229").replace(
        "  85229/  83640", "  83000/  83640")
    assert overfull_cells(fits) == []
    assert overfull_cells("ERROR: something else\n") == []


@pytest.mark.parametrize("router", [None, "router2"])
def test_an_overfull_ecp5_estimate_says_what_does_not_fit(tmp_path, monkeypatch, router):
    """nextpnr fails on a core bigger than the device: the error names the cells that do not fit,
    in numbers, not nextpnr's first unplaceable cell (nextpnr run by rnnrtl.synth.place_route's
    choice of router, or with the router named)."""
    from rnnrtl.synth import estimate

    def nextpnr_failing_with(text, code):
        def run(cmd, folder, step, log=None):
            (folder / cmd[cmd.index("--log") + 1]).write_text(text)
            raise BuildError(f"{step} failed (exit {code})")
        return run

    def run(failing):
        monkeypatch.setattr(estimate, "run_tool", failing)
        monkeypatch.setattr(estimate, "route_with_budget", failing)
        estimate._nextpnr_ecp5(tmp_path, "core_regs", seed=1, freq_mhz=200, router=router,
                               route=True, name="nextpnr")

    with pytest.raises(BuildError, match=r"does not fit the ECP5-85F .*179,723 flip-flops "
                                         r"\(TRELLIS_FF\) of 83,640 \(214 %\), 185,229 LUT4 sites"):
        run(nextpnr_failing_with(OVERFULL_LOG, 125))
    with pytest.raises(BuildError, match=r"failed \(exit 1\)$"):
        run(nextpnr_failing_with("ERROR: a timing loop\n", 1))


def test_nextpnr_summary_of_a_pll_clock():
    """A PLL output is named after one of its loads: ``constraint_mhz`` picks it by the constraint
    nextpnr derived, and its own critical path comes before an asynchronous one."""
    def path(cell):
        return [{"type": "routing", "from": {"cell": cell}, "to": {"cell": "z"}, "delay": 1.0}]
    pll = "$glbnet$bridge.core.out.clk"
    report = {"fmax": {"$glbnet$clk25": {"achieved": 300.0, "constraint": 25.0},
                       pll: {"achieved": 160.5, "constraint": 150.015}},
              "critical_paths": [{"from": "<async>", "to": f"posedge {pll}", "path": path("x")},
                                 {"from": "posedge $glbnet$clk25", "to": "posedge $glbnet$clk25",
                                  "path": path("y")},
                                 {"from": f"posedge {pll}", "to": f"posedge {pll}",
                                  "path": path("p")}]}
    s = nextpnr_summary(report, constraint_mhz=150.0)
    assert s["fmax_mhz"] == 160.5 and s["critical_path"]["from"] == "p"
    assert nextpnr_summary(report, constraint_mhz=25.0)["critical_path"]["from"] == "y"


_MAC_VERILOG = """module mac(input clk, input [15:0] a, input [15:0] b, output reg [35:0] acc);
  always @(posedge clk) acc <= acc + a * b;
endmodule
"""


@pytest.mark.slow
def test_native_yosys_matches_yowasp(tmp_path, monkeypatch):
    """The estimates' yosys (pyosys, native) and YoWASP's map a design to the same cells; an error
    in a script reaches the log and fails the step with yosys's message."""
    assert yosys.native_available(), "pyosys is part of the test install (rnnrtl[test])"
    stats = {}
    for choice in ("native", "yowasp"):
        monkeypatch.setenv(yosys.YOSYS_ENV, choice)
        folder = tmp_path / choice
        folder.mkdir()
        (folder / "mac.v").write_text(_MAC_VERILOG)
        run_yosys(["read_verilog mac.v", "synth_xilinx -family xcup -top mac",
                   "tee -q -o stat.json stat -json"], folder, f"yosys ({choice})", "y.log")
        stats[choice] = json.loads((folder / "stat.json").read_text())["modules"]["\\mac"]
        with pytest.raises(BuildError, match="missing.v"):
            run_yosys(["read_verilog missing.v"], folder, f"yosys ({choice})", "bad.log")
    assert stats["native"]["num_cells_by_type"] == stats["yowasp"]["num_cells_by_type"]
    assert stats["native"]["num_cells_by_type"].get("DSP48E2") == 1


def test_native_yosys_choice(monkeypatch):
    monkeypatch.setenv(yosys.YOSYS_ENV, "yowasp")
    assert yosys.yosys_command() is None
    monkeypatch.setenv(yosys.YOSYS_ENV, "native")
    monkeypatch.setattr(yosys, "native_available", lambda: True)
    assert yosys.yosys_command()[-2:] == ["-m", "rnnrtl.synth.yosys"]
    monkeypatch.setattr(yosys, "native_available", lambda: False)
    with pytest.raises(ConfigError, match="pyosys is not installed"):
        yosys.yosys_command()
    monkeypatch.delenv(yosys.YOSYS_ENV)
    assert yosys.yosys_command() is None      # no pyosys: YoWASP's
    monkeypatch.setenv(yosys.YOSYS_ENV, "fast")
    with pytest.raises(ConfigError, match="valid: native, yowasp"):
        yosys.yosys_command()


def _copies_design(tmp_path):
    """A 64-bit register in four 16-bit groups, each enabled by its own fanout copy of ``v``."""
    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal

    from rnnrtl.hw.common import copy_groups, fanout_copies
    m = Module()
    v, d, q = Signal(), Signal(64), Signal(64)
    groups = copy_groups(4, 1)
    enables = fanout_copies(m, v, groups[-1] + 1, "enable")
    for g in range(4):
        with m.If(enables[groups[g]]):
            m.d.sync += q[16 * g:16 * (g + 1)].eq(d[16 * g:16 * (g + 1)])
    (tmp_path / "copies.il").write_text(rtlil.convert(m, ports=[v, d, q], name="copies"))


@pytest.mark.parametrize("keep", [True, False])
def test_fanout_copies_kept_by_keep_copies(tmp_path, keep):
    """The four copies of one flag stay four flip-flops through synth_ecp5 with KEEP_COPIES run
    after reading; without it yosys merges them into one (65 flip-flops)."""
    _copies_design(tmp_path)
    run_yosys(["read_rtlil copies.il", "synth_ecp5 -top copies -run begin:coarse",
               *(yosys.KEEP_COPIES if keep else ()), "synth_ecp5 -top copies -run coarse:",
               "tee -q -o stat.json stat -json", "write_json copies.json"], tmp_path,
              "yosys (copies)", "copies.log")
    stat = json.loads((tmp_path / "stat.json").read_text())
    assert stat["modules"]["\\copies"]["num_cells_by_type"]["TRELLIS_FF"] == (68 if keep else 65)
    # rnnrtl.synth.fanout sees the same: four enables of 16 flip-flops each, or one of 64.
    fanouts = register_fanouts(tmp_path / "copies.json", "copies")
    want = [(16, {("TRELLIS_FF", "CE"): 16})] * 4 if keep else [(64, {("TRELLIS_FF", "CE"): 64})]
    assert [(f.loads, f.by_port) for f in fanouts] == want


@pytest.mark.parametrize("kept", [True, False])
def test_kept_delay_lines_stay_apart(tmp_path, kept):
    """Two 2-stage delay lines of the same 8-bit value (a lane read by two far-apart multipliers,
    rnnrtl.hw.mac's operand stages): with ``delay(kept=True)`` and KEEP_COPIES they stay two lines
    (32 flip-flops); without, yosys merges them into one line driving both outputs (16)."""
    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal

    from rnnrtl.hw.common import delay
    m = Module()
    x, a, b = Signal(8), Signal(8), Signal(8)
    m.d.comb += [a.eq(delay(m, x, 2, "la", reset_less=True, kept=kept)),
                 b.eq(delay(m, x, 2, "lb", reset_less=True, kept=kept))]
    (tmp_path / "lines.il").write_text(rtlil.convert(m, ports=[x, a, b], name="lines"))
    run_yosys(["read_rtlil lines.il", "synth_ecp5 -top lines -run begin:coarse",
               *yosys.KEEP_COPIES, "synth_ecp5 -top lines -run coarse:",
               "tee -q -o stat.json stat -json"], tmp_path, "yosys (lines)", "lines.log")
    stat = json.loads((tmp_path / "stat.json").read_text())
    assert stat["modules"]["\\lines"]["num_cells_by_type"]["TRELLIS_FF"] == (32 if kept else 16)


def test_nextpnr_options_router_choice_keeps_the_other_options():
    """Without a router the options name none (rnnrtl.synth.place_route chooses); a router the
    caller names is added to the same options; an unknown one is refused."""
    default = yosys.nextpnr_options()
    assert default == yosys.NEXTPNR_OPTS and "--router" not in default
    for router in yosys.ROUTERS:
        chosen = yosys.nextpnr_options(router)
        assert chosen == (*default, "--router", router)
    with pytest.raises(ConfigError, match="router3.*router1, router2"):
        yosys.nextpnr_options("router3")


def _xaiger2_conflict_design(folder):
    """The ULX3S top (UART bridge and a small LSTM core) whose ``synth_ecp5`` left two flip-flops
    driving one net of the core with yosys 0.70's default ``write_xaiger2`` (YosysHQ/yosys#6237;
    nextpnr refused it): its RTLIL and the core's Verilog, as the board build had them."""
    source = Path(__file__).parent / "fixtures" / "yosys"
    for name, stored in (("top.il", "xaiger2_conflict.il.gz"),
                         ("tiny_roms.v", "xaiger2_conflict_core.v.gz")):
        (folder / name).write_bytes(gzip.decompress((source / stored).read_bytes()))
    return ["read_verilog tiny_roms.v", "read_rtlil top.il", "synth_ecp5 -top tiny_ulx3s_85f"]


@pytest.mark.parametrize("choice", ["native", "yowasp"])
def test_abc9_first_xaiger_writer_keeps_one_driver_per_net(tmp_path, monkeypatch, choice):
    """Every script run_yosys runs starts with ABC9_XAIGER1: the design synthesises with one
    driver per net (``check -assert`` fails the step otherwise). Set back to yosys's default
    writer, the same script leaves the conflict: the design does show the bug this guards against
    (when a yosys release fixes it, this half fails, and the setting can go)."""
    monkeypatch.setenv(yosys.YOSYS_ENV, choice)
    script = _xaiger2_conflict_design(tmp_path)
    run_yosys([*script, "check -assert"], tmp_path, "yosys (abc9)", "first.log")
    assert (tmp_path / "first.ys").read_text().splitlines()[0] == yosys.ABC9_XAIGER1
    with pytest.raises(BuildError, match="problems"):
        run_yosys(["scratchpad -set abc9.xaiger 0", *script, "check -assert"], tmp_path,
                  "yosys (abc9, xaiger2)", "second.log")
    assert "multiple conflicting drivers" in (tmp_path / "second.log").read_text()
