"""What ``rnnrtl explore`` writes: ``best.yaml``, ``explore.json`` and ``report.html``.

``best.yaml`` is a complete configuration (``rnnrtl convert MODEL -c best.yaml``); ``explore.json``
holds every evaluated point (configuration, cost, metrics, Pareto and best flags) with the goals
and run figures; ``report.html`` the Pareto table and a plot of cost against the first goal's
metric (and AUC when the labels give one).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..report import config_yaml, html_page, plain_data
from .cost import calibrate
from .goal import NUMERIC

__all__ = ["write_outputs", "BEST", "POINTS", "REPORT"]

BEST, POINTS, REPORT = "best.yaml", "explore.json", "report.html"


def _point_row(p) -> dict:
    return {k: p.get(k) for k in ("id", "phase", "cost", "metrics", "error", "timing", "reuse",
                                  "pareto", "best", "synth", "config")}


def write_outputs(outdir, exploration) -> dict:
    """Write the three files into ``outdir`` (an existing folder); returns the JSON summary."""
    outdir = Path(outdir)
    r = exploration.result
    numeric = next(g for g in exploration.goals if g.metric in NUMERIC)
    (outdir / BEST).write_text(
        f"# rnnrtl explore: {exploration.model_name}, goals {', '.join(map(str, exploration.goals))}\n"
        f"# cost {r.best['cost']['total']:,.0f} (base {r.base['cost']['total']:,.0f}); "
        f"{numeric.metric} {r.best['metrics'][numeric.metric]:.6g}\n"
        f"# use: rnnrtl convert MODEL -c best.yaml\n" + config_yaml(r.best["config"]))
    summary = {
        "model": exploration.model_name,
        "goals": [str(g) for g in exploration.goals],
        "evaluations": len(r.points), "evaluated": exploration.evaluated,
        "cached": exploration.cached, "workers": exploration.workers,
        "seconds": exploration.seconds,
        "knobs": [k.name for k in r.knobs],
        "base": r.base["id"], "best": r.best["id"],
        "calibration": calibrate([p for p in r.points if p.get("synth")]),
        "points": [plain_data(_point_row(p)) for p in r.points],
    }
    (outdir / POINTS).write_text(json.dumps(summary, indent=1, default=str) + "\n")
    _report(outdir, exploration, numeric)
    return summary


def _plot(points, goal, path: Path, auc: bool) -> Path:
    from matplotlib.figure import Figure
    ok = [p for p in points if p["error"] is None and p["metrics"].get(goal.metric) is not None]
    panels = [(goal.metric, goal)] + ([("auc_fixed", None)] if auc else [])
    fig = Figure(figsize=(6 * len(panels), 4), dpi=110, layout="constrained")
    for ax, (metric, g) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        cost = [p["cost"]["total"] for p in ok]
        value = [p["metrics"].get(metric) for p in ok]
        ax.scatter(cost, value, s=12, c="#9ab", label="evaluated")
        front = sorted((p for p in ok if p.get("pareto")), key=lambda p: p["cost"]["total"])
        ax.plot([p["cost"]["total"] for p in front], [p["metrics"].get(metric) for p in front],
                "o-", c="#d62", ms=4, label="Pareto front")
        for p, mark, label in ((next(q for q in ok if q["phase"] == "base"), "s", "base"),
                               (next(q for q in ok if q.get("best")), "*", "best")):
            ax.plot([p["cost"]["total"]], [p["metrics"].get(metric)], mark, ms=12, c="k",
                    mfc="none", label=label)
        if g is not None:
            ax.axhline(g.bound, ls="--", c="gray", lw=1, label=str(g))
        ax.set_xscale("log")
        ax.set_xlabel("cost (multiplier bit-products + table bits / 64)")
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
    fig.savefig(path, format="png")
    return path


def _report(outdir: Path, exploration, goal):
    r = exploration.result
    front = sorted((p for p in r.points if p.get("pareto")), key=lambda p: p["cost"]["total"])
    auc = r.base["metrics"].get("auc_fixed") is not None
    plot = _plot(r.points, goal, outdir / "explore.png", auc)
    base_cost = r.base["cost"]["total"]
    lines = [f"# Design-space exploration: {exploration.model_name}", "",
             f"Goals: **{', '.join(map(str, exploration.goals))}**. {len(r.points)} points "
             f"({exploration.evaluated} evaluated, {exploration.cached} from the cache) on "
             f"{exploration.workers} worker(s) in {exploration.seconds:.1f} s.", "",
             f"Best: point {r.best['id']}, cost {r.best['cost']['total']:,.0f} = "
             f"{100 * r.best['cost']['total'] / base_cost:.1f} % of the base's {base_cost:,.0f} "
             f"(multiplier bits {r.best['cost']['mult_bits']:,} vs {r.base['cost']['mult_bits']:,}); "
             f"{goal.metric} {r.best['metrics'][goal.metric]:.5g} "
             f"(base {r.base['metrics'][goal.metric]:.5g}). Configuration: `best.yaml`.", "",
             f"![cost against {goal.metric}]({plot.name})", "", "## Pareto front", ""]
    cols = ["point", "phase", "cost", "mult bits", "table bits", "multipliers", "agreement",
            "max err", "AUC drop", "synth LUT / FF / DSP", "best"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for p in front:
        m, c, s = p["metrics"], p["cost"], p.get("synth")
        cells = [p["id"], p["phase"], f"{c['total']:,.0f}", f"{c['mult_bits']:,}",
                 f"{c['table_bits']:,}", c["multipliers"], _num(m.get("agreement")),
                 _num(m.get("max_err")), _num(m.get("auc_drop")),
                 f"{s['lut']:,} / {s['ff']:,} / {s['dsp']}" if s else "—",
                 "★" if p.get("best") else ""]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    lines += ["", "## Best configuration", "", "```yaml", config_yaml(r.best["config"]).rstrip(), "```", ""]
    md = "\n".join(lines)
    (outdir / REPORT).write_text(html_page(md, outdir, f"rnnrtl explore: {exploration.model_name}"))


def _num(v) -> str:
    return "—" if v is None else f"{v:.5g}"
