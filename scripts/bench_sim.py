"""Verilator verification of the LSTM(20)-on-20x6 jet model: build time, throughput, end to end
(issue: Verification on Verilator).

Usage: python scripts/bench_sim.py [--reuse 1] [--samples 10000] [--idle 0.3] [--backpressure 0.3]
                                   [--build-dir DIR] [--outdir DIR]

Converts ``tests/fixtures/hls4ml-1.3/toptag-lstm.keras`` at reuse ``--reuse`` (one factor for every
layer), writes the core with ``--samples`` sequences drawn from the anchor's test set as vectors,
and verifies them all with :func:`rnnrtl.verify.simulate` (random stalls, timing, reset). Prints,
separately: the time to write the design (convert, Verilog, emulator vectors), the Verilator build,
the simulation throughput (sequences/s and cycles/s of the all-samples run) and the end-to-end time
to verify ``--samples`` sequences. With ``--build-dir``, a build of the same Verilog is reused by
later runs (the build time then shows 0 and "reused").

The default is reuse 1 (3,484 multipliers, 4.6 MB of Verilog; hls4ml's latency-oriented setting):
its Verilator build took 3.5 min on 2 cores (~2 min of it verilating; 8.5 min when the machine was
busy with other jobs). ``--reuse 4`` (916 multipliers) builds in 1-2 min and simulates more cycles
per sequence (II 240 instead of 180). docs/verilator-waivers.md has the build notes.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.table import Table

import _common
import rnnrtl
from rnnrtl import verify


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", type=int, default=1)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--idle", type=float, default=0.3)
    ap.add_argument("--backpressure", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-dir", type=Path, default=None,
                    help="keep builds here and reuse them (default: a fresh temporary folder)")
    ap.add_argument("--outdir", type=Path, default=None, help="design folder (default: temporary)")
    args = ap.parse_args()
    console = _common.console()

    with tempfile.TemporaryDirectory(prefix="rnnrtl-bench-sim-") as tmp:
        outdir = args.outdir or Path(tmp) / "design"
        build_dir = args.build_dir or Path(tmp) / "sim_build"
        path, data, _ = _common.anchor(_common.JET_LSTM)
        rng = np.random.default_rng(args.seed)
        x = data["x_test"][rng.integers(0, len(data["x_test"]), args.samples)]

        t0 = time.perf_counter()
        design = rnnrtl.convert(path, {"reuse": args.reuse})
        design.write(outdir, x=x)
        write_s = time.perf_counter() - t0
        verilog = next(outdir.glob("*.v"))
        console.print(f"wrote {verilog.name} ({verilog.stat().st_size / 1e6:.1f} MB, reuse {args.reuse}, "
                      f"{design.timing.multipliers} multipliers, latency {design.timing.latency}, "
                      f"II {design.timing.ii}) and {args.samples} vectors in {write_s:.1f} s")

        summary = verify.simulate(outdir, build_dir=build_dir, seed=args.seed, idle=args.idle,
                                  backpressure=args.backpressure,
                                  progress=lambda text: console.print(f"[dim]{text}[/]"))
        stalls = summary.tests["random_stalls"]

        table = Table(title=f"Verilator verification, {_common.JET_LSTM} (LSTM(20) 20x6 -> Dense(64) "
                            f"-> Dense(1)), reuse {args.reuse}")
        for col in ("step", "value"):
            table.add_column(col)
        table.add_row("write design (convert + Verilog + vectors)", f"{write_s:.1f} s")
        table.add_row("Verilator build", f"{summary.build_seconds:.1f} s"
                      + (" (reused)" if summary.build_reused else ""))
        table.add_row("simulator run (3 tests, incl. start-up)", f"{summary.run_seconds:.1f} s")
        table.add_row(f"random-stall run: {stalls.get('samples', 0)} sequences",
                      f"{stalls.get('seconds', 0):.1f} s, {stalls.get('run_cycles', 0):,} cycles "
                      f"(idle {args.idle}, backpressure {args.backpressure})")
        table.add_row("throughput", f"{summary.sequences_per_second:,.0f} sequences/s, "
                                    f"{summary.cycles_per_second:,.0f} cycles/s")
        table.add_row(f"end to end, {args.samples} sequences (write + build + run)",
                      f"{write_s + summary.build_seconds + summary.run_seconds:.1f} s")
        table.add_row("measured latency / II", f"{summary.latency} / {summary.ii} cycles (manifest "
                                               f"{summary.expected_latency} / {summary.expected_ii})")
        table.add_row("verdict", f"{'PASS' if summary.passed else 'FAIL'}: {summary.mismatches} "
                                 f"mismatching sequences")
        console.print(table)
        for problem in summary.problems:
            console.print(f"[red]{problem}[/]")
        if not summary.passed:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
