"""Benchmark of one elementwise product in the fabric (``multiplier_elementwise: lut``, issue 22):
``rnnrtl.hw.softmul.soft_product`` against a ``*`` operator, in yosys' ``synth_ecp5``.

Usage: python scripts/bench_softmul.py [--widths 18x18,18x16] [--outdir build/bench_softmul]

Each product has registered operands and a registered result, as in a cell with ``pipeline:
deep`` (the soft product with one register level inside its sum). Per width it prints the cells
yosys maps: the soft product, the ``*`` mapped to a MULT18X18D, and the ``*`` with ``-nodsp``
(yosys' own multiplier in LUTs).
"""

import argparse
import json
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rnnrtl.hw.softmul import soft_product
from rnnrtl.synth.yosys import run_yosys


class Product(wiring.Component):
    """``p = x * y`` of registered operands, into a register: ``soft`` (one register level inside
    the sum) or ``*``."""

    def __init__(self, x_width: int, y_width: int, soft: bool):
        self._soft = soft
        super().__init__({"x": In(signed(x_width)), "y": In(signed(y_width)),
                          "p": Out(signed(x_width + y_width))})

    def elaborate(self, platform):
        m = Module()
        x, y = Signal.like(self.x), Signal.like(self.y)
        m.d.sync += [x.eq(self.x), y.eq(self.y)]
        m.d.sync += self.p.eq(soft_product(m, x, y, "p", stages=1) if self._soft else x * y)
        return m


def cells(x_width: int, y_width: int, kind: str, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "product.il").write_text(rtlil.convert(Product(x_width, y_width, kind == "soft"),
                                                     name="product"))
    nodsp = " -nodsp" if kind == "nodsp" else ""
    run_yosys(["read_rtlil product.il", f"synth_ecp5 -top product{nodsp}",
               "tee -q -o stat.json stat -json"], folder, "yosys", "yosys.log")
    return json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="18x18,18x16")
    ap.add_argument("--outdir", type=Path, default=Path("build/bench_softmul"))
    args = ap.parse_args()
    for widths in args.widths.split(","):
        xw, yw = map(int, widths.split("x"))
        for kind in ("soft", "dsp", "nodsp"):
            found = cells(xw, yw, kind, args.outdir / f"{widths}-{kind}")
            print(f"{widths} {kind:5s} " + ", ".join(f"{k} {v}" for k, v in sorted(found.items())))


if __name__ == "__main__":
    main()
