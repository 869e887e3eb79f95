"""One evaluation of the search: a candidate configuration quantized, emulated and costed.

This is the code a Dask worker runs. Everything it needs travels once as a :class:`Problem` (the
normalised float model without its Keras object, the data, the float outputs and labels), scattered
to the workers; each task then carries only a candidate configuration (a small dict) and returns a
small dict of figures, so a worker never imports Keras and a remote cluster needs no shared disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings

import numpy as np

from ..config import load_config
from ..errors import RnnrtlError
from ..evaluation import evaluate, roc, weight_formats
from ..version import __version__
from .cost import cost

__all__ = ["Problem", "run_point", "content_hash", "canonical"]


@dataclasses.dataclass
class Problem:
    """What every evaluation shares: ``float_model`` (:class:`rnnrtl.frontend.FloatModel`, its
    ``keras_model`` dropped), the inputs ``x``, float outputs ``y_float`` and optional ``labels``."""
    float_model: object
    x: np.ndarray
    y_float: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self):
        self.float_model = dataclasses.replace(self.float_model, keras_model=None)
        self.key = content_hash(self.float_model, self.x, self.y_float, self.labels)


def canonical(obj) -> str:
    """``obj`` (a configuration: dicts, lists, strings, numbers) as canonical JSON."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(*objects) -> str:
    """A SHA-256 of ``objects`` by content: dataclasses field by field, arrays by dtype, shape and
    bytes, the rest by canonical JSON; rnnrtl's version is part of it (results of another
    release's arithmetic are never reused)."""
    h = hashlib.sha256(__version__.encode())

    def feed(o):
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            h.update(type(o).__name__.encode())
            for f in dataclasses.fields(o):
                h.update(f.name.encode())
                feed(getattr(o, f.name))
        elif isinstance(o, np.ndarray):
            a = np.ascontiguousarray(o)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        elif isinstance(o, (list, tuple)):
            h.update(b"[")
            for item in o:
                feed(item)
            h.update(b"]")
        elif isinstance(o, dict):
            h.update(b"{")
            for k in sorted(o, key=str):
                h.update(str(k).encode())
                feed(o[k])
            h.update(b"}")
        else:
            h.update(canonical(o).encode())
    for o in objects:
        feed(o)
    return h.hexdigest()


def _metrics(ev, problem: Problem) -> dict:
    """The goal metrics (:data:`rnnrtl.explore.goal.METRICS`) of one evaluation."""
    out = {"agreement": ev.agreement, "max_err": ev.max_abs_error, "mean_err": ev.mean_abs_error,
           "accuracy_fixed": ev.accuracy_fixed, "accuracy_float": ev.accuracy_float}
    if ev.accuracy_fixed is not None and ev.accuracy_float is not None:
        out["accuracy_drop"] = ev.accuracy_float - ev.accuracy_fixed
    if ev.labels is not None and ev.y_fixed.shape[-1] == 1 and ev.y_fixed.ndim == 2 \
            and len(np.unique(ev.labels)) == 2:
        auc_float = roc(ev.y_float[:, 0], ev.labels)[2]
        auc_fixed = roc(ev.y_fixed[:, 0], ev.labels)[2]
        out.update(auc_float=auc_float, auc_fixed=auc_fixed, auc_drop=auc_float - auc_fixed)
    return out


def _synthesise(design, family: str) -> dict:
    """yosys' resources (lut, ff, dsp, bram, ...) of ``design``'s core, built in a scratch folder."""
    import tempfile

    from ..synth.build import build
    with tempfile.TemporaryDirectory(prefix="rnnrtl-explore-") as folder:
        design.write(folder, samples=8)
        result = build(folder, None, outdir=f"{folder}/build", estimate=family)
        return {k: v for k, v in result.estimate.resources.items() if isinstance(v, (int, float))}


def run_point(problem: Problem, config: dict, *, ranges: bool = False, timing: bool = False,
              synth: str | None = None) -> dict:
    """Quantize ``problem``'s model with ``config``, emulate its data and cost the IR.

    Returns ``{"metrics", "cost"}`` (and ``"ranges"``: the largest magnitude at every named point
    and weight tensor, with ``ranges``; ``"timing"``: latency, II and multipliers, with
    ``timing``; ``"synth"``: yosys' resource counts of the written core for family ``synth``, e.g.
    ``xcup``, :func:`rnnrtl.synth.build.build`), or ``{"error": message}`` when the configuration is refused (an
    :class:`~rnnrtl.errors.RnnrtlError`: e.g. a weight format whose LSB swallows a whole tensor)."""
    from ..design import Design
    from ..quantize import quantize
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            network, report = quantize(problem.float_model, load_config(config))
            design = Design(network, weight_overflows=report.overflows,
                            weight_underflows=report.underflows)
            ev = evaluate(design, problem.x, problem.y_float, problem.labels, ranges=ranges)
            out = {"metrics": _metrics(ev, problem), "cost": cost(network).as_dict(),
                   "overflows": int(sum(ev.overflows.values()))}
            if ranges:
                out["ranges"] = {
                    "points": {p: r.max_value for p, r in ev.ranges.items()},
                    "weights": {n: float(np.abs(w.codes).max(initial=0)) * w.fmt.step
                                for n, w in weight_formats(network).items()}}
            if timing:
                t = design.timing
                out["timing"] = {"latency": t.latency, "ii": t.ii, "multipliers": t.multipliers}
                out["metrics"].update(latency=t.latency, ii=t.ii)
            if synth is not None:
                out["synth"] = _synthesise(design, synth)
    except RnnrtlError as e:
        return {"error": str(e)}
    return out


