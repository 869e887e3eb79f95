"""The numbers a report is made of: an emulated data set against Keras float and labels.

:func:`evaluate` emulates a data set once (and, with ``ranges``, traces it in chunks to collect
the magnitudes seen at every named point) and compares the result with Keras float outputs and
labels. Decisions are what a trigger acts on: ``output > 0.5`` for a single output, the argmax for
several (:func:`decisions`); agreement is the fraction of decisions equal to Keras float's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ir
from .errors import FlowError
from .fixed import FixedFormat, Overflow, Rounding

__all__ = ["decisions", "agreement", "point_formats", "weight_formats", "Range",
           "Evaluation", "evaluate", "roc", "short_format", "cycles_text", "RANGE_CHUNK"]

#: Samples emulated at once while collecting value ranges (bounds the trace's memory).
RANGE_CHUNK = 256


def decisions(y) -> np.ndarray:
    """Binary decisions (``> 0.5``) of a single output, the argmax of several (last axis)."""
    y = np.asarray(y)
    return (y[..., 0] > 0.5).astype(np.int64) if y.shape[-1] == 1 else y.argmax(-1)


def agreement(y_fixed, y_float) -> tuple[int, int]:
    """``(equal, total)``: how many decisions of ``y_fixed`` equal those of ``y_float``."""
    a, b = decisions(y_fixed), decisions(y_float)
    if a.shape != b.shape:
        raise FlowError(f"outputs of shape {np.shape(y_fixed)} and {np.shape(y_float)} differ")
    return int((a == b).sum()), int(a.size)


def _label_decisions(labels, y) -> np.ndarray | None:
    """Labels as decisions comparable with ``decisions(y)`` (one-hot labels by argmax)."""
    labels = np.asarray(labels)
    target = decisions(y).shape
    if labels.shape == np.shape(y) and np.shape(y)[-1] > 1:
        labels = labels.argmax(-1)
    if labels.shape != target and labels.size == int(np.prod(target)):
        labels = labels.reshape(target)   # e.g. [n, 1] labels of one binary output
    return labels.astype(np.int64) if labels.shape == target else None


def point_formats(network: ir.Network) -> dict[str, FixedFormat]:
    """The format of every named point (``input``, ``<layer>.<point>``), in computation order: the
    IR's own statement, :meth:`rnnrtl.ir.Network.point_formats`."""
    return network.point_formats()


def weight_formats(network: ir.Network) -> dict[str, ir.Weights]:
    """Every weight tensor by name (``<layer>.kernel``, ``.recurrent_kernel``, ``.bias``,
    ``.recurrent_bias``, as in :attr:`Design.weight_overflows` and ``weight_underflows``)."""
    out = {}
    for L in network.flat_layers:
        for attr, name in (("kernel", "kernel"), ("recurrent", "recurrent_kernel"), ("bias", "bias"),
                           ("recurrent_bias", "recurrent_bias")):
            w = getattr(L, attr, None)
            if w is not None:
                out[f"{L.name}.{name}"] = w
    return out


@dataclass
class Range:
    """Magnitudes seen at one named point: ``hist[e]`` counts nonzero codes with
    ``2**e <= |code| < 2**(e+1)``."""
    fmt: FixedFormat
    count: int = 0
    zeros: int = 0
    max_code: int = 0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(64, dtype=np.int64))

    def add(self, codes):
        a = np.abs(np.asarray(codes, dtype=np.int64)).ravel()
        self.count += a.size
        nz = a[a != 0]
        self.zeros += a.size - nz.size
        if nz.size:
            self.max_code = max(self.max_code, int(nz.max()))
            self.hist += np.bincount(np.frexp(nz.astype(np.float64))[1] - 1, minlength=64)[:64]

    @property
    def max_value(self) -> float:
        return self.max_code * self.fmt.step

    @property
    def spare_bits(self) -> int | None:
        """Integer bits never used: how far the format's top lies above the largest magnitude."""
        if self.max_code == 0:
            return None
        return self.fmt.max_code.bit_length() - self.max_code.bit_length()

    def percentile_exponent(self, q: float) -> float | None:
        """log2 of the value below which a fraction ``q`` of the nonzero magnitudes lie (to 1 bit)."""
        total = self.hist.sum()
        if total == 0:
            return None
        e = int(np.searchsorted(np.cumsum(self.hist), q * total))
        return e - self.fmt.frac_bits


