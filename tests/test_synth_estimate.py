"""rnnrtl.synth.estimate: a yosys estimate of the tiny core (the first YoWASP run on a machine
compiles the tools, ~75 s once)."""

import json

import pytest

from rnnrtl.errors import ConfigError
from rnnrtl.synth.build import build
from rnnrtl.synth.core import read_core
from rnnrtl.synth.estimate import estimate_verilog, run_estimate
from synth_helpers import write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def test_estimate_arguments(tiny, tmp_path):
    _, folder = tiny
    core = read_core(folder)
    with pytest.raises(ConfigError, match="estimate 'xc8' is unknown"):
        run_estimate(core, "xc8", tmp_path)
    with pytest.raises(ConfigError, match="router 'router3' is unknown"):
        run_estimate(core, "ecp5", tmp_path, router="router3")


@pytest.mark.slow
def test_estimate_xc7(tiny, tmp_path):
    design, _ = tiny
    r = build(design, None, outdir=tmp_path, estimate="xc7")
    est = r.estimate
    assert est.family == "xc7" and est.fmax_mhz is None
    assert est.resources["lut"] > 100 and est.resources["ff"] > 100
    # reuse 3: every multiplier has a variable operand (a weight from a ROM) -> one DSP48E1 each
    assert est.resources["dsp"] == design.timing.multipliers
    assert "one DSP per multiplier" in est.multiplier_note
    assert "estimate xc7: LUT" in r.summary()
    assert (est.folder / "yosys_1.ys").read_text().startswith("read_rtlil ")  # the fast reader
    # ABC mapped the logic, without its own check of the mapping (NO_ABC_VERIFY)
    log = (est.folder / "yosys_2.log").read_text()
    assert "ABC: + &if" in log and "&verify" not in log
    # the memories were mapped in a module of their own (memories_apart), then flattened back
    assert "mapping memory rnnrtl_memories.core." in log
    assert "Deleting now unused module rnnrtl_memories." in log
    assert "\\rnnrtl_memories" not in json.loads((est.folder / "stat.json").read_text())["modules"]
    # out of context: no clock buffer (the top's)
    assert "BUFG" not in est.cells and est.cells.get("FDRE", 0) > 100


#: Another tool's Verilog, hand-written: a 12-bit registered product of two registered inputs.
FOREIGN = """
module product (input clk, input [11:0] a, input [11:0] b, output reg [23:0] p);
  reg [11:0] ar, br;
  always @(posedge clk) begin ar <= a; br <= b; p <= ar * br; end
endmodule
"""


def test_estimate_of_foreign_verilog_refuses_ecp5(tmp_path):
    with pytest.raises(ConfigError, match="estimate 'ecp5' of foreign Verilog.*xc7, xcup"):
        estimate_verilog([tmp_path / "x.v"], "product", "ecp5", tmp_path)


@pytest.mark.slow
def test_estimate_of_foreign_verilog(tmp_path):
    (tmp_path / "product.v").write_text(FOREIGN)
    est = estimate_verilog([tmp_path / "product.v"], "product", "xcup", tmp_path / "est")
    # a 12 x 12 product fits one DSP48E2, its three registers inside it or in 48 flip-flops
    assert est.resources["dsp"] == 1
    assert est.resources["ff"] <= 48 and est.resources["lut"] < 50
    assert (est.folder / "stat.json").is_file() and "BUFG" not in est.cells
    log = (est.folder / "yosys.log").read_text()
    assert "ABC: + &if" in log and "&verify" not in log
