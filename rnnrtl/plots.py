"""The report's figures, drawn with matplotlib's object API (no pyplot, no global backend switch).

Each function draws one PNG from numbers already computed (:mod:`rnnrtl.evaluation`) and returns
its path.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .evaluation import Evaluation, Range, cycles_text, decisions, roc, short_format

__all__ = ["fidelity", "roc_curve", "ranges", "hardware", "sweep", "SCATTER_MAX"]

#: Most points drawn in a scatter plot (a random subset beyond).
SCATTER_MAX = 20000


def _num(v):
    return float("nan") if v is None else v


def _figure(width, height):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path


def fidelity(ev: Evaluation, path: Path) -> Path:
    fig = _figure(10, 3.9)
    ax_res, ax_hist = fig.subplots(1, 2, width_ratios=[1.3, 1])
    yf, err = ev.y_float.ravel(), ev.errors.ravel()
    binary = ev.y_float.shape[-1] == 1
    idx = np.arange(yf.size)
    if idx.size > SCATTER_MAX:
        idx = np.sort(np.random.default_rng(0).choice(idx.size, SCATTER_MAX, replace=False))
    ax_res.scatter(yf[idx], err[idx], s=4, alpha=0.35, color="tab:blue", lw=0,
                   label="outputs")
    flip = decisions(ev.y_fixed) != decisions(ev.y_float)
    if flip.any():
        # The float-winning output of each sample whose decision differs.
        win = (flip[..., None] & (np.arange(ev.y_float.shape[-1]) ==
                                  decisions(ev.y_float)[..., None] * (not binary))).ravel()
        ax_res.scatter(yf[win], err[win], s=30, facecolor="none", edgecolor="tab:red",
                       label=f"decision differs ({int(flip.sum())})" if binary else
                       f"winning output where the argmax differs ({int(flip.sum())})")
    if binary:
        ax_res.axvline(0.5, color="0.4", ls="--", lw=1, label="threshold 0.5")
    ax_res.axhline(0, color="0.2", lw=0.8)
    ax_res.set_xlabel("Keras float output" + ("" if binary else "s (every class)"))
    ax_res.set_ylabel("fixed − float")
    ax_res.set_title("Error against output value")
    ax_res.grid(alpha=0.3)
    ax_res.legend(loc="best", fontsize=8, markerscale=2)
    bound = max(float(np.abs(err).max(initial=0)), 1e-12)
    ax_hist.hist(err, bins=np.linspace(-bound, bound, 61), color="tab:blue", alpha=0.8)
    ax_hist.set_yscale("log")
    ax_hist.set_xlabel("fixed − float")
    ax_hist.set_ylabel("outputs")
    ax_hist.set_title(f"max |error| {ev.max_abs_error:.2g}, mean {ev.mean_abs_error:.2g}")
    ax_hist.grid(alpha=0.3)
    eq, n = ev.agree
    fig.suptitle(f"Emulated fixed point vs Keras float: decisions agree on {eq / n:.2%} "
                 f"({eq} of {n})", fontsize=11)
    return _save(fig, path)


def roc_curve(ev: Evaluation, path: Path) -> Path:
    fig = _figure(6.4, 4.4)
    ax = fig.subplots()
    curves = [("fixed point (emulated)", ev.y_fixed, "tab:red", "-")]
    if ev.y_float is not None:
        curves.insert(0, ("Keras float", ev.y_float, "tab:blue", "--"))
    for name, y, color, ls in curves:
        tpr, fpr, auc = roc(y[..., 0].ravel(), ev.labels.ravel())
        keep = fpr > 0
        ax.plot(tpr[keep], 1 / fpr[keep], color=color, ls=ls, lw=1.6, label=f"{name}, AUC {auc:.4f}")
        pred = decisions(y).ravel()
        sig = ev.labels.ravel() == 1
        eff_s = np.mean(pred[sig] == 1) if sig.any() else np.nan
        eff_b = np.mean(pred[~sig] == 1) if (~sig).any() else np.nan
        if eff_b > 0:
            ax.plot([eff_s], [1 / eff_b], "o", color=color, ms=6)
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency (label 1 selected)")
    ax.set_ylabel("background rejection 1 / ε_b")
    ax.set_xlim(0, 1)
    ax.set_title("ROC on the labelled data (dots: threshold 0.5)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def ranges(ranges: dict, weights: dict, overflows: dict, path: Path) -> Path:
    """Format range (grey bar, LSB to top) and data magnitudes (box 5–95 %, dot at max), log2."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator
    rows = []
    for name, w in weights.items():
        r = Range(w.fmt)
        r.add(w.codes)
        rows.append((name, r))
    rows += list(ranges.items())
    fig = _figure(10, 1.1 + 0.26 * len(rows))
    ax = fig.subplots()
    lows = []
    for y, (name, r) in enumerate(rows):
        lo, hi = -r.fmt.frac_bits, r.fmt.max_code.bit_length() - r.fmt.frac_bits
        lows.append(lo)
        ax.barh(y, hi - lo, left=lo, height=0.72, color="0.9", edgecolor="0.6", lw=0.6)
        bad = overflows.get(name, 0) > 0
        color = "tab:red" if bad else ("tab:purple" if name in weights else "tab:blue")
        p5, p95 = r.percentile_exponent(0.05), r.percentile_exponent(0.95)
        if p5 is not None:
            top = math.log2(r.max_value)
            ax.barh(y, min(p95 + 1, top) - p5, left=p5, height=0.4, color=color, alpha=0.7)
            ax.plot([top], [y], "o", color=color, ms=4)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(len(rows)), [short_format(r.fmt) for _, r in rows],
                     fontsize=7.5, color="0.35")
    ax.set_xlim(min(lows) - 1, max(r.fmt.max_code.bit_length() - r.fmt.frac_bits
                                   for _, r in rows) + 1)
    ax.xaxis.set_major_locator(MultipleLocator(2))
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")   # unicode, not mathtext: much faster
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "2" + str(int(v)).translate(sup)))
    ax.set_xlabel("|value|    grey: the format, from its LSB to its largest value;  "
                  "box: 5–95 % of nonzero magnitudes seen;  dot: largest seen", fontsize=8.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Value ranges per named point (purple: weights; blue: data; red: overflowed)",
                 fontsize=10)
    return _save(fig, path)


