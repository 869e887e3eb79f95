"""``MatVecPlan``: the schedule of a :class:`~rnnrtl.hw.matvec.MatVec`, computed without hardware.

For reuse factor ``R`` the ``rows * cols`` products are numbered row-major (``f = j * cols + i``)
and cut into blocks of ``R`` consecutive products; multiplier ``m`` computes products
``f = m * R + k`` at MAC cycle ``k = 0 .. R-1``. For each row a block touches it keeps one
*segment* (the sum of that row's products in the block). A row's result is the sum of its
segments, the bias constant and the addend lane, reduced by an adder tree of ``tree_fanin`` terms
per stage. Everything here is integers: the blocks, the segments with their exact ranges, the
common fraction, the exact output type (as :func:`rnnrtl.ir.matvec_type` computes it; keep the
two in sync) and the number of tree stages. The component (:mod:`rnnrtl.hw.matvec`) builds the
circuit from it.

With ``weight_range`` (and ``bias_range``) every bound is taken over any weight (bias) code in
that range instead of the actual ones, so the segments, types and widths depend on the shapes and
ranges only: the plan of weights kept in a memory (``weights: file``), which new weights of the same
formats fill without changing the circuit. The blocks never depend on the values (a zero weight
has its product and MAC cycle like any other), so the schedule and the timing are the same either
way; only the widths grow to the formats' ranges.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedFormat, IntType, Overflow, requantize, shift_round
from .adder_tree import tree_stages

__all__ = ["MatVecPlan", "shared_bits"]


def _int_array(value, what, ndim):
    arr = np.asarray(value)
    if arr.dtype == object:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr.flat):
            raise TypeError(f"{what} must hold integers, got {arr!r}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimension(s), got shape {arr.shape}")
    return [int(v) for v in arr.flat], arr.shape


def check_int(value, what, lo, hi=None):
    """``value`` as an ``int`` in ``lo .. hi`` (``hi`` None: no upper bound), or a
    ``TypeError`` / ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        valid = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{what} {value} is out of range; valid: {valid}")
    return value


