"""Emulator throughput: samples per second on a batch of 10,000 (issue: foundation benchmark).

Usage: python scripts/bench_emulator.py [--batch 10000] [--repeat 3]
Prints, for the LSTM(20)-on-20x6 jet model and the LSTM(128)-on-100x3 model, the best wall time of
``Design.emulate`` over a few repeats and the resulting samples/s, next to the targets.
"""

import argparse
import time

import numpy as np
from rich.table import Table

import _common
import rnnrtl

CASES = [(_common.JET_LSTM, "LSTM(20) 20x6 -> Dense(64) -> Dense(1)", 50_000),
         (_common.BIG_LSTM, "LSTM(128) 100x3 -> Dense(256) -> Dense(5)", 1_000)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    table = Table(title=f"Emulator throughput, batch {args.batch}")
    for col in ("model", "best s", "samples/s", "target"):
        table.add_column(col)
    rng = np.random.default_rng(0)
    for name, label, target in CASES:
        path, data, _ = _common.anchor(name)
        design = rnnrtl.convert(path)
        x = data["x_test"][rng.integers(0, len(data["x_test"]), args.batch)]
        design.emulate(x[:16])  # warm up
        best = min(_timed(design, x) for _ in range(args.repeat))
        rate = args.batch / best
        table.add_row(label, f"{best:.3f}", f"{rate:,.0f}",
                      f">= {target:,} {'ok' if rate >= target else 'MISSED'}")
    _common.console().print(table)


def _timed(design, x):
    t = time.perf_counter()
    design.emulate(x)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
