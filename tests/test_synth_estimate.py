"""rnnrtl.synth.estimate: a yosys estimate of the tiny core (the first YoWASP run on a machine
compiles the tools, ~75 s once)."""

import json

import pytest

from rnnrtl.errors import ConfigError
from rnnrtl.synth.build import build
from rnnrtl.synth.core import read_core
from rnnrtl.synth import estimate, yosys
from rnnrtl.synth.estimate import PART_CELLS, estimate_verilog, run_estimate
from synth_helpers import constant_pipeline, write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def test_estimate_arguments(tiny, tmp_path, monkeypatch):
    _, folder = tiny
    core = read_core(folder)
    with pytest.raises(ConfigError, match="estimate 'xc8' is unknown"):
        run_estimate(core, "xc8", tmp_path)
    with pytest.raises(ConfigError, match="router 'router3' is unknown"):
        run_estimate(core, "ecp5", tmp_path, router="router3")
    monkeypatch.setenv("RNNRTL_ROUTER1_BUDGET_S", "-5")      # refused before yosys runs
    with pytest.raises(ConfigError, match="RNNRTL_ROUTER1_BUDGET_S='-5' is not a budget"):
        run_estimate(core, "ecp5", tmp_path / "budget")
    assert not (tmp_path / "budget").exists()


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
    first, reader = (est.folder / "yosys_1.ys").read_text().splitlines()[:2]
    assert first == yosys.ABC9_XAIGER1 and reader.startswith("read_rtlil ")  # the fast reader
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
    log = (est.folder / "yosys_2.log").read_text()
    assert "ABC: + &if" in log and "&verify" not in log
    # yosys's own coarse step (share included), not a core's
    assert "Executing SHARE pass" in (est.folder / "yosys_1.log").read_text()


@pytest.mark.slow
def test_estimate_of_foreign_verilog_folds_constant_registers(tmp_path, monkeypatch):
    """The native yosys finds a pipeline's constant register bits in one pass before
    synth_xilinx's prepare step (rnnrtl.synth.constant_registers); the cells are those of
    YoWASP's yosys, which cannot run the pass and folds them one stage per opt iteration."""
    (tmp_path / "pipe.v").write_text(constant_pipeline(6))
    monkeypatch.setenv(yosys.YOSYS_ENV, "native")
    native = estimate_verilog([tmp_path / "pipe.v"], "pipe", "xcup", tmp_path / "native")
    monkeypatch.setenv(yosys.YOSYS_ENV, "yowasp")
    wasm = estimate_verilog([tmp_path / "pipe.v"], "pipe", "xcup", tmp_path / "yowasp")
    assert "fold_constant_registers: 56 of 112 register bits constant" in \
        (native.folder / "yosys_1.log").read_text()
    assert "FOLD_CONSTANT_REGISTERS" not in (wasm.folder / "yosys_1.log").read_text()
    assert native.cells == wasm.cells
    assert native.resources["ff"] <= 56          # the lower bytes at most (SRLs may take some)


def _stage(lanes: int, *, one_register: bool) -> str:
    """Verilog of ``stage``: ``lanes`` 8-bit inputs registered, in one register of ``8 * lanes``
    bits or one register each, then each lane plus its neighbour registered."""
    if one_register:
        lane = [f"r[{8 * i + 7}:{8 * i}]" for i in range(lanes)]
        regs, loads = f"reg [{8 * lanes - 1}:0] r;", ["r <= a;"]
    else:
        lane = [f"r{i}" for i in range(lanes)]
        regs = f"reg [7:0] {', '.join(lane)};"
        loads = [f"{r} <= a[{8 * i + 7}:{8 * i}];" for i, r in enumerate(lane)]
    sums = [f"s[{9 * i + 8}:{9 * i}] <= {lane[i]} + {lane[(i + 1) % lanes]};" for i in range(lanes)]
    return "\n".join([f"module stage (input clk, input [{8 * lanes - 1}:0] a,",
                      f"              output reg [{9 * lanes - 1}:0] s);", f"  {regs}",
                      "  always @(posedge clk) begin", *(f"    {x}" for x in loads + sums),
                      "  end", "endmodule", ""])


