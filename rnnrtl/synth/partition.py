"""A large core's netlist split into parts that yosys maps at the same time, one process each.

Contract: :func:`mark_parts` marks, in place, the cells of one module of a yosys JSON netlist
(``write_json`` after the coarse step: word-level cells) with the part each belongs to, and
changes no behaviour: a cell of part ``k >= 1`` gets the attribute ``rnnrtl_part<k>``, part 0's
cells none. :func:`part_commands` and :func:`merge_stats` are the yosys commands that move each
marked part into a module of its own and the sum of the parts' ``stat -json`` counts.

No combinational path crosses two parts, so LUT mapping sees every cone of logic whole, as it
does in the unsplit module (ABC maps between flip-flops; a cone is never split). Cells are
grouped in *clusters*: a combinational cell is in the cluster of every combinational cell that
drives one of its inputs, a flip-flop in that of the cell driving its ``D`` (a flip-flop fed by a
flip-flop joins it: a shift register stays whole). Memories stay in part 0: the estimate maps
them before the split (``memory_libmap``), and the cells it makes of them (block RAM, LUT-RAM,
the read port's registers, a ROM left to logic) are new and unmarked, so the cluster of a memory
stays in part 0: the logic driving its ports, and for an asynchronous read port what it feeds
(a synchronous port's data leaves through a register, as a flip-flop's does).
Clusters go whole to the parts, in the netlist's order (cells created together are near each
other), each part taking about an equal share of the module's *weight* (:func:`part_weight`),
part 0 counting its memories' first. What the parts lose is what crosses them: ``opt_merge`` of
two identical cells in different parts, and constant flip-flops whose constant comes from the
other part (the coarse step has already folded constants).

The LSTM(128) core of ``big-vu9p`` (54,855 coarse cells, 404k LUTs, 508k flip-flops) is the case:
its ``synth_xilinx -run map_ffram:`` took 16.9 minutes in one yosys process.
"""

from __future__ import annotations

import re

__all__ = ["PART_ATTR", "PART_MODULE", "DSP_WEIGHT", "mark_parts", "part_module", "part_commands",
           "part_weight", "merge_stats"]

#: The attribute prefix marking a cell of part ``k >= 1``: ``rnnrtl_part<k>``.
PART_ATTR = "rnnrtl_part"
#: The module prefix of part ``k >= 1`` once moved out (:func:`part_commands`).
PART_MODULE = "rnnrtl_part"

#: yosys's flip-flop and latch cell types (word-level ``$dff``, ``$sdffe``, ... and fine-grained
#: ``$_DFF_P_``, ...): what a cluster stops at.
_FLIP_FLOP = re.compile(r"^\$(_(DFF|DFFE|SDFF|SDFFE|SDFFCE|ALDFF|ALDFFE|DFFSR|DFFSRE|DLATCH|SR)"
                        r"_[A-Z0-9_]*|(a|s|al)?dff(e|ce|sr|sre)?|dlatch|adlatch|dlatchsr|sr)$")
#: Cells no part takes: Amaranth's scope markers.
_UNPLACED = ("$scopeinfo",)
#: Hard blocks (DSP, block RAM), which weigh :data:`DSP_WEIGHT` whatever their ports' widths.
_HARD_BLOCK = re.compile(r"^(DSP|RAMB|MULT|FIFO)")
#: What a hard block weighs (:func:`part_weight`), in output bits of other cells.
DSP_WEIGHT = 60


def part_weight(cell: dict) -> int:
    """What a cell weighs in the balance of the parts (module docstring): the output bits of a
    combinational cell or a flip-flop, :data:`DSP_WEIGHT` for a hard block, and for a memory what
    its mapping leaves to logic: nothing for one of more than 64 words (block RAM, LUT-RAM), else
    1.5 per bit and word (a ROM of 16 words becomes 15 multiplexers per bit before LUT mapping).

    Fitted on big-vu9p mapped in two parts three ways: a part's ``synth_xilinx -run map_ffram:``
    took about 0.35 s per thousand output bits of its combinational cells and flip-flops, about
    100 s more for 4,645 DSPs, and 280 s more for its weight ROM of 16 words of 33,656 bits left
    to logic."""
    kind = cell["type"]
    if _HARD_BLOCK.match(kind):
        return DSP_WEIGHT
    dirs = cell.get("port_directions", {})
    bits = sum(len(b) for port, b in cell["connections"].items() if dirs.get(port) == "output")
    if kind == "$mem_v2":
        size = int(cell["parameters"]["SIZE"], 2)
        return 0 if size > 64 else 3 * bits * size // 2
    return bits


