"""rnnrtl.synth.memory_module: a module's memories moved into a module of their own, in an order
given by the netlist's names, not by the order of its cells."""

import copy
import json

import pytest

from rnnrtl.synth.memory_module import MEMORY_MODULE, move_memories

IN, OUT = "input", "output"


def _mem(connections: dict, directions: dict) -> dict:
    return {"hide_name": 1, "type": "$mem_v2", "parameters": {"WIDTH": "10"}, "attributes": {},
            "port_directions": directions, "connections": connections}


def _netlist(order=1) -> dict:
    """A ROM ``a_rom`` whose data (nets 5, 6) addresses a RAM ``b_ram`` (with net 7) and feeds
    logic; the RAM writes a constant and net 8; the logic reads both memories."""
    cells = {
        "b_ram": _mem({"RD_ADDR": [5, 7], "RD_CLK": [2], "RD_DATA": [9, 10],
                       "WR_DATA": ["0", 8], "WR_CLK": [2]},
                      {"RD_ADDR": IN, "RD_CLK": IN, "RD_DATA": OUT, "WR_DATA": IN, "WR_CLK": IN}),
        "a_rom": _mem({"RD_ADDR": [3, 4], "RD_CLK": [2], "RD_DATA": [5, 6]},
                      {"RD_ADDR": IN, "RD_CLK": IN, "RD_DATA": OUT}),
        "logic": {"hide_name": 1, "type": "$and", "parameters": {}, "attributes": {},
                  "port_directions": {"A": IN, "B": IN, "Y": OUT},
                  "connections": {"A": [6], "B": [9], "Y": [11]}},
    }
    return {"modules": {"top": {"attributes": {}, "ports": {}, "netnames": {},
                                "cells": dict(list(cells.items())[::order])}}}


def test_memories_move_into_a_module_of_their_own():
    netlist = _netlist()
    assert move_memories(netlist, "top") == 2
    top, mod = netlist["modules"]["top"], netlist["modules"][MEMORY_MODULE]
    assert sorted(top["cells"]) == ["logic", MEMORY_MODULE]
    inst = top["cells"][MEMORY_MODULE]
    assert inst["type"] == MEMORY_MODULE and inst["port_directions"] == {"i": IN, "o": OUT}
    # each net once, in the order of the cells' names (a_rom first) and their ports' names; the
    # ROM's data, which addresses the RAM, is driven inside: an output, not an input
    assert inst["connections"] == {"i": [3, 4, 2, 7, 8], "o": [5, 6, 9, 10]}
    assert mod["ports"] == {"i": {"direction": IN, "bits": [2, 3, 4, 5, 6]},
                            "o": {"direction": OUT, "bits": [7, 8, 9, 10]}}
    assert {n: v["bits"] for n, v in mod["netnames"].items()} == {"i": [2, 3, 4, 5, 6],
                                                                  "o": [7, 8, 9, 10]}
    inner = dict(zip([3, 4, 2, 7, 8, 5, 6, 9, 10], range(2, 11)))
    old = _netlist()["modules"]["top"]["cells"]
    for name in ("a_rom", "b_ram"):
        moved = mod["cells"][name]
        assert moved["connections"] == {p: [inner.get(b, b) for b in bits]
                                        for p, bits in old[name]["connections"].items()}
        assert {k: v for k, v in moved.items() if k != "connections"} == \
            {k: v for k, v in old[name].items() if k != "connections"}
    assert mod["cells"]["b_ram"]["connections"]["RD_ADDR"] == \
        mod["cells"]["a_rom"]["connections"]["RD_DATA"][:1] + [inner[7]]
    assert mod["cells"]["b_ram"]["connections"]["WR_DATA"][0] == "0"       # constants stay


def test_the_result_does_not_depend_on_the_order_of_the_cells():
    """The netlist a yosys run wrote and the same cells in another order give the same module:
    yosys's ``submod`` numbered and ordered them by their addresses in memory."""
    forward, backward = _netlist(1), _netlist(-1)
    assert list(forward["modules"]["top"]["cells"]) != list(backward["modules"]["top"]["cells"])
    move_memories(forward, "top"), move_memories(backward, "top")
    assert json.dumps(forward["modules"][MEMORY_MODULE]) == \
        json.dumps(backward["modules"][MEMORY_MODULE])
    assert forward["modules"]["top"]["cells"][MEMORY_MODULE] == \
        backward["modules"]["top"]["cells"][MEMORY_MODULE]


def test_nothing_moves_without_memories_and_no_module_is_overwritten():
    netlist = _netlist()
    del netlist["modules"]["top"]["cells"]["a_rom"], netlist["modules"]["top"]["cells"]["b_ram"]
    before = copy.deepcopy(netlist)
    assert move_memories(netlist, "top") == 0 and netlist == before
    netlist = _netlist()
    netlist["modules"][MEMORY_MODULE] = {"cells": {}}
    before = copy.deepcopy(netlist)
    with pytest.raises(ValueError, match=MEMORY_MODULE):
        move_memories(netlist, "top")
    assert netlist == before
