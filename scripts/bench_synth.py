"""Synthesis benchmark: timing, resources and ECP5 Fmax of the anchor models across reuse factors.

Usage: python scripts/bench_synth.py [--models jet-lstm,jet-gru,big-lstm] [--reuse 40,50]
           [--preset jet-ecp5,big-vu9p] [--families xcup,xc7,ecp5] [--timing-only]
           [--seeds 1,2,3] [--router router1|router2] [--jobs 2] [--outdir build/bench_synth]

For each model and configuration (a uniform reuse factor, or a named per-layer preset): cycles per
step, latency, II and multipliers (``design.timing``); LUT / FF / DSP / BRAM from yosys for
UltraScale+ (xcup) and 7-series (xc7) and ECP5; the ECP5 Fmax (nextpnr, out of context, ports
registered) and the latency in ns at that Fmax; with ``--seeds``, one synthesis placed and
routed once per nextpnr seed (the best kept, as ``rnnrtl build --seeds`` does), printing per seed
the Fmax, the critical path, LUT / FF / DSP / EBR and the latency in µs (the manifest's latency
cycles / Fmax). Results accumulate in ``<outdir>/results.json``
(one entry per model and configuration; re-running one replaces the families it ran), and every
run prints the table of all results (also ``results.md``) and redraws ``bench_synth.png``.

Cost (2-core machine): the jet LSTM at reuse 40 takes a few seconds to write, ~2 min per Xilinx
family in yosys; ECP5 with jet-ecp5-r80 (~26k LUT4s) ~3 min of yosys and 6-10 min of nextpnr per
seed (router1 within a budget, else router2: rnnrtl.synth.place_route; --seeds runs two at
once). The LSTM(128) at a reuse that fits a VU9P has ~4,600-6,700 multipliers: big-vu9p with
--families xcup takes ~12 min in all (42 s to write the core, 11 min of yosys in two processes
of ~8 GB each, rnnrtl.synth.partition), so only with the native yosys of pyosys: YoWASP's runs
out of its 32-bit WebAssembly memory in abc9.
--timing-only gives its cycles at once.
Targets checked: the jet LSTM within an ECP5-85F's 156 MULT18X18D at >= 150 MHz; the LSTM(128)
within a VU9P's 6,840 DSPs at >= 100,000 sequences/s at 200 MHz (200e6 / II).
"""

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.table import Table

import _common
import rnnrtl
from rnnrtl.errors import BuildError
from rnnrtl.synth.core import read_core
from rnnrtl.synth.estimate import run_estimate
from rnnrtl.synth.seeds import parse_seeds
from rnnrtl.synth.yosys import ROUTERS

MODELS = _common.MODELS
DEFAULT_REUSE = {"jet-lstm": [40], "jet-gru": [40], "big-lstm": [12]}
ECP5_MULTS, VU9P_DSPS = 156, 6840
CLOCK_HZ = 200e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="jet-lstm", help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--reuse", default=None, help="comma list of uniform reuse factors")
    ap.add_argument("--preset", default="", help=f"comma list of {', '.join(_common.PRESETS)}")
    ap.add_argument("--families", default="xcup,xc7,ecp5", help="estimates to run")
    ap.add_argument("--timing-only", action="store_true", help="no synthesis, design.timing only")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis runs at once")
    ap.add_argument("--freq", type=float, default=200.0, help="ECP5 clock nextpnr aims at (MHz)")
    ap.add_argument("--no-route", action="store_true",
                    help="ECP5 Fmax from placement only (no routing: minutes faster)")
    ap.add_argument("--router", choices=ROUTERS, default=None,
                    help="nextpnr router for the ECP5 estimate (default: "
                         "rnnrtl.synth.place_route's choice); either can take long to converge "
                         "on a congested design")
    ap.add_argument("--seed", type=int, default=None, help="nextpnr placer seed of the ECP5 estimate")
    ap.add_argument("--seeds", default=None,
                    help="comma list of nextpnr seeds (instead of --seed): each placed and routed, "
                         "every one printed, the best kept")
    ap.add_argument("--outdir", type=Path, default=_common.ROOT / "build" / "bench_synth")
    args = ap.parse_args()
    if args.seed is not None and args.seeds is not None:
        ap.error("give --seed or --seeds, not both")
    args.seeds = parse_seeds(args.seeds) if args.seeds else (1 if args.seed is None else args.seed,)
    families = [f for f in args.families.split(",") if f]
    cases = []
    for model in filter(None, args.models.split(",")):
        reuses = [int(r) for r in args.reuse.split(",")] if args.reuse else DEFAULT_REUSE[model]
        cases += [(model, f"reuse {r}", {"reuse": r}) for r in reuses]
    cases += [(_common.PRESETS[p][0], p, _common.PRESETS[p][1]) for p in filter(None, args.preset.split(","))]

    args.outdir.mkdir(parents=True, exist_ok=True)
    store = args.outdir / "results.json"
    results = json.loads(store.read_text()) if store.is_file() else {}
    for model, label, config in cases:
        key = f"{model} | {label}"
        print(f"== {key}", flush=True)
        row = run_case(model, label, config, families, args)
        old = results.get(key, {})
        if old.get("reuse_config") == config:     # keep other families' estimates of this case
            row["estimates"] = {**old.get("estimates", {}), **row["estimates"]}
            row.setdefault("write_s", old.get("write_s"))
        fmax = row["estimates"].get("ecp5", {}).get("fmax_mhz")
        if fmax:
            row["latency_ns_ecp5"] = row["latency"] * 1e3 / fmax
        results[key] = row
        store.write_text(json.dumps(results, indent=1))
    print_table(results, args.outdir)
    plot(results, args.outdir)


