"""Helpers of the rnnrtl.synth tests (importable): the tiny core they build, ``Input(4, 3) ->
SimpleRNN(3) -> Dense(2)`` at reuse 3, seeded, and what every IP packaging script holds."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TINY_CONFIG", "TOY_MANIFEST", "write_tiny", "manifest", "check_ip_tcl", "rtlil_cell",
           "check_pll", "constant_pipeline"]

TINY_CONFIG = {"reuse": 3, "tables": {"tanh": {"size": 256, "range": 4}}}

#: The stream sections of a toy core's manifest: 3-byte beats of two lanes in, 2-byte beats out.
TOY_MANIFEST = {
    "input": {"tdata_width": 24, "beats_per_sequence": 3,
              "lanes": [{"lane": 0, "lsb": 0, "width": 16, "signed": True, "format": "a"},
                        {"lane": 1, "lsb": 16, "width": 8, "signed": False, "format": "b"}]},
    "output": {"tdata_width": 16, "beats_per_sequence": 3,
               "lanes": [{"lane": 0, "lsb": 0, "width": 16, "signed": False, "format": "c"}]},
}


def write_tiny(folder: Path):
    """``(design, core folder)``: the tiny design, written to ``folder / 'core'``."""
    import keras
    import rnnrtl
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.SimpleRNN(3, name="rnn"),
                              keras.layers.Dense(2, name="out")], name="tiny")
    design = rnnrtl.convert(model, TINY_CONFIG)
    core = Path(folder) / "core"
    design.write(core, samples=6)
    return design, core


def manifest(core: Path) -> dict:
    return json.loads((core / "manifest.json").read_text())


def check_ip_tcl(text: str, part: str):
    """What every IP packaging script (``rnnrtl.synth.vivado.ip_package_tcl``) holds."""
    assert f"-part {part}" in text and "ipx::package_project" in text
    assert "ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0" in text
    for line in ("ipx::associate_bus_interfaces -busif s_axis -clock clk",
                 "ipx::associate_bus_interfaces -busif m_axis -clock clk",
                 "ipx::associate_bus_interfaces -clock clk -reset rst",
                 "set_property value ACTIVE_HIGH", "ipx::save_core"):
        assert line in text


def rtlil_cell(text: str, cell_type: str) -> dict:
    """The one cell of ``cell_type`` in an RTLIL file: ``{"parameters": {...}, "connections": {...},
    "attributes": {...}}`` (integers as ``int``, strings unquoted), read from the text alone."""
    lines = text.splitlines()
    starts = [i for i, l in enumerate(lines) if l.strip().startswith(f"cell \\{cell_type} ")]
    assert len(starts) == 1, f"{len(starts)} {cell_type} cells"
    attrs = {}
    for l in reversed(lines[:starts[0]]):
        if not l.strip().startswith("attribute "):
            break
        _, name, value = l.strip().split(" ", 2)
        attrs[name.lstrip("\\")] = _rtlil_value(value)
    cell = {"parameters": {}, "connections": {}, "attributes": attrs}
    for l in lines[starts[0] + 1:]:
        words = l.strip().split(" ", 2)
        if words[0] == "end":
            break
        key = {"parameter": "parameters", "connect": "connections"}[words[0]]
        cell[key][words[1].lstrip("\\")] = _rtlil_value(words[2])
    return cell


def _rtlil_value(text: str):
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1]
    return int(text) if text.lstrip("-").isdigit() else text


def check_pll(il_text: str, board_hz: float, want_hz: float):
    """The build's one ``EHXPLLL`` makes ``want_hz`` from ``board_hz`` exactly, by the ECP5
    arithmetic written out here (f_pfd = f_in / CLKI_DIV, f_out = f_pfd * CLKFB_DIV with CLKOP
    feedback, VCO = f_out * CLKOP_DIV), within the data sheet's limits; returns its parameters."""
    cell = rtlil_cell(il_text, "EHXPLLL")
    p, c = cell["parameters"], cell["connections"]
    pfd = board_hz / p["CLKI_DIV"]
    out = pfd * p["CLKFB_DIV"]
    assert out == want_hz, (out, want_hz)
    assert 10e6 <= pfd <= 400e6 and 400e6 <= out * p["CLKOP_DIV"] <= 800e6
    net = {port: c[port].removesuffix(" [0]") for port in ("CLKFB", "CLKOP")}   # 1-bit nets
    assert p["FEEDBK_PATH"] == "CLKOP" and net["CLKFB"] == net["CLKOP"]     # CLKOP fed back
    assert p["CLKOP_ENABLE"] == "ENABLED" and p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1
    a = cell["attributes"]
    assert float(a["FREQUENCY_PIN_CLKI"]) * 1e6 == board_hz
    assert float(a["FREQUENCY_PIN_CLKOP"]) * 1e6 == want_hz
    assert {k: a[k] for k in ("ICP_CURRENT", "LPF_RESISTOR", "MFG_ENABLE_FILTEROPAMP",
                              "MFG_GMCREF_SEL")} == {"ICP_CURRENT": "12", "LPF_RESISTOR": "8",
                                                    "MFG_ENABLE_FILTEROPAMP": "1",
                                                    "MFG_GMCREF_SEL": "2"}      # as ecppll
    return p


def constant_pipeline(stages: int) -> str:
    """Verilog of ``pipe``: ``stages`` 16-bit registers and an output register ``y``; the upper
    byte of each is a constant carried from stage to stage (8 constant bits a register, so
    ``8 * (stages + 1)`` of ``16 * (stages + 1)``), the lower byte the input plus that constant
    (an adder: not constant)."""
    lines = ["module pipe (input clk, input [7:0] a, output reg [15:0] y);",
             f"  reg [15:0] {', '.join(f's{k}' for k in range(stages))};",
             "  always @(posedge clk) begin",
             "    s0 <= {8'hA5, a};"]
    lines += [f"    s{k} <= {{s{k - 1}[15:8] ^ 8'h3C, s{k - 1}[7:0] + s{k - 1}[15:8]}};"
              for k in range(1, stages)]
    return "\n".join(lines + [f"    y <= s{stages - 1};", "  end", "endmodule", ""])