@pytest.mark.slow
def test_estimate_of_foreign_verilog_splits_registers(tmp_path):
    """A register that holds a whole pipeline stage is cut by the use of its bits before yosys
    prepares the design (estimate.SPLIT_REGISTERS): it counts as the same stage written with a
    register per lane."""
    for one in (True, False):
        (tmp_path / f"{one}.v").write_text(_stage(6, one_register=one))
    whole = estimate_verilog([tmp_path / "True.v"], "stage", "xcup", tmp_path / "whole")
    lanes = estimate_verilog([tmp_path / "False.v"], "stage", "xcup", tmp_path / "lanes")
    log = (whole.folder / "yosys_1.log").read_text()
    assert "Splitting $dff cell stage/" in log and "into 6 slices" in log
    assert whole.cells == lanes.cells
    assert whole.resources["ff"] == 6 * 8 + 6 * 9


def _foreign_lanes(lanes: int) -> str:
    """Another tool's Verilog: ``lanes`` registered 12 x 12 products, each delayed four cycles
    (a shift register) and summed with its neighbour's."""
    body = [f"module lanes (input clk, input [{12 * lanes - 1}:0] a, input [{12 * lanes - 1}:0] b,",
            f"              output reg [{25 * lanes - 1}:0] s);"]
    for i in range(lanes):
        body += [f"  reg [11:0] a{i}, b{i}; reg [23:0] p{i}, d{i}_0, d{i}_1, d{i}_2, d{i}_3;",
                 f"  always @(posedge clk) begin a{i} <= a[{12 * i + 11}:{12 * i}]; "
                 f"b{i} <= b[{12 * i + 11}:{12 * i}]; p{i} <= a{i} * b{i}; d{i}_0 <= p{i}; "
                 f"d{i}_1 <= d{i}_0; d{i}_2 <= d{i}_1; d{i}_3 <= d{i}_2; end"]
    for i in range(lanes):
        body.append(f"  always @(posedge clk) s[{25 * i + 24}:{25 * i}] <= d{i}_3 + d{(i + 1) % lanes}_3;")
    return "\n".join(body + ["endmodule", ""])


@pytest.mark.slow
def test_estimate_of_foreign_verilog_in_parts(tmp_path):
    """Another tool's design mapped in two parts at once counts what it counts in one: the same
    DSPs, shift registers and carries; flip-flops and LUTs within what the cut may change."""
    (tmp_path / "lanes.v").write_text(_foreign_lanes(8))
    whole = estimate_verilog([tmp_path / "lanes.v"], "lanes", "xcup", tmp_path / "whole")
    split = estimate_verilog([tmp_path / "lanes.v"], "lanes", "xcup", tmp_path / "split", parts=2)
    assert not (whole.folder / "yosys_2_part1.log").exists()     # small: one part by default
    assert "Creating submodule rnnrtl_part1" in (split.folder / "yosys_2.log").read_text()
    for k in (0, 1):
        assert "ABC: + &if" in (split.folder / f"yosys_2_part{k}.log").read_text()
    assert whole.resources["dsp"] == split.resources["dsp"] == 8
    for kind in ("SRL16E", "SRLC32E", "CARRY8"):
        assert whole.cells.get(kind, 0) == split.cells.get(kind, 0), kind
    assert whole.cells.get("SRL16E", 0) > 0      # the delay lines are shift registers in both
    assert whole.resources["ff"] <= split.resources["ff"] <= 1.03 * whole.resources["ff"]
    assert abs(split.resources["lut"] - whole.resources["lut"]) <= 0.15 * whole.resources["lut"]
    with pytest.raises(ConfigError, match="parts 0 is out of range"):
        estimate_verilog([tmp_path / "lanes.v"], "lanes", "xcup", tmp_path / "bad", parts=0)


@pytest.mark.parametrize("cells, machine_cores, family, parts", [
    (6_281, 2, "xcup", 1),          # the jet LSTM at reuse 40: one process
    (PART_CELLS, 1, "xcup", 1),     # one core: nothing to run side by side
    (PART_CELLS, 2, "xc7", 2),
    (54_855, 2, "ecp5", 1),         # nextpnr needs the whole netlist
    (130_000, 4, "xcup", 2),        # more parts cost flip-flops (docs/benchmarks.md)
])
def test_default_parts(monkeypatch, cells, machine_cores, family, parts):
    """A large core is mapped in two parts on a machine of two cores or more, else in one."""
    monkeypatch.setattr(estimate, "cores", lambda: machine_cores)
    netlist = {"modules": {"top": {"cells": {f"c{i}": {"type": "$add"} for i in range(cells)}}}}
    netlist["modules"]["top"]["cells"]["scope"] = {"type": "$scopeinfo"}   # not counted
    assert estimate._parts(netlist, "top", family) == parts
