"""An independent, float-free reference of rnnrtl's numerics, for tests.

It follows ``docs/numerics.md`` literally, one sample and one value at a time, with Python
integers and :class:`fractions.Fraction` (exact rationals): every sum is exact, every rounding is
done here from the definition of the rounding mode (not with :mod:`rnnrtl.fixed`), every overflow
is counted. It reads only *formats* and table *contents* from an :class:`rnnrtl.ir.Network`; the
weights it is given are the Keras float weights (Keras layout), which it quantizes itself.

Slow by design: use it on tiny networks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["Fmt", "round_mode", "to_code", "keras_weights", "run_reference"]

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Fmt:
    """A fixed-point format described by plain values (read from an rnnrtl FixedFormat)."""
    width: int
    int_bits: int
    signed: bool
    rounding: str
    overflow: str

    @classmethod
    def of(cls, fmt) -> "Fmt":
        return cls(int(fmt.width), int(fmt.int_bits), bool(fmt.signed), fmt.rounding.value,
                   fmt.overflow.value)

    @property
    def frac(self) -> int:
        return self.width - self.int_bits

    @property
    def lo(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.width - 1)) + (1 if self.overflow == "SAT_SYM" else 0)

    @property
    def hi(self) -> int:
        return 2 ** (self.width - 1) - 1 if self.signed else 2 ** self.width - 1

    def value(self, code: int) -> Fraction:
        return Fraction(code) / Fraction(2) ** self.frac


def round_mode(v: Fraction, mode: str) -> int:
    """``v`` rounded to an integer by ``mode`` (ap_fixed names), from the definitions."""
    fl = math.floor(v)
    rem = v - fl
    if mode == "TRN":                      # toward -inf
        return fl
    if mode == "TRN_ZERO":                 # toward zero
        return fl if v >= 0 else -math.floor(-v)
    if rem != HALF:                        # not a tie: nearest
        return fl + (1 if rem > HALF else 0)
    if mode == "RND":                      # ties toward +inf
        return fl + 1
    if mode == "RND_MIN_INF":              # ties toward -inf
        return fl
    if mode == "RND_ZERO":                 # ties toward zero
        return fl + (1 if v < 0 else 0)
    if mode == "RND_INF":                  # ties away from zero
        return fl + (1 if v > 0 else 0)
    if mode == "RND_CONV":                 # ties to even
        return fl + (fl % 2)
    raise ValueError(mode)


def fit(code: int, fmt: Fmt) -> tuple[int, bool]:
    """Apply ``fmt``'s overflow mode; returns ``(code, overflowed)``."""
    if fmt.lo <= code <= fmt.hi:
        return code, False
    if fmt.overflow == "WRAP":
        span = 2 ** fmt.width
        if fmt.signed:
            return (code + span // 2) % span - span // 2, True
        return code % span, True
    if fmt.overflow == "SAT_ZERO":
        return 0, True
    return (fmt.lo if code < fmt.lo else fmt.hi), True   # SAT, SAT_SYM


def to_code(value: Fraction, fmt: Fmt) -> tuple[int, bool]:
    """The code of the exact ``value`` converted into ``fmt``: round, then overflow."""
    return fit(round_mode(Fraction(value) * Fraction(2) ** fmt.frac, fmt.rounding), fmt)


def keras_weights(layer) -> dict:
    """A Keras layer's float weights by role, in Keras layout (kernel ``[in, G·N]``)."""
    w = [np.asarray(a, dtype=np.float64) for a in layer.get_weights()]
    cls = type(layer).__name__
    out = {"kernel": w[0]}
    if cls == "Dense":
        out["bias"] = w[1] if len(w) > 1 else None
        return out
    out["recurrent"] = w[1]
    out["bias"] = out["recurrent_bias"] = None
    if len(w) > 2:
        if w[2].ndim == 2:       # GRU reset_after: [input bias, recurrent bias]
            out["bias"], out["recurrent_bias"] = w[2][0], w[2][1]
        else:
            out["bias"] = w[2]
    return out


class _Run:
    """One reference run: keeps the overflow counts and the trace (nested lists of codes)."""

    def __init__(self, tables: dict):
        self.overflows: dict[str, int] = {}
        self.ties: dict[str, int] = {}       # run-time roundings of an exact tie, per point
        self.tables = tables

    def q(self, point: str, value: Fraction, fmt: Fmt) -> Fraction:
        """Requantize the exact ``value`` into ``fmt`` at ``point``; returns the new exact value."""
        code, over = to_code(value, fmt)
        if (Fraction(value) * Fraction(2) ** fmt.frac - HALF).denominator == 1:
            key = point.split(".")[-1]
            self.ties[key] = self.ties.get(key, 0) + 1
        if over:
            self.overflows[point] = self.overflows.get(point, 0) + 1
        return fmt.value(code)

    def act(self, point: str, act, value: Fraction, in_fmt: Fmt) -> Fraction:
        """``act`` (an IR Activation) on ``value`` (a code of ``in_fmt``), from the docs' rules."""
        out_fmt = Fmt.of(act.out_fmt)
        fn = act.function
        assert act.in_frac == in_fmt.frac, (point, act.in_frac, in_fmt.frac)
        if fn in ("sigmoid", "tanh", "hard_sigmoid"):
            size, half_range = self.tables[fn]["size"], Fraction(self.tables[fn]["range"])
            log_bin = Fraction(2 * half_range, size)
            k = round(math.log2(log_bin))
            assert Fraction(2) ** k == log_bin
            shift = k + in_fmt.frac
            geometry = act.table.geometry
            assert (geometry.size, geometry.shift, geometry.offset) == (size, shift, size // 2), point
            code = value * Fraction(2) ** in_fmt.frac
            assert code.denominator == 1
            index = math.floor(code / Fraction(2) ** shift) + size // 2
            index = min(max(index, 0), size - 1)
            return out_fmt.value(int(act.table.contents[index]))
        if fn == "relu":
            return self.q(point, max(value, Fraction(0)), out_fmt)
        if fn in ("linear", "softmax"):   # softmax: the logits pass through (host applies it)
            return self.q(point, value, out_fmt)
        raise ValueError(f"reference has no rule for activation {fn!r}")


def _codes(values, fmt: Fmt):
    return [int(v * Fraction(2) ** fmt.frac) for v in values]


def _quantize_weights(array, fmt: Fmt):
    """Float weights to exact values of ``fmt`` (counting nothing: weights are not run-time)."""
    if array is None:
        return None
    a = np.asarray(array, dtype=np.float64)
    flat = [fmt.value(to_code(Fraction(float(v)), fmt)[0]) for v in a.ravel()]
    return np.array(flat, dtype=object).reshape(a.shape)


def quantized_weight_codes(array, fmt) -> np.ndarray:
    """The integer codes the docs say ``array`` (floats) has in ``fmt`` (a FixedFormat)."""
    f = Fmt.of(fmt)
    return np.array([to_code(Fraction(float(v)), f)[0] for v in np.ravel(array)],
                    dtype=np.int64).reshape(np.shape(array))


def _matvec(x, W, j):
    """sum_k x[k] · W[k, j], exact."""
    return sum((x[k] * W[k, j] for k in range(len(x))), Fraction(0))


def run_reference(network, weights: dict, x, tables: dict, stats: dict | None = None):
    """Run ``network`` (for its formats, activations, tables) with Keras ``weights``
    (layer name -> :func:`keras_weights`) on float inputs ``x`` ``[batch, steps, features]``.

    Returns ``(outputs, trace, overflows)``: output codes (nested lists), per-point codes as
    numpy int64 arrays laid out like the emulator's trace, and overflow counts per point.
    ``stats``, if given, receives ``ties``: how many run-time requantizations (by point name
    without the layer, e.g. ``"gate"``) had an exact tie to round.
    """
    run = _Run(tables)
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    trace: dict[str, list] = {}

    def rec(point, sample, t, values, fmt):
        trace.setdefault(point, [[] for _ in range(batch)])
        codes = _codes(values, fmt)
        if t is None:
            trace[point][sample] = codes
        else:
            trace[point][sample].append(codes)

    in_fmt = Fmt.of(network.input_fmt)
    outputs = []
    for b in range(batch):
        seq = [[run.q("input", Fraction(float(v)), in_fmt) for v in row] for row in x[b]]
        rec_all = trace.setdefault("input", [[] for _ in range(batch)])
        rec_all[b] = [_codes(row, in_fmt) for row in seq]
        fmt = in_fmt
        is_seq = True
        for layer in network.layers:
            kind = type(layer).__name__
            w = weights[layer.name]
            name = layer.name
            assert Fmt.of(layer.input_fmt) == fmt, (name, layer.input_fmt)
            out_fmt = Fmt.of(layer.output_fmt)
            W = _quantize_weights(w["kernel"], Fmt.of(layer.kernel.fmt))
            B = _quantize_weights(w.get("bias"), Fmt.of(layer.bias.fmt)) if layer.bias is not None else None
            if kind == "Dense":
                pre_fmt = Fmt.of(layer.pre_fmt)

                def dense(v, t):
                    pre = [run.q(f"{name}.pre", _matvec(v, W, j) + (B[j] if B is not None else 0), pre_fmt)
                           for j in range(layer.units)]
                    out = [run.act(f"{name}.out", layer.activation, p, pre_fmt) for p in pre]
                    act_fmt = Fmt.of(layer.activation.out_fmt)
                    if act_fmt != out_fmt:
                        out = [run.q(f"{name}.out", o, out_fmt) for o in out]
                    rec(f"{name}.pre", b, t, pre, pre_fmt)
                    rec(f"{name}.out", b, t, out, out_fmt)
                    return out

                seq = [dense(v, t) for t, v in enumerate(seq)] if is_seq else dense(seq, None)
                fmt = out_fmt
                continue
            U = _quantize_weights(w["recurrent"], Fmt.of(layer.recurrent.fmt))
            N = layer.units
            h = [Fraction(0)] * N
            c = [Fraction(0)] * N
            hs = []
            for t, v in enumerate(seq):
                if kind == "SimpleRNN":
                    pre_fmt = Fmt.of(layer.pre_fmt)
                    pre = [run.q(f"{name}.pre", _matvec(v, W, j) + _matvec(h, U, j) + (B[j] if B is not None else 0),
                                 pre_fmt) for j in range(N)]
                    a = [run.act(f"{name}.h", layer.activation, p, pre_fmt) for p in pre]
                    if Fmt.of(layer.activation.out_fmt) != out_fmt:
                        a = [run.q(f"{name}.h", o, out_fmt) for o in a]
                    h = a
                    rec(f"{name}.pre", b, t, pre, pre_fmt)
                elif kind == "LSTM":
                    gfmt, sfmt = Fmt.of(layer.gate_fmt), Fmt.of(layer.state_fmt)
                    gate = [run.q(f"{name}.gate", _matvec(v, W, j) + _matvec(h, U, j)
                                  + (B[j] if B is not None else 0), gfmt) for j in range(4 * N)]
                    ra, ga = layer.recurrent_activation, layer.activation
                    i = [run.act(f"{name}.i", ra, gate[j], gfmt) for j in range(0, N)]
                    f = [run.act(f"{name}.f", ra, gate[j], gfmt) for j in range(N, 2 * N)]
                    g = [run.act(f"{name}.g", ga, gate[j], gfmt) for j in range(2 * N, 3 * N)]
                    o = [run.act(f"{name}.o", ra, gate[j], gfmt) for j in range(3 * N, 4 * N)]
                    c = [run.q(f"{name}.c", f[j] * c[j] + i[j] * g[j], sfmt) for j in range(N)]
                    tc = [run.act(f"{name}.tanh_c", layer.state_activation, cj, sfmt) for cj in c]
                    h = [run.q(f"{name}.h", o[j] * tc[j], out_fmt) for j in range(N)]
                    sig_fmt, g_fmt = Fmt.of(ra.out_fmt), Fmt.of(ga.out_fmt)
                    for point, values, pf in (("gate", gate, gfmt), ("i", i, sig_fmt), ("f", f, sig_fmt),
                                              ("g", g, g_fmt), ("o", o, sig_fmt), ("c", c, sfmt),
                                              ("tanh_c", tc, Fmt.of(layer.state_activation.out_fmt))):
                        rec(f"{name}.{point}", b, t, values, pf)
                elif kind == "GRU":
                    gfmt, rfmt = Fmt.of(layer.gate_fmt), Fmt.of(layer.rec_fmt)
                    RB = (_quantize_weights(w["recurrent_bias"], Fmt.of(layer.recurrent_bias.fmt))
                          if layer.recurrent_bias is not None else None)
                    bias = lambda arr, j: arr[j] if arr is not None else 0  # noqa: E731
                    gate = [run.q(f"{name}.gate", _matvec(v, W, j) + bias(B, j) + _matvec(h, U, j)
                                  + bias(RB, j), gfmt) for j in range(2 * N)]
                    ra = layer.recurrent_activation
                    z = [run.act(f"{name}.z", ra, gate[j], gfmt) for j in range(N)]
                    r = [run.act(f"{name}.r", ra, gate[j], gfmt) for j in range(N, 2 * N)]
                    if layer.reset_after:
                        recv = [run.q(f"{name}.rec", _matvec(h, U, 2 * N + j) + bias(RB, 2 * N + j), rfmt)
                                for j in range(N)]
                        cand = [run.q(f"{name}.cand", _matvec(v, W, 2 * N + j) + bias(B, 2 * N + j)
                                      + r[j] * recv[j], gfmt) for j in range(N)]
                    else:
                        recv = [run.q(f"{name}.rec", r[j] * h[j], rfmt) for j in range(N)]
                        cand = [run.q(f"{name}.cand", _matvec(v, W, 2 * N + j) + bias(B, 2 * N + j)
                                      + _matvec(recv, U, 2 * N + j), gfmt) for j in range(N)]
                    hh = [run.act(f"{name}.hh", layer.activation, cj, gfmt) for cj in cand]
                    h = [run.q(f"{name}.h", z[j] * h[j] + (1 - z[j]) * hh[j], out_fmt) for j in range(N)]
                    sig_fmt = Fmt.of(ra.out_fmt)
                    for point, values, pf in (("gate", gate, gfmt), ("z", z, sig_fmt), ("r", r, sig_fmt),
                                              ("rec", recv, rfmt), ("cand", cand, gfmt),
                                              ("hh", hh, Fmt.of(layer.activation.out_fmt))):
                        rec(f"{name}.{point}", b, t, values, pf)
                else:
                    raise ValueError(kind)
                rec(f"{name}.h", b, t, h, out_fmt)
                hs.append(h)
            seq = hs if layer.return_sequences else hs[-1]
            is_seq = layer.return_sequences
            fmt = out_fmt
        outputs.append(_codes(seq, fmt) if not is_seq else [_codes(v, fmt) for v in seq])
    arrays = {k: np.array(v, dtype=np.int64) for k, v in trace.items()}
    if stats is not None:
        stats["ties"] = dict(run.ties)
    return np.array(outputs, dtype=np.int64), arrays, run.overflows
