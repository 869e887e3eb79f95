"""The ``rnnrtl`` command line: a thin client of :mod:`rnnrtl.flow` and :mod:`rnnrtl.report`.

Errors a user can fix (a missing file, an unsupported model, a bad configuration or data file) end
the command with one line on stderr and exit status 2; success exits 0.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")      # before anything imports TensorFlow
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import click  # noqa: E402

from . import budget, flow, verify  # noqa: E402
from .config import is_auto_precision, load_config  # noqa: E402
from .design import convert as convert_model  # noqa: E402
from .errors import RnnrtlError, RnnrtlWarning  # noqa: E402
from .evaluation import evaluate, short_format  # noqa: E402
from .manifest import load_manifest  # noqa: E402
from .outdir import check_output_folder, staged_output  # noqa: E402
from .platforms import TARGETS  # noqa: E402
from .report import write_report  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ["cli", "main"]

#: Held-out samples written as test vectors next to the Verilog (when data is given).
VECTOR_SAMPLES = 256


class UsageError(click.ClickException):
    """A problem with the user's input: printed as one line, exit status 2."""
    exit_code = 2


def _user_errors(command):
    """Turn every user-facing error (:class:`rnnrtl.errors.RnnrtlError`) into :class:`UsageError`:
    one line, exit 2. Any other exception is a bug and keeps its traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RnnrtlError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            # The environment refused a file operation (permissions, a full disk): the user's
            # to fix, not a bug in rnnrtl.
            where = f"{e.filename}: " if e.filename else ""
            raise UsageError(f"{where}{e.strerror or e}") from None
    return wrapper


def _console():
    from rich.console import Console
    return Console(highlight=False)


@contextmanager
def _step(console, text: str):
    """Show ``text`` with a spinner while the block runs, then a tick and the time it took."""
    start = time.perf_counter()
    with console.status(f"{text} …"):
        yield
    console.print(f"[green]✓[/] {text} [dim]({time.perf_counter() - start:.1f} s)[/]")


def _reuse_list(ctx, param, value):
    if value is None:
        return None
    try:
        factors = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give whole numbers separated by commas, e.g. 1,2,4,8")
    if not factors or any(f < 1 for f in factors):
        raise click.BadParameter(f"{value!r}: reuse factors are whole numbers >= 1, e.g. 1,2,4,8")
    return sorted(set(factors))


def _clock_mhz(ctx, param, value):
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value!r}: give a clock frequency in MHz, a finite number > 0")
    return value


# -- output ----------------------------------------------------------------------------------------

def _pct(x):
    return "—" if x is None else f"{100 * x:.2f} %"


def _print_design(console, design, summary: dict):
    from rich.table import Table
    over = summary.get("overflows", {})
    table = Table(title=f"{design.name}", title_justify="left")
    for col in ("layer", "kind", "in → out", "reuse", "accum", "output", "overflows"):
        table.add_column(col, no_wrap=True)
    for L in design.network.flat_layers:
        s = L.schedule
        n = sum(v for k, v in over.items() if k.startswith(f"{L.name}."))
        table.add_row(L.name, L.kind, f"{L.in_features} → {L.units}",
                      f"{s.reuse_input}/{s.reuse_recurrent}" if L.kind != "dense" else str(s.reuse_input),
                      short_format(getattr(L, "pre_fmt", None) or L.gate_fmt),
                      short_format(L.output_fmt), "—" if "overflows" not in summary else str(n))
    console.print(table)
    numbers = Table(show_header=False, box=None, padding=(0, 2))
    if summary.get("agree"):
        eq, n = summary["agree"]
        numbers.add_row("decision agreement with Keras float", f"{_pct(eq / n)} ({eq} of {n})")
        numbers.add_row("max |fixed − float|", f"{summary['max_abs_error']:.4g}")
    if summary.get("accuracy_fixed") is not None:
        numbers.add_row("accuracy vs labels (float / fixed)",
                        f"{_pct(summary['accuracy_float'])} / {_pct(summary['accuracy_fixed'])}")
    if "overflows" in summary:
        numbers.add_row("overflows on the data", str(sum(summary["overflows"].values())))
    numbers.add_row("weight values saturated", str(sum(summary["weight_overflows"].values())))
    numbers.add_row("weight values lost to underflow",
                    str(sum(summary.get("weight_underflows", {}).values())))
    timing = summary["timing"]
    numbers.add_row("latency / II", f"{timing['latency']} / {timing['ii']} cycles")
    numbers.add_row("multipliers", str(timing["multipliers"]))
    sweep = summary.get("sweep", [])
    same = {row["identical_outputs"] for row in sweep} - {None}
    if same:
        numbers.add_row("outputs identical at every reuse", "yes" if same == {"yes"} else "NO")
    for row in sweep:
        numbers.add_row(f"reuse {row['reuse']}",
                        f"latency {row['latency']}, II {row['ii']}, {row['multipliers']} multipliers")
    console.print(numbers)


def _one_line(design, summary: dict, outdir: Path, verb: str = "converted") -> str:
    parts = [f"{design.name}: {len(design.network.layers)} layers {verb}"]
    if summary.get("agree"):
        eq, n = summary["agree"]
        parts.append(f"decisions agree with Keras float on {_pct(eq / n)} of {n}")
    if "overflows" in summary:
        n = sum(summary["overflows"].values())
        parts.append("no overflow" if not n else f"{n} overflows")
    t = summary["timing"]
    parts.append(f"latency {t['latency']} cycles, II {t['ii']}, {t['multipliers']} multipliers")
    return "; ".join(parts) + f" → {outdir / 'report.html'}"


#: ``--force``: write a design beyond rnnrtl.budget's size limit.
_FORCE = click.option("--force", is_flag=True,
                      help="Write the hardware even when its estimated generation time or memory "
                           "exceeds the limit (rnnrtl.budget; README, Configuration reference).")


# -- commands --------------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="rnnrtl", message="%(prog)s %(version)s")
def cli():
    """rnnrtl: Keras LSTM / GRU networks to bit-exact fixed-point FPGA circuits.

    \b
    Start with the bundled demo (runs offline):
      rnnrtl demo -o out/demo
    Then convert your own model:
      rnnrtl convert model.keras -o out/model -c config.yaml --data test.npz
    """


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the design, the Verilog, its manifest and test vectors, and the "
                   "report.")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Configuration file (.yaml/.yml/.json); defaults when absent.")
@click.option("--sweep-reuse", callback=_reuse_list, metavar="R1,R2,...",
              help="Also convert at these reuse factors and compare them in the report.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help=".npz with x_test [batch, steps, features]; optional y_keras (Keras outputs, "
                   "else computed) and labels.")
@click.option("--clock-mhz", type=float, callback=_clock_mhz, metavar="MHZ",
              help="Clock frequency to express cycle counts in nanoseconds.")
@click.option("--timesteps", type=click.IntRange(min=1), metavar="N",
              help="Sequence length for a model whose input has none (Input((None, F))): the "
                   "timing, test vectors and unrolled / interleaved hardware are for N steps "
                   "(overrides the configuration's timesteps).")
@click.option("--weights-file", is_flag=True,
              help="Weights and biases in $readmemh files (OUTDIR/weights/*.hex) instead of "
                   "constants of the Verilog, which then depends on the shapes and formats only: "
                   "new weights of the same shapes need no new Verilog (sets weights: file; "
                   "multiplier dsp only).")
@_FORCE
@_user_errors
def convert(model, outdir, config_path, sweep_reuse, data_path, clock_mhz, timesteps,
            weights_file, force):
    """Convert a Keras model (.keras, .h5) or a PyTorch torch.export program (.pt2) into a
    fixed-point design and report on it.

    Writes OUTDIR/design.json + design.npz (the quantized network, reloadable with
    rnnrtl.load_design), the Verilog core with manifest.json and vectors.npz, and OUTDIR/report.md
    and report.html. With --data the design is emulated on the data and compared with Keras float
    (and the test vectors are taken from it).

    \b
    Examples:
      rnnrtl convert model.keras -o out/model
      rnnrtl convert model.keras -o out/model -c config.yaml --data test.npz
      rnnrtl convert model.keras -o out/model --sweep-reuse 1,2,4,8
      rnnrtl convert variable_length.keras -o out/model --timesteps 20
      rnnrtl convert model.pt2 -o out/model --data test.npz
      rnnrtl convert model.keras -o out/model --weights-file
    """
    console = _console()
    check_output_folder(outdir)

    def with_options(source):
        """The configuration ``source`` (a path, a dict or None) loaded, with ``--timesteps`` and
        ``--weights-file`` over it."""
        loaded = load_config(source)
        if timesteps is not None:
            loaded["timesteps"] = timesteps
        return load_config({**loaded, "weights": "file"}) if weights_file else loaded

    config = with_options(config_path)
    if is_auto_precision(config) and data_path is None:
        raise UsageError("precision: auto searches every format on data: give --data DATA.npz "
                         "(x_test, optionally y_keras and labels), or set precision to a format "
                         "such as fixed<16,6>")
    with _step(console, f"Loading {model}"):
        keras_model = flow.load_model(model)
    if is_auto_precision(config):   # the search of `rnnrtl explore`, default goal
        exploration = _run_explore(console, keras_model, _explore_data(console, keras_model,
                                                                       data_path), config)
        config = with_options(exploration.best["config"])
        console.print(f"[green]✓[/] precision: auto: {exploration.goals[0]} at cost "
                      f"{exploration.best['cost']['total']:,.0f} "
                      f"(defaults: {exploration.base['cost']['total']:,.0f})", soft_wrap=True)
    with _step(console, "Converting to fixed point"):
        design = convert_model(keras_model, config)
    budget.check(design.network, timesteps=design.timesteps, force=force)
    data = None
    if data_path is not None:
        data = flow.load_data(data_path, in_features=design.network.in_features,
                              timesteps=design.network.timesteps,
                              out_features=design.network.out_features)
        if data.y_float is None:
            with _step(console, f"Keras float outputs on {len(data.x)} samples"):
                data.y_float = flow.float_outputs(keras_model, data.x)
    sweep = None
    if sweep_reuse:
        with _step(console, f"Converting at reuse {', '.join(map(str, sweep_reuse))}"):
            sweep = flow.sweep_reuse(keras_model, config, sweep_reuse)
    with staged_output(outdir, version=__version__) as stage:
        summary = _write_outputs(console, design, stage, data, sweep, clock_mhz, force=force)
    _print_design(console, design, summary)
    console.print(_one_line(design, summary, outdir), soft_wrap=True)


def _write_outputs(console, design, outdir: Path, data, sweep, clock_mhz, evaluation=None,
                   force=False) -> dict:
    """Save the design, write its Verilog, manifest and test vectors, and the report."""
    with _step(console, "Saving the design"):
        flow.save_design(design, outdir)
    cost = budget.estimate(design.network, design.timesteps)
    with _step(console, f"Writing Verilog, manifest and test vectors (estimated: {cost})"):
        design.write(outdir, x=None if data is None else data.x[:VECTOR_SAMPLES], force=force)
    with _step(console, "Emulating and writing the report" if data is not None and evaluation is None
               else "Writing the report"):
        kwargs = {}
        if data is not None:
            kwargs = dict(x=data.x, y_float=data.y_float, labels=data.labels)
        return write_report(outdir, design, sweep=sweep, evaluation=evaluation, clock_mhz=clock_mhz,
                            **kwargs)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for best.yaml, explore.json and report.html.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help=".npz with x_test [batch, steps, features]; optional y_keras (float outputs, "
                   "else computed) and labels (for auc_drop / accuracy_drop goals). Required.")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Base configuration to start from (.yaml/.yml/.json); defaults when absent.")
@click.option("--goal", "goal_texts", multiple=True, metavar="METRIC>=X|METRIC<=X",
              help="What the design must meet (repeatable, or comma-separated): agreement>=F, "
                   "accuracy_drop<=F, auc_drop<=F, max_err<=F, mean_err<=F; with --reuse also "
                   "ii<=N, latency<=N. Default: agreement>=0.995.")
@click.option("--reuse", "reuse", callback=_reuse_list, metavar="R1,R2,...",
              help="Also choose the reuse factor among these (cheapest meeting every goal).")
@click.option("--scheduler", metavar="tcp://HOST:8786",
              help="Run the evaluations on this existing Dask cluster (default: a LocalCluster).")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes of the LocalCluster (default: CPUs, at most 4).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Result cache (default: $RNNRTL_CACHE/explore or ~/.cache/rnnrtl/explore); "
                   "a rerun or resumed run evaluates nothing twice.")
@click.option("--max-evaluations", type=click.IntRange(min=3), metavar="N",
              help="Most evaluations the search may spend (default 400).")
@click.option("--synth", type=click.Choice(["xc7", "xcup", "ecp5"]), default=None,
              help="Run yosys estimates for this family on the Pareto front to calibrate the cost.")
@_user_errors
def explore(model, outdir, data_path, config_path, goal_texts, reuse, scheduler, workers, cache_dir,
            max_evaluations, synth):
    """Search formats, table sizes (and with --reuse, reuse factors) for the cheapest design of
    MODEL that meets the goal on the data; on Dask.

    Writes OUTDIR/best.yaml (use it with `rnnrtl convert MODEL -c best.yaml`), explore.json (every
    evaluated point) and report.html (the Pareto front and a plot of cost against the goal).

    \b
    Examples:
      rnnrtl explore model.keras --data test.npz -o out/explore
      rnnrtl explore model.keras --data test.npz -o out/explore --goal auc_drop<=0.002
      rnnrtl explore model.keras --data test.npz -o out/explore --reuse 1,2,4 --goal ii<=100
      rnnrtl explore model.keras --data test.npz -o out/explore --scheduler tcp://head:8786
    """
    from .explore import DEFAULT_GOAL, parse_goals
    from .explore.goal import NUMERIC
    goals = parse_goals(goal_texts or [DEFAULT_GOAL])
    console = _console()
    check_output_folder(outdir)
    if data_path is None:
        raise UsageError("explore needs --data DATA.npz (x_test, and optionally y_keras and "
                         "labels): the search compares every candidate with the float model there")
    config = load_config(config_path)
    if scheduler is not None:       # before the model loads: a wrong address is said at once
        from .explore.runner import check_reachable
        check_reachable(scheduler)
    with _step(console, f"Loading {model}"):
        loaded = flow.load_model(model)
    data = _explore_data(console, loaded, data_path)
    exploration = _run_explore(console, loaded, data, config, goals=goals, reuse=reuse,
                               scheduler=scheduler, workers=workers, cache_dir=cache_dir,
                               max_evaluations=max_evaluations, synth=synth)
    from .explore.output import write_outputs
    with staged_output(outdir, version=__version__) as stage:
        write_outputs(stage, exploration)
    best, base = exploration.best, exploration.base
    metric = next(g.metric for g in goals if g.metric in NUMERIC)
    console.print(
        f"{exploration.model_name}: best cost {best['cost']['total']:,.0f} "
        f"({100 * best['cost']['total'] / base['cost']['total']:.1f} % of the base), "
        f"multiplier bits {best['cost']['mult_bits']:,} (base {base['cost']['mult_bits']:,}); "
        f"{metric} {best['metrics'][metric]:.5g} (base {base['metrics'][metric]:.5g}); "
        f"{len(exploration.result.points)} points, {exploration.evaluated} evaluated, "
        f"{exploration.cached} cached → {outdir / 'best.yaml'}", soft_wrap=True)


def _explore_data(console, model, data_path):
    """The data of a search, with the float outputs computed when it has none."""
    from .frontend import from_keras
    from .torch_frontend import TorchModel
    fm = model.float_model if isinstance(model, TorchModel) else from_keras(model)
    data = flow.load_data(data_path, in_features=fm.in_features, timesteps=fm.timesteps)
    if data.y_float is None:
        with _step(console, f"Float outputs on {len(data.x)} samples"):
            data.y_float = flow.float_outputs(model, data.x)
    return data


def _run_explore(console, model, data, config, **options):
    """:func:`rnnrtl.explore.explore` with a progress bar."""
    from .explore import explore as run
    from .explore.progress import ProgressBar
    with ProgressBar(console) as bar:
        return run(model, data, config, progress=bar.update, log=bar.log, **options)


@cli.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help=".npz with x_test and optional y_keras (Keras outputs) and labels.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The Keras model (or .pt2 program), to compute the float outputs when the data "
                   "has no y_keras.")
@click.option("--clock-mhz", type=float, callback=_clock_mhz, metavar="MHZ",
              help="Clock frequency to express cycle counts in nanoseconds.")
@_user_errors
def report(outdir, data_path, model_path, clock_mhz):
    """Rewrite the report of a design saved by `rnnrtl convert` in OUTDIR.

    \b
    Examples:
      rnnrtl report out/model
      rnnrtl report out/model --data other_test.npz
      rnnrtl report out/model --data inputs_only.npz --model model.keras
    """
    console = _console()
    design = flow.load_saved(outdir)
    data = None
    if data_path is not None:
        data = flow.load_data(data_path, in_features=design.network.in_features,
                              timesteps=design.network.timesteps,
                              out_features=design.network.out_features)
        if model_path is not None:   # checked even when the data holds y_keras: it was given
            keras_model = flow.load_model(model_path)
            flow.check_model_matches(keras_model, design, f"model {str(model_path)!r}")
            if data.y_float is None:
                with _step(console, f"Keras float outputs on {len(data.x)} samples"):
                    data.y_float = flow.float_outputs(keras_model, data.x)
    with _step(console, "Writing the report"):
        kwargs = {} if data is None else dict(x=data.x, y_float=data.y_float, labels=data.labels)
        summary = write_report(outdir, design, clock_mhz=clock_mhz, **kwargs)
    _print_design(console, design, summary)
    console.print(_one_line(design, summary, outdir, "reported"), soft_wrap=True)


@cli.command()
@click.option("-o", "--outdir", default="out/demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Directory for everything written.")
@click.option("--model", "name", default="jets-lstm", show_default=True,
              type=click.Choice(["jets-lstm", "jets-gru"]), help="Which bundled jet tagger.")
@click.option("--reuse", type=click.IntRange(min=1), default=4, show_default=True,
              help="Reuse factor of the generated core. 4 keeps the Verilator build near a minute; "
                   "1 gives the lowest latency but takes about five minutes to build.")
@_FORCE
@click.pass_context
@_user_errors
def demo(ctx, outdir, name, reuse, force):
    """Run the whole flow offline on a bundled jet-tagging model.

    Converts the bundled Keras model (20 constituents × 6 features → LSTM(20) or GRU(20) →
    Dense(64, relu) → Dense(1, sigmoid)), emulates it bit-accurately on 2000 held-out jets, compares
    the decisions with the stored Keras float outputs and the labels, writes the Verilog and
    simulates it on Verilator against the emulator, and writes the report.

    \b
    Examples:
      rnnrtl demo
      rnnrtl demo -o out/gru --model jets-gru --reuse 1
    """
    from . import demo as bundled
    console = _console()
    check_output_folder(outdir)
    console.print(f"[bold]rnnrtl {__version__} demo[/]: bundled model {name}, output in {outdir}")
    with _step(console, f"Loading {name}"):
        keras_model = flow.load_model(bundled.model_path(name))
        stored = bundled.load_data()
    with _step(console, f"Converting to fixed point (default formats, reuse {reuse})"):
        config = load_config({"reuse": reuse})
        design = convert_model(keras_model, config)
    budget.check(design.network, timesteps=design.timesteps, force=force)
    data = flow.TestData(x=stored["x_test"], y_float=stored["y_" + name.split("-")[1]],
                         labels=stored["labels"])
    with _step(console, f"Emulating {len(data.x)} held-out jets bit-accurately"):
        evaluation = evaluate(design, data.x, data.y_float, data.labels)
    with _step(console, "Converting at reuse 1, 2, 4, 8"):
        sweep = flow.sweep_reuse(keras_model, config, [1, 2, 4, 8])
    with staged_output(outdir, version=__version__) as stage:
        summary = _write_outputs(console, design, stage, data, sweep, None, evaluation, force=force)
    with _step(console, "Simulating the generated Verilog against the emulator"):
        ctx.invoke(simulate, outdir=outdir)
    _print_design(console, design, summary)
    console.print(f"Report: {outdir / 'report.html'} (and report.md)")
    console.print(_one_line(design, summary, outdir), soft_wrap=True)


@cli.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Sequences to check (default: every vector in vectors.npz).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random stalls.")
@click.option("--backpressure", type=click.FloatRange(0, 0.95), default=0.3, show_default=True,
              help="Probability that the output refuses a beat in a cycle.")
@click.option("--idle", type=click.FloatRange(0, 0.95), default=0.3, show_default=True,
              help="Probability of an idle input cycle.")
@click.pass_context
@_user_errors
def simulate(ctx, outdir, samples, seed, backpressure, idle):
    """Verify the Verilog core in OUTDIR on Verilator, bit for bit against its vectors.

    Reads only OUTDIR's manifest.json and vectors.npz (written by `rnnrtl convert`): drives every
    input sequence with random idle cycles and back-pressure and compares each output lane with the
    emulator's integers, measures latency and II at full rate against the manifest, and checks a
    reset in the middle of a sequence. Exits 1 on any mismatch.

    \b
    Examples:
      rnnrtl simulate out/my_model
      rnnrtl simulate out/my_model --samples 1000 --seed 3 --backpressure 0.5
    """
    console = _console()
    with console.status("Verilator: starting") as status:
        summary = verify.simulate(outdir, samples=samples, seed=seed, backpressure=backpressure,
                                 idle=idle, progress=lambda text: status.update(f"Verilator: {text}"))
    console.print(
        f"{summary.samples} sequences, {summary.mismatches} mismatches; latency {summary.latency} "
        f"(manifest {summary.expected_latency}), II {summary.ii} (manifest {summary.expected_ii}); "
        f"build {summary.build_seconds:.1f} s{' (reused)' if summary.build_reused else ''}, "
        f"run {summary.run_seconds:.1f} s", soft_wrap=True)
    if not summary.passed:
        for problem in summary.problems or [summary.first_mismatch]:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
        ctx.exit(1)
    console.print("[green]✓[/] bit-exact, latency and II as promised", soft_wrap=True)


@cli.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--target", default=None, metavar="NAME",
              help=f"Board or part to build for: {', '.join(sorted(TARGETS))} "
                   f"(rnnrtl.platforms.TARGETS); omit for --estimate only.")
@click.option("--estimate", type=click.Choice(["xc7", "xcup", "ecp5"]), default=None,
              help="Also synthesise the bare core with yosys for LUT/FF/DSP/BRAM counts "
                   "(and an ECP5 Fmax from nextpnr).")
@click.option("--no-run", is_flag=True, help="Write the build files only; run no tool.")
@click.option("--build-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to build (default: OUTDIR/build-TARGET).")
@_user_errors
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="nextpnr's placement seed (ECP5 targets and --estimate ecp5)  [default: 1]")
@click.option("--seeds", default=None, metavar="N,N,...",
              help="Several nextpnr seeds instead of --seed, e.g. 1,2,3: place and route once per "
                   "seed (a target's whole build once per seed), keep the best, report every one.")
@click.option("--clock-mhz", type=float, callback=_clock_mhz, metavar="MHZ",
              help="The core's clock on a target whose PLL makes it from the board's clock "
                   "(ulx3s_85f: 150 by default; from its 25 MHz, multiples of 12.5 MHz).")
def build(outdir, target, estimate, no_run, build_dir, seed, seeds, clock_mhz):
    """Build the core in OUTDIR for an FPGA target, or estimate its resources.

    Xilinx targets write a complete Vivado project (TCL, XDC, Verilog) and the TCL that packages
    the core as a Vivado IP; Vivado runs only when it is on PATH. ECP5 targets run yosys, nextpnr
    and ecppack (YoWASP) to a bitstream and report Fmax and utilisation; the ULX3S runs the core
    on a clock its PLL makes (--clock-mhz), and its Fmax is compared with that clock.

    \b
    Examples:
      rnnrtl build out/my_model --estimate xcup
      rnnrtl build out/my_model --target ulx3s_85f
      rnnrtl build out/my_model --target ulx3s_85f --clock-mhz 125
      rnnrtl build out/my_model --target vu9p --estimate xcup
      rnnrtl build out/my_model --estimate ecp5 --seed 3
      rnnrtl build out/my_model --estimate ecp5 --seeds 1,2,3
    """
    from .synth.build import build as run_build
    from .synth.seeds import parse_seeds
    if seed is not None and seeds is not None:
        raise UsageError(f"give --seed ({seed}) or --seeds ({seeds}), not both")
    seed_list = parse_seeds(seeds) if seeds is not None else (1 if seed is None else seed,)
    load_manifest(outdir)       # a missing or damaged core is the first thing to say
    if target is None and estimate is None:
        raise UsageError(f"give --target (one of {', '.join(sorted(TARGETS))}) and/or --estimate")
    if target is not None and target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; valid: {', '.join(sorted(TARGETS))}")
    folder = build_dir or outdir / f"build-{target or 'estimate'}"
    console = _console()
    with console.status(f"Building in {folder} (yosys/nextpnr can take minutes)"):
        result = run_build(outdir, TARGETS[target] if target else None, outdir=folder,
                           estimate=estimate, run=not no_run, seeds=seed_list, clock_mhz=clock_mhz)
    console.print(result.summary(), soft_wrap=True, markup=False)
    console.print(f"build files in {folder} ({result.runtime_s:.0f} s)", soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """rnnrtl's own warnings as one line on stderr (``Warning: ...``); others as Python shows them."""
    if issubclass(category, RnnrtlWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main():
    """Entry point of the ``rnnrtl`` console script."""
    warnings.showwarning = _show_warning
    cli(prog_name="rnnrtl")


if __name__ == "__main__":
    main()
