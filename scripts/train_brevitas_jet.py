"""Train the jet-shape QuantLSTM(20) briefly with Brevitas and check rnnrtl bit-exact against it.

Usage: python scripts/train_brevitas_jet.py [--steps 120] [--seed 0] [--config JSON]

The model is issue 20's jet shape, quantization-aware with Brevitas (tests/brevitas_models.py):
20×6 → QuantLSTM(20) → QuantLinear(64) + QuantReLU → QuantLinear(1) + QuantSigmoid, every
quantizer fixed point (8 bits, power-of-two scales: Int8WeightPerTensorFixedPoint,
Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint, Int8BiasPerTensorFixedPointInternalScaling),
with the two settings rnnrtl needs (docs/numerics.md, "Brevitas"): one gate accumulator quantizer
for the four gates (``shared_intra_layer_gate_acc_quant=True``) and the sigmoid quantizer on one
constant scale (2^-8), so i, f and o share one table. It trains ``--steps`` Adam steps (batches of
32) on the first 400 sequences of the jet anchor data (``scripts/_common.py`` JET_LSTM, 500
standardised sequences) and is scored on the last 100.

Prints the accuracy, rnnrtl's mismatching output codes against Brevitas' ``model(x)`` on all 500
sequences (must be 0; exit status 1 otherwise), the formats rnnrtl read, and the latency / II /
multipliers of the design at reuse 1 with ``pipeline: fast`` (``--config`` replaces that
configuration).
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import _common

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

TIMESTEPS, FEATURES, UNITS, DENSE = 20, 6, 20, 64
FAST = {"reuse": 1, "pipeline": "fast"}


def jet_data():
    """``(x, labels)`` of the jet anchor: 500 sequences of 20×6 standardised features."""
    _, data, _ = _common.anchor(_common.JET_LSTM)
    return data["x_test"].astype("float32"), data["labels"].astype("float32")


def train(steps: int = 300, seed: int = 0):
    """The jet QuantLSTM trained on the anchor's first 400 sequences: ``(model, holdout accuracy,
    seconds)``."""
    import brevitas_models as bm
    x, y = jet_data()
    model = bm.lstm_model(seed=seed, features=FEATURES, units=UNITS, hidden=DENSE)
    t0 = time.perf_counter()
    bm.trained(model, x[:400], y[:400], steps=steps, lr=3e-3, batch=32, seed=seed)
    seconds = time.perf_counter() - t0
    p = bm.reference(model, x[400:])[:, 0]
    return model, float(np.mean((p > 0.5) == (y[400:] > 0.5))), seconds


def check(model, config=None, x=None):
    """``(design, mismatches, values)``: rnnrtl's emulator against Brevitas' quantized forward
    pass on ``x`` (default: all 500 jet sequences), compared as output codes."""
    import brevitas_models as bm
    import rnnrtl
    if x is None:
        x, _ = jet_data()
    design = rnnrtl.convert(model, config, input_shape=(TIMESTEPS, FEATURES))
    ref = bm.reference(model, x)
    fmt = design.network.output_fmt
    want = np.ldexp(ref, fmt.frac_bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # (saturations are counted, not errors)
        got = design.run(x).codes.reshape(want.shape)
    return design, int(np.count_nonzero(got != want)), int(want.size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", type=json.loads, default=FAST,
                    help=f"rnnrtl configuration of the timing figures (JSON; default {FAST})")
    args = ap.parse_args(argv)
    model, accuracy, seconds = train(args.steps, args.seed)
    print(f"trained {args.steps} steps in {seconds:.1f} s; holdout accuracy {accuracy:.3f} "
          "(100 sequences)")
    design, mismatches, values = check(model, args.config)
    _common.print_check(design, "Brevitas", mismatches, values, timing=json.dumps(args.config))
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