class _Clusters:
    """Union-find over cell indices."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int):
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _sync_read(memory: dict) -> bool:
    """Whether every read port of a ``$mem_v2`` cell is synchronous."""
    enables = memory["parameters"]["RD_CLK_ENABLE"]
    return int(memory["parameters"]["RD_PORTS"], 2) > 0 and set(enables) == {"1"}


def mark_parts(netlist: dict, module: str, parts: int) -> list[int]:
    """Mark the cells of ``module`` in ``netlist`` (module docstring) for ``parts`` parts; returns
    each part's weight (part 0 first). ``parts`` 1 marks nothing."""
    if parts < 1:
        raise ValueError(f"parts {parts!r} is out of range; valid: an integer >= 1")
    cells = netlist["modules"][module]["cells"]
    if parts == 1:
        return [sum(part_weight(c) for c in cells.values() if c["type"] not in _UNPLACED)]
    names = list(cells)
    kinds = []
    driver = {}   # net bit -> index of the cell driving it
    for i, name in enumerate(names):
        cell = cells[name]
        kind = ("none" if cell["type"] in _UNPLACED
                else "ff" if _FLIP_FLOP.match(cell["type"])
                else "mem" if cell["type"] == "$mem_v2" and _sync_read(cell) else "comb")
        kinds.append(kind)
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) == "output":
                for bit in bits:
                    if isinstance(bit, int):
                        driver[bit] = i
    clusters = _Clusters(len(names))
    for i, name in enumerate(names):
        kind = kinds[i]
        if kind == "none":
            continue
        cell = cells[name]
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) != "input" or (kind == "ff" and port != "D"):
                continue
            for bit in bits:
                j = driver.get(bit) if isinstance(bit, int) else None
                if j is not None and (kinds[j] == "comb" or (kind == "ff" and kinds[j] == "ff")):
                    clusters.union(i, j)
    weights, members = {}, {}
    for i, kind in enumerate(kinds):
        if kind == "none":
            continue
        root = clusters.find(i)
        weights[root] = weights.get(root, 0) + part_weight(cells[names[i]])
        members.setdefault(root, []).append(i)
    # Part 0 keeps every memory (module docstring), so a cluster with one stays there too.
    fixed = {clusters.find(i) for i, name in enumerate(names) if cells[name]["type"] == "$mem_v2"}
    total = sum(weights.values())
    part_weights = [sum(weights[root] for root in fixed)] + [0] * (parts - 1)
    part, done = 0, part_weights[0]
    for root in sorted(weights):          # a cluster's root is its first cell in netlist order
        if root in fixed:
            continue
        # The cluster goes to the part its middle falls in.
        while part < parts - 1 and done + weights[root] / 2 > total * (part + 1) / parts:
            part += 1
        part_weights[part] += weights[root]
        done += weights[root]
        if part:
            for i in members[root]:
                cells[names[i]].setdefault("attributes", {})[f"{PART_ATTR}{part}"] = "part"
    return part_weights


def part_module(module: str, k: int) -> str:
    """The module part ``k`` of ``module`` is once moved out (:func:`part_commands`): ``module``
    itself for part 0, ``rnnrtl_part<k>`` for the others."""
    return module if k == 0 else f"{PART_MODULE}{k}"


def part_commands(module: str, parts: int) -> list[str]:
    """yosys commands that move each marked part ``k >= 1`` of ``module`` (:func:`mark_parts`)
    into a module ``rnnrtl_part<k>`` and write the parts as ``part<k>.il`` (nets driven in two
    parts split at their drivers, so that every port is an input or an output): part ``k >= 1`` is
    that module, part 0 is ``module`` without them, their connections its ports (``expose
    -evert``: a net a part drives is an input of part 0, a net it reads an output)."""
    # A net whose bits have drivers in two parts would be an inout port of both, and an inout
    # port does not keep its driver: split such nets first.
    lines = [f"splitnets -driver {module}"] if parts > 1 else []
    for k in range(1, parts):
        lines += [f"submod -name {part_module(module, k)} {module}/a:{PART_ATTR}{k}",
                  f"select {part_module(module, k)}", f"write_rtlil -selected part{k}.il",
                  "select -clear"]
    if parts > 1:
        lines += [f"expose -evert {module}/t:{PART_MODULE}*", f"delete {PART_MODULE}*"]
    return lines + [f"select {module}", "write_rtlil -selected part0.il", "select -clear"]


def merge_stats(stats: list[dict], module: str) -> dict:
    """The ``stat -json`` of ``module`` mapped in parts: the ``num_cells_by_type`` of each part's
    (``stats[k]``, part ``k``: ``module`` for part 0, ``rnnrtl_part<k>`` for the others) summed
    under ``module``."""
    merged = {}
    for k, stat in enumerate(stats):
        name = part_module(module, k)
        mod = stat["modules"].get(f"\\{name}") or stat["modules"].get(name)
        if mod is None:
            raise KeyError(f"yosys stat has no module {name!r}: {list(stat['modules'])}")
        for kind, count in mod["num_cells_by_type"].items():
            merged[kind] = merged.get(kind, 0) + count
    return {"modules": {f"\\{module}": {"num_cells_by_type": merged}}}
