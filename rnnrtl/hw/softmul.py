"""``soft_product``: a product of two variables built from adders in the fabric, not a DSP.

A cell's elementwise products (LSTM ``f·c``, ``i·g``, ``o·tanh(c)``; GRU ``r·h``, ``z·h``,
``(1−z)·hh``) have two variable operands, so they are ``*`` operators that synthesis maps to DSPs
(one each: 60 of an ECP5-85F's 156 for the jet LSTM(20)). With ``multiplier_elementwise: lut``
they are this instead, and the DSPs are left to the matrix products.

Numerics: exact. The result is the integer ``x * y`` (the same integers as ``*``), so the emulator
and the rest of the datapath are unchanged.

Construction: radix-4 Booth. The narrower operand ``y`` (made signed, of even width ``n``) is
recoded into ``n / 2`` digits ``d_k = −2·y[2k+1] + y[2k] + y[2k−1]`` in ``{−2 … 2}`` (``y[−1] = 0``),
so ``x·y = Σ d_k·x·4^k``. Each partial product is a multiplexer of ``x`` and ``2x`` (no adder),
inverted for a negative digit: ``~M = −M − 1``; the ``+1`` of every negative digit is gathered
in one more term, a bit per digit (``Σ neg_k·4^k``: wiring). The ``n / 2 + 1`` terms are summed
by balanced trees of two-input adders whose partial sums are kept signals
(:func:`~rnnrtl.hw.adder_tree.group_sum`: one carry chain each), sized from the terms' ranges so
nothing wraps.

Timing: ``stages`` register levels inside the sum (0: all combinational). With ``stages`` = s the
terms are summed in ``s + 1`` levels of groups of ``fanin`` terms, the smallest fan-in that needs
no more levels (:func:`soft_product_fanin`); every level but the last ends in registers that load
every cycle (no reset, no enable), and the last level is combinational into the caller's register.
So the product of ``x`` and ``y`` read in cycle ``c`` is the returned value in cycle ``c + s``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value, signed

from .adder_tree import group_sum, summed, tree_stages
from .common import register_bank

__all__ = ["soft_product", "booth_terms", "soft_product_fanin"]


def _as_signed(value):
    """``value`` as a signed value of the same integers (one more bit when it is unsigned)."""
    value = Value.cast(value)
    if value.shape().signed:
        return value
    return Cat(value, Const(0, 1)).as_signed()


def booth_terms(x, y):
    """The radix-4 Booth terms of ``x * y`` (module docstring): a list of ``(value, lo, hi)``,
    whose sum is ``x * y``, ``lo`` and ``hi`` bounding each term's integers."""
    x, y = _as_signed(x), _as_signed(y)
    if len(y) % 2:
        y = Cat(y, y[-1]).as_signed()          # sign-extended to an even width
    terms, negs = [], []
    for k in range(len(y) // 2):
        b0 = y[2 * k - 1] if k else Const(0, 1)
        b1, b2 = y[2 * k], y[2 * k + 1]
        one = b1 ^ b0
        two = (b2 & ~b1 & ~b0) | (~b2 & b1 & b0)
        mag = Mux(one, x, Mux(two, x.shift_left(1), 0))          # |d| · x, signed
        term = Mux(b2, ~mag, mag)                                # ~mag = −mag − 1
        lo_m, hi_m = -(1 << (len(mag) - 1)), (1 << (len(mag) - 1)) - 1
        scale = 1 << (2 * k)
        terms.append((term.shift_left(2 * k), lo_m * scale, hi_m * scale))
        negs += [b2, Const(0, 1)]
    correction = Cat(*negs[:-1])                # Σ neg_k · 4^k, unsigned
    terms.append((correction, 0, (1 << len(correction)) - 1))
    return terms


def soft_product_fanin(terms: int, stages: int) -> int:
    """The smallest group size that sums ``terms`` terms in ``stages + 1`` levels."""
    fanin = 2
    while tree_stages(terms, fanin) > stages + 1:
        fanin += 1
    return fanin


def soft_product(m, x, y, name: str, *, stages: int = 0):
    """``x * y`` (Amaranth values, signed or unsigned) built from adders in module ``m``; the
    value returned is the product of the operands of ``stages`` cycles before (module docstring).
    Signals are named ``<name>_…``."""
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
        raise ValueError(f"stages {stages!r} is out of range; valid: an integer >= 0")
    x, y = Value.cast(x), Value.cast(y)
    if len(y) > len(x):
        x, y = y, x                             # Booth digits of the narrower operand
    terms = booth_terms(x, y)
    fanin = soft_product_fanin(len(terms), stages)
    for stage in range(stages):
        groups = [terms[g:g + fanin] for g in range(0, len(terms), fanin)]
        sums = [group_sum(m, group, f"{name}_s{stage}_{j}", True) for j, group in enumerate(groups)]
        ranges = [summed(group) for group in groups]
        regs = register_bank(m, sums, [t.width for _, _, t in ranges], f"{name}_r{stage}")
        terms = [(reg, lo, hi) for reg, (lo, hi, _) in zip(regs, ranges)]
    return group_sum(m, terms, f"{name}_s{stages}", True)
