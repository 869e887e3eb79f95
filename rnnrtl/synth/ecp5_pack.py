"""Pack fabric registers into the hard blocks of a synthesised ECP5 yosys JSON netlist.

yosys 0.70's ``synth_ecp5`` leaves the registers of ``MULT18X18D`` and ``DP16KD`` cells off, so a
registered product (``MatVec`` at reuse > 1 registers its operands and its product) still runs
fabric flip-flop -> DSP -> fabric flip-flop, and a registered table read runs block RAM ->
fabric flip-flop with the block RAM's slow unregistered clock-to-out in the same cycle. Routing
into and out of the hard blocks then dominates the clock period.

:func:`pack_dsp_registers` moves flip-flops into each DSP:

* input side (``A`` or ``B``): every non-constant bit is the ``Q`` of a ``TRELLIS_FF`` whose only
  loads are DSP operand pins (yosys merges equal operand registers of several multipliers into
  one; each DSP then gets a copy) and whose ``DI`` does not come straight from a block RAM or
  DSP output without a register of its own (that flip-flop is then the block's output register
  and stays; :func:`pack_ebr_output_registers` runs first); the pins are rewired to the
  flip-flops' ``DI``, the side's ``REG_INPUT*`` register takes their clock, enable and reset,
  and a flip-flop goes once no pin reads it;
* output side: every ``P`` bit that has loads drives exactly one ``TRELLIS_FF`` ``DI`` and nothing
  else; those flip-flops are removed, their ``Q`` nets driven by ``P``, and ``REG_OUTPUT`` is on.

:func:`pack_ebr_output_registers` moves the flip-flops behind each read port of a ``DP16KD``
into its output register (``REGMODE = OUTREG``): every loaded data-out bit of the port drives
exactly one ``TRELLIS_FF`` ``DI`` and nothing else, clocked by the port's clock, without a reset;
their enable becomes the port's output clock enable (``OCE``).

A flip-flop qualifies when it resets to 0 (``REGSET = RESET``), its reset is synchronous
(``SRMODE = LSR_OVER_CE``, as the DSP's ``RESETMODE = SYNC``) and its clock is not inverted. The
DSP has four clock, enable and reset inputs; each register of the cell picks one of each, so up to
four distinct enables or resets can be packed. Cycle behaviour is unchanged: the same registers,
in a different place (a register whose input is a constant keeps it, as the flip-flop it replaces
did after its first clock).
"""

from __future__ import annotations

__all__ = ["pack_dsp_registers", "pack_ebr_output_registers", "pack_registers_file"]

_SIDES = {"A": "REG_INPUTA", "B": "REG_INPUTB"}
#: Cells whose output a fabric flip-flop should keep registering: moving that flip-flop into the
#: DSP would leave the block's clock-to-out and the route to the DSP in one cycle.
_HARD_BLOCKS = ("DP16KD", "PDPW16KD", "MULT18X18D", "ALU54B")
#: The DSP's register controls, four of each; a constant is connected where none is needed.
_IDLE = {"CLK": "0", "CE": "1", "RST": "0"}


def _is_net(bit) -> bool:
    """yosys JSON: a net is a number; a constant (``"0"``, ``"1"``, ``"x"``, ``"z"``) a string."""
    return isinstance(bit, int)


def _ff_control(cell: dict):
    """``{"CLK", "CE", "RST"}`` nets (or the constants ``"1"`` / ``"0"`` for an enable always on /
    a reset never used) of a ``TRELLIS_FF`` that a DSP register can replace, else ``None``."""
    par, con = cell.get("parameters", {}), cell["connections"]
    mux = {key: par.get(key, default).strip() for key, default in
           (("CLKMUX", "CLK"), ("CEMUX", "CE"), ("LSRMUX", "LSR"))}
    if par.get("REGSET", "RESET").strip() != "RESET" or mux["CLKMUX"] != "CLK" or \
            par.get("SRMODE", "LSR_OVER_CE").strip() != "LSR_OVER_CE" or \
            mux["CEMUX"] not in ("CE", "1") or mux["LSRMUX"] not in ("LSR", "0"):
        return None                       # set, inverted or asynchronous controls: not a DSP's
    ctl = {"CLK": con["CLK"][0],
           "CE": con["CE"][0] if mux["CEMUX"] == "CE" else "1",
           "RST": con["LSR"][0] if mux["LSRMUX"] == "LSR" else "0"}
    if not _is_net(ctl["CLK"]) or not (_is_net(ctl["CE"]) or ctl["CE"] == "1") or \
            not (_is_net(ctl["RST"]) or ctl["RST"] == "0"):
        return None                       # never clocked or enabled, or always in reset
    return ctl


def _joined(ctl, ff: dict):
    """The controls of flip-flop ``ff`` if it is packable and they equal ``ctl`` (those of the
    register's other flip-flops; ``None`` for the first), else ``None``."""
    this = _ff_control(ff)
    return this if this is not None and ctl in (None, this) else None


