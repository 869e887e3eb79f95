"""rnnrtl.synth.vivado: the part name, the IP packaging TCL and reading Vivado's reports."""

from amaranth_boards.arty_a7 import ArtyA7_35Platform

from rnnrtl.platforms import VU9PPlatform
from rnnrtl.synth.vivado import ip_package_tcl, vivado_results, xilinx_part
from synth_helpers import check_ip_tcl

MANIFEST = {"top": "tiny", "clock": {"name": "clk"}, "reset": {"name": "rst", "active": "high"},
            "timing": {"latency": 12, "ii": 4}, "multipliers": 8}


def test_xilinx_part():
    assert xilinx_part(VU9PPlatform()) == VU9PPlatform().part == "xcvu9p-flga2104-2L-e"
    assert xilinx_part(ArtyA7_35Platform()) == "xc7a35ticsg324-1L"


def test_ip_package_tcl():
    text = ip_package_tcl(MANIFEST, "xc7a35ticsg324-1L")
    check_ip_tcl(text, "xc7a35ticsg324-1L")
    assert "latency 12 cycles, II 4 cycles, 8 multipliers" in text
    low = ip_package_tcl({**MANIFEST, "reset": {"name": "rst_n", "active": "low"}}, "p")
    assert "set_property value ACTIVE_LOW" in low and "-reset rst_n" in low


def test_vivado_results(tmp_path):
    (tmp_path / "t_utilization_route.rpt").write_text(
        "| Site Type | Used | Fixed |\n| CLB LUTs | 1234 | 0 |\n| CLB Registers | 99 | 0 |\n"
        "| DSPs | 12 | 0 |\n| Block RAM Tile | 1.5 | 0 |\n")
    (tmp_path / "t_timing.rpt").write_text(
        "    WNS(ns)      TNS(ns)\n    -------      -------\n      0.321        0.000\n")
    assert vivado_results(tmp_path, "t") == {"lut": 1234, "ff": 99, "dsp": 12, "bram": 1.5,
                                             "wns_ns": 0.321}
    assert vivado_results(tmp_path / "none", "t") == {}
