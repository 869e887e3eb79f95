"""Emulator throughput against Keras float on the same CPU, side by side in one run (issue 21).

Usage: python scripts/bench_emulator.py [--batch 10000] [--repeat 3] [--numpy]
For the jet LSTM (LSTM(20) on 20x6) and the LSTM(128) on 100x3, on the same ``--batch`` samples:
Keras float (TensorFlow CPU, warm; the faster of ``model.predict(batch_size=1024)`` and one
``tf.function`` call on the whole batch), ``Design.emulate`` (bit-exact), and the ratio
emulator / Keras (issue 21's target: >= 1). Each figure is the best of ``--repeat`` wall times.
``--numpy`` also times the emulator without its compiled kernels (``Emulator(kernels=False)``).
"""

import argparse
import time

import numpy as np
from rich.table import Table

import _common
import rnnrtl

CASES = [(_common.JET_LSTM, "LSTM(20) 20x6 -> Dense(64) -> Dense(1)"),
         (_common.BIG_LSTM, "LSTM(128) 100x3 -> Dense(256) -> Dense(5)")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--numpy", action="store_true", help="also time the numpy steps (kernels off)")
    args = ap.parse_args()
    import keras
    import tensorflow as tf
    table = Table(title=f"Emulator vs Keras float, batch {args.batch}, best of {args.repeat}")
    cols = ["model", "Keras float samples/s", "emulator samples/s", "ratio"]
    if args.numpy:
        cols.append("numpy steps samples/s")
    for col in cols:
        table.add_column(col)
    rng = np.random.default_rng(0)
    for name, label in CASES:
        path, data, _ = _common.anchor(name)
        x = data["x_test"][rng.integers(0, len(data["x_test"]), args.batch)]
        model = keras.models.load_model(path, compile=False)
        x32 = x.astype(np.float32)
        call = tf.function(lambda v: model(v, training=False))
        keras_runs = {
            "predict": lambda: model.predict(x32, batch_size=1024, verbose=0),
            "tf.function": lambda: call(tf.constant(x32)).numpy(),
        }
        keras_rate = max(_rate(run, args) for run in keras_runs.values())
        design = rnnrtl.convert(path)
        emu_rate = _rate(lambda: design.emulate(x), args)
        row = [label, f"{keras_rate:,.0f}", f"{emu_rate:,.0f}", f"{emu_rate / keras_rate:.2f}x"]
        if args.numpy:
            from rnnrtl.emulator import Emulator
            slow = Emulator(design.network, kernels=False)
            row.append(f"{_rate(lambda: slow.run(x, warn=False), args):,.0f}")
        table.add_row(*row)
    _common.console().print(table)


def _rate(run, args):
    """Samples per second of ``run`` (warm: one call first), best of ``args.repeat``."""
    run()
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return args.batch / best


if __name__ == "__main__":
    main()