def hardware(timing, path: Path, clock_mhz=None) -> Path:
    layers = list(timing.layers)
    names = [str(getattr(l, "name", "?")) for l in layers]
    fig = _figure(10, 0.9 + 0.35 * max(len(layers), 2))
    ax_lat, ax_mul = fig.subplots(1, 2, sharey=True)
    lat = [_num(getattr(l, "latency", None)) for l in layers]
    ii = [_num(getattr(l, "ii", None)) for l in layers]
    mul = [_num(getattr(l, "multipliers", None)) for l in layers]
    y = np.arange(len(layers))
    ax_lat.barh(y - 0.18, lat, height=0.36, color="tab:blue", label="latency")
    ax_lat.barh(y + 0.18, ii, height=0.36, color="tab:orange", label="II")
    for yy, v, w in zip(y, lat, ii):
        ax_lat.annotate(f" {v:g}", (v, yy - 0.18), va="center", fontsize=8)
        ax_lat.annotate(f" {w:g}", (w, yy + 0.18), va="center", fontsize=8)
    ax_lat.set_xlabel("clock cycles")
    ax_lat.set_title("Latency and II per layer", fontsize=10)
    ax_lat.legend(fontsize=8)
    ax_mul.barh(y, mul, height=0.6, color="tab:green")
    for yy, v in zip(y, mul):
        ax_mul.annotate(f" {v:g}", (v, yy), va="center", fontsize=8)
    ax_mul.set_xlabel("multipliers")
    ax_mul.set_title("Multipliers per layer", fontsize=10)
    fig.suptitle(f"Whole network: latency {cycles_text(timing.latency, clock_mhz)}, "
                 f"II {cycles_text(timing.ii, clock_mhz)}, {timing.multipliers} multipliers",
                 fontsize=11)
    ax_lat.set_yticks(y, names)
    ax_lat.invert_yaxis()
    for ax in (ax_lat, ax_mul):
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    return _save(fig, path)


def sweep(points, path: Path, clock_mhz=None) -> Path:
    reuse = np.array([r for r, _ in points])
    fig = _figure(10, 3.8)
    ax_t, ax_m = fig.subplots(1, 2)
    ax_t.plot(reuse, [t.latency for _, t in points], "o-", color="tab:blue", label="latency")
    ax_t.plot(reuse, [t.ii for _, t in points], "s--", color="tab:orange", label="II")
    for r, (_, t) in zip(reuse, points):
        ax_t.annotate(f"{t.latency}", (r, t.latency), textcoords="offset points", xytext=(4, 4),
                      fontsize=8)
    ax_t.set_ylabel("clock cycles")
    ax_t.set_title("Latency and initiation interval", fontsize=10)
    if clock_mhz:
        sec = ax_t.secondary_yaxis("right", functions=(lambda c: c * 1e3 / clock_mhz,
                                                       lambda n: n * clock_mhz / 1e3))
        sec.set_ylabel(f"ns at {clock_mhz:g} MHz")
    ax_t.legend(fontsize=8)
    ax_m.plot(reuse, [t.multipliers for _, t in points], "o-", color="tab:green")
    for r, (_, t) in zip(reuse, points):
        ax_m.annotate(f"{t.multipliers}", (r, t.multipliers), textcoords="offset points",
                      xytext=(4, 4), fontsize=8)
    ax_m.set_ylabel("multipliers")
    ax_m.set_title("Multipliers", fontsize=10)
    for ax in (ax_t, ax_m):
        ax.set_xscale("log", base=2)
        ax.set_xticks(reuse, [str(r) for r in reuse])
        ax.minorticks_off()
        ax.set_xlabel("reuse factor")
        ax.grid(alpha=0.3)
        ax.margins(x=0.08, y=0.12)
        ax.set_ylim(bottom=0)
    fig.suptitle("Reuse factor: multipliers traded for cycles", fontsize=11)
    return _save(fig, path)
