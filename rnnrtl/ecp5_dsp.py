"""Pack fabric registers into ECP5 ``MULT18X18D`` cells of a synthesised yosys JSON netlist.

yosys 0.70's ``synth_ecp5`` maps every multiplier to a ``MULT18X18D`` with its input and output
registers off (``REG_*_CLK = "NONE"``), so a registered product (``MatVec`` at reuse > 1 registers
its operands and its product) still runs fabric flip-flop -> DSP -> fabric flip-flop, and the
routing into and out of the DSP row dominates the clock period. :func:`pack_dsp_registers` moves
those flip-flops into the DSP:

* input side (``A`` or ``B``): every non-constant bit is the ``Q`` of a ``TRELLIS_FF`` whose only
  loads are this DSP's pins of that side and whose ``DI`` does not come straight from a block RAM
  or DSP (that flip-flop is the block's output register and stays); the pins are rewired to the
  flip-flops' ``DI`` and the side's ``REG_INPUT*`` register takes their clock, enable and reset;
* output side: every ``P`` bit that has loads drives exactly one ``TRELLIS_FF`` ``DI`` and nothing
  else; those flip-flops are removed, their ``Q`` nets driven by ``P``, and ``REG_OUTPUT`` is on.

A flip-flop qualifies when it resets to 0 (``REGSET = RESET``), its reset is synchronous
(``SRMODE = LSR_OVER_CE``, as the DSP's ``RESETMODE = SYNC``) and its clock is not inverted. The
DSP has four clock, enable and reset inputs; each register of the cell picks one of each, so up to
four distinct enables or resets can be packed. Cycle behaviour is unchanged: the same registers,
in a different place (a register whose input is a constant keeps it, as the flip-flop it replaces
did after its first clock).
"""

from __future__ import annotations

__all__ = ["pack_dsp_registers"]

_SIDES = {"A": "REG_INPUTA", "B": "REG_INPUTB"}
_CONSTANTS = ("0", "1", "x", "z")
#: Cells whose output a fabric flip-flop should keep registering: moving that flip-flop into the
#: DSP would leave the block's clock-to-out and the route to the DSP in one cycle.
_HARD_BLOCKS = ("DP16KD", "PDPW16KD", "MULT18X18D", "ALU54B")


def _ff_control(cell: dict):
    """``(clk, ce, lsr)`` nets of a packable ``TRELLIS_FF`` (``None`` for a constant-on enable or an
    unused reset), or ``None`` if the flip-flop cannot live in a DSP register."""
    par, con = cell.get("parameters", {}), cell["connections"]
    if par.get("REGSET", "RESET").strip() != "RESET" or par.get("CLKMUX", "CLK").strip() != "CLK":
        return None
    if par.get("SRMODE", "LSR_OVER_CE").strip() != "LSR_OVER_CE":
        return None
    ce = con["CE"][0] if par.get("CEMUX", "CE").strip() == "CE" else None
    lsr = con["LSR"][0] if par.get("LSRMUX", "LSR").strip() == "LSR" else None
    if lsr in _CONSTANTS:
        lsr = None if lsr == "0" else False
    if ce in _CONSTANTS:
        ce = None if ce == "1" else False
    if lsr is False or ce is False:
        return None
    return con["CLK"][0], ce, lsr


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
                for i, bit in enumerate(bits):
                    if bit in _CONSTANTS or isinstance(bit, str):
                        continue
                    if dirs.get(port) == "output":
                        self.driver[bit] = (name, port, i)
                    else:
                        self.loads.setdefault(bit, []).append((name, port, i))
        for pname, port in module.get("ports", {}).items():
            for bit in port["bits"]:
                if isinstance(bit, int):
                    if port["direction"] == "input":
                        self.driver[bit] = (None, pname, 0)
                    else:
                        self.loads.setdefault(bit, []).append((None, pname, 0))


class _Controls:
    """Assigns the DSP's CLK/CE/RST inputs (four of each) to the nets registers need."""

    def __init__(self, cell: dict):
        self.cell = cell
        self.used = {"CLK": [], "CE": [], "RST": []}

    def pick(self, kind: str, net):
        """The pin name (``CLK0``..``RST3``) carrying ``net``, or ``None`` if all four are taken."""
        nets = self.used[kind]
        if net not in nets:
            if len(nets) == 4:
                return None
            nets.append(net)
        return f"{kind}{nets.index(net)}"

    def apply(self):
        con, dirs = self.cell["connections"], self.cell.setdefault("port_directions", {})
        for kind, nets in self.used.items():
            for k in range(4):
                con[f"{kind}{k}"] = [nets[k] if k < len(nets) else ("1" if kind == "CE" else "0")]
                dirs[f"{kind}{k}"] = "input"