def run_case(model, label, config, families, args) -> dict:
    path, _, _ = _common.anchor(MODELS[model])
    t0 = time.perf_counter()
    design = rnnrtl.convert(path, config)
    tm = design.timing
    row = {"model": model, "config": label, "reuse_config": config, "cycles_per_step": tm.cycles_per_step,
           "latency": tm.latency, "ii": tm.ii, "multipliers": tm.multipliers,
           "seq_per_s_200mhz": CLOCK_HZ / tm.ii, "layers": [vars(l) for l in tm.layers],
           "estimates": {}}
    if args.timing_only:
        return row
    folder = args.outdir / f"{model}-{label.replace(' ', '')}"
    t = time.perf_counter()
    core = read_core(design, outdir=folder, samples=16)
    row["write_s"] = round(time.perf_counter() - t, 1)
    print(f"   core written in {row['write_s']} s", flush=True)

    def one(family):
        try:
            est = run_estimate(core, family, folder / f"estimate-{family}", freq_mhz=args.freq,
                               seeds=args.seeds if family == "ecp5" else (1,),
                               route=not args.no_route, router=args.router)
        except BuildError as e:
            print(f"   {family}: FAILED {e}", flush=True)
            return family, {"error": str(e)}
        print(f"   {family}: {est.resources} Fmax {est.fmax_mhz} ({est.runtime_s:.0f} s)", flush=True)
        for run in est.runs:
            print("   " + seed_line(run, est.resources, tm.latency), flush=True)
        return family, {"resources": est.resources, "fmax_mhz": est.fmax_mhz,
                        "fmax_source": est.fmax_source, "placed": est.placed,
                        "critical_path": est.critical_path, "note": est.multiplier_note,
                        "seed": est.seed, "runs": est.runs,
                        "router": args.router or "default",
                        "runtime_s": round(est.runtime_s, 1)}

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        row["estimates"] = dict(pool.map(one, families))
    row["total_s"] = round(time.perf_counter() - t0, 1)
    return row


def seed_line(run: dict, res: dict, latency: int) -> str:
    """One nextpnr run: seed, Fmax, LUT / FF / DSP / EBR, latency in µs, critical path, seconds."""
    fmax = run.get("fmax_mhz")
    text = (f"seed {run['seed']}: Fmax {fmax:.1f} MHz" if fmax else f"seed {run['seed']}: no Fmax")
    text += f" ({run['router']})" if run.get("router") else ""
    text += (f", LUT {res['lut']:,} / FF {res['ff']:,} / DSP {res['dsp']} / EBR {res['bram']:g}"
             + (f", latency {latency:,} cycles = {latency / fmax:.2f} µs" if fmax else ""))
    cp = run.get("critical_path")
    if cp:
        text += (f", critical path {cp['from']} -> {cp['to']} {cp['delay_ns']} ns "
                 f"({cp['logic_levels']} logic, {cp['routing_ns']} ns routing)")
    return text + (f" ({run['runtime_s']:.0f} s)" if run.get("runtime_s") else "")


def _res(row, family) -> str:
    res = row["estimates"].get(family, {}).get("resources")
    if res is None:
        return "error" if "error" in row["estimates"].get(family, {}) else "-"
    return f"{res['lut']:,} / {res['ff']:,} / {res['dsp']} / {res['bram']:g}"


def _fmax(row) -> str:
    ecp5 = row["estimates"].get("ecp5", {})
    if not ecp5.get("fmax_mhz"):
        return "-"
    placed = ecp5.get("fmax_source", "").startswith("placed")
    return f"~{ecp5['fmax_mhz']:.1f} (placed, not routed)" if placed else f"{ecp5['fmax_mhz']:.1f}"