class _Nets:
    """Drivers and loads of every net bit in a module."""

    def __init__(self, module: dict):
        self.driver, self.loads = {}, {}
        for name, cell in module["cells"].items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for bit in filter(_is_net, bits):
                    if dirs.get(port) == "output":
                        self.driver[bit] = (name, port)
                    else:
                        self.loads.setdefault(bit, []).append((name, port))
        for pname, port in module.get("ports", {}).items():
            for bit in filter(_is_net, port["bits"]):
                if port["direction"] == "input":
                    self.driver[bit] = (None, pname)
                else:
                    self.loads.setdefault(bit, []).append((None, pname))


class _Controls:
    """Assigns the DSP's CLK/CE/RST inputs (four of each) to the nets its registers need."""

    def __init__(self, cell: dict):
        self.cell = cell
        self.used = {kind: [] for kind in _IDLE}

    def place(self, reg: str, ctl: dict) -> bool:
        """Turn on register ``reg`` (``REG_INPUTA`` ...) with the controls ``ctl``; ``False`` (and
        nothing changed) if the DSP's four pins of a kind are taken by other nets."""
        if any(ctl[kind] not in nets and len(nets) == 4 for kind, nets in self.used.items()):
            return False
        for kind, nets in self.used.items():
            if ctl[kind] not in nets:
                nets.append(ctl[kind])
            self.cell["parameters"][f"{reg}_{kind}"] = f"{kind}{nets.index(ctl[kind])}"
        return True

    def apply(self):
        con, dirs = self.cell["connections"], self.cell.setdefault("port_directions", {})
        for kind, nets in self.used.items():
            for k in range(4):
                con[f"{kind}{k}"] = [nets[k] if k < len(nets) else _IDLE[kind]]
                dirs[f"{kind}{k}"] = "input"


def _pack_blocks(netlist: dict, cell_type: str, pack_one) -> int:
    """Call ``pack_one(cells, nets, removed, name, cell)`` for every cell of ``cell_type`` in every
    module of ``netlist``; flip-flops it adds to ``removed`` are deleted afterwards. Returns the
    sum of what it returned."""
    packed = 0
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        blocks = [n for n, c in cells.items() if c.get("type") == cell_type]
        if not blocks:
            continue
        nets = _Nets(module)
        removed = set()
        for name in blocks:
            packed += pack_one(cells, nets, removed, name, cells[name])
        for name in removed:
            del cells[name]
    return packed


def pack_dsp_registers(netlist: dict) -> int:
    """Pack registers into every ``MULT18X18D`` of ``netlist`` (in place); returns how many DSP
    registers (input A, input B, output) were packed."""
    return _pack_blocks(netlist, "MULT18X18D", _pack_dsp)


def pack_ebr_output_registers(netlist: dict) -> int:
    """Pack the register behind each read port of every ``DP16KD`` of ``netlist`` into the port's
    output register (in place); returns how many ports were packed."""
    return _pack_blocks(netlist, "DP16KD", _pack_ebr)


def _pack_ebr(cells, nets: _Nets, removed: set, name: str, ram: dict) -> int:
    par, con = ram.setdefault("parameters", {}), ram["connections"]
    packed = 0
    for port in "AB":
        if par.get(f"REGMODE_{port}", "NOREG").strip() != "NOREG" or \
                con.get(f"OCE{port}", ["1"])[0] != "1" or con.get(f"RST{port}", ["0"])[0] != "0":
            continue
        found = _output_flops(cells, nets, removed, con, f"DO{port}", 18)
        if found is None or found[1]["CLK"] != con.get(f"CLK{port}", ["0"])[0] or found[1]["RST"] != "0":
            continue
        for i, ff in found[0].items():
            con[f"DO{port}{i}"] = list(cells[ff]["connections"]["Q"])
            removed.add(ff)
        con[f"OCE{port}"] = [found[1]["CE"]]
        par[f"REGMODE_{port}"] = "OUTREG"
        packed += 1
    return packed


def pack_registers_file(path) -> tuple[int, int]:
    """:func:`pack_ebr_output_registers` then :func:`pack_dsp_registers` on a yosys JSON file,
    rewritten in place; returns the two counts (block RAM ports, DSP registers)."""
    import json
    from pathlib import Path
    path = Path(path)
    netlist = json.loads(path.read_text())
    ebr = pack_ebr_output_registers(netlist)
    dsp = pack_dsp_registers(netlist)
    path.write_text(json.dumps(netlist))
    return ebr, dsp


