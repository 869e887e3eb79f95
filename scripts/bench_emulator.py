"""Emulator throughput against Keras float on the same CPU, side by side in one run (issue 21).

Usage: python scripts/bench_emulator.py [--batch 10000] [--repeat 3] [--numpy]
For the jet LSTM (LSTM(20) on 20x6) and the LSTM(128) on 100x3, on the same ``--batch`` samples:
Keras float (TensorFlow CPU, warm; the faster of ``model.predict(batch_size=1024)`` and one
``tf.function`` call on the whole batch), ``Design.emulate`` (bit-exact), and the ratio
emulator / Keras (issue 21's target: >= 1). Each figure is the best of ``--repeat`` wall times.
On a shared machine wall time depends on how many cores each gets (TensorFlow's spinning thread
pool takes more than its share), so the table also gives the ratio of CPU time per sample
(process CPU seconds of the same runs), which depends less on it, and its title the load average
when the run started.
``--numpy`` also times the emulator without its compiled kernels (``Emulator(kernels=False)``).
"""

import argparse
import os
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
    load = os.getloadavg()[0]   # other jobs' share of the cores skews wall time (and caches)
    table = Table(title=f"Emulator vs Keras float, batch {args.batch}, best of {args.repeat}, "
                        f"{os.cpu_count()} cores, load average {load:.1f} at the start")
    cols = ["model", "Keras float samples/s", "emulator samples/s", "ratio", "ratio (CPU time)"]
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
        keras_rate, keras_cpu = max(_rate(run, args) for run in keras_runs.values())
        design = rnnrtl.convert(path)
        emu_rate, emu_cpu = _rate(lambda: design.emulate(x), args)
        row = [label, f"{keras_rate:,.0f}", f"{emu_rate:,.0f}", f"{emu_rate / keras_rate:.2f}x",
               f"{keras_cpu / emu_cpu:.2f}x"]
        if args.numpy:
            from rnnrtl.emulator import Emulator
            slow = Emulator(design.network, kernels=False)
            row.append(f"{_rate(lambda: slow.run(x, warn=False), args)[0]:,.0f}")
        table.add_row(*row)
    _common.console().print(table)


def _rate(run, args):
    """``(samples/s, CPU s)`` of ``run`` (warm: one call first): the best of ``args.repeat``
    wall times, and the least process CPU time of those runs."""
    run()
    best, cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        run()
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return args.batch / best, cpu


if __name__ == "__main__":
    main()
