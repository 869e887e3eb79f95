"""Multi-port ROMs replicated per port pair before yosys maps memories.

Contract: :func:`split_rom_ports` rewrites a yosys JSON netlist in place and changes no
behaviour: each ROM (``$mem_v2`` without write ports) read by more than :data:`ROM_PORTS` ports
becomes copies of the same contents with at most that many read ports each, as vendor tools do.
An activation table read by every lane of a layer at once is such a ROM; yosys 0.70 would
otherwise build it from logic (5+ ports) or crash (about 16+ ports).
"""

from __future__ import annotations

import json
from pathlib import Path

from .core import Core
from .yosys import run_yosys

__all__ = ["ROM_PORTS", "MULTIPORT_ROM_FIX", "split_rom_ports", "split_roms_json",
           "rom_split_verilog"]

#: ROMs (``$mem_v2`` without write ports) read by more ports than this are replicated into copies
#: of at most this many read ports before memory mapping (:func:`split_rom_ports`).
ROM_PORTS = 2
#: Belt and braces for memories with write ports and many read ports (not replicated): yosys 0.70
#: (YoWASP) throws an uncaught exception in ``memory_libmap`` when it tries block RAM for a memory
#: with ~16 or more read ports, and maps more than 4 to logic anyway.
MULTIPORT_ROM_FIX = 'setattr -set ram_style "logic" t:$mem_v2 r:RD_PORTS>4 %i'


def _bits_slice(bits: str, lo: int, hi: int) -> str:
    """Bits ``lo .. hi-1`` (LSB = 0) of a yosys JSON constant (a string, MSB first)."""
    n = len(bits)
    return bits[n - hi:n - lo]


def split_rom_ports(netlist: dict, *, ports: int = ROM_PORTS) -> int:
    """Replicate each ROM of a yosys JSON ``netlist`` read by more than ``ports`` ports into
    copies of at most ``ports`` read ports (in place); returns how many ROMs were split.

    An activation table read by every lane at once is one ``$mem_v2`` with a read port per lane;
    block RAMs have two ports, so a vendor tool replicates the table per port pair. yosys 0.70
    instead maps such a ROM to logic (5+ ports) or throws (about 16+ ports); after this split it
    sees ordinary dual-port ROMs.
    """
    split = 0
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        for name, cell in list(cells.items()):
            if cell.get("type") != "$mem_v2":
                continue
            par = cell["parameters"]
            nrd, nwr = int(par["RD_PORTS"], 2), int(par["WR_PORTS"], 2)
            if nwr or nrd <= ports:
                continue
            width, abits = int(par["WIDTH"], 2), int(par["ABITS"], 2)
            per_bit = {"RD_CLK_ENABLE": 1, "RD_CLK_POLARITY": 1, "RD_CE_OVER_SRST": 1,
                       "RD_WIDE_CONTINUATION": 1, "RD_ARST_VALUE": width, "RD_SRST_VALUE": width,
                       "RD_INIT_VALUE": width}
            per_conn = {"RD_CLK": 1, "RD_EN": 1, "RD_ARST": 1, "RD_SRST": 1, "RD_ADDR": abits,
                        "RD_DATA": width}
            del cells[name]
            for lo in range(0, nrd, ports):
                hi = min(lo + ports, nrd)
                copy = json.loads(json.dumps(cell))
                cp = copy["parameters"]
                cp["RD_PORTS"] = format(hi - lo, "032b")
                cp["MEMID"] = f"{par['MEMID'].rstrip()}_ports{lo}"
                for key, w in per_bit.items():
                    if key in cp:
                        cp[key] = _bits_slice(par[key], lo * w, hi * w)
                for key, w in per_conn.items():
                    copy["connections"][key] = cell["connections"][key][lo * w:hi * w]
                cells[f"{name}_ports{lo}"] = copy
            split += 1
    return split


def split_roms_json(folder: Path, src: str, dst: str) -> int:
    """:func:`split_rom_ports` on the netlist file ``src`` in ``folder``, written as ``dst`` (``src``
    is deleted); returns how many ROMs were split."""
    netlist = json.loads((folder / src).read_text())
    count = split_rom_ports(netlist)
    (folder / dst).write_text(json.dumps(netlist))
    (folder / src).unlink()
    return count


def rom_split_verilog(core: Core, folder) -> Path:
    """The core's Verilog with multi-port ROMs replicated (:func:`split_rom_ports`), written by
    yosys as ``<top>_roms.v`` in ``folder``, for flows that read Verilog (the ECP5 board build):
    the same circuit, cycle for cycle.

    ``memory -nomap`` moves a table's output register into its read port but leaves the bits of
    that register it did not take (a zero-extension's constant bits, the moved bits' inputs, now
    undriven); they are removed (``opt_dff -nodffe -nosdff``: flip-flops of constant or undriven
    input; ``opt_clean``) before the Verilog is written. Left in, every one was a "used but has no
    driver" warning in the board's synthesis (1,952 on the jet LSTM)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_yosys([*core.read_commands(folder), f"hierarchy -top {core.top}", "proc", "opt_clean",
               "memory -nomap", "opt_clean", "write_json roms.json"], folder, "yosys (ROM split)",
              "roms_1.log")
    split_roms_json(folder, "roms.json", "roms_split.json")
    out = f"{core.top}_roms.v"
    run_yosys(["read_json roms_split.json", "opt_dff -nodffe -nosdff", "opt_clean",
               f"write_verilog {out}"], folder,
              "yosys (ROM split)", "roms_2.log")
    (folder / "roms_split.json").unlink()
    return folder / out
