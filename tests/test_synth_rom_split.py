"""rnnrtl.synth.rom_split: ROMs read by many ports become copies of at most two ports."""

from rnnrtl.synth.rom_split import split_rom_ports


def test_split_rom_ports():
    """A 3-port ROM becomes ports (0, 1) and (2,); RAMs and small ROMs are left alone."""
    def mem(rd, wr, width=2, abits=3):
        return {"type": "$mem_v2", "parameters": {
                    "RD_PORTS": format(rd, "032b"), "WR_PORTS": format(wr, "032b"),
                    "WIDTH": format(width, "032b"), "ABITS": format(abits, "032b"),
                    "MEMID": "\\rom", "INIT": "1010",
                    "RD_CLK_ENABLE": "1" * rd, "RD_INIT_VALUE": "".join(f"{k:02b}" for k in reversed(range(rd)))},
                "connections": {"RD_CLK": [5] * rd, "RD_EN": [f"e{k}" for k in range(rd)],
                                "RD_ARST": ["0"] * rd, "RD_SRST": ["0"] * rd,
                                "RD_ADDR": [f"a{k}{b}" for k in range(rd) for b in range(abits)],
                                "RD_DATA": [f"d{k}{b}" for k in range(rd) for b in range(width)]}}
    netlist = {"modules": {"top": {"cells": {"t": mem(3, 0), "r": mem(3, 1), "s": mem(2, 0)}}}}
    assert split_rom_ports(netlist) == 1
    cells = netlist["modules"]["top"]["cells"]
    assert sorted(cells) == ["r", "s", "t_ports0", "t_ports2"]
    a, b = cells["t_ports0"], cells["t_ports2"]
    assert int(a["parameters"]["RD_PORTS"], 2) == 2 and int(b["parameters"]["RD_PORTS"], 2) == 1
    assert a["parameters"]["RD_INIT_VALUE"] == "0100" and b["parameters"]["RD_INIT_VALUE"] == "10"
    assert a["connections"]["RD_EN"] == ["e0", "e1"] and b["connections"]["RD_EN"] == ["e2"]
    assert b["connections"]["RD_ADDR"] == ["a20", "a21", "a22"]
    assert b["connections"]["RD_DATA"] == ["d20", "d21"]
    assert a["parameters"]["INIT"] == b["parameters"]["INIT"] == "1010"
    assert a["parameters"]["MEMID"] != b["parameters"]["MEMID"]
