"""Constant products as shift-and-add (``multiplier: lut``): their plan and cost, without hardware.

A product ``w * x`` by a constant ``w`` is ``sign * (c * x) << s`` with ``c = |w| >> s`` odd: the
sign and the shift are wiring (a negation the adder that sums the row absorbs), so a zero weight
costs nothing, ``±2^k`` is a wire, and each *distinct odd multiple* ``c * x`` of one input is built
once and shared by every product that needs it (multiple-constant multiplication of one input
column, the distributed-arithmetic idea of da4ml).

:class:`ShiftAddGraph` builds the odd multiples of one input from adders ``c << k = ±(a << sa) ±
(b << sb)`` of multiples already built (``1 * x`` is the input itself):

1. a constant already built costs nothing;
2. else one adder from two built multiples if any pair does (``c = a·2^s ± b`` or ``b·2^s − a``;
   the shallowest such adder is taken, if it is no deeper than step 3's tree);
3. else the canonical signed digits of ``c`` (:func:`csd_digits`: at most ``ceil((n + 1) / 2)``
   non-zero digits of ``n`` bits, none adjacent) are split into the upper and lower half, each
   half's odd part is built the same way, and one adder joins them: a balanced tree of depth
   ``ceil(log2(digits))`` at most, whose halves are shared with every other constant that needs
   them.

Constants are built in order of their digit count, so cheap ones are there for the others.

:class:`ConstMulPlan` is a matrix's: one graph per *group* of products on one input (a column at
reuse 1; a multiplier's block at reuse ``R > 1``, whose input changes each MAC cycle and whose
product is then picked among its block's by the MAC cycle). Its cost model (:meth:`ConstMulPlan.cost`)
counts adders and their exact widths; ``adder_bits`` (the sum of the widths, less the low bits an
adder passes through because one operand is shifted) is the estimate of LUTs: one LUT and one carry
bit per adder bit on a Xilinx or ECP5 fabric.

:func:`choose` resolves ``multiplier: auto`` for a matrix (the rule is in its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .fixed import IntType

__all__ = ["MULTIPLIERS", "LUT_MAX_REUSE", "AUTO_BITS_PER_DSP", "csd_digits", "odd_part",
           "Adder", "ShiftAddGraph", "ConstMulPlan", "column_groups", "block_groups", "matrix_plan",
           "choose"]

#: Values of the ``multiplier``, ``multiplier_input`` and ``multiplier_recurrent`` keys.
MULTIPLIERS = ("dsp", "lut", "auto")

#: Largest reuse factor ``multiplier: lut`` builds: a LUT multiplier at reuse ``R`` picks its
#: product among the ``R`` constant products of its block (an ``R``-way multiplexer after their
#: shift-add graph), which stops paying beyond a few products.
LUT_MAX_REUSE = 16

#: ``multiplier: auto`` takes ``lut`` for a matrix at reuse 1 when its shift-add graph costs at
#: most this many adder bits (LUTs) per product that would need a DSP (one not zero or ±2^k).
AUTO_BITS_PER_DSP = 48


def csd_digits(value: int) -> list[tuple[int, int]]:
    """The canonical signed digits (non-adjacent form) of ``value``: ``(shift, sign)`` pairs,
    least significant first, with ``value == sum(sign << shift)`` and no two shifts adjacent."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, got {value!r}")
    digits, shift = [], 0
    while value:
        if value & 1:
            sign = 2 - (value & 3)          # 1 if value % 4 == 1, else -1
            digits.append((shift, sign))
            value -= sign
        value >>= 1
        shift += 1
    return digits


def odd_part(value: int) -> tuple[int, int, int]:
    """``(sign, odd, shift)`` with ``value == sign * (odd << shift)`` and ``odd`` positive and odd;
    ``value`` must not be 0."""
    if value == 0:
        raise ValueError("0 has no odd part")
    sign, a = (1, value) if value > 0 else (-1, -value)
    shift = (a & -a).bit_length() - 1
    return sign, a >> shift, shift


@dataclass(frozen=True)
class Adder:
    """One adder of a :class:`ShiftAddGraph`: ``c << k == a_sign * (a << a_shift) + b_sign *
    (b << b_shift)``; ``a``, ``b``, ``c`` are odd multiples (``1``: the input itself). The
    hardware keeps the sum's bits from ``k`` up (exact: the ``k`` low bits are 0)."""
    c: int
    k: int
    a: int
    a_shift: int
    a_sign: int
    b: int
    b_shift: int
    b_sign: int