class MatVecPlan:
    """The validated parameters of a MatVec and its schedule (see the module docstring).

    Attributes: ``rows``, ``cols``, ``w`` (weight codes, a list per row), ``weight_frac``,
    ``x_type``, ``reuse``, ``bias`` (codes, cast into ``product_fmt`` when one is given) and
    ``bias_frac``, ``addend_type``, ``tree_fanin``, ``product_fmt``; ``prod_frac`` (fraction of
    an exact product), ``term_frac`` (of a product as it enters its segment), ``frac`` (the common
    fraction of ``y``), ``multipliers``, ``blocks[m] = [(k, j, i, w)]``,
    ``segments[m] = [(j, k0, k1, lo, hi)]`` (at ``term_frac``), ``row_segments[j] = [(m, s)]``,
    ``out_type`` and ``tree_stages``; ``weight_range`` and ``bias_range``: ``(lo, hi)`` codes every
    bound holds for (module docstring; the bias range in ``product_fmt``'s codes when one is given:
    its whole range), or None: the actual codes.
    """

    def __init__(self, *, weights, weight_frac, x_type, reuse=1, bias=None, bias_frac=None,
                 addend_type=None, tree_fanin=4, product_fmt=None, weight_range=None,
                 bias_range=None):
        flat, shape = _int_array(weights, "weights", 2)
        rows, cols = shape
        if rows < 1 or cols < 1:
            raise ValueError(f"weights must be non-empty, got shape {shape}")
        weight_frac = check_int(weight_frac, "weight_frac", -64, 64)
        if not isinstance(x_type, IntType):
            raise TypeError(f"x_type must be an rnnrtl.fixed.IntType, got {x_type!r}")
        n = rows * cols
        reuse = check_int(reuse, "reuse", 1, n)
        tree_fanin = check_int(tree_fanin, "tree_fanin", 2)
        if bias is not None:
            bias_list, bshape = _int_array(bias, "bias", 1)
            if bshape != (rows,):
                raise ValueError(f"bias must have shape ({rows},) to match weights {shape}, got {bshape}")
            if bias_frac is None:
                raise ValueError("bias_frac must be given with bias")
            bias_frac = check_int(bias_frac, "bias_frac", -64, 64)
        else:
            bias_list = None
            if bias_frac is not None:
                raise ValueError(f"bias_frac {bias_frac!r} given without bias")
        if addend_type is not None and not isinstance(addend_type, IntType):
            raise TypeError(f"addend_type must be an rnnrtl.fixed.IntType or None, got {addend_type!r}")
        if product_fmt is not None:
            if not isinstance(product_fmt, FixedFormat):
                raise TypeError(f"product_fmt must be an rnnrtl.fixed.FixedFormat or None, got "
                                f"{product_fmt!r}")
            if product_fmt.overflow is not Overflow.WRAP:
                raise ValueError(f"product_fmt {product_fmt} must wrap (WRAP): with another overflow "
                                 "mode the sum would depend on the order of the additions")
            if bias_list is not None:  # q_P(b), the emulator's _bias
                bias_list = [int(v) for v in requantize(np.asarray(bias_list, dtype=np.int64),
                                                        bias_frac, product_fmt)[0]]
                bias_frac = product_fmt.frac_bits

        if weight_range is not None:
            weight_range = _code_range(weight_range, "weight_range", flat, "weights")
            if bias_list is not None:
                if bias_range is None:
                    raise ValueError("bias_range must be given with weight_range and bias")
                if product_fmt is not None:    # the bias is a code of product_fmt
                    bias_range = (product_fmt.min_code, product_fmt.max_code)
                bias_range = _code_range(bias_range, "bias_range", bias_list, "bias")
            else:
                bias_range = None
        elif bias_range is not None:
            raise ValueError(f"bias_range {bias_range!r} given without weight_range")
        self.weight_range, self.bias_range = weight_range, bias_range

        self.w = [flat[j * cols:(j + 1) * cols] for j in range(rows)]
        self.rows, self.cols = rows, cols
        self.weight_frac = weight_frac
        self.x_type = x_type
        self.reuse = reuse
        self.bias = bias_list
        self.bias_frac = bias_frac
        self.addend_type = addend_type
        self.tree_fanin = tree_fanin
        self.product_fmt = product_fmt
        self._plan()

    def _plan(self):
        rows, cols, R = self.rows, self.cols, self.reuse
        xlo, xhi = self.x_type.min_value, self.x_type.max_value
        self.prod_frac = self.x_type.frac + self.weight_frac
        P = self.product_fmt
        # Fraction of each product as it enters its segment (cast into product_fmt, or exact).
        self.term_frac = self.prod_frac if P is None else P.frac_bits
        fracs = [self.term_frac]
        if self.bias is not None:
            fracs.append(self.bias_frac)
        if self.addend_type is not None:
            fracs.append(self.addend_type.frac)
        self.frac = max(fracs)
        shift = self.frac - self.term_frac

        n = rows * cols
        self.multipliers = -(-n // R)
        # blocks[m] = [(k, j, i, w)]; segments[m] = [(j, k0, k1, lo, hi)] at the product fraction.
        self.blocks, self.segments = [], []
        row_segments = [[] for _ in range(rows)]  # (m, s)
        for m in range(self.multipliers):
            block, segs = [], []
            for k in range(R):
                f = m * R + k
                if f >= n:
                    break
                j, i = divmod(f, cols)
                w = self.w[j][i]
                block.append((k, j, i, w))
                lo, hi = self.weight_term_bounds(w, xlo, xhi)
                if segs and segs[-1][0] == j:
                    _, k0, _, slo, shi = segs[-1]
                    segs[-1] = (j, k0, k, slo + lo, shi + hi)
                else:
                    row_segments[j].append((m, len(segs)))
                    segs.append((j, k, k, lo, hi))
            self.blocks.append(block)
            self.segments.append(segs)
        self.row_segments = row_segments

        # Exact bounds of each row at the common fraction (the same sums as rnnrtl.ir.matvec_type).
        row_lo, row_hi = [], []
        for j in range(rows):
            lo = sum(self.segments[m][s][3] for m, s in row_segments[j]) << shift
            hi = sum(self.segments[m][s][4] for m, s in row_segments[j]) << shift
            if self.bias is not None:
                blo, bhi = (self.bias[j], self.bias[j]) if self.bias_range is None \
                    else self.bias_range
                lo += blo << (self.frac - self.bias_frac)
                hi += bhi << (self.frac - self.bias_frac)
            if self.addend_type is not None:
                a = self.frac - self.addend_type.frac
                lo, hi = lo + (self.addend_type.min_value << a), hi + (self.addend_type.max_value << a)
            row_lo.append(lo)
            row_hi.append(hi)
        self.out_type = IntType.for_range(min(min(row_lo), 0), max(max(row_hi), 0), self.frac, True)
        leaves = max(len(row_segments[j]) + (self.bias is not None) + (self.addend_type is not None)
                     for j in range(rows))
        self.tree_stages = tree_stages(leaves, self.tree_fanin)

    def weight_bounds(self, ws) -> tuple[int, int]:
        """``(lo, hi)`` of the weights a multiplier whose block holds the codes ``ws`` may hold:
        theirs, or :attr:`weight_range`."""
        return (min(ws), max(ws)) if self.weight_range is None else self.weight_range

    def weight_term_bounds(self, w, xlo, xhi):
        """Range of the term of weight ``w`` (any weight of :attr:`weight_range` if given)."""
        if self.weight_range is None:
            return self.term_bounds(w, xlo, xhi)
        # Products are monotonic in w for each x extreme, and the cast is monotonic (or the
        # whole of P): the extremes are at the corners.
        (alo, ahi), (blo, bhi) = (self.term_bounds(w, xlo, xhi) for w in self.weight_range)
        return min(alo, blo), max(ahi, bhi)

    def term_bounds(self, w, xlo, xhi):
        """Range of the term ``w * x`` enters its segment as (at :attr:`term_frac`)."""
        lo, hi = min(w * xlo, w * xhi), max(w * xlo, w * xhi)
        P = self.product_fmt
        if P is None:
            return lo, hi
        # Every rounding mode is monotonic, so the extremes round to the extremes; the cast wraps
        # only values outside P's range. (Extremes too wide for exact int64 rounding: P's range.)
        shift = self.prod_frac - P.frac_bits
        if shift <= 0:
            rlo, rhi = lo << -shift, hi << -shift
        elif max(-lo, hi) < 1 << 61 and shift < 61:
            rlo, rhi = (int(v) for v in shift_round(np.array([lo, hi], dtype=np.int64), shift,
                                                    P.rounding))
        else:
            return P.min_code, P.max_code
        if P.min_code <= rlo and rhi <= P.max_code:
            return rlo, rhi
        return P.min_code, P.max_code


def _code_range(value, what, codes, holds):
    """``value`` as ``(lo, hi)`` integers holding every one of ``codes`` (named ``holds``)."""
    try:
        lo, hi = (check_int(v, what, -(1 << 64)) for v in value)
    except TypeError:
        raise TypeError(f"{what} must be a pair (lo, hi) of integers, got {value!r}") from None
    if lo > hi:
        raise ValueError(f"{what} {value!r} is empty: lo must be <= hi")
    if min(codes) < lo or max(codes) > hi:
        raise ValueError(f"{what} ({lo}, {hi}) does not hold every code of {holds} "
                         f"({min(codes)}..{max(codes)})")
    return lo, hi


def shared_bits(values, width: int) -> int:
    """The signed ``width``-bit value whose bits are those equal in every one of ``values`` (two's
    complement) and 0 where they differ."""
    mask = (1 << width) - 1
    first = values[0] & mask
    differ = 0
    for v in values:
        differ |= (v & mask) ^ first
    bits = first & ~differ & mask
    return bits - (1 << width) if bits >> (width - 1) else bits
