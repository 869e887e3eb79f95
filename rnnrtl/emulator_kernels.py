"""Compiled (numba) step kernels of the emulator: one call per step does all the elementwise
work of a recurrent step on a batch, the integers of :mod:`rnnrtl.emulator`'s numpy step unchanged.

A kernel is compiled for the *structure* of a layer's numerics (:func:`lstm_step`: activation
kinds, overflow modes, which rounding corrections apply, the number of input features it reads):
these are compile-time constants, so no branch on an option is left in the loops, while the values
(shift amounts, ranges, offsets, tables) stay arguments, so formats that differ only in their
widths share one kernel. Compiled once per process and structure, and cached on disk by numba. It
takes the step's matrix products as arrays of exact integers (float32 / float64 BLAS results or
int64, see :class:`rnnrtl.emulator._MatVec`) and does the rest one unit at a time in int64:
aligned sums, every requantization (:func:`rnnrtl.fixed.requantize_code`, the rule of
:func:`rnnrtl.fixed.requantize` for one code), table lookups (:func:`table_params`, the index of
:meth:`rnnrtl.activations.TableGeometry.index`) and overflow counts per named point. No array
temporaries, no Python per element, and the GIL released (the emulator's chunk threads run in
parallel).

An activation is given as ``(kind, params, offset)`` and its table ``contents``: kind 0 a table
(``params`` from :func:`table_params`), 1 linear, 2 relu (``params`` from
:func:`rnnrtl.fixed.requantize_params`).
``tests/test_emulator_fast.py`` holds every kernel to the numpy step on every option.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from .activations import TableGeometry
from .fixed import FixedFormat, requantize_code, requantize_params, shift_round_params

__all__ = ["TABLE", "LINEAR", "RELU", "activation_args", "requant_params", "requant_shape",
           "table_params", "lstm_step", "LSTM_POINTS"]

TABLE, LINEAR, RELU = 0, 1, 2

_requantize = numba.njit(inline="always")(requantize_code)


def table_params(geometry: TableGeometry) -> tuple[int, ...]:
    """:meth:`TableGeometry.index` as :func:`requantize_code` parameters: the index is
    ``requantize_code(code)[0] + geometry.offset``, the shift rounded in the index rounding and
    saturated to ``[-offset, size - 1 - offset]`` (the clamp), its overflow flag ignored."""
    return tuple(int(v) for v in shift_round_params(geometry.shift, geometry.index_rounding) + (
        -geometry.offset, geometry.size - 1 - geometry.offset, 0, 0, 1))


def activation_args(act):
    """``((kind, params, offset), contents)`` of an :class:`rnnrtl.ir.Activation` for a kernel
    (plain ints; the table contents as int64, a dummy unless a table), or ``None`` when no kernel
    computes it (softmax)."""
    if act.table is not None:
        g = act.table.geometry
        return ((TABLE, table_params(g), int(g.offset)),
                np.ascontiguousarray(act.table.contents, dtype=np.int64))
    if act.softmax is not None or act.function not in ("linear", "relu"):
        return None
    kind = RELU if act.function == "relu" else LINEAR
    return (kind, requant_params(act.in_frac, act.out_fmt), 0), np.zeros(1, dtype=np.int64)


def requant_params(src_frac: int, dst: FixedFormat) -> tuple[int, ...]:
    """:func:`rnnrtl.fixed.requantize_params` as plain ints."""
    return tuple(int(v) for v in requantize_params(src_frac, dst))


def requant_shape(params) -> tuple[int, int, int]:
    """What of :func:`requantize_code`'s ``params`` a kernel is compiled for: ``(neg, odd, mode)``:
    whether the rounding corrections ``k_neg`` and ``k_odd`` are used, and the overflow mode —
    what a format's rounding and overflow modes decide, not its widths. :func:`_structured`
    rebuilds the parameters from these and the values."""
    _, _, k_neg, k_odd, _, _, mode, _, _ = params
    return int(k_neg != 0), int(k_odd != 0), int(mode)


@numba.njit(inline="always")
def _structured(p, shape):
    """The parameter array ``p`` as :func:`requantize_code`'s tuple, the parts ``shape``
    (:func:`requant_shape` of the same parameters, a compile-time constant) fixes as constants:
    unused corrections are 0, the overflow mode is the constant. Read once per kernel call, so
    the loops hold no loads that may alias their outputs."""
    neg, odd, mode = shape
    return (p[0], p[1], p[2] if neg else 0, p[3] if odd else 0, p[4], p[5], mode, p[7], p[8])


@numba.njit(inline="always")
def _rq(code, p):
    return _requantize(code, p)


#: The named points of an LSTM step in the order the numpy step counts their overflows; the
#: index of each in a kernel's ``counts``.
LSTM_POINTS = ("gate", "i", "f", "o", "g", "c", "tanh_c", "h")


@functools.lru_cache(maxsize=None)
def lstm_step(features: int, kinds: tuple, shapes: tuple):
    """The step kernel of LSTMs of this structure, compiled on first use: ``features`` input
    features whose ``W·x_t`` it computes (0: it reads the product), the ``kinds`` of σ, the cell
    activation and tanh_c (:data:`TABLE`, :data:`LINEAR`, :data:`RELU`), and the
    :func:`requant_shape` of each row of ``params`` below (gate, σ, cell activation, c, tanh_c,
    h). Returns ``step(xt, wx, ax, rec, c, c_out, h_out, h_blas, bias, shifts, params, offsets,
    sig_tab, g_tab, tc_tab, counts, trace, gate, act, tanh_c, index, scratch)``.

    One LSTM step (docs/numerics.md) on a batch in *unit-major* layout: every array is
    ``[units, B]``, so each gate block (i, f, g, o: rows ``kN..(k+1)N`` of ``[4N, B]``) and each
    state array is one contiguous run the compiler loops over without index arithmetic.

    The gate sum of unit ``u`` is ``W·x_t`` — computed here from the input codes ``xt``
    ``[F, B]`` and weight codes ``wx`` ``[F, 4N]`` when ``features`` (``F``) is not 0 (few
    features: cheaper than reading a product array), else read from ``ax`` ``[4N, B]`` — plus
    ``bias[u]`` plus ``rec`` ``[4N, B]`` (``U·h``), each shifted left to the sum's fraction
    (``shifts``: ``ax, bias, rec, fc, ig``) and requantized by ``params[0]``
    (:func:`requant_params`; ``[6, 9]`` int64). The activations' parameters (:func:`table_params`
    for a table) are rows 1 to 2, their table offsets ``offsets`` (σ, cell, tanh_c). Then
    ``c = q_c((f·c) << fc + (i·g) << ig)`` (row 3), ``tanh_c`` (row 4) and ``h = q_h(o·tanh_c)``
    (row 5): written to ``c_out``, ``h_out`` ``[N, B]`` and ``h_blas`` (``h`` in the next
    product's BLAS type). With ``trace``, ``gate``, ``act`` ``[4N, B]`` hold the step's gate and
    activation codes afterwards (else rows of ``scratch`` ``[8, B]`` do); ``tanh_c`` ``[N, B]``
    always does; ``index`` (``[1, B]``) is scratch. Unit by unit, its four gate rows and its
    state row stay in cache; each row is one pass (sum, requantization, activation or table
    index) and, for a table, a second one (the lookup). Overflows are added to ``counts``
    (:data:`LSTM_POINTS` order)."""
    sig_kind, g_kind, tc_kind = kinds
    s_gate, s_sig, s_g, s_c, s_tc, s_h = shapes

    # The closure's variables are compile-time constants to numba (and part of its cache key).
    @numba.njit(nogil=True, cache=True)
    def step(xt, wx, ax, rec, c, c_out, h_out, h_blas, bias, shifts, params, offsets, sig_tab,
             g_tab, tc_tab, counts, trace, gate, act, tanh_c, index, scratch):
        G, B = rec.shape
        N = G // 4
        idx = index[0]
        ax_shift, bias_shift, rec_shift, fc_shift, ig_shift = (shifts[0], shifts[1], shifts[2],
                                                               shifts[3], shifts[4])
        p_gate, p_sig, p_g = (_structured(params[0], s_gate), _structured(params[1], s_sig),
                              _structured(params[2], s_g))
        p_c, p_tc, p_h = (_structured(params[3], s_c), _structured(params[4], s_tc),
                          _structured(params[5], s_h))
        sig_off, g_off, tc_off = offsets[0], offsets[1], offsets[2]
        for j in range(N):   # unit j: its four gate rows, then its state, all in cache
            for k in range(4):
                u = k * N + j
                g_row, a_row = (gate[u], act[u]) if trace else (scratch[k], scratch[4 + k])
                bu = bias[u] << bias_shift
                if k == 2:
                    over, over_a = _gate_row(features, xt, wx, ax, u, ax_shift, bu, rec, rec_shift,
                                             p_gate, g_kind, p_g, g_row, a_row, idx)
                    _gather(g_kind, g_tab, g_off, idx, a_row)
                    counts[4] += over_a
                else:
                    over, over_a = _gate_row(features, xt, wx, ax, u, ax_shift, bu, rec, rec_shift,
                                             p_gate, sig_kind, p_sig, g_row, a_row, idx)
                    _gather(sig_kind, sig_tab, sig_off, idx, a_row)
                    counts[_SIG_SLOT[k]] += over_a
                counts[0] += over
            i_, f_, g_, o_ = ((act[j], act[N + j], act[2 * N + j], act[3 * N + j]) if trace else
                              (scratch[4], scratch[5], scratch[6], scratch[7]))
            over = over_a = 0
            c_, co, t_ = c[j], c_out[j], tanh_c[j]
            t_or_idx = idx if tc_kind == TABLE else t_
            for b in range(B):
                cv, o = _rq(((f_[b] * c_[b]) << fc_shift) + ((i_[b] * g_[b]) << ig_shift), p_c)
                co[b] = cv
                over += o
                t_or_idx[b], o = _act_code(cv, tc_kind, p_tc)
                if tc_kind != TABLE:   # a clamped index is no overflow
                    over_a += o
            _gather(tc_kind, tc_tab, tc_off, idx, t_)
            counts[5] += over
            counts[6] += over_a
            over = 0
            h_, hb = h_out[j], h_blas[j]
            for b in range(B):
                h_[b], o = _rq(o_[b] * t_[b], p_h)
                hb[b] = h_[b]
                over += o
            counts[7] += over

    return step


#: ``counts`` slot of the σ of gate block k (i, f, -, o) in :data:`LSTM_POINTS`.
_SIG_SLOT = (1, 2, 0, 3)


@numba.njit(inline="always")
def _gate_row(features, xt, wx, ax, u, ax_shift, bu, rec, rec_shift, p_gate, kind, p, g_row, dst,
              index):
    """Gate row ``u`` into ``g_row`` (see :func:`lstm_step`; ``bu`` its bias, shifted) and, in the
    same pass, its activation (``kind``, ``p``: :func:`_act_code`): into ``dst``, or for a table
    the indexes into ``index`` (:func:`_gather` reads the table after). Returns the overflow
    counts of the gate and of the activation (0 for a table)."""
    out = index if kind == TABLE else dst
    over = over_a = 0
    for b in range(g_row.shape[0]):
        if features > 0:   # a constant: unrolled
            ax_ub = np.int64(0)
            for f in range(features):
                ax_ub += wx[f, u] * xt[f, b]
        else:
            ax_ub = np.int64(ax[u, b])
        code, o = _rq((ax_ub << ax_shift) + bu + (np.int64(rec[u, b]) << rec_shift), p_gate)
        g_row[b] = code
        over += o
        out[b], o = _act_code(code, kind, p)
        if kind != TABLE:   # a clamped index is no overflow
            over_a += o
    return over, over_a


@numba.njit(inline="always")
def _act_code(code, kind, p):
    """``(value, flag)`` of an activation (see the module docstring) of one code: for a table its
    index less the offset and whether the index was clamped (not an overflow: the callers ignore
    it), else the output code and whether it overflowed."""
    if kind == RELU:
        code = max(code, 0)
    return _rq(code, p)


@numba.njit(inline="always")
def _gather(kind, contents, offset, index, dst):
    """A table's contents at ``index + offset`` into ``dst`` (nothing for other kinds): a pass of
    its own, so the loops computing the indexes stay vectorizable."""
    if kind == TABLE:
        for b in range(dst.shape[0]):
            dst[b] = contents[index[b] + offset]
