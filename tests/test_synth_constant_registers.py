"""rnnrtl.synth.constant_registers: the pipeline's constant register bits found in one pass."""

from pyosys import libyosys as ys       # part of the test install (rnnrtl[test])

from rnnrtl.synth.constant_registers import PASS, register
from synth_helpers import constant_pipeline

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


def _folded(tmp_path, verilog: str, top: str, before: str = "") -> tuple:
    """``verilog`` read, processed and flattened, ``before`` run, then the pass: (design, the
    pass's log)."""
    (tmp_path / "d.v").write_text(verilog)
    register()
    design = ys.Design()
    ys.run_pass(f"read_verilog -sv {tmp_path / 'd.v'}", design)
    ys.run_pass(f"hierarchy -top {top}; proc; flatten{before}", design)
    ys.run_pass(f"tee -q -o {tmp_path / 'fold.log'} {PASS}", design)
    return design, (tmp_path / "fold.log").read_text()


def test_fold_leaves_registers_with_an_initial_value(tmp_path):
    """A register with ``init`` keeps its reset value in the first cycle: not folded."""
    _, log = _folded(tmp_path, "module init_reg (input clk, output reg [3:0] y);\n"
                     "  reg [3:0] s = 4'd9;\n  always @(posedge clk) begin s <= 4'd6; y <= s; end\n"
                     "endmodule\n", "init_reg")
    # s has an init value; y (no init) reads s, which is not constant in its first cycle
    assert f"{PASS}: 0 of 4 register bits constant" in log


def test_fold_leaves_kept_registers(tmp_path):
    """A register cell with ``keep`` is left to yosys (the pass stays on the safe side should
    opt_dff ever respect keep), and its Q is a free value for the register after it."""
    design, log = _folded(tmp_path, "module kept_reg (input clk, output reg [3:0] y);\n"
                          "  reg [3:0] s;\n  always @(posedge clk) begin s <= 4'd6; y <= s; end\n"
                          "endmodule\n", "kept_reg", "; setattr -set keep 1 w:s %ci1 c:* %i")
    assert f"{PASS}: 0 of 4 register bits constant" in log
    ys.run_pass("opt -nodffe -nosdff", design)
    assert _flip_flop_bits(design) == 0       # yosys 0.70's own loop folds both, keep or not
