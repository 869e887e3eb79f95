"""Compiled (numba) step kernels of the emulator: one call per step does all the elementwise
work of a recurrent step on a batch, the integers of :mod:`rnnrtl.emulator`'s numpy step unchanged.

A kernel is compiled for one layer's constants (:func:`lstm_step`: shifts, requantization
parameters, activation kinds and table offsets are compile-time constants, so every shift is by a
constant and every branch on an option disappears from the loops), once per process and cached on
disk by numba (keyed by the constants). It takes the step's matrix products as arrays of exact
integers (float32 / float64 BLAS
results or int64, see :class:`rnnrtl.emulator._MatVec`) and does the rest one unit at a time in
int64: aligned sums, every requantization (:func:`rnnrtl.fixed.requantize_code`, the rule of
:func:`rnnrtl.fixed.requantize` for one code), table lookups (:func:`table_params`, the index of
:meth:`rnnrtl.activations.TableGeometry.index`) and overflow counts per named point. No array
temporaries, no Python per element, and the GIL released (the emulator's chunk threads run in
parallel).

An activation is given as ``(kind, params, offset)`` (constants) and its table ``contents`` (an
array argument): kind 0 a table (``params`` from :func:`table_params`), 1 linear, 2 relu
(``params`` from :func:`rnnrtl.fixed.requantize_params`).
``tests/test_emulator_fast.py`` holds every kernel to the numpy step on every option.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from .activations import TableGeometry
from .fixed import FixedFormat, requantize_code, requantize_params, shift_round_params

__all__ = ["TABLE", "LINEAR", "RELU", "activation_args", "requant_params", "table_params",
           "lstm_step", "LSTM_POINTS"]

TABLE, LINEAR, RELU = 0, 1, 2

_requantize = numba.njit(inline="always")(requantize_code)


def table_params(geometry: TableGeometry) -> tuple[int, ...]:
    """:meth:`TableGeometry.index` as :func:`requantize_code` parameters: the index is
    ``requantize_code(code)[0] + geometry.offset``, the shift rounded in the index rounding and
    saturated to ``[-offset, size - 1 - offset]`` (the clamp), its overflow flag ignored."""
    return tuple(int(v) for v in shift_round_params(geometry.shift, geometry.index_rounding) + (
        -geometry.offset, geometry.size - 1 - geometry.offset, 0, 0, 1))


def activation_args(act):
    """``((kind, params, offset), contents)`` of an :class:`rnnrtl.ir.Activation` for a kernel:
    the constants (plain ints) and the table contents (int64, empty unless a table), or ``None``
    when no kernel computes it (softmax)."""
    if act.table is not None:
        g = act.table.geometry
        return ((TABLE, table_params(g), int(g.offset)),
                np.ascontiguousarray(act.table.contents, dtype=np.int64))
    if act.softmax is not None or act.function not in ("linear", "relu"):
        return None
    kind = RELU if act.function == "relu" else LINEAR
    return (kind, requant_params(act.in_frac, act.out_fmt), 0), np.zeros(1, dtype=np.int64)


def requant_params(src_frac: int, dst: FixedFormat) -> tuple[int, ...]:
    """:func:`rnnrtl.fixed.requantize_params` as plain ints (a kernel's constants)."""
    return tuple(int(v) for v in requantize_params(src_frac, dst))


@numba.njit(inline="always")
def _rq(code, p):
    return _requantize(code, p)


#: The named points of an LSTM step in the order the numpy step counts their overflows; the
#: index of each in a kernel's ``counts`` (one more entry counts clamped table indexes).
LSTM_POINTS = ("gate", "i", "f", "o", "g", "c", "tanh_c", "h")


@functools.lru_cache(maxsize=None)
def lstm_step(ax_shift, bias_shift, rec_shift, p_gate, sig, g, fc_shift, ig_shift, p_c, tc, p_h):
    """The step kernel of an LSTM with these constants (plain ints; ``p_*`` from
    :func:`requant_params`, ``sig``, ``g``, ``tc`` the ``(kind, params, offset)`` of
    :func:`activation_args`), compiled on first use:
    ``step(xt, wx, ax, bias, rec, c, c_out, h_out, h_blas, sig_tab, g_tab, tc_tab, counts, trace,
    gate, act, tanh_c, index, row, scratch)``.

    One LSTM step (docs/numerics.md) on a batch in *unit-major* layout: every array is
    ``[units, B]``, so each gate block (i, f, g, o: rows ``kN..(k+1)N`` of ``[4N, B]``) and each
    state array is one contiguous run the compiler loops over without index arithmetic.

    The gate sum of unit ``u`` is ``W·x_t`` — computed here from the input codes ``xt``
    ``[F, B]`` and weight codes ``wx`` ``[F, 4N]`` when ``wx`` has rows (few features: cheaper
    than reading a product array), else read from ``ax`` ``[4N, B]`` — plus ``bias[u]`` plus
    ``rec`` ``[4N, B]`` (``U·h``), each shifted left by its ``*_shift`` to the sum's fraction and
    requantized by ``p_gate``. Then ``c = q_c((f·c) << fc_shift + (i·g) << ig_shift)`` and
    ``h = q_h(o·tanh_c)``: written to ``c_out``, ``h_out`` ``[N, B]`` and ``h_blas`` (``h`` in
    the next product's BLAS type). With ``trace``, ``gate``, ``act`` ``[4N, B]`` hold the step's
    gate and activation codes afterwards (else rows of ``scratch`` ``[8, B]`` do); ``tanh_c``
    ``[N, B]`` always does; ``index`` (``[1, B]``) and ``row`` (``[B]``) are scratch. Unit by
    unit, its four gate rows and its state row stay in cache. Overflows are added to ``counts``
    (:data:`LSTM_POINTS` order, then table clamps)."""
    (sig_kind, p_sig, sig_off), (g_kind, p_g, g_off), (tc_kind, p_tc, tc_off) = sig, g, tc

    # The closure's variables are compile-time constants to numba (and part of its cache key).
    @numba.njit(nogil=True, cache=True)
    def step(xt, wx, ax, bias, rec, c, c_out, h_out, h_blas, sig_tab, g_tab, tc_tab, counts,
             trace, gate, act, tanh_c, index, row, scratch):
        G, B = rec.shape
        N = G // 4
        F = wx.shape[0]
        idx = index[0]
        for j in range(N):   # unit j: its four gate rows, then its state, all in cache
            for k in range(4):
                u = k * N + j
                g_row, a_row = (gate[u], act[u]) if trace else (scratch[k], scratch[4 + k])
                if F > 0:
                    for b in range(B):
                        row[b] = 0
                    for f in range(F):
                        w = wx[f, u]
                        for b in range(B):
                            row[b] += w * xt[f, b]
                else:
                    for b in range(B):
                        row[b] = np.int64(ax[u, b])
                bu = bias[u] << bias_shift
                over = 0
                for b in range(B):
                    s = (row[b] << ax_shift) + bu + (np.int64(rec[u, b]) << rec_shift)
                    g_row[b], o = _rq(s, p_gate)
                    over += o
                counts[0] += over
                if k == 2:
                    counts[8 if g_kind == TABLE else 4] += _act_row(g_row, g_kind, p_g, g_off,
                                                                    g_tab, a_row, idx)
                else:
                    counts[8 if sig_kind == TABLE else _SIG_SLOT[k]] += _act_row(
                        g_row, sig_kind, p_sig, sig_off, sig_tab, a_row, idx)
            i_, f_, g_, o_ = ((act[j], act[N + j], act[2 * N + j], act[3 * N + j]) if trace else
                              (scratch[4], scratch[5], scratch[6], scratch[7]))
            over = 0
            c_, co = c[j], c_out[j]
            for b in range(B):
                co[b], o = _rq(((f_[b] * c_[b]) << fc_shift) + ((i_[b] * g_[b]) << ig_shift), p_c)
                over += o
            counts[5] += over
            counts[8 if tc_kind == TABLE else 6] += _act_row(co, tc_kind, p_tc, tc_off, tc_tab,
                                                             tanh_c[j], idx)
            over = 0
            t_, h_, hb = tanh_c[j], h_out[j], h_blas[j]
            for b in range(B):
                h_[b], o = _rq(o_[b] * t_[b], p_h)
                hb[b] = h_[b]
                over += o
            counts[7] += over

    return step


#: ``counts`` slot of the σ of gate block k (i, f, -, o) in :data:`LSTM_POINTS`.
_SIG_SLOT = (1, 2, 0, 3)


@numba.njit(inline="always")
def _act_row(src, kind, p, offset, contents, dst, index):
    """An activation of the row ``src`` into ``dst`` (see the module docstring); returns the
    overflow count, or for a table the count of clamped indexes (not an overflow: the caller
    counts it apart; summing it keeps the clamp a select rather than a mispredicted branch).
    A table runs as two loops, the index (vectorizable) then the gather; ``index`` is scratch."""
    over = 0
    if kind == TABLE:
        for b in range(src.shape[0]):
            index[b], o = _rq(src[b], p)
            over += o
        for b in range(src.shape[0]):
            dst[b] = contents[index[b] + offset]
        return over
    for b in range(src.shape[0]):
        code = src[b]
        if kind == RELU:
            code = max(code, 0)
        dst[b], o = _rq(code, p)
        over += o
    return over
