"""Generator benchmark: what writing a core costs (issue 18), against its multiplier count.

Usage: python scripts/bench_generate.py [--cases jet-lstm-r1,jet-lstm-r4,...] [--big] [--verilator]
           [--outdir build/bench_generate]

For each case: seconds to ``design.write`` (the Verilog, manifest and 16 vector sequences), the
peak resident memory of the process that wrote it, the Verilog's bytes and lines, the multipliers
(``design.timing.multipliers``) and, with ``--verilator`` (jet models only), the seconds of the
Verilator build of ``rnnrtl.verify.simulate`` in a fresh build folder (the design-independent
runtime objects stay cached, as they are for a user). Each write runs in a child process of its
own, so its peak memory (``VmHWM``) is its own and not the benchmark's. Default cases: the jet
LSTM at reuse 1 / 4 / 16 and the jet GRU at reuse 4; ``--big`` adds the LSTM(128) ``big-vu9p``
preset (~14 min to write before issue 18). Results accumulate in ``<outdir>/results.json`` (a run
replaces the cases it ran); every run prints the table of all results (also ``results.md``) and
plots write seconds against multipliers (``bench_generate.png``).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.table import Table

import _common

#: case -> (model key, configuration).
CASES = {
    "jet-lstm-r1": ("jet-lstm", {"reuse": 1}),
    "jet-lstm-r4": ("jet-lstm", {"reuse": 4}),
    "jet-lstm-r16": ("jet-lstm", {"reuse": 16}),
    "jet-gru-r4": ("jet-gru", {"reuse": 4}),
}
BIG = {"big-vu9p": _common.PRESETS["big-vu9p"]}


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _write(model, config, folder, queue):
    """Child process: convert and write one case; puts its figures on ``queue``."""
    import rnnrtl
    path, _, _ = _common.anchor(_common.MODELS[model])
    design = rnnrtl.convert(path, config)
    before = _vm_hwm_mb()
    t = time.perf_counter()
    files = design.write(folder, samples=16)
    seconds = time.perf_counter() - t
    verilog = Path(files["verilog"])
    text = verilog.read_bytes()
    queue.put({"write_s": round(seconds, 1), "peak_mb": round(_vm_hwm_mb()),
               "convert_peak_mb": round(before), "verilog_bytes": len(text),
               "verilog_lines": text.count(b"\n"), "multipliers": design.timing.multipliers,
               "verilog_modules": text.count(b"\nmodule ") + text.startswith(b"module ")})


def run_case(name, model, config, folder: Path, verilator: bool) -> dict:
    if folder.exists():
        shutil.rmtree(folder)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_write, args=(model, config, str(folder), queue))
    child.start()
    while True:
        try:
            row = queue.get(timeout=5)
            break
        except Exception:        # queue.Empty: fail if the child died without a result
            if not child.is_alive():
                raise SystemExit(f"{name}: the write failed (exit {child.exitcode})") from None
    child.join()
    row.update(case=name, model=model, config=config, load=os.getloadavg()[0])
    print(f"   written in {row['write_s']} s, peak {row['peak_mb']} MB, "
          f"{row['verilog_bytes'] / 1e6:.1f} MB of Verilog (load {row['load']:.1f})", flush=True)
    if verilator and model.startswith("jet"):
        from rnnrtl.verify import simulate
        build = Path(tempfile.mkdtemp(prefix="bench-verilator-"))
        try:
            summary = simulate(folder, samples=4, build_dir=build)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        row["verilator_s"] = round(summary.build_seconds, 1)
        row["sim_passed"] = summary.passed
        print(f"   Verilator build {row['verilator_s']} s, simulation "
              f"{'passed' if summary.passed else 'FAILED'}", flush=True)
    return row


def print_table(results: dict, outdir: Path):
    cols = ["case", "multipliers", "write s", "peak MB", "Verilog MB", "Verilog lines",
            "modules", "Verilator build s", "load (1 min)"]
    rows = []
    for r in sorted(results.values(), key=lambda r: (r["model"], r["multipliers"])):
        rows.append([r["case"], f"{r['multipliers']:,}", f"{r['write_s']:.1f}", f"{r['peak_mb']:,}",
                     f"{r['verilog_bytes'] / 1e6:.2f}", f"{r['verilog_lines']:,}",
                     str(r.get("verilog_modules", "-")),
                     f"{r['verilator_s']:.1f}" if "verilator_s" in r else "-",
                     f"{r.get('load', float('nan')):.1f}"])
    table = Table(title="design.write cost (scripts/bench_generate.py)")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*r)
    _common.console().print(table)
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    (outdir / "results.md").write_text("\n".join(md) + "\n")


def plot(results: dict, outdir: Path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    if not results:
        return
    fig = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for model in sorted({r["model"] for r in results.values()}):
        pts = sorted((r["multipliers"], r["write_s"]) for r in results.values() if r["model"] == model)
        ax.plot(*zip(*pts), "o-", label=model)
    ax.set(xscale="log", yscale="log", xlabel="multipliers (design.timing)",
           ylabel="design.write seconds", title="Generator cost vs multipliers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "bench_generate.png", dpi=110)
    print(f"plot: {outdir / 'bench_generate.png'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    ap.add_argument("--big", action="store_true", help="also the LSTM(128) big-vu9p preset")
    ap.add_argument("--verilator", action="store_true", help="time the Verilator build (jet models)")
    ap.add_argument("--outdir", type=Path, default=_common.ROOT / "build" / "bench_generate")
    args = ap.parse_args()
    known = {**CASES, **BIG}
    names = [c for c in args.cases.split(",") if c] + (list(BIG) if args.big else [])
    for name in names:
        if name not in known:
            ap.error(f"unknown case {name!r}; valid: {', '.join(known)}")
    args.outdir.mkdir(parents=True, exist_ok=True)
    store = args.outdir / "results.json"
    results = json.loads(store.read_text()) if store.is_file() else {}
    for name in names:
        model, config = known[name]
        print(f"== {name} (load {os.getloadavg()[0]:.1f})", flush=True)
        results[name] = run_case(name, model, config, args.outdir / name, args.verilator)
        store.write_text(json.dumps(results, indent=1))
    print_table(results, args.outdir)
    plot(results, args.outdir)


if __name__ == "__main__":
    main()
