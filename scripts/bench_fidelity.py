"""Fidelity: agreement of fixed-point decisions with Keras float, rnnrtl vs hls4ml.

Usage: python scripts/bench_fidelity.py [--config CONFIG]
For each hls4ml-1.3 anchor model (held-out data shipped in tests/fixtures), prints the fraction of
samples whose decision (binary > 0.5, or argmax) equals Keras float's, and the max abs error, for
rnnrtl's default numerics (16-bit data formats) and for hls4ml 1.3's own `ap_fixed<16,6>` emulation.
"""

import argparse

import numpy as np
from rich.table import Table

import _common
import rnnrtl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None, help="rnnrtl configuration (YAML/JSON) to use")
    args = ap.parse_args()
    table = Table(title="Decision agreement with Keras float (held-out data)")
    for col in ("model", "samples", "rnnrtl agree", "rnnrtl max err", "hls4ml agree",
                "hls4ml max err", "target"):
        table.add_column(col)
    for name in _common.FIDELITY_MODELS:
        path, data, hls = _common.anchor(name)
        x, yk = data["x_test"], data["y_keras"]
        design = rnnrtl.convert(path, args.config)
        y = design.emulate(x)
        agree = np.mean(_common.decisions(y) == _common.decisions(yk))
        yh = hls["viv-model"]
        agree_h = np.mean(_common.decisions(yh) == _common.decisions(yk))
        table.add_row(name, str(len(x)), f"{agree:.1%}", f"{np.abs(y - yk).max():.4f}",
                      f"{agree_h:.1%}", f"{np.abs(yh - yk).max():.4f}",
                      "ok" if agree >= 0.995 else "MISSED (>= 99.5 %)")
    _common.console().print(table)


if __name__ == "__main__":
    main()