@dataclass
class Evaluation:
    """An emulation of a data set compared with Keras float outputs and labels.

    Fractions are ``None`` when what they need was not given.
    """
    samples: int
    y_fixed: np.ndarray
    codes: np.ndarray
    overflows: dict
    y_float: np.ndarray | None = None
    labels: np.ndarray | None = None
    agree: tuple[int, int] | None = None          # (equal decisions, decisions)
    accuracy_float: float | None = None
    accuracy_fixed: float | None = None
    ranges: dict = field(default_factory=dict)     # named point -> Range

    @property
    def agreement(self) -> float | None:
        return None if self.agree is None else self.agree[0] / self.agree[1]

    @property
    def errors(self) -> np.ndarray | None:
        return None if self.y_float is None else self.y_fixed - self.y_float

    @property
    def max_abs_error(self) -> float | None:
        return None if self.y_float is None else float(np.abs(self.errors).max(initial=0))

    @property
    def mean_abs_error(self) -> float | None:
        return None if self.y_float is None else float(np.abs(self.errors).mean())


def evaluate(design, x, y_float=None, labels=None, *, ranges: bool = True) -> Evaluation:
    """Emulate ``x`` on ``design`` and compare with ``y_float`` (Keras outputs) and ``labels``.

    With ``ranges`` the value magnitudes at every named point are collected too (a traced
    emulation in chunks of :data:`RANGE_CHUNK` samples). ``design.overflows`` holds the overflow
    counts of the whole of ``x`` afterwards.
    """
    x = np.asarray(x)
    stats = {}
    if ranges:
        fmts = point_formats(design.network)
        stats = {p: Range(f) for p, f in fmts.items()}
        for start in range(0, len(x), RANGE_CHUNK):
            trace = design.run(x[start:start + RANGE_CHUNK], trace=True, warn=False).trace
            for point, codes in trace.items():
                if point in stats:
                    stats[point].add(codes)
    result = design.run(x, warn=False)
    ev = Evaluation(samples=len(x), y_fixed=result.y, codes=result.codes,
                    overflows=dict(result.overflows), ranges=stats)
    if y_float is not None:
        y_float = np.asarray(y_float, dtype=np.float64)
        if y_float.size != result.y.size:
            raise FlowError(f"float outputs of shape {y_float.shape} do not match the design's "
                             f"outputs of shape {result.y.shape}")
        y_float = y_float.reshape(result.y.shape)
        ev.y_float = y_float
        ev.agree = agreement(result.y, y_float)
    if labels is not None:
        lab = _label_decisions(labels, result.y)
        if lab is not None:
            ev.labels = lab
            ev.accuracy_fixed = float(np.mean(decisions(result.y) == lab))
            if y_float is not None:
                ev.accuracy_float = float(np.mean(decisions(y_float) == lab))
    return ev


def roc(scores, labels):
    """``(signal efficiency, background efficiency, AUC)`` of a binary score."""
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]   # last index of each distinct score
    tp, fp = np.cumsum(lab)[last], np.cumsum(1 - lab)[last]
    tpr = np.r_[0.0, tp / max(lab.sum(), 1)]
    fpr = np.r_[0.0, fp / max((1 - lab).sum(), 1)]
    return tpr, fpr, float(np.trapezoid(tpr, fpr))


# -- how numbers are shown (report, plots and command line) ----------------------------------------

def short_format(fmt: FixedFormat) -> str:
    """``fixed<16,6>`` for rnnrtl's default modes (RND, SAT), else the full ``fixed<16,6,TRN,WRAP>``."""
    if fmt.rounding is Rounding.RND and fmt.overflow is Overflow.SAT:
        return f"{'fixed' if fmt.signed else 'ufixed'}<{fmt.width},{fmt.int_bits}>"
    return str(fmt)


def cycles_text(cycles, clock_mhz=None) -> str:
    """``"198 cycles"``, with the time at ``clock_mhz`` when given."""
    if cycles is None:
        return "—"
    text = f"{cycles} cycles" if cycles != 1 else "1 cycle"
    if clock_mhz:
        text += f" ({cycles * 1e3 / clock_mhz:.4g} ns at {clock_mhz:g} MHz)"
    return text
