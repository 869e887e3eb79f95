"""Helpers of the rnnrtl.synth tests (importable): the tiny core they build, ``Input(4, 3) ->
SimpleRNN(3) -> Dense(2)`` at reuse 3, seeded, and what every IP packaging script holds."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TINY_CONFIG", "TOY_MANIFEST", "write_tiny", "manifest", "check_ip_tcl"]

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
