"""Identical modules of an RTLIL text merged into one: a distinct unit is one Verilog module.

Amaranth 0.5 writes every elaborated instance as a module of its own, named by its path
(``top.core.lstm.step3.matvec``), so the T stages of ``mode: unrolled``, identical lanes or
queues and the twins of a bidirectional layer are so many copies of one body.
:func:`merge_identical` keeps one module per distinct body and points every instance at it.

Contract:

- **Same circuit.** Only module definitions are dropped and renamed, and the types of the cells
  instantiating them rewritten; every other line is kept as it is. Two modules are merged only
  when their bodies are the same statements (wires, cells, processes, memories, connections, each
  with its attributes and, for memories, the initial contents) up to declaration order, the
  numbering of ports and the order of a cell's parameters and connections, once the types of their own submodule cells have been rewritten: merging
  runs bottom-up, so parents whose children were merged can become identical in turn. Instances
  connect their ports by name, so the port order of the kept body does not matter. Flattened,
  the result is the input circuit (a test checks it with yosys).
- **Names.** A module that is not merged keeps its name. A merged module is named by the paths
  it replaces (:func:`merged_name`): the dotted components they share at the start and at the
  end, and between them each position's common text without a trailing number
  (``lstm.step0.matvec``, ``lstm.step1.matvec`` -> ``lstm.step.matvec``; ``bi.forward.x``,
  ``bi.backward.x`` -> ``bi.x``), made unique with ``_2``, ``_3`` ... when another module already
  has that name. Instance (cell) names never change, so hierarchical paths such as
  ``top.core.lstm.step3.matvec`` still name each instance.
- **Weights.** Initialised memories are part of a body: units with different weights or tables
  are never merged, units with the same ones may be (with ``weights: file``, one file then serves
  them all).
- **Input.** The RTLIL ``amaranth.back.rtlil.convert`` writes: ``module`` ... ``end`` blocks,
  each preceded by its ``attribute`` lines; anything else at the top level raises
  :class:`~rnnrtl.errors.HardwareError`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .errors import HardwareError

__all__ = ["MergeResult", "merge_identical", "merged_name"]

_PORT_INDEX = re.compile(r"^(\s*wire\b.*?\b(?:input|output|inout)) \d+ ")
_CELL = re.compile(r"^(\s*cell )(\S+)( \S+)$")
_TRAILING_NUMBER = re.compile(r"[_$]?\d+$")


@dataclass(frozen=True)
class MergeResult:
    """The merged RTLIL ``text`` and ``modules``: each input module name (without the leading
    backslash) -> the name of the module that now holds its body."""
    text: str
    modules: dict

    @property
    def merged(self) -> int:
        """How many module definitions were dropped."""
        return len(self.modules) - len(set(self.modules.values()))


@dataclass
class _Module:
    name: str                                       # without the backslash
    head: list                                      # attribute lines before ``module``
    lines: list                                     # the body, between ``module`` and ``end``
    items: list = field(default_factory=list)       # statements: (first line index, last index)
    cells: list = field(default_factory=list)       # (line index, cell type) of every cell


def _split_modules(text: str) -> list[_Module]:
    modules, head, current = [], [], None
    for line in text.splitlines():
        if current is not None:
            if line == "end":
                modules.append(current)
                current = None
            else:
                current.lines.append(line)
        elif line.startswith("attribute "):
            head.append(line)
        elif line.startswith("module "):
            current = _Module(line[len("module "):].strip().lstrip("\\"), head, [])
            head = []
        elif line.strip():
            raise HardwareError(f"rtlil_dedup: {line[:80]!r} at the top level of the RTLIL is not "
                                "an attribute or a module (not the RTLIL Amaranth writes)")
    if current is not None or head:
        raise HardwareError("rtlil_dedup: the RTLIL ends inside a module or after its attributes")
    for m in modules:
        _index(m)
    return modules


def _index(module: _Module):
    """Find the module's statements: single lines, or ``cell`` / ``process`` blocks up to the
    ``end`` at their own indentation; ``attribute`` lines belong to the statement after them."""
    lines, i, start = module.lines, 0, None
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped:
            i += 1
            continue
        if start is None:
            start = i
        if stripped.startswith("attribute "):
            i += 1
            continue
        if stripped.startswith(("cell ", "process ", "switch ")):
            if stripped.startswith("cell "):
                match = _CELL.match(line)
                if match is None:
                    raise HardwareError(f"rtlil_dedup: module {module.name!r}: cell line "
                                        f"{line.strip()!r} is not 'cell <type> <name>'")
                module.cells.append((i, match.group(2).lstrip("\\")))
            end = line[:len(line) - len(stripped)] + "end"
            j = i + 1
            while j < len(lines) and lines[j] != end:
                j += 1
            if j == len(lines):
                raise HardwareError(f"rtlil_dedup: module {module.name!r}: {stripped!r} has no "
                                    "'end'")
            i = j
        module.items.append((start, i))
        start = None
        i += 1


def _post_order(modules: dict) -> list[str]:
    order, seen = [], set()
    for root in modules:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            stack.extend((child, False) for _, child in reversed(modules[name].cells)
                         if child in modules and child not in seen)
    return order


def _key(module: _Module, rep: dict) -> str:
    """The module's body up to statement order and port numbering, with each submodule cell's
    type replaced by its representative's name."""
    types = {i: rep.get(t, t) for i, t in module.cells}
    items = []
    for first, last in module.items:
        text = []
        for i in range(first, last + 1):
            line = module.lines[i]
            if i in types:      # its type, then its parameters and connections in any order
                line = _CELL.sub(lambda m: f"{m.group(1)}\\{types[i]}{m.group(3)}", line)
                text.append(line)
                text.extend(sorted(module.lines[i + 1:last]))
                text.append(module.lines[last])
                break
            if line.lstrip().startswith("wire "):
                line = _PORT_INDEX.sub(r"\1 ", line)
            text.append(line)
        items.append("\n".join(text))
    items.sort()
    digest = hashlib.sha256("\n".join(module.head).encode())
    for item in items:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()


