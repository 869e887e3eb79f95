"""A module's memories moved into a module of their own, in a yosys JSON netlist, the same way
on every run.

Contract: :func:`move_memories` rewrites a yosys JSON netlist in place and changes no behaviour:
the ``$mem_v2`` cells of one module move into a new module, :data:`MEMORY_MODULE`, instantiated
once in their place (the instance is named like the module), whose input port ``i`` carries every
net the memories read and do not drive, and whose output port ``o`` every net they drive, each
bit once, in the order of the memory cells' names and their ports' names. ``flatten`` puts the
memories back (as ``MEMORY_MODULE.<cell>``).

An estimate maps the memories there (:func:`~rnnrtl.synth.yosys.memories_apart`), where
``memory_libmap`` does not rebuild an index of the whole core after each one. yosys's own
``submod`` did this before, but it orders the new module's ports, and numbers the names it gives
to private nets (``\\n1``, ``\\n2``, ...), by the nets' addresses in memory (a ``std::map`` keyed
by pointers), which change from run to run. Two runs of the same yosys script on the same coarse
netlist of the jet LSTM mapped its core to 12,882 and 12,896 LUT4 cells (other runs: 12,891), so
a user's ``--seed 3`` placed another netlist than ours. With this module both runs wrote the
same netlist, byte for byte.
"""

from __future__ import annotations

__all__ = ["MEMORY_MODULE", "move_memories"]

#: The module a resource estimate moves a core's memories into while it maps them.
MEMORY_MODULE = "rnnrtl_memories"


def move_memories(netlist: dict, module: str) -> int:
    """Move the ``$mem_v2`` cells of ``module`` in ``netlist`` (``write_json``'s form) into a new
    module :data:`MEMORY_MODULE` (module docstring), in place; returns how many moved (0: nothing
    changes)."""
    parent = netlist["modules"][module]
    if MEMORY_MODULE in netlist["modules"] or MEMORY_MODULE in parent["cells"]:
        raise ValueError(f"the netlist already has a module or cell {MEMORY_MODULE!r}")
    names = sorted(n for n, c in parent["cells"].items() if c["type"] == "$mem_v2")
    if not names:
        return 0
    cells = {n: parent["cells"].pop(n) for n in names}
    driven, read = {}, {}                 # a net of the parent -> None, in first-seen order
    for cell in cells.values():
        for port in sorted(cell["connections"]):
            seen = driven if cell["port_directions"][port] == "output" else read
            for bit in cell["connections"][port]:
                if isinstance(bit, int):
                    seen.setdefault(bit)
    inputs = [b for b in read if b not in driven]
    outputs = list(driven)
    inner = {b: k + 2 for k, b in enumerate(inputs + outputs)}   # 0 and 1 are constants' names
    for cell in cells.values():
        cell["connections"] = {p: [inner.get(b, b) for b in bits]
                               for p, bits in cell["connections"].items()}
    ports = {name: (direction, bits) for name, direction, bits in
             (("i", "input", inputs), ("o", "output", outputs)) if bits}
    netlist["modules"][MEMORY_MODULE] = {
        "attributes": {},
        "ports": {p: {"direction": d, "bits": [inner[b] for b in bits]}
                  for p, (d, bits) in ports.items()},
        "cells": cells,
        "netnames": {p: {"hide_name": 0, "bits": [inner[b] for b in bits], "attributes": {}}
                     for p, (d, bits) in ports.items()},
    }
    parent["cells"][MEMORY_MODULE] = {
        "hide_name": 0, "type": MEMORY_MODULE, "parameters": {}, "attributes": {},
        "port_directions": {p: d for p, (d, bits) in ports.items()},
        "connections": {p: list(bits) for p, (d, bits) in ports.items()},
    }
    return len(cells)
