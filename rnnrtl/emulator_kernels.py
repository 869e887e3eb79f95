"""Compiled (numba) step kernels of the emulator: one pass over a batch for all the elementwise
work of a recurrent step, the integers of :mod:`rnnrtl.emulator`'s numpy step unchanged.

A kernel takes the step's matrix products as arrays of exact integers (float32 / float64 BLAS
results or int64, see :class:`rnnrtl.emulator._MatVec`) and does the rest one unit at a time in
int64: aligned sums, every requantization (:func:`rnnrtl.fixed.requantize_code`, the rule of
:func:`rnnrtl.fixed.requantize` for one code), table lookups (:func:`table_params`, the index of
:meth:`rnnrtl.activations.TableGeometry.index`) and overflow counts per named point. No array
temporaries, no Python per element, and the GIL released (the emulator's chunk threads run in
parallel).

An activation is passed as ``(kind, params, offset, contents)``: kind 0 a table (``params`` from
:func:`table_params`), 1 linear, 2 relu (``params`` from :func:`rnnrtl.fixed.requantize_params`).
``tests/test_emulator_fast.py`` holds every kernel to the numpy step on every option.
"""

from __future__ import annotations

import numba
import numpy as np

from .activations import TableGeometry
from .fixed import FixedFormat, requantize_code, requantize_params, shift_round_params

__all__ = ["TABLE", "LINEAR", "RELU", "activation_args", "table_params", "lstm_step",
           "LSTM_POINTS"]

TABLE, LINEAR, RELU = 0, 1, 2

_requantize = numba.njit(inline="always")(requantize_code)


def table_params(geometry: TableGeometry) -> tuple[int, ...]:
    """:meth:`TableGeometry.index` as :func:`requantize_code` parameters: the index is
    ``requantize_code(code)[0] + geometry.offset``, the shift rounded in the index rounding and
    saturated to ``[-offset, size - 1 - offset]`` (the clamp), its overflow flag ignored."""
    return shift_round_params(geometry.shift, geometry.index_rounding) + (
        -geometry.offset, geometry.size - 1 - geometry.offset, 0, 0, 1)


def activation_args(act, point_fmt_frac: int | None = None):
    """``(kind, params, offset, contents)`` of an :class:`rnnrtl.ir.Activation` for a kernel, or
    ``None`` when no kernel computes it (softmax)."""
    if act.table is not None:
        g = act.table.geometry
        return (TABLE, np.array(table_params(g), dtype=np.int64), g.offset,
                np.ascontiguousarray(act.table.contents, dtype=np.int64))
    if act.softmax is not None or act.function not in ("linear", "relu"):
        return None
    kind = RELU if act.function == "relu" else LINEAR
    return (kind, np.array(requantize_params(act.in_frac, act.out_fmt), dtype=np.int64), 0,
            np.zeros(1, dtype=np.int64))


def requant_args(src_frac: int, dst: FixedFormat) -> np.ndarray:
    """:func:`rnnrtl.fixed.requantize_params` as the int64 array the kernels take."""
    return np.array(requantize_params(src_frac, dst), dtype=np.int64)


@numba.njit(inline="always")
def _params(p):
    """A parameter array as the tuple :func:`requantize_code` takes (read once per kernel call,
    so the loop holds constants rather than loads that may alias its outputs)."""
    return (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8])


@numba.njit(inline="always")
def _rq(code, p):
    return _requantize(code, p)


@numba.njit(inline="always")
def _act_block(src, lo, hi, kind, p, offset, contents, dst, index):
    """Activation of ``src[lo:hi]`` into ``dst[lo:hi]`` (see the module docstring); returns the
    overflow count, or for a table the count of clamped indexes (not an overflow: the caller
    counts it apart). A table runs as two loops, the index (vectorizable, its clamp a select)
    then the gather; ``index`` is scratch."""
    over = 0
    if kind == TABLE:
        for u in range(lo, hi):
            index[u], o = _rq(src[u], p)
            over += o
        for u in range(lo, hi):
            dst[u] = contents[index[u] + offset]
        return over
    for u in range(lo, hi):
        code = src[u]
        if kind == RELU:
            code = max(code, 0)
        dst[u], o = _rq(code, p)
        over += o
    return over