def _register_settings(controls: _Controls, ctl) -> dict | None:
    clk, ce, lsr = ctl
    saved = {k: list(v) for k, v in controls.used.items()}
    pins = (controls.pick("CLK", clk), controls.pick("CE", "1" if ce is None else ce),
            controls.pick("RST", "0" if lsr is None else lsr))
    if None in pins:
        controls.used = saved
        return None
    return dict(zip(("CLK", "CE", "RST"), pins))


def pack_dsp_registers(netlist: dict) -> int:
    """Pack registers into every ``MULT18X18D`` of ``netlist`` (in place); returns how many DSP
    registers (input A, input B, output) were packed."""
    packed = 0
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        dsps = [n for n, c in cells.items() if c.get("type") == "MULT18X18D"]
        if not dsps:
            continue
        nets = _Nets(module)
        removed = set()
        for name in dsps:
            dsp = cells[name]
            par, con = dsp.setdefault("parameters", {}), dsp["connections"]
            if any(par.get(f"{reg}_CLK", "NONE").strip() != "NONE"
                   for reg in ("REG_INPUTA", "REG_INPUTB", "REG_INPUTC", "REG_PIPELINE", "REG_OUTPUT")):
                continue                                        # already registered: leave it
            if any(con.get(f"{kind}{k}", ["0"])[0] not in _CONSTANTS
                   for kind in ("CLK", "CE", "RST") for k in range(4)):
                continue                                        # control pins in use: leave it
            packed += _pack_one(cells, nets, removed, name, dsp, _Controls(dsp))
        for name in removed:
            del cells[name]
    return packed


def _pack_one(cells, nets: _Nets, removed: set, name: str, dsp: dict, controls: _Controls) -> int:
    par, con = dsp["parameters"], dsp["connections"]
    count = 0
    # Input sides.
    for side, reg in _SIDES.items():
        pins = [f"{side}{i}" for i in range(18)]
        ffs, ctl = {}, None
        ok = True
        for pin in pins:
            bit = con[pin][0]
            if bit in _CONSTANTS or isinstance(bit, str):
                continue
            drv = nets.driver.get(bit)
            if drv is None or drv[0] is None or drv[0] in removed:
                ok = False
                break
            ff = cells[drv[0]]
            if ff["type"] != "TRELLIS_FF" or drv[1] != "Q":
                ok = False
                break
            if not all(load[0] == name and load[1][:1] == side and load[1][1:].isdigit()
                       for load in nets.loads.get(bit, [])):
                ok = False
                break
            source = nets.driver.get(ff["connections"]["DI"][0])
            ctl = _joined(ctl, ff)
            if ctl is None or (source is not None and source[0] is not None
                               and cells[source[0]]["type"] in _HARD_BLOCKS):
                ok = False                  # (a hard block's output register stays with it)
                break
            ffs[bit] = drv[0]
        if not ok or not ffs:
            continue
        settings = _register_settings(controls, ctl)
        if settings is None:
            continue
        for pin in pins:
            bit = con[pin][0]
            if bit in ffs:
                con[pin] = list(cells[ffs[bit]]["connections"]["DI"])
        for ff in set(ffs.values()):
            removed.add(ff)
        for kind, pin in settings.items():
            par[f"{reg}_{kind}"] = pin
        count += 1
    # Output side.
    ffs, ctl, ok = {}, None, True
    for i in range(36):
        bit = con.get(f"P{i}", ["x"])[0]
        if bit in _CONSTANTS or isinstance(bit, str):
            continue
        loads = nets.loads.get(bit, [])
        if not loads:
            continue
        if len(loads) != 1 or loads[0][0] is None or loads[0][1] != "DI":
            ok = False
            break
        ff = cells[loads[0][0]]
        ctl = None if ff["type"] != "TRELLIS_FF" or loads[0][0] in removed else _joined(ctl, ff)
        if ctl is None:
            ok = False
            break
        ffs[i] = loads[0][0]
    if ok and ffs:
        settings = _register_settings(controls, ctl)
        if settings is not None:
            for i, ff in ffs.items():
                con[f"P{i}"] = list(cells[ff]["connections"]["Q"])
                removed.add(ff)
            for kind, pin in settings.items():
                par[f"REG_OUTPUT_{kind}"] = pin
            count += 1
    if count:
        par["RESETMODE"] = "SYNC"
        par["GSR"] = "DISABLED"
        controls.apply()
    return count


def main(argv=None) -> int:
    """``python -m rnnrtl.ecp5_dsp NETLIST.json``: pack in place (a step of the ECP5 board build)."""
    import argparse
    import json
    from pathlib import Path
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("netlist", type=Path)
    args = ap.parse_args(argv)
    netlist = json.loads(args.netlist.read_text())
    count = pack_dsp_registers(netlist)
    args.netlist.write_text(json.dumps(netlist))
    print(f"rnnrtl.ecp5_dsp: {count} MULT18X18D registers packed in {args.netlist}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
