"""rnnrtl vs hls4ml 1.3 on the anchor models: speed, fidelity, bit-exactness, latency.

Usage: python scripts/compare_hls4ml.py [--samples N] [--models a,b,...]

For each hls4ml-1.3 anchor model (tests/fixtures/hls4ml-1.3) prints, in rich tables:
* emulator throughput (µs/sample) of rnnrtl with its default numerics and with ``numerics: hls4ml``,
  next to hls4ml 1.3's own g++ emulation time (measured, shared/REFERENCE.md);
* agreement of decisions with Keras float and max abs error, for rnnrtl default, rnnrtl's hls4ml
  profile and hls4ml's stored outputs, and whether the hls4ml profile equals hls4ml bit for bit;
* rnnrtl's latency / II / multipliers from ``design.timing`` for both profiles (reuse 1, static;
  the hls4ml profile's core adds the softmax unit's latency and multipliers where there is one),
  next to the paper's figures (shared/REFERENCE.md).
"""

import argparse
import time
import warnings

import numpy as np
from rich.table import Table

import _common
import rnnrtl

#: hls4ml 1.3.0's g++ emulation, µs/sample, all ap_fixed<16,6> (shared/REFERENCE.md).
HLS4ML_US = {"toptag-lstm": 860, "toptag-gru": 830, "digits-lstm": 810, "digits-gru": 610,
             "quickdraw-lstm": 130_000}
#: The paper's figures for the matching benchmark (Vivado HLS 2019.2 estimates at 200 MHz).
PAPER = {"toptag-lstm": "1.7 µs (RF 1) … 8.3–12.4 µs; static 1.6 µs",
         "toptag-gru": "same shape as the LSTM tagger",
         "quickdraw-lstm": "4,300–9,700 inferences/s (FPGA est.)"}
MODELS = ("toptag-lstm", "toptag-gru", "digits-lstm", "digits-gru", "quickdraw-lstm",
          "x-digits-retseq-lstm", "x-digits-lstm-logits")
HLS4ML_CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def _timed(design, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design.run(x[:8], warn=False)                     # warm-up
        t = time.perf_counter()
        y = design.run(x, warn=False).y
    return y, (time.perf_counter() - t) / len(x) * 1e6


def _figures(design, clock=200e6):
    """Latency, II and multipliers of a design's core, as table cells."""
    try:
        t = design.timing
    except Exception as e:  # noqa: BLE001 - a table cell, not a crash
        return f"n/a ({type(e).__name__})", "", ""
    return (f"{t.latency} cycles = {t.latency / clock * 1e6:.2f} µs",
            f"{t.ii} cycles ({clock / t.ii:,.0f}/s)", str(t.multipliers))


def _agree(y, yk):
    return float((_common.decisions(y) == _common.decisions(yk)).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=None,
                    help="samples per model (default: all; quickdraw's hls4ml profile costs "
                         "~40 ms a sample)")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    con = _common.console()
    speed = Table(title="Emulator throughput, µs/sample (lower is better)")
    for col in ("model", "samples", "rnnrtl default", "rnnrtl hls4ml profile", "hls4ml 1.3 (g++)",
                "speed-up (hls4ml profile)"):
        speed.add_column(col, justify="right" if col != "model" else "left")
    fid = Table(title="Agreement with Keras float decisions, max |error| (held-out data)")
    for col in ("model", "rnnrtl default", "rnnrtl hls4ml profile", "hls4ml 1.3",
                "profile == hls4ml"):
        fid.add_column(col)
    hw = Table(title="Hardware: rnnrtl design.timing (200 MHz) vs the hls4ml paper")
    for col in ("model", "rnnrtl default: latency", "II", "multipliers",
                "hls4ml profile: latency", "II", "multipliers", "paper (hls4ml)"):
        hw.add_column(col)
    for name in args.models.split(","):
        path, data, hls = _common.anchor(name)
        x, yk = data["x_test"][:args.samples], data["y_keras"][:args.samples]
        ref = hls["viv-model"][:len(x)]
        default = rnnrtl.convert(path)
        profile = rnnrtl.convert(path, HLS4ML_CONFIG)
        y_def, us_def = _timed(default, x)
        y_h, us_h = _timed(profile, x)
        ref_us = HLS4ML_US.get(name)
        speed.add_row(name, str(len(x)), f"{us_def:.1f}", f"{us_h:.1f}",
                      f"~{ref_us:,}" if ref_us else "—",
                      f"{ref_us / us_h:.1f}×" if ref_us else "—")
        exact = np.array_equal(y_h, ref)
        fid.add_row(name, *(f"{_agree(y, yk):.1%}  err {np.abs(y - yk).max():.3f}"
                            for y in (y_def, y_h, ref)),
                    "[green]bit-identical[/]" if exact else
                    f"[red]{int((y_h != ref).sum())} values differ[/]")
        hw.add_row(name, *_figures(default), *_figures(profile), PAPER.get(name, "—"))
    for table in (speed, fid, hw):
        con.print(table)


if __name__ == "__main__":
    main()
