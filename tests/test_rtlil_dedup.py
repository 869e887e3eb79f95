"""rnnrtl.rtlil_dedup: identical modules of Amaranth's RTLIL become one, the circuit unchanged.

The designs are small hand-made Amaranth components whose duplicates are known by construction
(two ``Add(1)`` and one ``Add(2)``; pairs of them; memories with equal or different contents).
That the circuit is unchanged is checked by yosys: both texts flattened give the same netlist,
statement for statement (only the ``module`` attribute naming each flattened instance's former
module may differ).
"""

from __future__ import annotations

import re

import pytest
from amaranth import Module, Signal
from amaranth.back import rtlil
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from rnnrtl.errors import HardwareError
from rnnrtl.rtlil_dedup import merge_identical, merged_name


class Add(wiring.Component):
    """``o`` = ``a + k``, registered."""

    def __init__(self, k: int):
        self.k = k
        super().__init__({"a": In(8), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o.eq(self.a + self.k)
        return m


class Pair(wiring.Component):
    """Two ``Add(k)`` in a chain."""

    def __init__(self, k: int):
        self.k = k
        super().__init__({"a": In(8), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.first = first = Add(self.k)
        m.submodules.second = second = Add(self.k)
        m.d.comb += [first.a.eq(self.a), second.a.eq(first.o), self.o.eq(second.o)]
        return m


class Table(wiring.Component):
    """A ROM of four words read at ``a``."""

    def __init__(self, words):
        self.words = list(words)
        super().__init__({"a": In(2), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = memory.Memory(shape=8, depth=4, init=self.words)
        port = rom.read_port()
        m.d.comb += [port.addr.eq(self.a), self.o.eq(port.data)]
        return m


class Chain(wiring.Component):
    """The given units in a chain, named ``names`` (``a`` into the first, ``o`` from the last)."""

    def __init__(self, units: dict, width: int = 8):
        self.units = units
        super().__init__({"a": In(width), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        previous = self.a
        for name, unit in self.units.items():
            m.submodules[name] = unit
            m.d.comb += unit.a.eq(previous)
            previous = unit.o
        m.d.comb += self.o.eq(previous)
        return m


def _il(top) -> str:
    return rtlil.convert(top, name="top", emit_src=False)


def _definitions(text: str) -> list[str]:
    return re.findall(r"^module \\(\S+)$", text, flags=re.M)


def _instances(text: str) -> dict:
    """Cell name -> module type of every submodule instance (cells whose type is a module)."""
    defined = set(_definitions(text))
    return {name: kind for kind, name in re.findall(r"^\s*cell \\(\S+) \\(\S+)$", text, flags=re.M)
            if kind in defined}


def test_two_identical_and_one_different_unit_are_two_modules():
    text = merge_identical(_il(Chain({"x": Add(1), "y": Add(1), "z": Add(2)}))).text
    instances = _instances(text)
    assert sorted(instances) == ["x", "y", "z"]
    assert instances["x"] == instances["y"] != instances["z"]
    assert len(_definitions(text)) - 1 == 2          # beside the top
    assert "top" in _definitions(text)


def test_parents_merge_once_their_children_have():
    result = merge_identical(_il(Chain({"p": Pair(1), "q": Pair(1), "r": Pair(2)})))
    assert result.modules["top.p"] == result.modules["top.q"] != result.modules["top.r"]
    leaves = {result.modules[f"top.{p}.{s}"] for p in "pq" for s in ("first", "second")}
    assert len(leaves) == 1
    assert result.modules["top.r.first"] == result.modules["top.r.second"] not in leaves
    assert len(_definitions(result.text)) == 5          # top, two pairs, two adders
    assert result.merged == 10 - 5


def test_modules_keep_or_get_names_that_say_what_they_are():
    result = merge_identical(_il(Chain({"p": Pair(1), "q": Pair(1), "r": Pair(2)})))
    assert result.modules["top"] == "top"
    assert result.modules["top.r"] == "top.r"           # not merged: its own name
    assert result.modules["top.r.first"] == "top.r.first"   # first, second share no text
    assert result.modules["top.p"] == "top.p"
    assert result.modules["top.p.first"] == "top.p.first"


def test_a_unit_with_no_duplicate_is_left_as_it_was():
    text = _il(Chain({"x": Add(1), "z": Add(2), "t": Table([1, 2, 3, 4])}, width=8))
    result = merge_identical(text)
    assert result.text == text
    assert result.merged == 0


def test_memories_merge_only_with_the_same_contents():
    result = merge_identical(_il(Chain({"lane0": Table([1, 2, 3, 4]), "lane1": Table([1, 2, 3, 4]),
                                        "lane2": Table([1, 2, 3, 5])}, width=2)))
    assert result.modules["top.lane0"] == result.modules["top.lane1"] == "top.lane"
    assert result.modules["top.lane2"] == "top.lane2"


def test_two_distinct_bodies_with_one_name_are_made_unique():
    units = {"lane0": Table([1, 2, 3, 4]), "lane1": Table([1, 2, 3, 4]),
             "lane2": Table([4, 3, 2, 1]), "lane3": Table([4, 3, 2, 1])}
    result = merge_identical(_il(Chain(units, width=2)))
    assert result.modules["top.lane0"] == "top.lane"
    assert result.modules["top.lane2"] == "top.lane_2"
    assert len(_definitions(result.text)) == 3


@pytest.mark.parametrize("names,expected", [
    (["t.core.lstm.stage0.matvec", "t.core.lstm.stage1.matvec", "t.core.lstm.stage12.matvec"],
     "t.core.lstm.stage.matvec"),
    (["t.core.bi.forward.matvec_input", "t.core.bi.backward.matvec_input"], "t.core.bi.matvec_input"),
    (["t.core.gru.x_queue0", "t.core.gru.x_queue1"], "t.core.gru.x_queue"),
    (["t.lane1", "t.lane10", "t.lane11"], "t.lane"),
    (["t.a.queue", "t.b.c.queue"], "t.queue"),
    (["t.x", "t.y"], "t.x"),
])
def test_merged_name(names, expected):
    assert merged_name(names) == expected


def _statements(flat_il: str) -> list[str]:
    """The statements of a one-module RTLIL text as yosys writes it, sorted (each with its
    attributes, a cell's connections sorted), without the ``module`` attributes that name where a
    flattened instance came from; the header (version comment, ``autoidx``) left out."""
    out, current, block = [], [], False
    for line in flat_il.splitlines():
        if line.startswith(("#", "autoidx", "attribute", "module", "end")) or not line.strip() \
                or line.strip().startswith("attribute \\module "):
            continue
        current.append(line)
        if block:
            if line == "  end":
                out.append("\n".join([current[0], *sorted(current[1:-1]), current[-1]]))
                current, block = [], False
        elif line.startswith(("  cell ", "  process ")):
            block = True
        elif not line.startswith("  attribute "):
            out.append("\n".join(current))
            current = []
    return sorted(out)


def test_flattened_circuit_is_unchanged(tmp_path):
    from rnnrtl.synth.yosys import run_yosys
    units = {"p": Pair(1), "q": Pair(1), "r": Pair(2), "x": Add(2)}
    text = _il(Chain(units))
    merged = merge_identical(text)
    assert merged.merged == 6
    flat = {}
    for name, il in (("before", text), ("after", merged.text)):
        (tmp_path / f"{name}.il").write_text(il)
        run_yosys([f"read_rtlil {name}.il", "hierarchy -check -top top", "flatten",
                   f"write_rtlil {name}_flat.il"], tmp_path, "flatten", f"{name}.log")
        flat[name] = _statements((tmp_path / f"{name}_flat.il").read_text())
    assert len(flat["before"]) > 50
    assert sum("$dff" in s for s in flat["before"]) == 7          # seven adders' registers
    assert flat["after"] == flat["before"]


@pytest.mark.parametrize("text", [
    "module \\a\nend\nconnect \\x \\y\n",
    "attribute \\top 1\nmodule \\a\n  wire width 1 \\x\n",
    "module \\a\n  cell $add\n  end\nend\n",
])
def test_rtlil_not_as_amaranth_writes_it_is_refused(text):
    with pytest.raises(HardwareError, match="rtlil_dedup"):
        merge_identical(text)