def _input_flops(cells, nets: _Nets, removed: set, name: str, con: dict, side: str):
    """``({net: flip-flop}, controls)`` of the register feeding input ``side`` of DSP ``name``,
    or ``None`` if that input cannot take it."""
    ffs, ctl = {}, None
    for pin in (f"{side}{i}" for i in range(18)):
        bit = con[pin][0]
        if not _is_net(bit):
            continue
        drv = nets.driver.get(bit)
        if drv is None or drv[0] is None or drv[0] in removed or drv[1] != "Q":
            return None
        ff = cells[drv[0]]
        source = nets.driver.get(ff["connections"]["DI"][0])
        ctl = _joined(ctl, ff) if ff["type"] == "TRELLIS_FF" else None
        if ctl is None or not all(_is_dsp_operand(cells, load) for load in nets.loads.get(bit, [])):
            return None
        if source is not None and source[0] is not None and \
                not _registered_output(cells[source[0]], source[1]):
            return None                                         # that block's output register
        ffs[bit] = drv[0]
    return (ffs, ctl) if ffs else None


def _registered_output(cell: dict, pin: str) -> bool:
    """Whether output ``pin`` of ``cell`` leaves a register, or is a fabric cell's: ``False`` for a
    hard block's unregistered output (a ``DP16KD`` port without ``REGMODE = OUTREG``, a
    ``MULT18X18D`` without ``REG_OUTPUT``, any ``ALU54B``), whose slow clock-to-out needs the
    fabric flip-flop behind it to stay."""
    par = cell.get("parameters", {})
    if cell["type"] == "DP16KD":
        return par.get(f"REGMODE_{pin[2:3]}", "NOREG").strip() == "OUTREG"   # DOA*, DOB*
    if cell["type"] == "PDPW16KD":
        return par.get("REGMODE", "NOREG").strip() == "OUTREG"
    if cell["type"] == "MULT18X18D":
        return par.get("REG_OUTPUT_CLK", "NONE").strip() != "NONE"
    return cell["type"] not in _HARD_BLOCKS


def _is_dsp_operand(cells, load) -> bool:
    """Whether ``load`` (cell, pin) is an operand pin (``A*`` / ``B*``) of a ``MULT18X18D``."""
    cell, pin = load
    return cell is not None and cells[cell]["type"] == "MULT18X18D" and pin[:1] in _SIDES \
        and pin[1:].isdigit()


def _output_flops(cells, nets: _Nets, removed: set, con: dict, pins: str = "P", count: int = 36):
    """``({pin index: flip-flop}, controls)`` of the register on a hard block's output bits
    ``<pins>0 .. <pins><count-1>`` (a DSP's product, a block RAM port's data), or ``None``."""
    ffs, ctl = {}, None
    for i in range(count):
        bit = con.get(f"{pins}{i}", ["x"])[0]
        loads = nets.loads.get(bit, []) if _is_net(bit) else []
        if not loads:
            continue
        if len(loads) != 1 or loads[0][0] is None or loads[0][1] != "DI" or loads[0][0] in removed:
            return None
        ff_name = loads[0][0]
        ff = cells[ff_name]
        ctl = _joined(ctl, ff) if ff["type"] == "TRELLIS_FF" else None
        if ctl is None:
            return None
        ffs[i] = ff_name
    return (ffs, ctl) if ffs else None


def _pack_dsp(cells, nets: _Nets, removed: set, name: str, dsp: dict) -> int:
    par, con = dsp.setdefault("parameters", {}), dsp["connections"]
    if any(par.get(f"{reg}_CLK", "NONE").strip() != "NONE"
           for reg in ("REG_INPUTA", "REG_INPUTB", "REG_INPUTC", "REG_PIPELINE", "REG_OUTPUT")):
        return 0                                                # already registered: leave it
    if any(_is_net(con.get(f"{kind}{k}", ["0"])[0]) for kind in _IDLE for k in range(4)):
        return 0                                                # control pins in use: leave it
    controls = _Controls(dsp)
    count = 0
    for side, reg in _SIDES.items():
        found = _input_flops(cells, nets, removed, name, con, side)
        if found is None or not controls.place(reg, found[1]):
            continue
        ffs = found[0]
        for pin in (f"{side}{i}" for i in range(18)):
            bit = con[pin][0]
            if bit in ffs:
                con[pin] = list(cells[ffs[bit]]["connections"]["DI"])
                nets.loads[bit].remove((name, pin))
                if not nets.loads[bit]:     # the flip-flop fed only packed operand registers
                    removed.add(ffs[bit])
        count += 1
    found = _output_flops(cells, nets, removed, con)
    if found is not None and controls.place("REG_OUTPUT", found[1]):
        for i, ff in found[0].items():
            con[f"P{i}"] = list(cells[ff]["connections"]["Q"])
            removed.add(ff)
        count += 1
    if count:
        dsp["parameters"].update(RESETMODE="SYNC", GSR="DISABLED")
        controls.apply()
    return count


def main(argv=None) -> int:
    """``python -m rnnrtl.synth.ecp5_pack NETLIST.json``: pack in place (a step of the ECP5 board build)."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("netlist")
    args = ap.parse_args(argv)
    ebr, dsp = pack_registers_file(args.netlist)
    print(f"rnnrtl.synth.ecp5_pack: {ebr} DP16KD output registers and {dsp} MULT18X18D registers packed "
          f"in {args.netlist}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
