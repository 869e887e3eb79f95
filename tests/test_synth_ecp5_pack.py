"""``rnnrtl.synth.ecp5_pack`` on netlists that yosys's ``synth_ecp5`` made from small Amaranth designs."""

import json
import subprocess

from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rnnrtl.synth.ecp5_pack import pack_dsp_registers, pack_ebr_output_registers
from rnnrtl.synth.yosys import tool


class RegisteredProduct(wiring.Component):
    """``p = a_reg * b_reg`` registered, the operands registered under ``en``; ``tap`` exposes
    ``a_reg`` to other logic when ``shared``."""
    a: In(signed(12))
    b: In(signed(10))
    en: In(1)
    p: Out(signed(22))
    tap: Out(signed(12))

    def __init__(self, shared: bool):
        self.shared = shared
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        a_reg, b_reg = Signal(signed(12)), Signal(signed(10))
        with m.If(self.en):
            m.d.sync += [a_reg.eq(self.a), b_reg.eq(self.b)]
        m.d.sync += self.p.eq(a_reg * b_reg)
        if self.shared:
            m.d.comb += self.tap.eq(a_reg)
        return m


def _synth(tmp_path, shared: bool = False, design=None) -> dict:
    design = design if design is not None else RegisteredProduct(shared)
    (tmp_path / "top.v").write_text(verilog.convert(design, name="top", emit_src=False))
    script = "read_verilog top.v\nsynth_ecp5 -top top -json top.json\n"
    (tmp_path / "s.ys").write_text(script)
    subprocess.run([tool("yosys"), "-q", "-s", "s.ys"], cwd=tmp_path, check=True)
    return json.loads((tmp_path / "top.json").read_text())


def _cells(netlist, kind):
    return [c for c in netlist["modules"]["top"]["cells"].values() if c["type"] == kind]


def test_operand_and_product_registers_move_into_the_dsp(tmp_path):
    netlist = _synth(tmp_path, shared=False)
    ffs_before = len(_cells(netlist, "TRELLIS_FF"))
    (dsp,) = _cells(netlist, "MULT18X18D")
    a_driver_inputs = set()
    by_q = {c["connections"]["Q"][0]: c for c in _cells(netlist, "TRELLIS_FF")}
    for i in range(12):
        a_driver_inputs.add(by_q[dsp["connections"][f"A{i}"][0]]["connections"]["DI"][0])
    assert pack_dsp_registers(netlist) == 3          # A, B and the output
    (dsp,) = _cells(netlist, "MULT18X18D")
    par, con = dsp["parameters"], dsp["connections"]
    assert (par["REG_INPUTA_CLK"], par["REG_INPUTB_CLK"], par["REG_OUTPUT_CLK"]) == ("CLK0",) * 3
    # The operand registers have an enable, the product register none: two CE pins.
    assert par["REG_INPUTA_CE"] == par["REG_INPUTB_CE"] != par["REG_OUTPUT_CE"]
    assert con[par["REG_OUTPUT_CE"]] == ["1"]
    assert par["RESETMODE"] == "SYNC"
    # 12 + 10 operand and 22 product flip-flops are gone; A reads what the flip-flops read.
    assert ffs_before - len(_cells(netlist, "TRELLIS_FF")) == 12 + 10 + 22
    assert {con[f"A{i}"][0] for i in range(12)} == a_driver_inputs
    assert all(d == "input" for p, d in dsp["port_directions"].items() if p[:-1] in ("CLK", "CE", "RST"))


def test_a_register_with_other_loads_stays_in_the_fabric(tmp_path):
    netlist = _synth(tmp_path, shared=True)
    assert pack_dsp_registers(netlist) == 2          # B and the output only
    (dsp,) = _cells(netlist, "MULT18X18D")
    assert dsp["parameters"].get("REG_INPUTA_CLK", "NONE") == "NONE"
    assert dsp["parameters"]["REG_INPUTB_CLK"] == "CLK0"


class TwoProductsOneOperand(wiring.Component):
    """``p = a_reg * b_reg`` and ``q = a_reg * c_reg``: one operand register read by two
    multipliers (as yosys leaves MatVec operand registers it merged)."""
    a: In(signed(12))
    b: In(signed(10))
    c: In(signed(10))
    p: Out(signed(22))
    q: Out(signed(22))

    def elaborate(self, platform):
        m = Module()
        a_reg, b_reg, c_reg = Signal(signed(12)), Signal(signed(10)), Signal(signed(10))
        m.d.sync += [a_reg.eq(self.a), b_reg.eq(self.b), c_reg.eq(self.c),
                     self.p.eq(a_reg * b_reg), self.q.eq(a_reg * c_reg)]
        return m