#: The named points of an LSTM step in the order the numpy step counts their overflows; the
#: index of each in a kernel's ``counts`` (one more entry counts clamped table indexes).
LSTM_POINTS = ("gate", "i", "f", "o", "g", "c", "tanh_c", "h")


@numba.njit(nogil=True, cache=True)
def lstm_step(ax, ax_shift, bias, bias_shift, rec, rec_shift, c, h_out, c_out,
              p_gate, sig_kind, p_sig, sig_off, sig_tab, g_kind, p_g, g_off, g_tab,
              fc_shift, ig_shift, p_c, tc_kind, p_tc, tc_off, tc_tab, p_h, counts,
              trace, tr_gate, tr_units):
    """One LSTM step (docs/numerics.md) for every sample ``b`` and unit ``j``.

    ``ax`` ``[B, 4N]`` (``W·x_t``), ``bias`` ``[4N]`` and ``rec`` ``[B, 4N]`` (``U·h``) are
    shifted left by their ``*_shift`` to the gate sum's fraction; ``p_gate`` requantizes the sum.
    ``c = q_c((f·c) << fc_shift + (i·g) << ig_shift)``, ``h = q_h(o·tanh_c)``. Writes ``h_out``,
    ``c_out`` ``[B, N]``, adds overflows to ``counts`` (:data:`LSTM_POINTS` order, then table
    clamps) and, with ``trace``, the gate codes to ``tr_gate`` ``[B, 4N]`` and i, f, g, o, c,
    tanh_c to ``tr_units`` ``[6, B, N]``.

    Each sample runs in short loops over its units (gates, activations, state), each simple
    enough for the compiler to vectorize or at least to keep free of data-dependent branches."""
    B, N = c.shape
    p_gate, p_sig, p_g, p_c, p_tc, p_h = (_params(p_gate), _params(p_sig), _params(p_g),
                                          _params(p_c), _params(p_tc), _params(p_h))
    n = np.zeros(9, dtype=np.int64)
    gate, act, index = np.empty(4 * N, np.int64), np.empty(4 * N, np.int64), np.empty(4 * N, np.int64)
    cn, tc, scratch = np.empty(N, np.int64), np.empty(N, np.int64), np.empty(N, np.int64)
    for b in range(B):
        over = 0
        for u in range(4 * N):
            s = (np.int64(ax[b, u]) << ax_shift) + (bias[u] << bias_shift) \
                + (np.int64(rec[b, u]) << rec_shift)
            gate[u], o = _rq(s, p_gate)
            over += o
        n[0] += over
        for k in range(4):  # i, f, g, o
            if k == 2:
                n[4 if g_kind != TABLE else 8] += _act_block(gate, 2 * N, 3 * N, g_kind, p_g, g_off,
                                                             g_tab, act, index)
            else:
                n[_ACT_SLOT[k] if sig_kind != TABLE else 8] += _act_block(
                    gate, k * N, (k + 1) * N, sig_kind, p_sig, sig_off, sig_tab, act, index)
        over = 0
        for j in range(N):
            cn[j], o = _rq(((act[N + j] * c[b, j]) << fc_shift) + ((act[j] * act[2 * N + j]) << ig_shift),
                           p_c)
            over += o
        n[5] += over
        n[6 if tc_kind != TABLE else 8] += _act_block(cn, 0, N, tc_kind, p_tc, tc_off, tc_tab, tc,
                                                      scratch)
        over = 0
        for j in range(N):
            c_out[b, j] = cn[j]
            h_out[b, j], o = _rq(act[3 * N + j] * tc[j], p_h)
            over += o
        n[7] += over
        if trace:
            for u in range(4 * N):
                tr_gate[b, u] = gate[u]
            for j in range(N):
                tr_units[4, b, j] = cn[j]
                tr_units[5, b, j] = tc[j]
                tr_units[0, b, j] = act[j]
                tr_units[1, b, j] = act[N + j]
                tr_units[2, b, j] = act[2 * N + j]
                tr_units[3, b, j] = act[3 * N + j]
    for k in range(9):
        counts[k] += n[k]


#: ``counts`` slot of the activation of gate block k (i, f, g, o) in :data:`LSTM_POINTS`.
_ACT_SLOT = (1, 2, 4, 3)
