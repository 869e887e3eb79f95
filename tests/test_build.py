"""Builds (rnnrtl.build, platforms/).

Build plans are checked without the vendor tools; an ECP5 bitstream and an xc7 estimate run
yosys (pyosys's native one for estimates, YoWASP's for boards) and nextpnr from YoWASP on a tiny
model (the first YoWASP run on a machine compiles the tools, ~75 s once).
"""

import json
import sys
from pathlib import Path

import pytest

from rnnrtl import build as rb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # platforms/ is a folder of the source tree
    sys.path.insert(0, str(ROOT))

TINY_CONFIG = {"reuse": 3, "tables": {"tanh": {"size": 256, "range": 4}}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``Input(4, 3) -> SimpleRNN(3) -> Dense(2)`` at reuse 3: ``(design, core folder)``."""
    import keras
    import rnnrtl
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.SimpleRNN(3, name="rnn"),
                              keras.layers.Dense(2, name="out")], name="tiny")
    design = rnnrtl.convert(model, TINY_CONFIG)
    folder = tmp_path_factory.mktemp("tiny") / "core"
    design.write(folder, samples=6)
    return design, folder


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


# -- build plans, no vendor tool --------------------------------------------------------------------

def test_targets_known():
    assert set(rb.targets()) >= {"vu9p", "arty_a7", "ulx3s_85f"}
    with pytest.raises(ValueError, match="unknown target 'nope'.*known: arty_a7"):
        rb.build(ROOT, "nope", outdir=ROOT / "unused")


def test_vu9p_plan(tiny, tmp_path):
    _, core = tiny
    r = rb.build(core, "vu9p", outdir=tmp_path, run=False)
    f = r.files
    assert not r.ran and "not run" in r.message
    tcl = f["tcl"].read_text()
    assert "-part xcvu9p-flga2104-2L-e" in tcl and "-mode out_of_context" in tcl
    assert "add_files \"tiny.v\"" in tcl and "write_bitstream" not in tcl
    assert "create_clock -name clk -period 5.000 [get_ports clk]" in f["xdc"].read_text()
    top = f["top_verilog"].read_text()
    assert "module tiny_ooc(" in top and "tiny core (" in top
    for port in _manifest(core)["ports"]:
        assert port["name"] in top
    assert f["core_verilog"].read_text() == (core / "tiny.v").read_text()
    _check_ip_tcl(f["ip_tcl"].read_text(), "xcvu9p-flga2104-2L-e")


def _check_ip_tcl(text, part):
    assert f"-part {part}" in text and "ipx::package_project" in text
    assert "ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0" in text
    for line in ("ipx::associate_bus_interfaces -busif s_axis -clock clk",
                 "ipx::associate_bus_interfaces -busif m_axis -clock clk",
                 "ipx::associate_bus_interfaces -clock clk -reset rst",
                 "set_property value ACTIVE_HIGH", "ipx::save_core"):
        assert line in text


def test_arty_plan(tiny, tmp_path):
    _, core = tiny
    r = rb.build(core, "arty_a7", outdir=tmp_path, run=False)
    f = r.files
    tcl = f["tcl"].read_text()
    assert "-part xc7a35ticsg324-1L" in tcl and "write_bitstream" in tcl
    xdc = f["xdc"].read_text()
    assert 'set_property LOC A9 [get_ports "uart_0__rx__io"]' in xdc      # the board's USB UART
    assert 'set_property LOC D10 [get_ports "uart_0__tx__io"]' in xdc
    assert "create_clock -name clk100_0__io -period 10.0" in xdc
    assert "tiny core (" in f["top_verilog"].read_text()
    _check_ip_tcl(f["ip_tcl"].read_text(), "xc7a35ticsg324-1L")
    assert f["build_script"].is_file()


def test_ulx3s_plan(tiny, tmp_path):
    _, core = tiny
    r = rb.build(core, "ulx3s_85f", outdir=tmp_path, run=False)
    ys = r.files["yosys_script"].read_text()
    assert "read_verilog  tiny.v" in ys or "read_verilog tiny.v" in ys
    assert "synth_ecp5" in ys
    lpf = r.files["lpf"].read_text()
    assert 'LOCATE COMP "uart_0__rx__io" SITE "M1"' in lpf
    script = r.files["build_script"].read_text()
    assert "--report tiny_ulx3s_85f_report.json" in script
    # the DSP register packing runs between yosys and nextpnr
    assert script.index('"$YOSYS"') < script.index("-m rnnrtl.ecp5_pack tiny_ulx3s_85f.json") \
        < script.index('"$NEXTPNR_ECP5"')


def test_build_from_design_writes_core(tiny, tmp_path):
    design, _ = tiny
    r = rb.build(design, "vu9p", outdir=tmp_path, run=False)
    assert r.core.dir == (tmp_path / "core").resolve()
    assert (tmp_path / "core" / "vectors.npz").is_file()
    assert r.core.rtlil is not None and r.core.rtlil.read_text().startswith("attribute")  # RTLIL
    assert r.timing["multipliers"] == design.timing.multipliers == r.multipliers


# -- helpers, without tools ---------------------------------------------------------------------------

def test_stat_resources():
    xc7 = rb.stat_resources({"LUT2": 3, "LUT6": 2, "RAM32M": 1, "FDRE": 7, "FDSE": 1,
                             "DSP48E1": 4, "RAMB36E1": 1, "RAMB18E1": 1, "CARRY4": 2}, "xc7")
    assert xc7 == {"lut": 9, "lut_logic": 5, "lut_memory": 4, "ff": 8, "dsp": 4, "bram": 1.5,
                   "carry": 2}
    ecp5 = rb.stat_resources({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 5, "MULT18X18D": 2,
                              "DP16KD": 1}, "ecp5")
    assert (ecp5["lut"], ecp5["ff"], ecp5["dsp"], ecp5["bram"]) == (16, 5, 2, 1)


def test_multiplier_note(tiny):
    design, _ = tiny
    inv = rb.multiplier_inventory(design.network)
    assert inv["shared"] == design.timing.multipliers      # reuse 3 everywhere: no constants
    assert inv["constant"] == 0
    assert "one DSP per multiplier" in rb.multiplier_note(8, 8, "xc7", inv)
    assert "constant weight" in rb.multiplier_note(10, 4, "xc7")
    assert "several DSPs" in rb.multiplier_note(4, 8, "ecp5")


def test_vivado_results(tmp_path):
    (tmp_path / "t_utilization_route.rpt").write_text(
        "| Site Type | Used | Fixed |\n| CLB LUTs | 1234 | 0 |\n| CLB Registers | 99 | 0 |\n"
        "| DSPs | 12 | 0 |\n| Block RAM Tile | 1.5 | 0 |\n")
    (tmp_path / "t_timing.rpt").write_text(
        "    WNS(ns)      TNS(ns)\n    -------      -------\n      0.321        0.000\n")
    assert rb.vivado_results(tmp_path, "t") == {"lut": 1234, "ff": 99, "dsp": 12, "bram": 1.5,
                                                 "wns_ns": 0.321}


def test_split_rom_ports():
    """A 3-port ROM becomes ports (0, 1) and (2,); RAMs and small ROMs are left alone."""
    def mem(rd, wr, width=2, abits=3):
        return {"type": "$mem_v2", "parameters": {
                    "RD_PORTS": format(rd, "032b"), "WR_PORTS": format(wr, "032b"),
                    "WIDTH": format(width, "032b"), "ABITS": format(abits, "032b"),
                    "MEMID": "\\rom", "INIT": "1010",
                    "RD_CLK_ENABLE": "1" * rd, "RD_INIT_VALUE": "".join(f"{k:02b}" for k in reversed(range(rd)))},
                "connections": {"RD_CLK": [5] * rd, "RD_EN": [f"e{k}" for k in range(rd)],
                                "RD_ARST": ["0"] * rd, "RD_SRST": ["0"] * rd,
                                "RD_ADDR": [f"a{k}{b}" for k in range(rd) for b in range(abits)],
                                "RD_DATA": [f"d{k}{b}" for k in range(rd) for b in range(width)]}}
    netlist = {"modules": {"top": {"cells": {"t": mem(3, 0), "r": mem(3, 1), "s": mem(2, 0)}}}}
    assert rb.split_rom_ports(netlist) == 1
    cells = netlist["modules"]["top"]["cells"]
    assert sorted(cells) == ["r", "s", "t_ports0", "t_ports2"]
    a, b = cells["t_ports0"], cells["t_ports2"]
    assert int(a["parameters"]["RD_PORTS"], 2) == 2 and int(b["parameters"]["RD_PORTS"], 2) == 1
    assert a["parameters"]["RD_INIT_VALUE"] == "0100" and b["parameters"]["RD_INIT_VALUE"] == "10"
    assert a["connections"]["RD_EN"] == ["e0", "e1"] and b["connections"]["RD_EN"] == ["e2"]
    assert b["connections"]["RD_ADDR"] == ["a20", "a21", "a22"]
    assert b["connections"]["RD_DATA"] == ["d20", "d21"]
    assert a["parameters"]["INIT"] == b["parameters"]["INIT"] == "1010"
    assert a["parameters"]["MEMID"] != b["parameters"]["MEMID"]


# -- YoWASP runs ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ecp5_bitstream(tiny, tmp_path):
    _, core = tiny
    r = rb.build(core, "ulx3s_85f", outdir=tmp_path)
    assert r.ran, r.message
    bit = r.files["bitstream"]
    assert bit.is_file() and bit.stat().st_size > 100_000
    assert r.files["rom_split_verilog"].is_file()          # what yosys read
    assert r.fmax_mhz > 25                             # the ULX3S clock
    assert r.resources["MULT18X18D"]["used"] == r.multipliers
    assert r.critical_path["delay_ns"] > 0


@pytest.mark.slow
def test_estimate_xc7(tiny, tmp_path):
    design, core = tiny
    r = rb.build(design, None, outdir=tmp_path, estimate="xc7")
    est = r.estimate
    assert est.family == "xc7" and est.fmax_mhz is None
    assert est.resources["lut"] > 100 and est.resources["ff"] > 100
    # reuse 3: every multiplier has a variable operand (a weight from a ROM) -> one DSP48E1 each
    assert est.resources["dsp"] == design.timing.multipliers
    assert "one DSP per multiplier" in est.multiplier_note
    assert "estimate xc7: LUT" in r.summary()
    assert (est.folder / "yosys_1.ys").read_text().startswith("read_rtlil ")  # the fast reader


_MAC_VERILOG = """module mac(input clk, input [15:0] a, input [15:0] b, output reg [35:0] acc);
  always @(posedge clk) acc <= acc + a * b;
endmodule
"""


@pytest.mark.slow
def test_native_yosys_matches_yowasp(tmp_path, monkeypatch):
    """The estimates' yosys (pyosys, native) and YoWASP's map a design to the same cells; an error
    in a script reaches the log and fails the step with yosys's message."""
    from rnnrtl import native_yosys
    assert native_yosys.available(), "pyosys is part of the test install (rnnrtl[test])"
    stats = {}
    for choice in ("native", "yowasp"):
        monkeypatch.setenv(native_yosys.ENV, choice)
        folder = tmp_path / choice
        folder.mkdir()
        (folder / "mac.v").write_text(_MAC_VERILOG)
        rb._yosys(["read_verilog mac.v", "synth_xilinx -family xcup -top mac",
                   "tee -q -o stat.json stat -json"], folder, f"yosys ({choice})", "y.log")
        stats[choice] = json.loads((folder / "stat.json").read_text())["modules"]["\\mac"]
        with pytest.raises(rb.BuildError, match="missing.v"):
            rb._yosys(["read_verilog missing.v"], folder, f"yosys ({choice})", "bad.log")
    assert stats["native"]["num_cells_by_type"] == stats["yowasp"]["num_cells_by_type"]
    assert stats["native"]["num_cells_by_type"].get("DSP48E2") == 1


def test_native_yosys_choice(monkeypatch):
    from rnnrtl import native_yosys
    monkeypatch.setenv(native_yosys.ENV, "yowasp")
    assert native_yosys.yosys_command() is None
    monkeypatch.setenv(native_yosys.ENV, "native")
    monkeypatch.setattr(native_yosys, "available", lambda: True)
    assert native_yosys.yosys_command()[-2:] == ["-m", "rnnrtl.native_yosys"]
    monkeypatch.setattr(native_yosys, "available", lambda: False)
    with pytest.raises(ValueError, match="pyosys is not installed"):
        native_yosys.yosys_command()
    monkeypatch.delenv(native_yosys.ENV)
    assert native_yosys.yosys_command() is None      # no pyosys: YoWASP's
    monkeypatch.setenv(native_yosys.ENV, "fast")
    with pytest.raises(ValueError, match="valid: native, yowasp"):
        native_yosys.yosys_command()
