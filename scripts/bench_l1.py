"""The L1-trigger head-to-head (issue 20): rnnrtl's L1 configuration against HGQ2 + alkaid.

Usage: python scripts/bench_l1.py [--models jet-gru,jet-lstm,hgq2-gru,hgq2-gru5] [--pipeline NAME]
           [--epochs 30] [--alkaid] [--synth] [--family xcup] [--outdir build/bench_l1]
           [--json out.json]

Models: the float jet GRU(20) and LSTM(20) anchors (scripts/_common.py; 20×6 → RNN(20) →
Dense(64, relu) → Dense(1)) and the same GRU trained quantization-aware with HGQ2
(scripts/train_hgq2_jet.py, ``--epochs``; its numerics are HGQ2's, imported by rnnrtl);
``hgq2-gru5`` is the seed paper author's small jet GRU(5) → Dense(5, relu) → Dense(1), trained the
same way (small enough for yosys to synthesise both sides in minutes).

rnnrtl's L1 configuration is :data:`L1_CONFIG`: a whole sequence per input beat, the recurrent
layer unrolled over its time steps, reuse 1 everywhere, every constant product as shift-and-add in
LUTs (``multiplier: lut``), plus ``--pipeline`` (default ``fast``, README's L1 configuration). Per
model it prints, from the design's timing model and the manifest's cost model (no RTL written):
II and latency in cycles, the DSP multipliers left (the gates' variable products), the shift-and-add
adders and adder bits, and the agreement with the model's own Keras forward pass (bit-exactness:
mismatching outputs for the HGQ2 model, whose quantized forward pass rnnrtl reproduces; decision
agreement and max |error| for the float models, which are approximated by fixed point).
``--synth`` also writes the RTL and runs a yosys ``--family`` estimate (LUT / FF / DSP; hours for
these fully unrolled designs on a 2-core machine). ``--alkaid`` runs alkaid (PyPI ``alkaid``, when
installed) on the HGQ2 model at a 5 ns latency cutoff and prints its latency, II and register bits
from its own report, beside rnnrtl's; with ``--synth`` also yosys's estimate of alkaid's Verilog
(:func:`rnnrtl.synth.estimate.estimate_verilog`: the same two yosys steps as rnnrtl's core, a
large design mapped in two parts at once, after its constant register bits are folded and its
registers cut by the use of their bits; about 1.5 hours for alkaid's jet-size GRU on 2 cores).
Targets (issue 20): II ≤ 5 cycles, latency ≤ 100 cycles, and fewer LUT + FF + DSP than alkaid.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import _common
import rnnrtl
from rnnrtl.config import PIPELINES
from rnnrtl.manifest import matrix_entries

#: rnnrtl's configuration for the L1 trigger regime (module docstring).
L1_CONFIG = {"input": "sequence", "mode": "unrolled", "reuse": 1, "multiplier": "lut"}
TARGET_II, TARGET_LATENCY = 5, 100


def l1_config(pipeline: str) -> dict:
    return {**L1_CONFIG, "pipeline": pipeline}


def figures(design) -> dict:
    """II, latency, multipliers and the shift-and-add cost model of ``design`` (no RTL written)."""
    t = design.timing
    mats = matrix_entries(design.network)
    return {"ii": t.ii, "latency": t.latency, "dsp_multipliers": t.multipliers,
            "adders": sum(m.get("adders", 0) * m["copies"] for m in mats),
            "adder_bits": sum(m.get("adder_bits", 0) * m["copies"] for m in mats),
            "matrix_register_bits": sum(m.get("register_bits", 0) * m["copies"] for m in mats)}


def float_model(name: str, config: dict) -> tuple[dict, object]:
    path, data, _ = _common.anchor(_common.MODELS[name])
    design = rnnrtl.convert(path, config)
    import keras
    x = data["x_test"]
    ref = np.asarray(keras.saving.load_model(path, compile=False).predict(x, verbose=0), np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = np.asarray(design.emulate(x), np.float64).reshape(ref.shape)
    return {"agreement": float(np.mean((got > 0.5) == (ref > 0.5))),
            "max_abs_err": float(np.max(np.abs(got - ref))), "samples": len(x)}, design


#: HGQ2 models: name -> (GRU units, Dense ReLU units).
HGQ2_MODELS = {"hgq2-gru": (20, 64), "hgq2-gru5": (5, 5)}


def hgq2_model(name: str, config: dict, epochs: int, outdir: Path) -> tuple[dict, object, Path]:
    import train_hgq2_jet
    units, dense = HGQ2_MODELS[name]
    path = outdir / f"jet-qgru{units}-{epochs}ep.keras"
    if not path.exists():
        _, accuracy, seconds = train_hgq2_jet.train(epochs, 0, path, units=units, dense=dense)
        print(f"{name}: trained {epochs} epochs in {seconds:.0f} s, holdout accuracy {accuracy:.3f}")
    design, mismatches, values = train_hgq2_jet.check(path, config)
    return {"mismatches": mismatches, "outputs": values}, design, path


def run_alkaid(model_path: Path, outdir: Path, family: str | None) -> dict | None:
    exe = shutil.which("alkaid") or str(Path(sys.executable).with_name("alkaid"))
    if not Path(exe).exists():
        print("alkaid: not installed (pip install alkaid); skipped")
        return None
    folder = outdir / f"alkaid-{model_path.stem}"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([exe, "convert", str(model_path), str(folder), "--flavor", "verilog",
                    "--latency-cutoff", "5"], check=True, capture_output=True, text=True)
    report = subprocess.run([exe, "report", str(folder)], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    meta = json.loads((folder / "metadata.json").read_text()) if (folder / "metadata.json").exists() else {}
    row = {"seconds": round(seconds, 1), "latency": meta.get("latency"),
           "clock_period_ns": meta.get("clock_period"), "register_bits": meta.get("reg_bits"),
           "cost": meta.get("cost")}
    if family is not None:
        from rnnrtl.synth.estimate import estimate_verilog
        est = estimate_verilog(sorted((folder / "src").rglob("*.v")), meta.get("top_module", "model"),
                               family, folder / f"estimate-{family}")
        row.update({"yosys_s": round(est.runtime_s, 1),
                    **{k: est.resources.get(k) for k in ("lut", "ff", "dsp")}})
    print(f"alkaid (II 1, fully pipelined): {json.dumps(row)}")
    return row


def synth(design, name: str, family: str, outdir: Path) -> dict:
    from rnnrtl.synth.core import read_core
    from rnnrtl.synth.estimate import run_estimate
    folder = outdir / name
    t0 = time.perf_counter()
    core = read_core(design, outdir=folder, samples=8)
    write_s = time.perf_counter() - t0
    est = run_estimate(core, family, folder / f"estimate-{family}")
    return {"write_s": round(write_s, 1), "yosys_s": round(est.runtime_s, 1),
            **{k: est.resources.get(k) for k in ("lut", "ff", "dsp")}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="jet-gru,jet-lstm,hgq2-gru,hgq2-gru5")
    ap.add_argument("--pipeline", default="fast", choices=PIPELINES)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alkaid", action="store_true")
    ap.add_argument("--synth", action="store_true")
    ap.add_argument("--family", default="xcup")
    ap.add_argument("--outdir", type=Path, default=Path("build/bench_l1"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    config = l1_config(args.pipeline)
    print(f"rnnrtl L1 configuration: {config}")
    rows = []
    for name in args.models.split(","):
        t0 = time.perf_counter()
        if name in HGQ2_MODELS:
            quality, design, path = hgq2_model(name, config, args.epochs, args.outdir)
        else:
            quality, design = float_model(name, config)
        row = {"model": name, **figures(design), **quality, "convert_s": round(time.perf_counter() - t0, 1)}
        ok = row["ii"] <= TARGET_II and row["latency"] <= TARGET_LATENCY
        row["targets"] = "met" if ok else f"MISSED (II <= {TARGET_II}, latency <= {TARGET_LATENCY})"
        if args.synth:
            row.update(synth(design, name, args.family, args.outdir))
        print(json.dumps(row), flush=True)
        if name in HGQ2_MODELS and args.alkaid:
            row["alkaid"] = run_alkaid(path, args.outdir, args.family if args.synth else None)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
