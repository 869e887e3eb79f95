"""rnnrtl.synth.constant_registers: the pipeline's constant register bits found in one pass."""

import pytest

from rnnrtl.synth.constant_registers import PASS, register
from synth_helpers import constant_pipeline

ys = pytest.importorskip("pyosys.libyosys", reason="pyosys is part of the test install")

STAGES = 6


def _flip_flop_bits(design) -> int:
    return sum(c.getParam(ys.IdString("\\WIDTH")).as_int()
               for c in design.top_module().cells_.values() if c.type.str() == "$dff")


def test_fold_finds_every_constant_register_bit_at_once(tmp_path):
    (tmp_path / "pipe.v").write_text(constant_pipeline(STAGES))
    register()
    design = ys.Design()
    ys.run_pass(f"read_verilog -sv {tmp_path / 'pipe.v'}", design)
    ys.run_pass("hierarchy -top pipe; proc; flatten", design)
    total = 16 * (STAGES + 1)
    assert _flip_flop_bits(design) == total
    ys.run_pass(f"tee -q -o {tmp_path / 'fold.log'} {PASS}", design)
    assert f"{PASS}: {8 * (STAGES + 1)} of {total} register bits constant" in \
        (tmp_path / "fold.log").read_text()
    # one opt_dff pass then removes them all: the lower bytes are left
    ys.run_pass("opt_dff; opt_clean", design)
    assert _flip_flop_bits(design) == 8 * (STAGES + 1)


def test_fold_leaves_registers_with_an_initial_value(tmp_path):
    """A register with ``init`` keeps its reset value in the first cycle: not folded."""
    (tmp_path / "init.v").write_text(
        "module init_reg (input clk, output reg [3:0] y);\n"
        "  reg [3:0] s = 4'd9;\n  always @(posedge clk) begin s <= 4'd6; y <= s; end\nendmodule\n")
    register()
    design = ys.Design()
    ys.run_pass(f"read_verilog -sv {tmp_path / 'init.v'}", design)
    ys.run_pass("hierarchy -top init_reg; proc; flatten", design)
    ys.run_pass(f"tee -q -o {tmp_path / 'fold.log'} {PASS}", design)
    # s has an init value; y (no init) reads s, which is not constant in its first cycle
    assert f"{PASS}: 0 of 4 register bits constant" in (tmp_path / "fold.log").read_text()


def test_fold_leaves_kept_registers(tmp_path):
    """A register cell with ``keep`` is left to yosys (the pass stays on the safe side should
    opt_dff ever respect keep), and its Q is a free value for the register after it."""
    (tmp_path / "kept.v").write_text(
        "module kept_reg (input clk, output reg [3:0] y);\n"
        "  reg [3:0] s;\n  always @(posedge clk) begin s <= 4'd6; y <= s; end\nendmodule\n")
    register()
    design = ys.Design()
    ys.run_pass(f"read_verilog -sv {tmp_path / 'kept.v'}", design)
    ys.run_pass("hierarchy -top kept_reg; proc; flatten; setattr -set keep 1 w:s %ci1 c:* %i", design)
    ys.run_pass(f"tee -q -o {tmp_path / 'fold.log'} {PASS}", design)
    assert f"{PASS}: 0 of 4 register bits constant" in (tmp_path / "fold.log").read_text()
    ys.run_pass("opt -nodffe -nosdff", design)
    assert _flip_flop_bits(design) == 0       # yosys 0.70's own loop folds both, keep or not