class ShiftAddGraph:
    """The odd multiples ``c * x`` of one input ``x`` (of :class:`~rnnrtl.fixed.IntType`
    ``x_type``) that ``constants`` (any integers; their odd parts are built) need, as adders (see
    the module docstring). ``adders`` are in build order (an adder's operands come before it);
    ``depth[c]`` is the adders on the longest path from ``x`` to ``c * x`` (0 for ``x``)."""

    def __init__(self, constants, x_type: IntType):
        self.x_type = x_type
        self.adders: list[Adder] = []
        self.depth = {1: 0}
        odd = sorted({odd_part(int(w))[1] for w in constants if w != 0},
                     key=lambda c: (len(csd_digits(c)), c))
        for c in odd:
            self._build(c)

    def _build(self, c: int):
        if c in self.depth:
            return
        digits = sorted(csd_digits(c), reverse=True)        # most significant first
        # No deeper than the balanced tree of its digits (so a reuse-1 product's adders stay
        # few between registers however the constants chain).
        best = self._one_adder(c, (len(digits) - 1).bit_length())
        if best is None:
            half = (len(digits) + 1) // 2
            hi = sum(s << k for k, s in digits[:half])
            lo = sum(s << k for k, s in digits[half:])
            hs, h, hk = odd_part(hi)
            ls, low, lk = odd_part(lo)
            self._build(h)
            self._build(low)
            best = Adder(c, 0, h, hk, hs, low, lk, ls)
        self.adders.append(best)
        self.depth[c] = 1 + max(self.depth[best.a], self.depth[best.b])

    def _one_adder(self, c: int, limit: int) -> Adder | None:
        """The shallowest adder ``c = ±(a << k) ± (b << s)`` of two built multiples at most
        ``limit`` adders deep, or None."""
        best, best_depth = None, limit + 1
        built = self.depth
        top = c.bit_length() + 1
        for b, db in sorted(built.items(), key=lambda t: t[1]):
            if db + 1 >= best_depth:
                break                                   # sorted by depth: nothing shallower
            for s in range(top + 1):
                bs = b << s
                for r, b_sign, a_sign in ((c - bs, 1, 1), (c + bs, -1, 1), (bs - c, 1, -1)):
                    if r <= 0:
                        continue
                    _, a, k = odd_part(r)
                    if a in built:
                        d = 1 + max(built[a], db)
                        if d < best_depth:
                            best, best_depth = Adder(c, 0, a, k, a_sign, b, s, b_sign), d
        return best

    def adder_width(self, adder: Adder) -> int:
        """Bits of ``adder``'s sum (``(c << k) * x`` at its exact range)."""
        v = adder.c << adder.k
        lo, hi = self.x_type.min_value, self.x_type.max_value
        return IntType.for_range(min(v * lo, v * hi, 0), max(v * lo, v * hi, 0), 0, True).width

    def adder_bits(self, adder: Adder) -> int:
        """LUT bits of ``adder``: its width less the low bits one operand's shift passes through."""
        return self.adder_width(adder) - min(adder.a_shift, adder.b_shift)

    def multiple_width(self, c: int) -> int:
        """Bits of the odd multiple ``c * x`` (``x`` itself: its width, one more if unsigned)."""
        if c == 1:
            return self.x_type.width + (not self.x_type.signed)
        adder = next(a for a in self.adders if a.c == c)
        return self.adder_width(adder) - adder.k

    def register_bits(self, needed, last: int) -> int:
        """Flip-flops of the pipelined graph (every adder's sum registered) whose multiples
        ``needed`` are all read in cycle ``last``: the sums, and one delay line per multiple as
        long as its latest reader is late (keep in sync with :func:`rnnrtl.hw.constmul.odd_multiples`
        and :func:`~rnnrtl.hw.constmul.constant_segments`)."""
        latest = {c: last for c in needed}
        for a in self.adders:
            for op in (a.a, a.b):
                latest[op] = max(latest.get(op, 0), self.depth[a.c] - 1)
        bits = sum(self.adder_width(a) for a in self.adders)
        for c, cycle in latest.items():
            bits += max(0, cycle - self.depth[c]) * self.multiple_width(c)
        return bits

    @property
    def max_depth(self) -> int:
        return max(self.depth.values())


