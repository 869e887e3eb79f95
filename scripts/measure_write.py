"""Measure what ``Design.write`` costs (seconds, peak RSS) for one small design, in a fresh process.

Usage: ``python scripts/measure_write.py KIND UNITS T REUSE MODE INTERLEAVE``; prints one JSON line
with the measurement and :func:`rnnrtl.budget.estimate`'s figures. Used to calibrate
:mod:`rnnrtl.budget` (its docstring holds the table).
"""
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def main(kind, units, T, reuse, mode, interleave):
    import keras
    import rnnrtl
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
             "simplernn": keras.layers.SimpleRNN}[kind]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((int(T), 8)), layer(int(units), name="rnn"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")], name="m")
    design = rnnrtl.convert(model, {"reuse": int(reuse), "mode": mode,
                                    "interleave": int(interleave)})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        from rnnrtl.budget import estimate
        est = estimate(design.network)
        est = {"est_seconds": round(est.seconds, 1), "est_mb": round(est.memory_mb), "units": est.units}
    except ImportError:
        est = {}
    t_est = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        design.write(d, samples=8, force=True) if est else design.write(d, samples=8)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"design": f"{kind}({units}) T={T} reuse={reuse} {mode} K={interleave}",
                      "seconds": round(seconds, 2), "rss_mb": round((peak - base) / 1024, 1),
                      "estimate_seconds": round(t_est, 3), **est}))


if __name__ == "__main__":
    main(*sys.argv[1:])
