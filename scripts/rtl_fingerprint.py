"""Fingerprints of what rnnrtl generates, to prove a restructure changed no bit.

Usage: python scripts/rtl_fingerprint.py [--designs a,b] [--rtlil] [--jobs 2] [--json out.json]
           [--compare before.json]

For a fixed list of designs it prints the SHA-256 (first 16 hex digits) of the generated Verilog
(and RTLIL with ``--rtlil``), of ``manifest.json`` with the version fields removed, of the test
vectors' arrays, and of the emulator's output codes and trace on fixed inputs. ``timing`` designs
(too large to write in a few minutes) fingerprint the timing figures and the emulator only.
``--compare`` exits 1 if any fingerprint differs from a table saved earlier with ``--json``.
"""

import argparse
import hashlib
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import _common

#: name -> (model, configuration, what to fingerprint). A model is an anchor name or "stacked".
DESIGNS = {
    "jet-lstm-r1": (_common.JET_LSTM, {}, "write"),
    "jet-ecp5-r80": (_common.JET_LSTM, _common.PRESETS["jet-ecp5-r80"][1], "write"),
    "big-vu9p": (_common.BIG_LSTM, _common.PRESETS["big-vu9p"][1], "timing"),
    "gru-reset-before": ("x-digits-gru-resetbefore", {"reuse": 4}, "write"),
    "hls4ml-softmax": ("digits-lstm", {"numerics": "hls4ml", "reuse": 8}, "write"),
    "unrolled-retseq": ("stacked", {"mode": "unrolled", "reuse": 8}, "write"),
    "interleave-2": ("digits-gru", {"interleave": 2, "reuse": 8}, "write"),
    "simplernn": ("x-digits-simplernn", {"reuse": 2, "pipeline": "deep"}, "write"),
    "stacked-gru-lstm": ("stacked", {"reuse": 4, "adder_fanin": 2}, "write"),
}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _arrays_digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def stacked_model():
    """Input(8, 3) -> GRU(6, return_sequences) -> LSTM(5) -> Dense(2): seeded weights."""
    import keras
    model = keras.Sequential([
        keras.Input((8, 3), name="input"),
        keras.layers.GRU(6, return_sequences=True, name="gru"),
        keras.layers.LSTM(5, name="lstm"),
        keras.layers.Dense(2, name="out"),
    ], name="stacked_gru_lstm")
    rng = np.random.default_rng(7)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def fingerprint(name: str, rtlil: bool = False) -> dict:
    import rnnrtl
    model, config, what = DESIGNS[name]
    if model == "stacked":
        model = stacked_model()
    else:
        model = _common.ANCHORS / f"{model}.keras"
    design = rnnrtl.convert(model, config)
    net = design.network
    T = net.timesteps or 8
    x = np.random.default_rng(1).standard_normal((32, T, net.in_features)) * 1.5
    result = design.run(x, trace=True, warn=False)
    row = {"emulator": _arrays_digest({"codes": result.codes, **result.trace})}
    t0 = time.perf_counter()
    if what == "timing":
        row["timing"] = _digest(json.dumps(design.timing.to_dict(), sort_keys=True).encode())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            paths = design.write(tmp, samples=16, rtlil=rtlil)
            row["verilog"] = _digest(paths["verilog"].read_bytes())
            if rtlil:
                row["rtlil"] = _digest(paths["rtlil"].read_bytes())
            manifest = json.loads(paths["manifest"].read_text())
            for key in ("rnnrtl_version", "manifest_version"):
                manifest.pop(key, None)
            row["manifest"] = _digest(json.dumps(manifest, sort_keys=True).encode())
            with np.load(paths["vectors"]) as vec:
                row["vectors"] = _arrays_digest(dict(vec))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=",".join(DESIGNS), help="comma list of designs")
    ap.add_argument("--rtlil", action="store_true", help="also fingerprint the RTLIL")
    ap.add_argument("--jobs", type=int, default=2, help="designs generated at once")
    ap.add_argument("--json", type=Path, help="save the table here")
    ap.add_argument("--compare", type=Path, help="a saved table; exit 1 on any difference")
    args = ap.parse_args()
    names = [n for n in args.designs.split(",") if n]
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        ap.error(f"unknown design(s) {', '.join(unknown)}; known: {', '.join(DESIGNS)}")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = dict(zip(names, pool.map(fingerprint, names, [args.rtlil] * len(names))))
    keys = ("verilog", "rtlil", "manifest", "vectors", "emulator", "timing")
    print(f"{'design':18} " + " ".join(f"{k:16}" for k in keys) + "  seconds")
    for name, row in rows.items():
        print(f"{name:18} " + " ".join(f"{row.get(k, '-'):16}" for k in keys) + f"  {row['seconds']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, sort_keys=True))
    if args.compare:
        before = json.loads(args.compare.read_text())
        # (a run without --rtlil writes no RTLIL, and its manifest names none: compare those
        # only between runs of the same kind)
        same_kind = lambda n: ("rtlil" in rows[n]) == ("rtlil" in before[n])  # noqa: E731
        changed = [f"{n}.{k}" for n, row in rows.items() for k in keys
                   if n in before and (k in ("verilog", "vectors", "emulator", "timing") or same_kind(n))
                   and row.get(k) != before[n].get(k)]
        print("identical" if not changed else f"CHANGED: {', '.join(changed)}")
        sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
