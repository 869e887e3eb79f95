# amaranth: UnusedElaboratable=no
# (MatVec.of builds units the timing model reads without elaborating them)
"""``MatVec``: an exact, full-width matrix-vector product ``y = W·x (+ b) (+ addend)`` with a reuse factor.

The weights are constants of the circuit; nothing is rounded: every term is aligned (shifted left,
exactly) to the common fraction ``frac = max(x.frac + weight_frac, bias_frac, addend.frac)`` and the
output lanes have the exact :class:`~rnnrtl.fixed.IntType` :attr:`MatVec.out_type`, computed from
the actual weight values as :func:`rnnrtl.ir.matvec_type` does (keep the two in sync).

Schedule, for reuse factor ``R``: the ``rows * cols`` products are numbered row-major
(``f = j * cols + i``) and cut into blocks of ``R`` consecutive products; multiplier ``m`` computes
products ``f = m * R + k`` at MAC cycle ``k = 0 .. R-1``. Its ``R`` products touch few rows; for
each row it keeps one accumulator (a *segment*), summed over that row's cycles. After the last MAC
cycle each row is the sum of its segments, the bias constant and the addend lane, reduced by a
static pipelined adder tree, ``tree_fanin`` terms per register stage. With ``R = 1`` the product
registers are the segments (there is no accumulate cycle).

Cycle by cycle (cycle 0 is the ``start`` cycle, where ``x`` and ``addend`` are sampled):

* ``R = 1``: products of the ``x`` port are registered at the end of cycle 0 (segments valid in
  cycle 1).
* ``R > 1``: ``x`` is registered at the end of cycle 0 into a register that turns by one lane per
  cycle, so multiplier ``m`` always finds its operand in lane ``(m * R) % cols`` (its products are
  consecutive): no operand multiplexer. MAC cycle ``k`` is cycle ``1 + k``: its operands (that
  lane and the weight of product ``k``, a constant ROM indexed by the multiplier's own MAC-cycle
  counter) are registered at its end, their product one cycle later, and it is added into the
  multiplier's accumulator one cycle after that (the segment of a row it touches is copied out of
  the accumulator with the row's last product: one adder per multiplier), so segments are valid
  in cycle ``R + 3``. Only one multiplier or one adder lies between two registers.
* Each tree stage adds one cycle; the last stage is the ``y`` register, so ``done`` rises in cycle
  ``latency = R + 3 (R > 1) + tree_stages``; ``y`` is held until the next result. The inner tree
  stages load every cycle (no enable).
* ``registered_start``: every cycle above is one later (``start``, ``x`` and ``addend`` registered
  first); two later with ``deep_operands`` too (the multipliers' counters take the start from a
  copy per group of four multipliers, the global MAC counter from one of its own: a second
  register level). ``deep_operands`` (``R > 1``):
  the operands pass one more register (the weight ROM's output and the lane, in the fabric)
  before the multiplier's, and the product one more after it, so that the routes into and out of
  the DSP have cycles of their own, and a segment is copied from the accumulator's register a
  cycle after its last product is added (not from the adder): segments are valid three cycles
  later (four at ``R > 16``, where the weight ROM takes two stages: 16-entry ROMs, then the pick
  of one).

A new ``start`` is accepted every ``ii = R`` cycles (or later); a start sooner than ``R`` cycles after
the previous one corrupts both results.

**Per-product casts** (``product_fmt``, ``numerics: hls4ml``, docs/hls4ml.md): every product
``W[j, i] * x[i]`` is requantized into ``product_fmt`` (hls4ml's ``accum_t``) with
:func:`rnnrtl.fixed.requantize_value` before it enters its segment, and the bias constant is
requantized into it with :func:`rnnrtl.fixed.requantize` — ``sum_i q_P(W·x) + q_P(b)``, as the
emulator's ``_MatVec`` and ``_bias`` compute it. ``product_fmt`` must wrap (``WRAP``): the products are
then summed exactly and the consumer requantizes the sum into ``product_fmt`` again, which gives the
integers of hls4ml's wrapping accumulator whatever the order of its additions. The cast is
combinational between a product and its segment register (after the product register when
``R > 1``; a bit slice for ``TRN``, an adder otherwise): latency and the multiplier count do not
change.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedFormat, IntType, Overflow, requantize, requantize_value, shift_round
from .adder_tree import adder_tree, tree_stages
from .common import delay, pulse_copies

__all__ = ["MatVec"]


def _shape(t: IntType):
    return signed(t.width) if t.signed else unsigned(t.width)


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


def _check_int(value, what, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        valid = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{what} {value} is out of range; valid: {valid}")
    return value


class MatVec(wiring.Component):
    """``y[j] = sum_i W[j, i] * x[i] (+ bias[j]) (+ addend[j])``, exact, reusing each multiplier ``reuse`` times.

    Parameters (keyword-only)
    -------------------------
    weights : integer array ``[rows, cols]``
        Weight codes, with ``weight_frac`` fractional bits.
    x_type : IntType
        Type of each ``x`` lane.
    reuse : int, ``1 .. rows * cols``
        Products per multiplier (the reuse factor ``R``); also the initiation interval.
    bias, bias_frac : integer array ``[rows]`` and its fractional bits, or ``None``.
    addend_type : IntType or None
        Type of an optional extra input vector of ``rows`` lanes, added into the sum.
    tree_fanin : int >= 2
        Terms summed per pipeline stage of the adder tree.
    product_fmt : FixedFormat (``WRAP``) or None
        Every product, and the bias, requantized into this format before summing (see the module
        docstring); ``None``: exact products.
    registered_start : bool
        ``start``, ``x`` and ``addend`` go through one register before anything else, so a
        caller's combinational ``start`` drives one flip-flop instead of every operand register
        (all cycles below shift by one; :attr:`latency` is one more).
    addend_held : bool
        The caller holds ``addend`` from ``start`` until ``done`` and starts nothing before
        ``done``: at ``reuse > 1`` the adder tree then reads it as it is, instead of from copies
        kept past the next start (a row's worth of flip-flops for each copy).
    deep_operands : bool
        With ``reuse > 1``: the weight chosen by the MAC cycle and the ``x`` lane are registered
        twice (in the fabric, then in the multiplier's input register), so the weight ROM's logic
        and the route into the DSP are in different cycles, and the product once more after the
        multiplier's output register, so the route out of the DSP has a cycle of its own;
        :attr:`latency` is two more (three at ``reuse > 16``: the weight ROM in two stages).

    Ports
    -----
    x : ``In(ArrayLayout(x shape, cols))``; addend : ``In(ArrayLayout(addend shape, rows))`` (only
    with ``addend_type``); start : ``In(1)``, samples ``x`` and ``addend``;
    y : ``Out(ArrayLayout(signed(out_type.width), rows))``, codes with :attr:`frac` fractional bits;
    done : ``Out(1)``, a one-cycle pulse ``latency`` cycles after ``start``; ``y`` is valid then and held
    until the next result.

    Multipliers: exactly :attr:`multipliers` ``= ceil(rows * cols / reuse)`` ``*`` operators are built,
    one per block. With ``reuse > 1`` each multiplies a selected ``x`` lane by a weight selected by
    the MAC cycle (a small constant ROM). With ``reuse = 1`` the weight is a constant, so synthesis
    turns a product by a zero or a power of two into wiring; the count is then an upper bound.
    """

    def __init__(self, *, weights, weight_frac, x_type, reuse=1, bias=None, bias_frac=None,
                 addend_type=None, tree_fanin=4, product_fmt=None, registered_start=False,
                 deep_operands=False, addend_held=False):
        flat, shape = _int_array(weights, "weights", 2)
        rows, cols = shape
        if rows < 1 or cols < 1:
            raise ValueError(f"weights must be non-empty, got shape {shape}")
        weight_frac = _check_int(weight_frac, "weight_frac", -64, 64)
        if not isinstance(x_type, IntType):
            raise TypeError(f"x_type must be an rnnrtl.fixed.IntType, got {x_type!r}")
        n = rows * cols
        reuse = _check_int(reuse, "reuse", 1, n)
        tree_fanin = _check_int(tree_fanin, "tree_fanin", 2)
        if bias is not None:
            bias_list, bshape = _int_array(bias, "bias", 1)
            if bshape != (rows,):
                raise ValueError(f"bias must have shape ({rows},) to match weights {shape}, got {bshape}")
            if bias_frac is None:
                raise ValueError("bias_frac must be given with bias")
            bias_frac = _check_int(bias_frac, "bias_frac", -64, 64)
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

        self._w = [flat[j * cols:(j + 1) * cols] for j in range(rows)]
        self._rows, self._cols = rows, cols
        self._weight_frac = weight_frac
        self._x_type = x_type
        self._reuse = reuse
        self._bias = bias_list
        self._bias_frac = bias_frac
        self._addend_type = addend_type
        self._tree_fanin = tree_fanin
        self._product_fmt = product_fmt
        if not isinstance(registered_start, bool):
            raise TypeError(f"registered_start must be a bool, got {registered_start!r}")
        self._registered_start = registered_start
        if not isinstance(addend_held, bool):
            raise TypeError(f"addend_held must be a bool, got {addend_held!r}")
        self._addend_held = addend_held
        if not isinstance(deep_operands, bool):
            raise TypeError(f"deep_operands must be a bool, got {deep_operands!r}")
        self._deep_operands = deep_operands and reuse > 1
        # Fabric registers besides the DSP's own, with deep_operands: before the multiplier one
        # (two where the weight ROM takes two stages, reuse > 16), after it one.
        self._operand_stages = self._deep_operands * (1 + (reuse > _ROM_GROUP))
        self._fabric_stages = self._operand_stages + self._deep_operands
        # With deep_operands, segments are copied from the accumulator's register, a cycle later,
        # and a registered start reaches the multipliers' counters through a second register level.
        self._copy_stages = int(self._deep_operands)
        self._start_stages = int(self._deep_operands and registered_start)
        self._plan()

        sig = {
            "x": In(data.ArrayLayout(_shape(x_type), cols)),
            "start": In(1),
            "y": Out(data.ArrayLayout(_shape(self._out_type), rows)),
            "done": Out(1),
        }
        if addend_type is not None:
            sig["addend"] = In(data.ArrayLayout(_shape(addend_type), rows))
        super().__init__(sig)

    @classmethod
    def of(cls, weights, *, x_type, reuse, bias=None, rows=slice(None), addend_type=None,
           tree_fanin=4, product_fmt=None, registered_start=False, deep_operands=False,
           addend_held=False) -> "MatVec":
        """A MatVec of IR :class:`~rnnrtl.ir.Weights` (rows ``rows`` of them) and an optional IR
        bias, taking their codes and fractional bits from the IR (``product_fmt``: the layer's)."""
        return cls(weights=weights.codes[rows], weight_frac=weights.fmt.frac_bits, x_type=x_type,
                   reuse=reuse, bias=None if bias is None else bias.codes[rows],
                   bias_frac=None if bias is None else bias.fmt.frac_bits,
                   addend_type=addend_type, tree_fanin=tree_fanin, product_fmt=product_fmt,
                   registered_start=registered_start, deep_operands=deep_operands,
                   addend_held=addend_held)

    # -- the schedule, computed without hardware ---------------------------------------------------

    def _plan(self):
        rows, cols, R = self._rows, self._cols, self._reuse
        xlo, xhi = self._x_type.min_value, self._x_type.max_value
        self._prod_frac = self._x_type.frac + self._weight_frac
        P = self._product_fmt
        # Fraction of each product as it enters its segment (cast into product_fmt, or exact).
        self._term_frac = self._prod_frac if P is None else P.frac_bits
        fracs = [self._term_frac]
        if self._bias is not None:
            fracs.append(self._bias_frac)
        if self._addend_type is not None:
            fracs.append(self._addend_type.frac)
        self._frac = max(fracs)
        shift = self._frac - self._term_frac

        n = rows * cols
        self._multipliers = -(-n // R)
        # blocks[m] = [(k, j, i, w)]; segments[m] = [(j, k0, k1, lo, hi)] at the product fraction.
        self._blocks, self._segments = [], []
        row_segments = [[] for _ in range(rows)]  # (m, s)
        for m in range(self._multipliers):
            block, segs = [], []
            for k in range(R):
                f = m * R + k
                if f >= n:
                    break
                j, i = divmod(f, cols)
                w = self._w[j][i]
                block.append((k, j, i, w))
                lo, hi = self._term_bounds(w, xlo, xhi)
                if segs and segs[-1][0] == j:
                    _, k0, _, slo, shi = segs[-1]
                    segs[-1] = (j, k0, k, slo + lo, shi + hi)
                else:
                    row_segments[j].append((m, len(segs)))
                    segs.append((j, k, k, lo, hi))
            self._blocks.append(block)
            self._segments.append(segs)
        self._row_segments = row_segments

        # Exact bounds of each row at the common fraction (the same sums as rnnrtl.ir.matvec_type).
        row_lo, row_hi = [], []
        for j in range(rows):
            lo = sum(self._segments[m][s][3] for m, s in row_segments[j]) << shift
            hi = sum(self._segments[m][s][4] for m, s in row_segments[j]) << shift
            if self._bias is not None:
                b = self._bias[j] << (self._frac - self._bias_frac)
                lo, hi = lo + b, hi + b
            if self._addend_type is not None:
                a = self._frac - self._addend_type.frac
                lo, hi = lo + (self._addend_type.min_value << a), hi + (self._addend_type.max_value << a)
            row_lo.append(lo)
            row_hi.append(hi)
        self._out_type = IntType.for_range(min(min(row_lo), 0), max(max(row_hi), 0), self._frac, True)
        leaves = max(len(row_segments[j]) + (self._bias is not None) + (self._addend_type is not None)
                     for j in range(rows))
        self._tree_stages = tree_stages(leaves, self._tree_fanin)

    def _term_bounds(self, w, xlo, xhi):
        """Range of the term ``w * x`` enters its segment as (at :attr:`_term_frac`)."""
        lo, hi = min(w * xlo, w * xhi), max(w * xlo, w * xhi)
        P = self._product_fmt
        if P is None:
            return lo, hi
        # Every rounding mode is monotonic, so the extremes round to the extremes; the cast wraps
        # only values outside P's range. (Extremes too wide for exact int64 rounding: P's range.)
        shift = self._prod_frac - P.frac_bits
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

    # -- public properties -------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def reuse(self) -> int:
        return self._reuse

    @property
    def x_type(self) -> IntType:
        return self._x_type

    @property
    def addend_type(self) -> IntType | None:
        return self._addend_type

    @property
    def ii(self) -> int:
        """Initiation interval: cycles between accepted ``start`` pulses (``= reuse``)."""
        return self._reuse

    @property
    def product_fmt(self) -> FixedFormat | None:
        """Format every product and the bias are cast into before summing, or ``None`` (exact)."""
        return self._product_fmt

    @property
    def multipliers(self) -> int:
        """Multiplier instances built: ``ceil(rows * cols / reuse)``."""
        return self._multipliers

    @property
    def frac(self) -> int:
        """Fractional bits of ``y``: ``max(x.frac + weight_frac, bias_frac, addend.frac)``, with
        ``product_fmt``'s fractional bits in place of the first two when it is given."""
        return self._frac

    @property
    def out_type(self) -> IntType:
        """Exact type of the ``y`` lanes (signed, as narrow as the weight values allow)."""
        return self._out_type

    @property
    def tree_stages(self) -> int:
        """Register stages of the adder tree: ``max(1, ceil(log_fanin(L)))``, ``L`` the most terms
        of a row (its segments, plus one for a bias, plus one for an addend)."""
        return self._tree_stages

    @property
    def registered_start(self) -> bool:
        """Whether ``start``, ``x`` and ``addend`` pass through a register first (one cycle more)."""
        return self._registered_start

    @property
    def latency(self) -> int:
        """Cycles from ``start`` to ``done``: ``reuse + 3 * (reuse > 1) + tree_stages``, plus one
        with :attr:`registered_start` and three with ``deep_operands`` (at ``reuse > 1``; four at
        ``reuse > 16``; one more with both)."""
        return (self._reuse + 3 * (self._reuse > 1) + self._tree_stages + self._registered_start
                + self._fabric_stages + self._copy_stages + self._start_stages)

    # -- hardware ----------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        R, rows = self._reuse, self._rows
        xlo, xhi = self._x_type.min_value, self._x_type.max_value

        start, x, addend = self.start, self.x, getattr(self, "addend", None)
        counter_starts = None
        if self._registered_start:
            # One register between the caller's (combinational) start and the wide fanout of
            # start, x and addend below; free-running, so no enable net either.
            stages = 1 + self._start_stages
            first = delay(m, self.start, 1, "start_reg")
            start = delay(m, first, self._start_stages, "start_far")
            x = delay(m, self.x, stages, "x_in", reset_less=True)
            if addend is not None:
                addend = delay(m, self.addend, stages, "addend_in", reset_less=True)
            if self._start_stages:
                # The counters, spread over the device, take the second stage from copies of the
                # start (starts are at least R >= 2 cycles apart): one per group of
                # _COUNTER_GROUP multipliers' counters, and a last one for the global MAC counter
                # (the row's last cycle, the segments' valid flag), which sits with the adder
                # tree. A tree of two register levels instead of one route from one flip-flop to
                # every counter.
                counter_starts = pulse_copies(m, first, -(-self._multipliers // _COUNTER_GROUP) + 1,
                                              "start_group")

        # Segments: one per (multiplier, row it touches), at the product fraction (at R > 1 the
        # multiplier's one accumulator is copied into them).
        # Datapath registers have no reset (their value means nothing until a valid flag says
        # so): the reset net reaches only the control.
        seg_sig = [[Signal(signed(IntType.for_range(lo, hi, 0, True).width), name=f"seg{mi}_{j}",
                           reset_less=True)
                    for (j, _, _, lo, hi) in segs] for mi, segs in enumerate(self._segments)]

        if R == 1:
            # The product registers are the segments, loaded on start.
            with m.If(start):
                for mi, block in enumerate(self._blocks):
                    (_, _, i, w), = block
                    m.d.sync += seg_sig[mi][0].eq(self._cast(x[i] * w))
            seg_valid = Signal()
            m.d.sync += seg_valid.eq(start)
        else:
            # Three register stages per MAC cycle: operand selection, the product, and the segment
            # accumulator. Nothing but one multiplier or one adder sits between two registers.
            k, active = self._mac_counter(
                m, start if counter_starts is None else counter_starts[-1], "k")
            last = Signal()
            m.d.comb += last.eq(active & (k == R - 1))
            # The x lanes in a register that turns by one lane per MAC cycle: at MAC cycle k,
            # rot[p] = x[(p + k) % cols]. Multiplier m's products are consecutive (f = m*R + k), so
            # it always reads the same lane rot[(m*R) % cols]: no operand multiplexer.
            cols = self._cols
            rot = Signal.like(self.x, name="rot", reset_less=True)
            with m.If(start):
                m.d.sync += rot.eq(x)
            with m.Else():
                m.d.sync += [rot[i].eq(rot[(i + 1) % cols]) for i in range(cols)]
            for mi, (block, segs) in enumerate(zip(self._blocks, self._segments)):
                # Each multiplier counts its own MAC cycles: its weight ROM and segment controls
                # decode a local counter instead of one counter fanned out to every multiplier.
                km, active_m = self._mac_counter(
                    m, start if counter_starts is None else counter_starts[mi // _COUNTER_GROUP],
                    f"k{mi}")
                ws = [w for (_, _, _, w) in block]
                # The weight register loads the block's first weight outside the block's cycles and
                # starts with the bits that every weight of the block shares (others 0), so such a
                # bit is a constant, not a flip-flop, and the others power up at 0 like a DSP's
                # input register (rnnrtl.ecp5_pack moves them there).
                w_width = IntType.for_range(min(ws), max(ws), 0, True).width
                w_init = _shared_bits(ws, w_width)
                wsel = Signal(signed(w_width), name=f"w{mi}", init=w_init, reset_less=True)
                xsel = Signal(_shape(self._x_type), name=f"x{mi}", reset_less=True)
                prod = Signal(signed(IntType.for_range(min(min(w * xlo, w * xhi) for w in ws),
                                                       max(max(w * xlo, w * xhi) for w in ws), 0,
                                                       True).width), name=f"p{mi}", reset_less=True)
                weight_at = {kk: w for (kk, _, _, w) in block}
                if self._deep_operands and R > _ROM_GROUP:
                    # Two register stages for the weight ROM, then the fabric register before
                    # the DSP's: each group of 16 MAC cycles has its own ROM indexed by the
                    # counter's low bits (one LUT per bit), and the next stage picks a group by the
                    # high bits, registered beside them. A deep ROM in one stage was six levels of
                    # logic (the jets' critical path at reuse 160).
                    low = _ROM_GROUP.bit_length() - 1          # counter bits within a group
                    groups = [self._weight_rom(m, {kk % _ROM_GROUP: w for kk, w in weight_at.items()
                                                   if kk // _ROM_GROUP == g},
                                               ws[0], km[:low], wsel, f"wrom{mi}_{g}")
                              for g in range(-(-R // _ROM_GROUP))]
                    group = Signal(range(len(groups)), name=f"wgroup{mi}", reset_less=True)
                    wrom = Signal.like(wsel, name=f"wrom{mi}", reset_less=True)
                    m.d.sync += [group.eq(km[low:]), wrom.eq(Array(groups)[group]), wsel.eq(wrom)]
                elif self._deep_operands:
                    wrom = self._weight_rom(m, weight_at, ws[0], km, wsel, f"wrom{mi}")
                    m.d.sync += wsel.eq(wrom)
                else:
                    self._weight_rom(m, weight_at, ws[0], km, wsel, None)
                lane = rot[(mi * R) % cols]
                if self._deep_operands:
                    lane = delay(m, lane, self._operand_stages, f"xpre{mi}", reset_less=True)
                m.d.sync += [xsel.eq(lane), prod.eq(xsel * wsel)]  # the multiplier
                # deep_operands: the product crosses to the fabric in a cycle of its own.
                term = delay(m, prod, self._deep_operands, f"pf{mi}", reset_less=True)
                if self._product_fmt is not None:
                    # The registered product cast into product_fmt on its way into the segment
                    # adder (a bit slice for TRN, one more adder for a rounding mode).
                    cast = self._cast(term)
                    term = Signal(cast.shape(), name=f"q{mi}")
                    m.d.comb += term.eq(cast)
                # One accumulator per multiplier: segment s takes MAC cycles k0..k1 (consecutive
                # segments), restarts it at k0 and is copied out of it at k1; decoded at the
                # operand stage, used when the products arrive 2 + fabric stages later. Between
                # segments (a short last block) it adds garbage that no segment keeps.
                acc = Signal(signed(max(len(seg) for seg in seg_sig[mi])), name=f"acc{mi}",
                             reset_less=True)
                restart, ends = Signal(name=f"restart{mi}"), []
                m.d.comb += restart.eq(Cat(*(km == k0 for (_, k0, _, _, _) in segs)).any())
                for s, (_, _, k1, _, _) in enumerate(segs):
                    end = Signal(name=f"end{mi}_{s}")
                    m.d.comb += end.eq(active_m & (km == k1))
                    ends.append(delay(m, end, 2 + self._fabric_stages, f"end{mi}_{s}_d"))
                restart = delay(m, restart, 2 + self._fabric_stages, f"restart{mi}_d")
                total = Signal.like(acc, name=f"sum{mi}")
                m.d.comb += total.eq(Mux(restart, term, acc + term))
                m.d.sync += acc.eq(total)
                # deep_operands: a segment is copied from the accumulator register a cycle after
                # its last product is added (a route from a register to its segment, which sits
                # with the adder tree), not from the adder's output.
                copied = acc if self._copy_stages else total
                for s, end in enumerate(ends):
                    with m.If(delay(m, end, self._copy_stages, f"copy{mi}_{s}")):
                        m.d.sync += seg_sig[mi][s].eq(copied)
            # The last MAC cycle as its product is accumulated: segments are valid one cycle later
            # (one more when copied from the accumulator register).
            last_acc = delay(m, last, 2 + self._fabric_stages, "last_acc")
            seg_valid = delay(m, last_acc, 1 + self._copy_stages, "seg_valid")

        # Tree leaves per row: (value, lo, hi) at the common fraction.
        shift = self._frac - self._term_frac
        terms = []
        if self._addend_type is not None:
            a_shift = self._frac - self._addend_type.frac
            a_lo, a_hi = self._addend_type.min_value << a_shift, self._addend_type.max_value << a_shift
            if R > 1 and self._addend_held:
                addend_reg = addend              # the caller holds it until done
            else:
                addend_reg = Signal.like(self.addend, reset_less=True)
                with m.If(start):
                    m.d.sync += addend_reg.eq(addend)
                if R > 1:
                    # Held past the next start, which can come in the last MAC cycle (``last``),
                    # and then as long again as the operand and product stages delay the segments.
                    addend_hold = Signal.like(self.addend, reset_less=True)
                    with m.If(last):
                        m.d.sync += addend_hold.eq(addend_reg)
                    # It is read at last + 2 + fabric stages, after the next job's last (last + R)
                    # when R is small: one more hold stage per cycle short.
                    last_n = last
                    for n in range(1, max(0, self._fabric_stages + 2 - R) + 1):
                        addend_mid = Signal.like(self.addend, name=f"addend_mid{n}", reset_less=True)
                        last_n = delay(m, last_n, 1, f"last_d{n}")
                        with m.If(last_n):
                            m.d.sync += addend_mid.eq(addend_hold)
                        addend_hold = addend_mid
                    addend_reg = Signal.like(self.addend, reset_less=True)
                    with m.If(last_acc):
                        m.d.sync += addend_reg.eq(addend_hold)
        for j in range(rows):
            row = []
            if self._bias is not None:
                b = self._bias[j] << (self._frac - self._bias_frac)
                row.append((Const(b), b, b))
            for mi, s in self._row_segments[j]:
                _, _, _, lo, hi = self._segments[mi][s]
                row.append((seg_sig[mi][s] << shift, lo << shift, hi << shift))
            if self._addend_type is not None:
                row.append((addend_reg[j] << a_shift, a_lo, a_hi))
            terms.append(row)

        sums, valid = adder_tree(m, terms, fanin=self._tree_fanin, valid=seg_valid,
                                 spaced=self._deep_operands)
        for j, value in enumerate(sums):
            m.d.comb += self.y[j].eq(value)
        m.d.comb += self.done.eq(valid)
        return m

    @staticmethod
    def _weight_rom(m, weight_at, default, index, like, name):
        """A register loaded with ``weight_at[index]`` (``default`` for an index not in it): a
        new one shaped and initialised like ``like``, named ``name``, or ``like`` itself when
        ``name`` is None."""
        reg = like if name is None else Signal.like(like, name=name, reset_less=True)
        m.d.sync += reg.eq(default)
        with m.Switch(index):
            for k, w in weight_at.items():
                with m.Case(k):
                    m.d.sync += reg.eq(w)
        return reg

    def _mac_counter(self, m, start, name):
        """A MAC-cycle counter ``k`` (0 .. R-1 in the R cycles after ``start``) and its ``active`` flag.

        ``k`` wraps from R-1 to 0 as a job ends, so it is 0 whenever the counter is idle and
        ``start`` (at most once every R cycles: while active only in the last MAC cycle) has to
        reach only the ``active`` flag: a start fanned out to every multiplier's counter is one
        route into one flip-flop's logic each, not a reset net over all counter bits.
        """
        R = self._reuse
        k, active = Signal(range(R), name=name), Signal(name=f"{name}_active")
        last = k == R - 1
        with m.If(active):
            m.d.sync += k.eq(Mux(last, 0, k + 1))
        with m.If(start):
            m.d.sync += active.eq(1)
        with m.Elif(last):
            m.d.sync += active.eq(0)
        return k, active

    def _cast(self, product):
        """A product as it enters its segment: cast into ``product_fmt`` (rnnrtl.fixed's Amaranth
        half of the requantization), or exact."""
        if self._product_fmt is None:
            return product
        code, _ = requantize_value(product, self._prod_frac, self._product_fmt)
        return code


#: MAC cycles per weight-ROM group when a deep-operand MatVec splits its ROM in two stages.
_ROM_GROUP = 16

#: Multipliers whose counters share one copy of a deep MatVec's registered start.
_COUNTER_GROUP = 4


def _shared_bits(values, width: int) -> int:
    """The signed ``width``-bit value whose bits are those equal in every one of ``values`` (two's
    complement) and 0 where they differ."""
    mask = (1 << width) - 1
    first = values[0] & mask
    differ = 0
    for v in values:
        differ |= (v & mask) ^ first
    bits = first & ~differ & mask
    return bits - (1 << width) if bits >> (width - 1) else bits
