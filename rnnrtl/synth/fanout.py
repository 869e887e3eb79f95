"""The widest register fanouts of a synthesised netlist (a yosys JSON file).

A net driven by one flip-flop and read by hundreds of cells spread over the device is routed as
one net: on an ECP5-85F such a route (an enable of a wide register) took 11.5 ns and set the
jet LSTM's clock. :func:`register_fanouts` lists the flip-flop-driven nets of a module by their
loads, widest first, so that a build can show which remain; the deep pipeline gives each wide
enable a copy per group of loads (:func:`rnnrtl.hw.common.fanout_copies`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .yosys import FLIP_FLOP_CELLS

__all__ = ["Fanout", "register_fanouts"]


@dataclass(frozen=True)
class Fanout:
    """A flip-flop's output net: its name, its loads and their count by ``(cell type, port)``."""
    net: str
    loads: int
    by_port: dict


def register_fanouts(netlist, module: str | None = None, *, least: int = 1) -> list[Fanout]:
    """The nets of ``module`` (the one with the most cells when ``None``) in the yosys JSON file
    ``netlist`` that a flip-flop drives and at least ``least`` cell inputs read, widest first. A
    net is named by its shortest name."""
    modules = json.loads(Path(netlist).read_text())["modules"]
    if module is None:
        body = max(modules.values(), key=lambda m: len(m.get("cells", {})))
    else:
        body = modules.get(module)
        if body is None:
            raise KeyError(f"module {module!r} is not in {netlist}")
    names = {}
    for name, wire in body.get("netnames", {}).items():
        for bit in wire["bits"]:
            if isinstance(bit, int) and (bit not in names or len(name) < len(names[bit])):
                names[bit] = name
    from_ff, loads = set(), {}
    for cell in body.get("cells", {}).values():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            for bit in bits:
                if not isinstance(bit, int):
                    continue
                if directions.get(port) == "output":
                    if cell["type"] in FLIP_FLOP_CELLS:
                        from_ff.add(bit)
                else:
                    loads.setdefault(bit, Counter())[(cell["type"], port)] += 1
    rows = [Fanout(names.get(bit, str(bit)), sum(c.values()), dict(c))
            for bit, c in loads.items() if bit in from_ff and sum(c.values()) >= least]
    return sorted(rows, key=lambda f: (-f.loads, f.net))
