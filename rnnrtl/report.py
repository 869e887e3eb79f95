"""A human-readable report of a design: model, formats, fidelity, overflows, hardware figures.

:func:`write_report` writes ``report.md``, a self-contained ``report.html`` (the same text with
the plots embedded as base64 PNGs), ``report.json`` (the numbers) and the plots under ``plots/``.
The numbers come from :func:`rnnrtl.evaluation.evaluate`, the figures from :mod:`rnnrtl.plots`,
the hardware section from ``design.timing`` (an object with ``latency``, ``ii``, ``multipliers``
and ``layers``, each with ``name``, ``latency``, ``ii``, ``cycles_per_step``, ``multipliers``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from . import ir, plots
from .evaluation import Evaluation, Range, cycles_text, evaluate, point_formats, weight_formats
from .fixed import FixedFormat
from .version import __version__

__all__ = ["write_report", "plain_data", "config_yaml", "html_page"]


# -- text ------------------------------------------------------------------------------------------

def _cell(v) -> str:
    if v is None:
        return "—"
    return str(v).replace("|", "\\|")


def _table(headers, rows) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(x) -> str | None:
    return None if x is None else f"{100 * x:.2f} %"


def plain_data(obj):
    """The configuration as plain YAML-able data (formats as strings)."""
    if isinstance(obj, dict):
        return {str(k): plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    if isinstance(obj, FixedFormat):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _layer_rows(network: ir.Network):
    rows = []
    for L in network.flat_layers:
        acts = [L.activation.function]
        if getattr(L, "recurrent_activation", None) is not None:
            acts.insert(0, L.recurrent_activation.function)
        extra = []
        if isinstance(L, ir.GRU):
            extra.append(f"reset_after={L.reset_after}")
        if getattr(L, "return_sequences", False):
            extra.append("return_sequences")
        if getattr(L, "go_backwards", False):
            extra.append("go_backwards")
        s = L.schedule
        reuse = f"{s.reuse_input}" + (f" / {s.reuse_recurrent}" if L.kind != "dense" else "")
        rows.append([L.name, L.kind + (f" ({', '.join(extra)})" if extra else ""), L.in_features,
                     L.units, ", ".join(acts), reuse, s.mode, s.interleave])
    return rows


def _summary_rows(design, ev, timing, clock_mhz):
    rows = [["layers", " → ".join(f"{L.kind.upper()}({L.units})" if L.kind != "dense"
                                   else f"Dense({L.units}, {L.activation.function})"
                                   for L in design.network.layers)],
            ["input", f"{design.network.timesteps or 'any number of'} steps × "
                      f"{design.network.in_features} features, {design.network.input_fmt}"],
            ["output", f"{design.network.out_features} × {design.network.output_fmt}"]]
    if design.network.mask_value is not None:  # rnnrtl.masking
        rows.insert(2, ["masking", f"a step whose every input code is {design.network.mask_code} "
                                   f"(mask_value {design.network.mask_value:g}) is masked"])
    if ev is not None:
        rows.append(["samples emulated", ev.samples])
        if ev.agree is not None:
            eq, n = ev.agree
            rows.append(["decision agreement with Keras float", f"{_pct(eq / n)} ({eq} of {n})"])
            rows.append(["max |fixed − float|", f"{ev.max_abs_error:.4g}"])
        if ev.accuracy_fixed is not None:
            rows.append(["accuracy vs labels (float / fixed)",
                         f"{_pct(ev.accuracy_float) or '—'} / {_pct(ev.accuracy_fixed)}"])
        over = sum(ev.overflows.values())
        rows.append(["overflows on the data", "none" if not over else
                     f"{over} values at {len(ev.overflows)} points"])
    wover = sum(design.weight_overflows.values())
    rows.append(["weight values saturated", "none" if not wover else
                 f"{wover} in {len(design.weight_overflows)} tensors"])
    under = design.weight_underflows
    rows.append(["weight values lost to underflow (nonzero, quantized to 0)",
                 "none" if not under else f"{sum(under.values())} in {len(under)} tensors"])
    rows.append(["latency", cycles_text(timing.latency, clock_mhz)])
    rows.append(["initiation interval (II)", cycles_text(timing.ii, clock_mhz)])
    rows.append(["multipliers", timing.multipliers])
    return [[f"**{k}**", v] for k, v in rows]


# -- the report ------------------------------------------------------------------------------------

class _Doc:
    """Markdown blocks and the plots they show, drawn into ``plot_dir``."""

    def __init__(self, plot_dir: Path):
        self.blocks: list[str] = []
        self.images: list[Path] = []
        self.plot_dir = plot_dir

    def add(self, *blocks: str):
        self.blocks += blocks

    def plot(self, alt: str, name: str, draw, *args, **kwargs):
        """``draw(*args, path, **kwargs)`` into ``plots/<name>.png``, shown with ``alt`` text."""
        self.images.append(draw(*args, self.plot_dir / f"{name}.png", **kwargs))
        self.add(f"![{alt}](plots/{name}.png)")

    @property
    def text(self) -> str:
        return "\n\n".join(self.blocks) + "\n"


def write_report(outdir, design, *, x=None, y_float=None, labels=None, sweep=None,
                 evaluation: Evaluation | None = None, clock_mhz: float | None = None) -> dict:
    """Write ``report.md``, ``report.html``, ``report.json`` and ``plots/*.png`` into ``outdir``.

    ``x`` (float inputs ``[batch, steps, features]``) is emulated; ``y_float`` (Keras outputs on
    ``x``) adds the fidelity section, ``labels`` the accuracy section; ``evaluation`` passes an
    :func:`evaluate` result instead of ``x``/``y_float``/``labels``. ``sweep`` is a list of
    ``(reuse, timing, design)``; its designs are emulated on ``x`` to check that their
    outputs are identical. ``clock_mhz`` adds nanoseconds next to cycle counts.

    Returns the numbers (as in ``report.json``) plus the paths written (``"files"``).
    """
    outdir = Path(outdir)
    doc = _Doc(outdir / "plots")
    doc.plot_dir.mkdir(parents=True, exist_ok=True)
    ev = evaluation
    if ev is None and x is not None:
        ev = evaluate(design, x, y_float, labels)
    net = design.network
    timing = design.timing
    doc.add(f"# rnnrtl report: {net.name}",
            f"Written by rnnrtl {__version__}. All fixed-point numbers are from the bit-accurate "
            "emulator, which computes the same integers as the generated hardware.",
            "## Summary", _table(["", ""], _summary_rows(design, ev, timing, clock_mhz)),
            "## Model",
            "Reuse is input / recurrent (products per multiplier); mode and interleave schedule "
            "the hardware only.",
            _table(["layer", "kind", "inputs", "units", "activations", "reuse", "mode", "interleave"],
                   _layer_rows(net)))
    _formats_section(doc, design, ev)
    doc.add("## Configuration", "The normalised configuration this design was built with "
            "(defaults filled in).", f"```yaml\n{config_yaml(net.config).rstrip()}\n```")
    if ev is not None:
        _fidelity_sections(doc, ev)
    _overflow_section(doc, design, ev)
    _hardware_section(doc, timing, clock_mhz)
    sweep_rows = _sweep_section(doc, sweep, x, ev, clock_mhz) if sweep else []

    md_path = outdir / "report.md"
    md_path.write_text(doc.text)
    html_path = outdir / "report.html"
    html_path.write_text(html_page(doc.text, outdir, f"rnnrtl report: {net.name}"))
    summary = _summary(design, ev, timing, sweep_rows)
    json_path = outdir / "report.json"
    json_path.write_text(json.dumps(summary, indent=1))
    summary["files"] = [md_path, html_path, json_path, *doc.images]
    return summary


def _formats_section(doc: _Doc, design, ev: Evaluation | None):
    net = design.network
    over = ev.overflows if ev is not None else {}
    rows = []
    for point, fmt in point_formats(net).items():
        r = ev.ranges.get(point) if ev is not None else None
        rows.append([f"`{point}`", f"`{fmt}`", f"{fmt.step:.3g}", f"{fmt.max_code * fmt.step:.6g}",
                     over.get(point, 0) if ev is not None else None,
                     None if r is None or r.count == 0 else f"{r.max_value:.4g}",
                     None if r is None else r.spare_bits])
    weights = weight_formats(net)
    wrows = []
    for name, w in weights.items():
        r = Range(w.fmt)
        r.add(w.codes)
        wrows.append([f"`{name}`", f"`{w.fmt}`", "×".join(map(str, w.codes.shape)),
                      f"{r.max_value:.4g}", r.spare_bits, design.weight_overflows.get(name, 0),
                      design.weight_underflows.get(name, 0)])
    doc.add("## Formats and value ranges per named point",
            "Named points are where values are requantized (docs/numerics.md). *Spare int bits*: "
            "integer bits above the largest magnitude seen on the data (0: the top bit is used).",
            _table(["point", "format", "LSB", "largest value", "overflows", "max |value| seen",
                    "spare int bits"], rows),
            _table(["weights", "format", "shape", "max |value|", "spare int bits", "saturated",
                    "underflowed to 0"], wrows))
    if ev is not None and ev.ranges:
        doc.plot("value ranges per named point", "ranges", plots.ranges, ev.ranges, weights,
                 {**over, **design.weight_overflows})


def _fidelity_sections(doc: _Doc, ev: Evaluation):
    if ev.y_float is not None:
        eq, n = ev.agree
        doc.add("## Fidelity vs Keras float",
                f"On {ev.samples} samples the emulated fixed-point decisions (binary > 0.5, or "
                f"argmax) agree with Keras float on **{_pct(eq / n)}** ({eq} of {n}). "
                f"Output error fixed − float: max |error| {ev.max_abs_error:.4g}, "
                f"mean |error| {ev.mean_abs_error:.4g}.")
        doc.plot("fixed vs float error", "fidelity", plots.fidelity, ev)
    if ev.accuracy_fixed is not None:
        doc.add("## Accuracy vs labels",
                _table(["", "accuracy"], [["Keras float", _pct(ev.accuracy_float)],
                                          ["fixed point (emulated)", _pct(ev.accuracy_fixed)]]))
        if ev.y_fixed.shape[-1] == 1 and set(np.unique(ev.labels)) <= {0, 1}:
            doc.plot("ROC", "roc", plots.roc_curve, ev)


def _overflow_section(doc: _Doc, design, ev: Evaluation | None):
    doc.add("## Overflows")
    if ev is None:
        doc.add("No data was emulated; give a data set to count overflows at the named points.")
    elif not ev.overflows:
        doc.add(f"No value saturated or wrapped at any named point on the {ev.samples} samples.")
    else:
        fmts = point_formats(design.network)
        doc.add(f"Values saturated or wrapped on the {ev.samples} samples — widen the integer "
                "bits of these formats:",
                _table(["point", "format", "overflows"],
                       [[f"`{p}`", f"`{fmts.get(p, '?')}`", n] for p, n in ev.overflows.items()]))
    if design.weight_overflows:
        doc.add("Weight values that did not fit their format (saturated at quantization):",
                _table(["tensor", "values"],
                       [[f"`{k}`", v] for k, v in design.weight_overflows.items()]))
    else:
        doc.add("Every weight fits its format.")
    under = design.weight_underflows
    if under:
        doc.add("Nonzero weight values smaller than their format's LSB, quantized to 0 (underflow) — "
                "give these tensors fewer integer bits or more bits:",
                _table(["tensor", "values"], [[f"`{k}`", v] for k, v in under.items()]))


def _hardware_section(doc: _Doc, timing, clock_mhz):
    rows = [[getattr(l, k, None) for k in ("name", "latency", "ii", "cycles_per_step", "multipliers")]
            for l in timing.layers]
    rows.append(["**total**", cycles_text(timing.latency, clock_mhz),
                 cycles_text(timing.ii, clock_mhz), None, timing.multipliers])
    doc.add("## Hardware",
            "Cycle counts of the generated circuit, known at generation time. Latency: from the "
            "transfer of a sequence's first input beat to the transfer of its last output beat. "
            "II (initiation interval): cycles between the first input beats of consecutive "
            "sequences at full rate.",
            _table(["layer", "latency", "II", "cycles per step", "multipliers"], rows))
    doc.plot("hardware per layer", "hardware", plots.hardware, timing, clock_mhz=clock_mhz)


def _sweep_section(doc: _Doc, sweep, x, ev: Evaluation | None, clock_mhz) -> list[dict]:
    check = ev is not None and x is not None
    rows = []
    for reuse, t, d in sweep:
        same = None
        if check:
            same = "yes" if np.array_equal(d.run(x, warn=False).codes, ev.codes) else "NO"
        rows.append({"reuse": reuse, "latency": t.latency, "ii": t.ii, "multipliers": t.multipliers,
                     "identical_outputs": same})
    headers = ["reuse", "latency", "II", "multipliers"] + (["outputs identical"] if check else [])
    doc.add("## Reuse sweep",
            "The same model and configuration at each reuse factor (per-layer reuse overrides "
            "still apply)" + (", emulated on the same data." if check else "."),
            _table(headers, [[r["reuse"], r["latency"], r["ii"], r["multipliers"]]
                             + ([r["identical_outputs"]] if check else []) for r in rows]))
    doc.plot("reuse sweep", "sweep", plots.sweep, [(r, t) for r, t, _ in sweep], clock_mhz=clock_mhz)
    return rows


def _summary(design, ev, timing, sweep_rows) -> dict:
    out = {"model": design.network.name,
           "layers": [{"name": L.name, "kind": L.kind, "units": L.units} for L in design.network.layers],
           "formats": {p: str(f) for p, f in point_formats(design.network).items()},
           "weight_overflows": dict(design.weight_overflows),
           "weight_underflows": dict(design.weight_underflows)}
    if ev is not None:
        out.update(samples=ev.samples, overflows=dict(ev.overflows), agreement=ev.agreement,
                   agree=list(ev.agree) if ev.agree else None, max_abs_error=ev.max_abs_error,
                   mean_abs_error=ev.mean_abs_error, accuracy_float=ev.accuracy_float,
                   accuracy_fixed=ev.accuracy_fixed)
    out["timing"] = {"latency": timing.latency, "ii": timing.ii, "multipliers": timing.multipliers,
                     "layers": [{k: getattr(l, k, None) for k in
                                 ("name", "latency", "ii", "cycles_per_step", "multipliers")}
                                for l in timing.layers]}
    if sweep_rows:
        out["sweep"] = sweep_rows
    return plain_data(out)


def config_yaml(config) -> str:
    import yaml
    return yaml.safe_dump(plain_data(config), sort_keys=False, default_flow_style=None)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
code { font-size: 0.92em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
"""


def html_page(markdown: str, base: Path, title: str) -> str:
    """``markdown`` rendered to one HTML page, local images embedded as base64 data URIs."""
    import html
    import re

    from markdown_it import MarkdownIt
    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def embed(match):
        src = html.unescape(match.group(1))
        path = base / src
        if src.startswith(("data:", "http:", "https:")) or not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+)"', embed, body)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}"
            "</body>\n</html>\n")
