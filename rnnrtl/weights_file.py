"""``weights: file``: the weight and bias memories of a core's Verilog as ``$readmemh`` files.

With ``weights: file`` (``rnnrtl convert --weights-file``) every :class:`~rnnrtl.hw.matvec.MatVec`
keeps its weights and bias in initialised memories named :data:`~rnnrtl.hw.matvec.WEIGHT_MEMORY`
and :data:`~rnnrtl.hw.matvec.BIAS_MEMORY`, shaped by the formats only. yosys writes each as an
array and an ``initial`` block of its words::

    reg [287:0] weight_memory [1:0];
    initial begin
      weight_memory[0] = 288'h01c4...;
      weight_memory[1] = 288'hfdb9...;
    end

:func:`move_to_files` replaces each such block by
``initial $readmemh("weights/<file>.hex", weight_memory, 0, <depth - 1>);`` and returns the words,
which :func:`write_hex` writes one per line (hex digits, the word's width rounded up to a digit).
The path is relative to the folder the tool runs in: :func:`copy_weight_files` puts the files
there (the Verilator run folder, a yosys or Vivado build folder). Activation tables stay in the
Verilog: they depend on the formats and table settings only.

The file of the memory in module ``<top>.<path>`` is ``weights/<path>.<memory>.hex`` without a
leading ``core.`` (``lstm.matvec_input.weight_memory.hex``); the manifest's ``weights`` section
(:func:`manifest_entries`) lists each with its memory, width, depth, layer and matrix. Identical
units are one module (:mod:`rnnrtl.rtlil_dedup`; only units with the same weights are identical),
so the stages of an unrolled layer share one file per memory
(``lstm.stage.matvec_input.weight_memory.hex``).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import FlowError, HardwareError
from .hw.matvec import BIAS_MEMORY, WEIGHT_MEMORY

__all__ = ["WEIGHTS_FOLDER", "WeightFile", "move_to_files", "write_hex", "manifest_entries",
           "weight_files", "copy_weight_files"]

#: The folder, beside the Verilog, that holds the ``.hex`` files (the ``$readmemh`` paths name it).
WEIGHTS_FOLDER = "weights"

_MODULE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)", re.MULTILINE)
_MEMORY = re.compile(
    r"^(?P<indent>[ \t]*)reg \[(?P<msb>\d+):0\] (?P<name>" + WEIGHT_MEMORY + "|" + BIAS_MEMORY
    + r") \[(?P<a>\d+):(?P<b>\d+)\];\n[ \t]*initial begin\n(?P<body>(?:[ \t]*(?P=name)\[\d+\] = "
    r"[^;\n]+;\n)*)[ \t]*end\n", re.MULTILINE)
_WORD = re.compile(r"(\w+)\[(\d+)\] = (\d+)'([bdh])([0-9a-fA-F_]+);")
#: Matrix names (as in the manifest's ``matrices``) of a MatVec's submodule name.
_MATRIX = {"matvec": "kernel", "matvec_input": "kernel"}


@dataclass(frozen=True)
class WeightFile:
    """One memory moved out of the Verilog: its ``file`` (relative to the Verilog's folder),
    Verilog ``module`` and ``memory`` names, word ``width`` and ``words`` (integers, address
    order)."""
    file: str
    module: str
    memory: str
    width: int
    words: tuple

    @property
    def depth(self) -> int:
        return len(self.words)


def _word(match) -> int:
    width, base, digits = int(match.group(3)), match.group(4), match.group(5).replace("_", "")
    value = int(digits, {"b": 2, "d": 10, "h": 16}[base])
    if value >> width:
        raise HardwareError(f"weight memory word {match.group(0)!r} does not fit its width")
    return value


def move_to_files(verilog: str, top: str) -> tuple[str, list[WeightFile]]:
    """``verilog`` (yosys's output for top module ``top``) with every weight and bias memory's
    ``initial`` block replaced by a ``$readmemh`` of its file, and the memories moved
    (module docstring). Raises :class:`~rnnrtl.errors.HardwareError` when there is none or one
    is not in the form yosys writes (a word missing or not a plain number)."""
    starts = [(m.start(), m.group(1).lstrip("\\")) for m in _MODULE.finditer(verilog)]
    out, files, pos = [], [], 0
    for match in _MEMORY.finditer(verilog):
        module = next((name for start, name in reversed(starts) if start < match.start()), None)
        name, width = match.group("name"), int(match.group("msb")) + 1
        a, b = int(match.group("a")), int(match.group("b"))
        depth = abs(a - b) + 1
        words = {}
        for line in match.group("body").splitlines():
            word = _WORD.search(line)
            if word is None or word.group(1) != name or int(word.group(3)) != width:
                raise HardwareError(f"module {module!r}: the initial value {line.strip()!r} of "
                                    f"memory {name!r} is not a plain {width}-bit number")
            words[int(word.group(2))] = _word(word)
        if sorted(words) != list(range(depth)):
            raise HardwareError(f"module {module!r}: memory {name!r} of {depth} words initialises "
                                f"words {sorted(words)}, not every one")
        path = module[len(top) + 1:] if module.startswith(f"{top}.") else module
        path = path[len("core."):] if path.startswith("core.") else path
        file = f"{WEIGHTS_FOLDER}/{path}.{name}.hex"
        files.append(WeightFile(file, module, name, width, tuple(words[k] for k in range(depth))))
        out.append(verilog[pos:match.start()])
        out.append(f'{match.group("indent")}reg [{width - 1}:0] {name} [{a}:{b}];\n'
                   f'{match.group("indent")}initial $readmemh("{file}", {name}, 0, {depth - 1});\n')
        pos = match.end()
    out.append(verilog[pos:])
    text = "".join(out)
    if not files:
        raise HardwareError("weights: file, but the Verilog holds no weight memory to move into a "
                            "file (rnnrtl.hw.matvec builds them; this is a bug)")
    left = re.search(rf"^\s*({WEIGHT_MEMORY}|{BIAS_MEMORY})\[\d+\] = ", text, re.MULTILINE)
    if left is not None:
        raise HardwareError(f"weights: file, but a weight memory's initial value was left in the "
                            f"Verilog ({left.group(0).strip()!r}): yosys wrote it in a form "
                            "rnnrtl.weights_file does not know")
    return text, files


def write_hex(outdir, files: list[WeightFile]) -> list[Path]:
    """Write each of ``files`` under ``outdir`` (one word per line, lower-case hex digits); the
    ``.hex`` files an earlier write left in its folder are removed first. Returns the paths."""
    folder = Path(outdir) / WEIGHTS_FOLDER
    if folder.is_dir():
        for old in folder.glob("*.hex"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        digits = -(-f.width // 4)
        path = Path(outdir) / f.file
        path.write_text("".join(f"{w:0{digits}x}\n" for w in f.words))
        paths.append(path)
    return paths


def manifest_entries(files: list[WeightFile], top: str, layer_names: dict) -> list[dict]:
    """The manifest's ``weights.files``: per file its path, the Verilog module and memory, width,
    depth, what it holds (``weights`` or ``bias``), the Keras ``layer`` (``layer_names``: the
    manifest's ``names.layers``) and the ``matrix`` (as in ``matrices``: ``kernel``,
    ``recurrent``, ``recurrent_zr``, ``recurrent_h``)."""
    out = []
    for f in files:
        parts = f.module.split(".")
        layer = parts[2] if len(parts) > 2 and parts[:2] == [top, "core"] else None
        unit = parts[-1]
        out.append({"file": f.file, "module": f.module, "memory": f.memory, "width": f.width,
                    "depth": f.depth, "holds": "weights" if f.memory == WEIGHT_MEMORY else "bias",
                    "layer": layer_names.get(layer, layer),
                    "matrix": _MATRIX.get(unit, unit[len("matvec_"):] if unit.startswith("matvec_")
                                          else unit)})
    return out


def weight_files(manifest: dict) -> list[str]:
    """The weight files a manifest lists (none for ``weights: inline``), relative to its folder."""
    return [entry["file"] for entry in manifest.get("weights", {}).get("files", [])]


def copy_weight_files(outdir, manifest: dict, dest) -> list[Path]:
    """Copy the weight files of the core in ``outdir`` into ``dest`` (same relative paths), where
    a tool reading its Verilog runs. Raises :class:`~rnnrtl.errors.FlowError` naming a missing
    one."""
    copied = []
    for name in weight_files(manifest):
        src, dst = Path(outdir) / name, Path(dest) / name
        if not src.is_file():
            raise FlowError(f"{str(src)!r}, a weight file the manifest in {str(outdir)!r} names, is "
                            "missing; write the design again (rnnrtl convert --weights-file)")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        copied.append(dst)
    return copied