def merged_name(names: list[str]) -> str:
    """The name of a module merged from the modules ``names`` (dotted paths): the components all
    share at the start and at the end; between them, when every path has as many, each position's
    longest common text without a trailing number or separator (``step0``, ``step12`` ->
    ``step``), empty ones dropped. When the last components have no such text (``top.x``,
    ``top.y``), the first name."""
    paths = [n.split(".") for n in names]
    shortest = min(len(p) for p in paths)
    lead = 0
    while lead < shortest and len({p[lead] for p in paths}) == 1:
        lead += 1
    tail = 0
    while tail < shortest - lead and len({p[len(p) - 1 - tail] for p in paths}) == 1:
        tail += 1
    middles = [p[lead:len(p) - tail] for p in paths]
    kept = []
    if len({len(m) for m in middles}) == 1:
        for parts in zip(*middles):
            common = parts[0]
            for part in parts[1:]:
                while not part.startswith(common):
                    common = common[:-1]
            kept.append(_TRAILING_NUMBER.sub("", common).rstrip("_$"))
    if not tail and not (kept and kept[-1]):
        return names[0]                        # nothing says what the leaf is: the first path
    p = paths[0]
    return ".".join(p[:lead] + [k for k in kept if k] + p[len(p) - tail:])


def merge_identical(text: str) -> MergeResult:
    """``text`` (RTLIL as Amaranth writes it) with identical modules merged (module docstring)."""
    modules = {m.name: m for m in _split_modules(text)}
    rep, groups, members = {}, {}, {}
    for name in _post_order(modules):
        key = _key(modules[name], rep)
        rep[name] = groups.setdefault(key, name)
        members.setdefault(rep[name], []).append(name)
    final = {r: r for r, names in members.items() if len(names) == 1}
    taken = set(final.values())
    for r in modules:                          # merged ones, in the order of the input
        names = members.get(r)
        if names is None or len(names) == 1:
            continue
        base = merged_name(sorted(names, key=list(modules).index))
        others = set(modules) - set(names)
        candidate, k = base, 1
        while candidate in taken or candidate in others:
            k += 1
            candidate = f"{base}_{k}"
        final[r] = candidate
        taken.add(candidate)
    renamed = {name: final[rep[name]] for name in modules}
    out = []
    for name, module in modules.items():
        if rep[name] != name:
            continue
        cells = dict(module.cells)
        out.extend(module.head)
        out.append(f"module \\{renamed[name]}")
        for i, line in enumerate(module.lines):
            child = cells.get(i)
            if child is not None and child in renamed and renamed[child] != child:
                line = _CELL.sub(lambda m: f"{m.group(1)}\\{renamed[child]}{m.group(3)}", line)
            out.append(line)
        out.extend(["end", ""])
    return MergeResult("\n".join(out) + "\n", renamed)