class ConstMulPlan:
    """The shift-add plan of a matrix's constant products: one :class:`ShiftAddGraph` per group.

    ``groups``: lists of integer weights, each group's products on one input of type ``x_type``
    (a column at reuse 1; a multiplier's block at reuse > 1, then ``select`` is True: each
    group's product is picked among its distinct weights' by a multiplexer).
    """

    def __init__(self, groups, x_type: IntType, *, select: bool = False):
        self.x_type = x_type
        self.select = select
        self.groups = [list(map(int, g)) for g in groups]
        self.graphs = [ShiftAddGraph(g, x_type) for g in self.groups]

    @property
    def depth(self) -> int:
        """Adders on the longest path from an input to a product (0: every product a wire)."""
        return max((g.max_depth for g in self.graphs), default=0)

    def needed(self, g: int) -> set:
        """The odd multiples group ``g``'s products read."""
        return {odd_part(w)[1] for w in self.groups[g] if w != 0}

    def stages(self, pipelined: bool) -> int:
        """Cycles a reuse-1 plan adds to a MatVec's latency: none when its adders are
        combinational (its products land in the registers that took a DSP's), else one per adder
        level past the first (keep in sync with :func:`rnnrtl.hw.constmul.constant_segments`)."""
        return max(self.depth, 1) - 1 if pipelined and not self.select else 0

    def register_bits(self, pipelined: bool, registered: bool = True) -> int:
        """Flip-flops the plan adds at reuse 1: each column's multiples registered once (the
        *term registers*), or with ``pipelined`` every adder's sum and the delay lines that align
        the multiples; 0 with ``select`` (the multiplier's own product register holds it) or
        without term registers (``registered`` False, not ``pipelined``)."""
        if self.select or not (registered or pipelined):
            return 0
        if not pipelined:
            return sum(g.multiple_width(c) for i, g in enumerate(self.graphs)
                       for c in self.needed(i))
        last = 1 + self.stages(True)
        return sum(g.register_bits(self.needed(i), last) for i, g in enumerate(self.graphs))

    def cost(self, pipelined: bool = False, registered: bool = True) -> dict:
        """The cost model: ``adders``, ``adder_bits`` (the LUT estimate), ``adder_widths``
        (width -> adders of that width), ``depth``, ``stages`` and ``register_bits`` (the
        pipeline's: :meth:`stages`, :meth:`register_bits`), the products by kind (``zero``;
        ``wire``: ±2^k; ``shift_add``: others) and, with ``select``, ``mux_inputs`` (the
        multiplexers' inputs, one per distinct weight of a block)."""
        widths = {}
        bits = 0
        for g in self.graphs:
            for a in g.adders:
                w = g.adder_width(a)
                widths[w] = widths.get(w, 0) + 1
                bits += g.adder_bits(a)
        flat = [w for g in self.groups for w in g]
        zero = sum(1 for w in flat if w == 0)
        wire = sum(1 for w in flat if w != 0 and odd_part(w)[1] == 1)
        out = {"adders": sum(widths.values()), "adder_bits": bits,
               "adder_widths": {str(k): widths[k] for k in sorted(widths)},
               "depth": self.depth, "stages": self.stages(pipelined),
               "register_bits": self.register_bits(pipelined, registered),
               "products": len(flat), "zero": zero, "wire": wire,
               "shift_add": len(flat) - zero - wire}
        if self.select:
            out["mux_inputs"] = sum(len(set(g)) for g in self.groups)
        return out


def column_groups(w_rows) -> list[list[int]]:
    """The groups of a matrix (rows of integer weights) at reuse 1: its columns."""
    return [list(col) for col in zip(*w_rows)]


def block_groups(w_rows, reuse: int) -> list[list[int]]:
    """The groups at reuse ``R``: blocks of ``R`` consecutive products in row-major order
    (:class:`~rnnrtl.hw.matvec_plan.MatVecPlan`'s multipliers)."""
    flat = [w for row in w_rows for w in row]
    return [flat[k:k + reuse] for k in range(0, len(flat), reuse)]


def matrix_plan(w_rows, x_type: IntType, reuse: int) -> ConstMulPlan:
    """The :class:`ConstMulPlan` of a matrix (rows of integer weights) at reuse ``reuse``."""
    if reuse == 1:
        return ConstMulPlan(column_groups(w_rows), x_type)
    return ConstMulPlan(block_groups(w_rows, reuse), x_type, select=True)


def choose(kind: str, w_rows, x_type: IntType, reuse: int) -> str:
    """The multiplier kind (``dsp`` or ``lut``) a matrix is built with under setting ``kind``.

    ``dsp`` and ``lut`` are themselves. ``auto`` is ``lut`` when ``reuse`` is 1 and the matrix's
    shift-add plan costs at most :data:`AUTO_BITS_PER_DSP` adder bits per product that would need
    a DSP (not zero, not ±2^k; a matrix without any is ``lut``: it needs no adder), else ``dsp``:
    narrow or sparse weights go to LUTs, wide dense ones to DSPs, and time-shared multipliers
    (reuse > 1) stay DSPs."""
    if kind in ("dsp", "lut"):
        return kind
    if kind != "auto":
        raise ValueError(f"multiplier {kind!r}; valid: {', '.join(MULTIPLIERS)}")
    if reuse != 1:
        return "dsp"
    return _auto(tuple(tuple(int(w) for w in row) for row in w_rows), x_type)


@lru_cache(maxsize=256)
def _auto(w_rows, x_type):
    """``choose("auto", ...)`` at reuse 1 (cached: the schedule's counts and the hardware both
    ask for each matrix)."""
    cost = matrix_plan(w_rows, x_type, 1).cost()
    return "lut" if cost["adder_bits"] <= AUTO_BITS_PER_DSP * cost["shift_add"] else "dsp"