def print_table(results, outdir: Path):
    """Two tables (timing, then resources) on the console, and both as Markdown in results.md."""
    timing_cols = ["model", "config", "cycles/step", "latency", "II", "seq/s @ 200 MHz",
                   "multipliers", "targets"]
    res_cols = ["model", "config", "xcup LUT/FF/DSP/BRAM", "xc7 LUT/FF/DSP/BRAM",
                "ecp5 LUT/FF/MULT/BRAM", "ECP5 Fmax MHz", "latency ns @ Fmax"]
    timing_rows, res_rows = [], []
    for row in results.values():
        timing_rows.append([row["model"], row["config"], str(row["cycles_per_step"]),
                            f"{row['latency']:,}", f"{row['ii']:,}",
                            f"{row['seq_per_s_200mhz']:,.0f}", f"{row['multipliers']:,}",
                            targets(row)])
        if row["estimates"]:
            res_rows.append([row["model"], row["config"], _res(row, "xcup"), _res(row, "xc7"),
                             _res(row, "ecp5"), _fmax(row),
                             f"{row['latency_ns_ecp5']:,.0f}" if row.get("latency_ns_ecp5") else "-"])
    md = []
    for title, cols, rows in (("Timing (design.timing)", timing_cols, timing_rows),
                              ("Resources (yosys) and ECP5 Fmax (nextpnr, out of context)",
                               res_cols, res_rows)):
        if not rows:
            continue
        table = Table(title=title)
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*r)
        _common.console().print(table)
        md += [f"### {title}", "", "| " + " | ".join(cols) + " |",
               "|" + "---|" * len(cols)] + ["| " + " | ".join(r) + " |" for r in rows] + [""]
    seeds = [f"{row['model']} | {row['config']} | {row['estimates']['ecp5'].get('router', '?')} | "
             + seed_line(run, row["estimates"]["ecp5"]["resources"], row["latency"])
             for row in results.values() for run in row["estimates"].get("ecp5", {}).get("runs", [])]
    if seeds:
        print("ECP5 nextpnr runs (model | config | router | per seed):")
        print("\n".join("  " + line for line in seeds))
        md += ["### ECP5 nextpnr runs, per seed", ""] + [f"* {line}" for line in seeds] + [""]
    (outdir / "results.md").write_text("\n".join(md))


def targets(row) -> str:
    if row["model"].startswith("jet"):
        fits = row["multipliers"] <= ECP5_MULTS
        fmax = row["estimates"].get("ecp5", {}).get("fmax_mhz")
        text = f"ECP5-85F mults {'fit' if fits else 'OVER'}"
        if fmax:
            text += f", {'>=' if fmax >= 150 else 'MISSED'} 150 MHz"
        return text
    dsp = row["estimates"].get("xcup", {}).get("resources", {}).get("dsp")
    what = f"{dsp:,} DSP48E2" if dsp is not None else f"{row['multipliers']:,} multipliers, not synthesised"
    count = row["multipliers"] if dsp is None else dsp
    rate = row["seq_per_s_200mhz"]
    return (f"VU9P {'fits' if count <= VU9P_DSPS else 'OVER'} ({what}), "
            f"{'>=' if rate >= 100_000 else 'MISSED'} 100k seq/s")


def plot(results, outdir: Path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows = list(results.values())
    if not rows:
        return
    fig = Figure(figsize=(15, 4.5))
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for model in sorted({r["model"] for r in rows}):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["multipliers"])
        mults = [r["multipliers"] for r in mine]
        ax1.plot(mults, [r["latency"] for r in mine], "o-", label=f"{model} latency")
        ax1.plot(mults, [r["ii"] for r in mine], "s--", label=f"{model} II")
        for fam, marker in (("xcup", "o"), ("xc7", "s"), ("ecp5", "^")):
            pts = [(r["multipliers"], r["estimates"][fam]["resources"]["dsp"]) for r in mine
                   if "resources" in r["estimates"].get(fam, {})]
            if pts:
                ax2.plot(*zip(*pts), marker, label=f"{model} {fam} DSP")
        pts = [(r["multipliers"], r["estimates"]["ecp5"]["fmax_mhz"]) for r in mine
               if r["estimates"].get("ecp5", {}).get("fmax_mhz")]
        if pts:
            ax3.plot(*zip(*pts), "^-", label=model)
    ax1.set(xscale="log", yscale="log", xlabel="multipliers (manifest)", ylabel="cycles",
            title="Latency and II vs parallelism")
    lim = max(r["multipliers"] for r in rows)
    ax2.plot([1, lim], [1, lim], "k:", lw=0.8, label="one DSP per multiplier")
    ax2.set(xscale="log", yscale="log", xlabel="multipliers (manifest)", ylabel="DSP cells (yosys)",
            title="DSPs vs multipliers")
    ax3.axhline(150, color="r", ls=":", lw=0.8, label="150 MHz target")
    ax3.set(xscale="log", xlabel="multipliers (manifest)", ylabel="MHz", title="ECP5 Fmax (nextpnr)")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "bench_synth.png", dpi=110)
    print(f"plots: {outdir / 'bench_synth.png'}")


if __name__ == "__main__":
    main()
