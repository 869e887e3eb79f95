"""Design-space exploration (issue 21): the default configuration against the explored one.

Usage: python scripts/bench_explore.py [--models jet-lstm,digits-gru,big-lstm] [--workers 1,2]
                                       [--goal agreement>=0.995] [--synth xcup]

For each anchor model (the jet LSTM, the digits GRU, the QuickDraw LSTM(128); data and Keras float
outputs from tests/fixtures/hls4ml-1.3) runs ``rnnrtl.explore.explore`` on all the data, on a fresh
Dask LocalCluster of each worker count with no cache (every point evaluated), and prints the
default design's cost and agreement next to the best one's, the points evaluated and the wall time
(cluster start included) per worker count; and, from the batches the search ran, the most two
workers could gain over one (each batch waits for its slowest evaluation).

The goal is met on the data searched. How well that carries over: a second search on the
even-numbered samples only, whose best configuration is then emulated on the odd-numbered ones
(held out), next to the default configuration there.

Target (issue 21): on the jet LSTM >= 99.5 % decision agreement with Keras float at <= 60 % of the
default design's multiplier-bit cost.
"""

import argparse

from rich.table import Table

import _common
import rnnrtl
from rnnrtl import flow
from rnnrtl.evaluation import agreement
from rnnrtl.explore import explore

#: Model keys -> anchor names.
MODELS = {"jet-lstm": _common.JET_LSTM, "digits-gru": "digits-gru", "big-lstm": _common.BIG_LSTM}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--goal", default="agreement>=0.995")
    ap.add_argument("--synth", default=None, help="yosys family on the Pareto front (xc7, xcup)")
    ap.add_argument("--no-held-out", action="store_true", help="skip the held-out check")
    args = ap.parse_args()
    console = _common.console()
    table = Table(title=f"rnnrtl explore, goal {args.goal} (agreement with Keras float)")
    for col in ("model", "samples", "default cost", "default mult bits", "default agr.",
                "best cost", "best mult bits", "mult bits vs default", "best agr.", "points",
                "batches", "ideal 2-worker speed-up", "workers", "wall s"):
        table.add_column(col)
    held_rows = []
    for key in args.models.split(","):
        path, data, _ = _common.anchor(MODELS[key])
        model = flow.load_model(path)
        labels = data.get("labels")
        log = lambda text, key=key: console.print(f"[dim]{key}: {text}[/]")  # noqa: E731
        full = flow.TestData(x=data["x_test"], y_float=data["y_keras"], labels=labels)
        for workers in [int(w) for w in args.workers.split(",")]:
            ex = explore(model, full, goals=args.goal, workers=workers, cache_dir=False,
                         synth=args.synth if workers == 1 else None, log=log)
            base, best, metric = ex.base, ex.best, ex.goals[0].metric
            table.add_row(key, str(len(full.x)), f"{base['cost']['total']:,.0f}",
                          f"{base['cost']['mult_bits']:,}", f"{base['metrics'][metric]:.4f}",
                          f"{best['cost']['total']:,.0f}", f"{best['cost']['mult_bits']:,}",
                          f"{100 * best['cost']['mult_bits'] / base['cost']['mult_bits']:.1f} %",
                          f"{best['metrics'][metric]:.4f}", str(len(ex.result.points)),
                          str(len(ex.batches)), f"{ex.speedup(2):.2f}x", str(ex.workers),
                          f"{ex.seconds:.1f}")
            for p in (p for p in ex.result.points if p.get("synth")):
                console.print(f"{key} point {p['id']} ({'best' if p['best'] else 'Pareto'}): cost "
                              f"{p['cost']['total']:,.0f}, yosys {args.synth}: {p['synth']}")
        if args.no_held_out:
            continue
        half = flow.TestData(x=data["x_test"][::2], y_float=data["y_keras"][::2],
                             labels=None if labels is None else labels[::2])
        try:
            ex = explore(model, half, goals=args.goal, cache_dir=False, log=log)
        except rnnrtl.RnnrtlError as e:
            held_rows.append((key, f"search on the even half failed: {e}", "", ""))
            continue
        x, y = data["x_test"][1::2], data["y_keras"][1::2]
        held = [agreement(rnnrtl.convert(path, p["config"]).emulate(x), y)
                for p in (ex.base, ex.best)]
        held_rows.append((key, f"{ex.best['metrics'][ex.goals[0].metric]:.4f}",
                          *(f"{eq / n:.4f} ({n - eq} of {n} differ)" for eq, n in held)))
    console.print(table)
    if held_rows:
        held = Table(title="searched on the even-numbered samples, agreement on the odd ones")
        for col in ("model", "searched agr.", "held-out agr., default", "held-out agr., best"):
            held.add_column(col)
        for row in held_rows:
            held.add_row(*row)
        console.print(held)


if __name__ == "__main__":
    main()
