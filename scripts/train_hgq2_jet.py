"""Train the jet-shape QGRU(20) briefly with HGQ2, save it, and check rnnrtl bit-exact against it.

Usage: python scripts/train_hgq2_jet.py [--out out/hgq2-jet/jet-qgru.keras] [--epochs 30]
           [--seed 0] [--timing]

The model is issue 20's jet shape, quantization-aware: 20×6 → QGRU(20) → QDense(64, relu) →
QDense(1) (logits: HGQ2 evaluates a float sigmoid in float32, which rnnrtl would not reproduce bit
for bit; the decision is ``logit > 0``). HGQ2's defaults apart from two settings rnnrtl needs
(docs/numerics.md, "HGQ2"): datalane quantizers with one width per tensor
(``heterogeneous_axis=()``; the weights keep per-weight widths), and the GRU's state quantizer
``sq`` tied to the dense layer's input quantizer ``iq`` (one fixed ``fixed<7,1>`` configuration:
the GRU state lies in [-1, 1)). It trains on the first 400 sequences of the jet anchor data
(``scripts/_common.py`` JET_GRU, 500 standardised sequences) and is scored on the last 100.

Prints the accuracy, rnnrtl's mismatches against ``model(x, training=False)`` on all 500
sequences (must be 0) and, with ``--timing``, rnnrtl's latency / II / multipliers of the default
conversion. :func:`train` and :func:`check` are what ``scripts/bench_l1.py`` imports.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import _common

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TIMESTEPS, FEATURES, UNITS = 20, 6, 20


def jet_data():
    """``(x, labels)`` of the jet anchor: 500 sequences of 20×6 standardised features."""
    _, data, _ = _common.anchor(_common.JET_GRU)
    return data["x_test"].astype("float32"), data["labels"].astype("float32")


def build(seed: int = 0, units: int = UNITS, dense: int = 64):
    """The untrained jet QGRU (HGQ2), as described in the module docstring (``units`` GRU units,
    ``dense`` ReLU units: 5 and 5 give the seed paper author's small GRU(5) -> Dense(5) -> Dense(1))."""
    import keras
    from hgq.config import QuantizerConfig, QuantizerConfigScope
    from hgq.layers import QDense, QGRU
    keras.utils.set_random_seed(seed)
    state = QuantizerConfig("kif", "datalane", i0=0, f0=6, trainable=False, overflow_mode="SAT",
                            heterogeneous_axis=())
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((TIMESTEPS, FEATURES), name="jets")
        h = QGRU(units, sq_conf=state, name="qgru")(inp)
        h = QDense(dense, activation="relu", iq_conf=state, name="dense")(h)
        out = QDense(1, name="logit")(h)
    return keras.Model(inp, out, name="jet_qgru")


def train(epochs: int = 30, seed: int = 0, out: Path | None = None, units: int = UNITS,
          dense: int = 64):
    """Train the jet QGRU on the anchor's first 400 sequences; ``(model, holdout accuracy,
    seconds)``. Saved to ``out`` (``.keras``) when given, after HGQ2's min/max tracing has set
    the wrapping quantizers' integer bits."""
    import keras
    from hgq.utils import trace_minmax
    x, y = jet_data()
    model = build(seed, units, dense)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    t0 = time.perf_counter()
    model.fit(x[:400], y[:400], epochs=epochs, batch_size=32, verbose=0)
    trace_minmax(model, x[:400])
    seconds = time.perf_counter() - t0
    logits = np.asarray(model(x[400:], training=False))[:, 0]
    accuracy = float(np.mean((logits > 0) == (y[400:] > 0.5)))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
    return model, accuracy, seconds


def check(model, config=None, x=None):
    """``(design, mismatches, values)``: rnnrtl's emulator against HGQ2's quantized forward pass
    on ``x`` (default: all 500 jet sequences). ``model``: a model object or ``.keras`` path."""
    import rnnrtl
    from rnnrtl.hgq2_frontend import load_hgq2
    if x is None:
        x, _ = jet_data()
    design = rnnrtl.convert(model, config)
    km = load_hgq2(model)     # (the model itself, or the file loaded as rnnrtl loads it)
    ref = np.asarray(km(x, training=False), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # (a wrapping quantizer may overflow by design)
        got = design.emulate(x).reshape(ref.shape)
    return design, int(np.count_nonzero(got != ref)), int(ref.size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=_common.ROOT / "out" / "hgq2-jet" / "jet-qgru.keras")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing", action="store_true", help="also print rnnrtl's latency / II")
    args = ap.parse_args(argv)
    model, accuracy, seconds = train(args.epochs, args.seed, args.out)
    print(f"trained {args.epochs} epochs in {seconds:.1f} s; holdout accuracy {accuracy:.3f} "
          f"(100 sequences); saved {args.out}")
    design, mismatches, values = check(args.out)
    _common.print_check(design, "HGQ2", mismatches, values,
                        timing="default conversion" if args.timing else None)
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