def test_an_operand_register_read_by_two_multipliers_is_copied_into_both(tmp_path):
    netlist = _synth(tmp_path, design=TwoProductsOneOperand())
    ffs_before = len(_cells(netlist, "TRELLIS_FF"))
    assert pack_dsp_registers(netlist) == 6          # A, B and the output of both
    dsps = _cells(netlist, "MULT18X18D")
    assert len(dsps) == 2
    a_inputs = [{d["connections"][f"A{i}"][0] for i in range(12)} for d in dsps]
    a_port = set(netlist["modules"]["top"]["ports"]["a"]["bits"])
    assert a_inputs[0] == a_inputs[1] == a_port       # both read the port, each registers it
    assert all(d["parameters"]["REG_INPUTA_CLK"] == "CLK0" for d in dsps)
    assert ffs_before - len(_cells(netlist, "TRELLIS_FF")) == 12 + 2 * 10 + 2 * 22


class RegisteredTableRead(wiring.Component):
    """A 1024 x 9 ROM read through a synchronous port, its data registered under ``en`` (the
    ActivationUnit's table and output stages); ``reset``: that register has a reset; ``tap``:
    the ROM's data also feeds other logic."""
    addr: In(10)
    en: In(1)
    o: Out(9)
    tap: Out(1)

    def __init__(self, *, reset: bool = False, tap: bool = False):
        self.reset, self.tap_data = reset, tap
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = Memory(shape=9, depth=1024, init=[(7 * i) % 509 for i in range(1024)])
        port = rom.read_port()
        out = Signal(9, reset_less=not self.reset)
        m.d.comb += [port.addr.eq(self.addr), self.o.eq(out)]
        with m.If(self.en):
            m.d.sync += out.eq(port.data)
        if self.tap_data:
            m.d.comb += self.tap.eq(port.data.any())
        return m


def test_table_read_register_moves_into_the_block_ram(tmp_path):
    netlist = _synth(tmp_path, design=RegisteredTableRead())
    ffs_before = len(_cells(netlist, "TRELLIS_FF"))
    (ram,) = _cells(netlist, "DP16KD")
    port = "A" if any(isinstance(ram["connections"][f"DOA{i}"][0], int) for i in range(9)) else "B"
    en = netlist["modules"]["top"]["ports"]["en"]["bits"][0]
    o = netlist["modules"]["top"]["ports"]["o"]["bits"]
    assert pack_ebr_output_registers(netlist) == 1
    (ram,) = _cells(netlist, "DP16KD")
    assert ram["parameters"][f"REGMODE_{port}"] == "OUTREG"
    assert ram["connections"][f"OCE{port}"] == [en]           # the register's enable
    assert ffs_before - len(_cells(netlist, "TRELLIS_FF")) == 9
    assert sorted(ram["connections"][f"DO{port}{i}"][0] for i in range(9)) == sorted(o)


def test_table_read_register_with_a_reset_or_a_shared_data_bit_stays(tmp_path):
    for design in (RegisteredTableRead(reset=True), RegisteredTableRead(tap=True)):
        netlist = _synth(tmp_path, design=design)
        assert pack_ebr_output_registers(netlist) == 0
        (ram,) = _cells(netlist, "DP16KD")
        assert {ram["parameters"]["REGMODE_A"], ram["parameters"]["REGMODE_B"]} == {"NOREG"}


class TableTimesOperand(wiring.Component):
    """A table read (``Memory`` synchronous port, 512 x 9) times a registered operand, the product
    registered. ``direct``: the table's data goes straight into the multiplier's operand register;
    otherwise through a reset-less register first (the ActivationUnit's output stage, which can
    become the block RAM's output register)."""
    addr: In(9)
    b: In(signed(10))
    p: Out(signed(20))

    def __init__(self, *, direct: bool):
        self.direct = direct
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = Memory(shape=9, depth=512, init=[(5 * i) % 509 for i in range(512)])
        port = rom.read_port()
        m.d.comb += port.addr.eq(self.addr)
        data = port.data
        if not self.direct:
            data = Signal(9, reset_less=True)
            m.d.sync += data.eq(port.data)
        a_reg, b_reg = Signal(9, reset_less=True), Signal(signed(10), reset_less=True)
        m.d.sync += [a_reg.eq(data), b_reg.eq(self.b), self.p.eq(a_reg * b_reg)]
        return m


def test_operand_register_behind_a_registered_table_moves_into_the_dsp(tmp_path):
    netlist = _synth(tmp_path, design=TableTimesOperand(direct=False))
    assert pack_ebr_output_registers(netlist) == 1
    assert pack_dsp_registers(netlist) == 3           # A (behind OUTREG), B and the output
    (dsp,) = _cells(netlist, "MULT18X18D")
    assert dsp["parameters"]["REG_INPUTA_CLK"] == dsp["parameters"]["REG_INPUTB_CLK"] == "CLK0"


def test_operand_register_behind_an_unregistered_table_stays(tmp_path):
    # (pack_ebr_output_registers would move that operand register into the block RAM instead.)
    netlist = _synth(tmp_path, design=TableTimesOperand(direct=True))
    assert pack_dsp_registers(netlist) == 2           # B and the output
    (dsp,) = _cells(netlist, "MULT18X18D")
    # The table's slow clock-to-out keeps a fabric flip-flop behind it: that side stays unpacked.
    registered = {side: dsp["parameters"].get(f"REG_INPUT{side}_CLK", "NONE") != "NONE" for side in "AB"}
    assert sorted(registered.values()) == [False, True], registered
