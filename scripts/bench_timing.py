"""Cycle figures of the generated hardware, known before simulation (issue: RTL generator).

Usage: python scripts/bench_timing.py [--reuse 1,2,4,8,16] [--interleave 1,2,4,8] [--fanin 4]
                                     [--pipelines shallow,fast] [--sequence-only]
For the LSTM(20)-on-20x6 jet model (Dense(64, relu) -> Dense(1, sigmoid)) and its GRU(20)
sibling: cycles per time step, total latency, II and multipliers across reuse factors (static
mode), then sequences per cycle against interleave K at reuse 1, then mode unrolled (one cell per
time step) next to static across the reuse factors, then ``input: sequence`` (a whole sequence
per input beat, issue 20: targets II <= 5 and latency <= 100 cycles) with mode unrolled and
static across the reuse factors (``--sequence-only``: that table alone). The static and
``input: sequence`` tables have a row per pipeline preset of ``--pipelines`` (``fast``: issue 20's
latency targets, docs/pipelining.md); the others use the default. Figures come from
``Design.timing`` — the same hardware objects that generate the Verilog; the simulation tests check
that they equal what Amaranth's simulator and Verilator measure.
"""

import argparse

from rich.table import Table

import _common
import rnnrtl


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def _words(text):
    return [v for v in text.split(",") if v]


def _sequence_table(name, path, reuses, pipelines, extra):
    """input: sequence (all 20x6 features in one beat), mode unrolled and static, across reuse
    and pipeline presets."""
    table = Table(title=f"{name}: input: sequence (a whole sequence per beat)")
    for col in ("reuse", "pipeline", "mode", "cycles/step", "latency (cycles)", "II (cycles)",
                "multipliers", "x delay-line bits", "targets (II <= 5, latency <= 100)"):
        table.add_column(col, justify="right")
    for reuse in reuses:
        for pipeline in pipelines:
            for mode in ("unrolled", "static"):
                design = rnnrtl.convert(path, {"input": "sequence", "mode": mode, "reuse": reuse,
                                               "pipeline": pipeline, **extra})
                t = design.timing
                first = design.hardware().core.layers[0]
                ok = t.ii <= 5 and t.latency <= 100
                target = f"{'ok' if ok else 'MISSED'}" if mode == "unrolled" else ""
                table.add_row(str(reuse), pipeline, mode, str(t.cycles_per_step), str(t.latency),
                              str(t.ii), str(t.multipliers),
                              f"{getattr(first, 'delay_bits', 0):,}", target)
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", type=_ints, default=[1, 2, 4, 8, 16])
    ap.add_argument("--interleave", type=_ints, default=[1, 2, 4, 8])
    ap.add_argument("--fanin", type=int, default=None, help="adder_fanin (default: rnnrtl's)")
    ap.add_argument("--pipelines", type=_words, default=["shallow", "fast"],
                    help="pipeline presets of the static and input: sequence tables")
    ap.add_argument("--sequence-only", action="store_true",
                    help="only the input: sequence table (issue 20's L1 targets)")
    args = ap.parse_args()
    extra = {} if args.fanin is None else {"adder_fanin": args.fanin}
    console = _common.console()
    for name in (_common.JET_LSTM, _common.JET_GRU):
        path, _, _ = _common.anchor(name)
        console.print(_sequence_table(name, path, args.reuse, args.pipelines, extra))
        if args.sequence_only:
            continue
        table = Table(title=f"{name}: static mode across reuse factors")
        for col in ("reuse", "pipeline", "cycles/step", "latency (cycles)", "II (cycles)",
                    "multipliers", "latency @200 MHz", "targets (reuse 1)"):
            table.add_column(col, justify="right")
        for reuse in args.reuse:
            for pipeline in args.pipelines:
                t = rnnrtl.convert(path, {"reuse": reuse, "pipeline": pipeline, **extra}).timing
                target = ""
                if reuse == 1:   # the seed paper's (<= 8, <= 200) and issue 20's (<= 7) per step
                    ok = t.cycles_per_step <= 8 and t.latency <= 200
                    target = (f"<= 8/step, <= 200 total: {'ok' if ok else 'MISSED'}; "
                              f"<= 7/step: {'ok' if t.cycles_per_step <= 7 else 'MISSED'}")
                table.add_row(str(reuse), pipeline, str(t.cycles_per_step), str(t.latency),
                              str(t.ii), str(t.multipliers), f"{t.latency * 5} ns", target)
        console.print(table)
        table = Table(title=f"{name}: interleave K at reuse 1 (K sequences share the static cell)")
        for col in ("K", "II (cycles/sequence)", "sequences/cycle", "gain vs K=1", "multipliers"):
            table.add_column(col, justify="right")
        base = None
        for k in args.interleave:
            cfg = {"reuse": 1, **extra, "layers": {name.split("-")[1]: {"interleave": k}}}
            t = rnnrtl.convert(path, cfg).timing
            base = base or t.ii
            table.add_row(str(k), str(t.ii), f"{1 / t.ii:.4f}", f"{base / t.ii:.2f}x",
                          str(t.multipliers))
        console.print(table)
        table = Table(title=f"{name}: mode unrolled (one cell per time step) against static")
        for col in ("reuse", "cycles/step", "latency static", "latency unrolled", "II static",
                    "II unrolled", "gain", "multipliers static", "multipliers unrolled"):
            table.add_column(col, justify="right")
        for reuse in args.reuse:
            s = rnnrtl.convert(path, {"reuse": reuse, **extra}).timing
            u = rnnrtl.convert(path, {"reuse": reuse, "mode": "unrolled", **extra}).timing
            table.add_row(str(reuse), str(u.cycles_per_step), str(s.latency), str(u.latency),
                          str(s.ii), str(u.ii), f"{s.ii / u.ii:.1f}x", str(s.multipliers),
                          str(u.multipliers))
        console.print(table)


if __name__ == "__main__":
    main()
