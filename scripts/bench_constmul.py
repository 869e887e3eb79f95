"""Benchmark of ``multiplier: lut`` against ``dsp`` (issue 20 item 2): the jet LSTM(20) and GRU(20)
anchors (scripts/_common.py) at reuse 1, each matrix's products as DSP multipliers or as
shift-and-add in LUTs.

Usage: python scripts/bench_constmul.py [--models jet-lstm,jet-gru] [--kinds dsp,lut]
           [--family xcup] [--outdir build/bench_constmul] [--no-synth] [--json out.json]

Per model and kind it prints the manifest's figures (multipliers, and for ``lut`` the cost model
summed over the matrices: adders, adder bits = the LUT estimate, pipeline register bits), the
latency and II, the generation seconds (``convert`` + ``read_core``: Verilog, RTLIL, manifest
and vectors written), and yosys's LUT / FF / DSP for ``--family`` (``rnnrtl.synth.estimate``;
``--no-synth`` skips yosys).
"""

import argparse
import json
import time
from pathlib import Path

import _common
import rnnrtl
from rnnrtl.synth.core import read_core
from rnnrtl.synth.estimate import run_estimate


def run(model: str, kind: str, args) -> dict:
    path, _, _ = _common.anchor(_common.MODELS[model])
    config = {"reuse": 1, "multiplier": kind}
    t0 = time.perf_counter()
    design = rnnrtl.convert(path, config)
    tm = design.timing
    folder = args.outdir / f"{model}-{kind}"
    core = read_core(design, outdir=folder, samples=8)
    gen_s = time.perf_counter() - t0
    mats = core.manifest["matrices"]
    row = {"model": model, "kind": kind, "latency": tm.latency, "ii": tm.ii,
           "multipliers": tm.multipliers, "generate_s": round(gen_s, 1),
           "adders": sum(m.get("adders", 0) for m in mats),
           "adder_bits": sum(m.get("adder_bits", 0) for m in mats),
           "register_bits": sum(m.get("register_bits", 0) for m in mats),
           "lut_products": sum(m["rows"] * m["cols"] for m in mats if m["multiplier"] == "lut")}
    print(f"{model} {kind}: generated in {row['generate_s']} s; {row}", flush=True)
    if not args.no_synth:
        est = run_estimate(core, args.family, folder / f"estimate-{args.family}")
        row.update({k: est.resources.get(k) for k in ("lut", "ff", "dsp")})
        row["yosys_s"] = round(est.runtime_s, 1)
        print(f"   yosys {args.family}: {est.resources} ({est.runtime_s:.0f} s)", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="jet-lstm,jet-gru")
    ap.add_argument("--kinds", default="dsp,lut")
    ap.add_argument("--family", default="xcup")
    ap.add_argument("--outdir", type=Path, default=Path("build/bench_constmul"))
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [run(model, kind, args) for model in args.models.split(",") for kind in args.kinds.split(",")]
    cols = ["model", "kind", "latency", "ii", "multipliers", "lut_products", "adders", "adder_bits",
            "register_bits", "generate_s", "lut", "ff", "dsp"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
