"""Activation functions and lookup-table geometry: how a table is filled and how it is indexed.

Both consumers take their numbers from here: the emulator indexes tables with
:meth:`TableGeometry.index`, the hardware with :meth:`TableGeometry.index_value`, and both read the
same integer :attr:`Table.contents` stored in the IR.

A table of ``size`` entries (a power of two) covers the input interval ``[-range, range)``; with an
input code of ``in_frac`` fractional bits the index is

    index = clamp(round(code * 2**-shift) + offset, 0, size - 1)

with ``shift = log2(2 * range / size) + in_frac`` and ``offset = size / 2`` — a shift (a bit slice
in hardware) and an add, no multiplier. ``round`` is floor (rnnrtl's default: each entry covers one
aligned bin of codes) or truncation toward zero (hls4ml's formula). Entries are the function
sampled at the middle of the codes their bin holds (``sample="center"``, rnnrtl's default, so the
table error is centred on zero) or at the bin's left edge (``sample="left"``, hls4ml's), then
rounded into the table's output format.

A table whose contents are a *clipped ramp* — ``clip(((index << up) + add) >> down, lo, hi)`` for
every index, a slope of a power of two (HGQ2's hard sigmoid and hard tanh are: a quantizer is a
rounding shift and a saturation) — is :meth:`Table.ramp`; the hardware may compute it as that
logic instead of reading a ROM (:class:`Ramp`: its numpy half and its Amaranth half, checked
against every entry of the contents when found).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .fixed import FixedFormat, FixedPointError, Rounding, requantize, shift_round, shift_round_value

__all__ = ["FUNCTIONS", "TABLE_FUNCTIONS", "PIECEWISE_FUNCTIONS", "TableGeometry", "Table", "Ramp",
           "SoftmaxTable", "keras_activation"]


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _hard_sigmoid(x):
    # Keras 3: relu6(x + 3) / 6
    return np.clip(np.asarray(x, dtype=np.float64) / 6.0 + 0.5, 0.0, 1.0)


#: Float reference of every activation rnnrtl accepts (Keras 3 definitions).
FUNCTIONS = {
    "linear": lambda x: np.asarray(x, dtype=np.float64),
    "relu": lambda x: np.maximum(np.asarray(x, dtype=np.float64), 0.0),
    "sigmoid": _sigmoid,
    "tanh": lambda x: np.tanh(np.asarray(x, dtype=np.float64)),
    "hard_sigmoid": _hard_sigmoid,
    "softmax": None,  # across a vector; see the emulator
}
#: Activations computed by a lookup table.
TABLE_FUNCTIONS = ("sigmoid", "tanh", "hard_sigmoid")
#: Activations computed exactly by requantization (``relu`` clamps negatives to zero first).
PIECEWISE_FUNCTIONS = ("linear", "relu")


def keras_activation(name: str) -> str:
    """Normalise a Keras activation name (``None`` and ``"linear"`` both mean linear)."""
    return "linear" if name in (None, "linear", "identity") else name


@dataclass(frozen=True)
class TableGeometry:
    """How a table is indexed: ``clamp(round(code * 2**-shift) + offset, 0, size - 1)``."""
    size: int
    shift: int
    offset: int
    index_rounding: Rounding = Rounding.TRN

    def __post_init__(self):
        if self.size < 2 or self.size & (self.size - 1):
            raise FixedPointError(f"table size {self.size} must be a power of two >= 2")
        if self.index_rounding not in (Rounding.TRN, Rounding.TRN_ZERO):
            raise FixedPointError("table indexes round by TRN (floor) or TRN_ZERO (hls4ml)")

    @classmethod
    def for_range(cls, *, size: int, half_range: float, in_frac: int,
                  index_rounding: Rounding = Rounding.TRN) -> "TableGeometry":
        """A table of ``size`` entries over ``[-half_range, half_range)`` for codes with ``in_frac``
        fractional bits. ``2 * half_range / size`` must be a power of two."""
        if size < 2 or size & (size - 1):
            raise FixedPointError(f"table size {size} is not a power of two; valid: 16, 32, ..., 65536")
        step = 2.0 * half_range / size
        log_step = math.log2(step) if step > 0 else float("nan")
        if not log_step == int(log_step):
            raise FixedPointError(
                f"table range ±{half_range} over {size} entries gives a bin of {step}, not a power of "
                "two; use a power-of-two range (e.g. 4 or 8)")
        return cls(size, int(log_step) + in_frac, size // 2, Rounding(index_rounding))

    @property
    def index_bits(self) -> int:
        return self.size.bit_length() - 1

    def index(self, codes):
        """numpy: the table index of each input code."""
        if self.shift >= 0 and self.index_rounding is Rounding.TRN:
            # floor((c + off·2^s) / 2^s) = floor(c / 2^s) + off: one pass fewer, same integers.
            idx = (np.asarray(codes, dtype=np.int64) + (self.offset << self.shift)) >> self.shift
        else:
            idx = shift_round(codes, self.shift, self.index_rounding) + self.offset
        return np.clip(idx, 0, self.size - 1, out=idx)

    def index_value(self, value):
        """Amaranth: the table index of ``value`` (a signed code), shape ``unsigned(index_bits)``."""
        from amaranth.hdl import Cat, Mux
        n = self.index_bits
        if self.index_rounding is Rounding.TRN and self.shift >= 0 and self.offset == self.size // 2:
            # floor(code / 2^shift) is a bit slice t; t + size/2 in range is t with its bit n-1
            # inverted, and t is in range iff its bits from n-1 up are all equal: no adder.
            t = value.as_signed()[self.shift:] if self.shift < len(value) else value.as_signed()[-1]
            if len(t) < n:
                t = Cat(t, t[-1].replicate(n - len(t)))
            top = t[n - 1:]
            in_range = (top == 0) | (top == (1 << len(top)) - 1)
            return Mux(in_range, Cat(t[:n - 1], ~t[n - 1]), Mux(t[-1], 0, self.size - 1))
        idx = shift_round_value(value, self.shift, self.index_rounding) + self.offset
        clamped = Mux(idx < 0, 0, Mux(idx > self.size - 1, self.size - 1, idx))
        return clamped[:self.index_bits]

    def sample_points(self, in_frac: int, sample: str):
        """The input value (float) each entry is computed at."""
        i = np.arange(self.size, dtype=np.float64) - self.offset
        lo = np.ldexp(i, self.shift)  # first code of each bin, in code units (exact)
        if sample == "left":
            x = lo
        elif sample == "center":
            if self.index_rounding is not Rounding.TRN:
                raise FixedPointError("centre sampling needs floor indexing")
            width = 2.0 ** self.shift if self.shift >= 0 else 1.0
            x = lo + (width - 1.0) / 2.0
        else:
            raise FixedPointError(f"unknown table sampling {sample!r}; valid: 'center', 'left'")
        return np.ldexp(x, -in_frac)


@dataclass
class Table:
    """A filled activation table: geometry, output format and integer contents."""
    function: str
    in_frac: int
    geometry: TableGeometry
    out_fmt: FixedFormat
    sample: str = "center"
    contents: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        if self.function not in TABLE_FUNCTIONS:
            raise FixedPointError(f"no table for {self.function!r}; tables exist for {TABLE_FUNCTIONS}")
        if self.contents is None:
            x = self.geometry.sample_points(self.in_frac, self.sample)
            self.contents, _ = self.out_fmt.quantize(FUNCTIONS[self.function](x))
        self.contents = np.asarray(self.contents, dtype=np.int64)

    def lookup(self, codes):
        """numpy: table output codes for input codes."""
        return self.contents[self.geometry.index(codes)]

    def ramp(self) -> Ramp | None:
        """The clipped ramp equal to the contents on every index (:class:`Ramp`), or ``None``."""
        return Ramp.of(self.contents)


@dataclass(frozen=True)
class Ramp:
    """``clip(((index << up) + add) >> down, lo, hi)`` (``>>`` floors; ``up`` or ``down`` is 0):
    the contents of a table that is a clipped ramp of slope ``2^(up - down)``, as
    :meth:`Table.ramp` finds it."""
    up: int
    down: int
    add: int
    lo: int
    hi: int

    def apply(self, index):
        """numpy: the ramp at each table index."""
        v = (np.asarray(index, dtype=np.int64) << self.up) + self.add
        return np.clip(v >> self.down, self.lo, self.hi)

    def value(self, index, share=None):
        """Amaranth: the ramp at ``index`` (an unsigned table index): an adder of a constant, a
        bit slice and the clip's two comparisons. ``share(value, role)`` (as
        :func:`rnnrtl.fixed.saturate_value`'s) names the value the clip reads three times."""
        from amaranth.hdl import Const, Mux
        v = (index.as_unsigned().shift_left(self.up) + Const(self.add)).as_signed()
        v = v.shift_right(self.down) if self.down < len(v) else v[-1].replicate(1).as_signed()
        if share is not None:
            v = share(v, "ramp")
        return Mux(v < self.lo, self.lo, Mux(v > self.hi, self.hi, v))

    @classmethod
    def of(cls, contents) -> "Ramp | None":
        """The ramp equal to ``contents`` on every index, or ``None``: non-decreasing contents
        that rise from their first entry to their last along one power-of-two slope."""
        c = np.asarray(contents, dtype=np.int64)
        n = len(c)
        lo, hi = int(c[0]), int(c[-1])
        if n < 2 or lo >= hi or np.any(np.diff(c) < 0):
            return None
        first = int(np.argmax(c > lo))           # the first entry above the low end
        index = np.arange(n, dtype=np.int64)
        for up, down in [(0, k) for k in range(n.bit_length())] + \
                [(k, 0) for k in range(1, hi - lo + 1) if k < 63]:
            ramp = cls(up, down, (int(c[first]) << down) - (first << up), lo, hi)
            if np.array_equal(ramp.apply(index), c):
                return ramp
            if (1 << up) > hi - lo:
                break
        return None


@dataclass
class SoftmaxTable:
    """An integer softmax from two lookup tables, as hls4ml 1.3 computes it (``numerics: hls4ml``).

    Everything is integer and held here; ``docs/hls4ml.md`` ("Softmax") gives the operation order:

    1. ``stable``: ``d = q_norm(max(x) - x)`` (``norm_fmt``, hls4ml's ``inp_norm_t``); ``latency``: ``d = x``.
    2. ``e = q_accum(exp_contents[top(d, exp_index_bits)])`` where ``top(v, n)`` is the top ``n`` bits
       of ``v``'s ``W``-bit two's complement code read as an unsigned number (``code mod 2^W >> W-n``).
    3. ``s = q_inv_in(tree_sum(e))``: a balanced binary tree (hls4ml's ``reduce``: the left part
       takes the largest power of two below ``n``), every partial sum requantized into ``accum_fmt``.
    4. ``out_i = q_out(e_i * inv_contents[top(s, inv_index_bits)])`` (the product is exact).

    ``argmax`` outputs 1 at the first maximum, 0 elsewhere (no tables).
    """
    implementation: str                 # "stable" | "latency" | "argmax"
    in_fmt: FixedFormat                 # the logits' format (hls4ml's data_T)
    out_fmt: FixedFormat                # the probabilities' format (res_T)
    norm_fmt: FixedFormat | None = None  # stable only: format of max(x) - x
    exp_index_bits: int = 0
    exp_fmt: FixedFormat | None = None   # format of exp_contents (exp_table_t)
    exp_contents: np.ndarray = field(default=None, repr=False)
    accum_fmt: FixedFormat | None = None  # format of each e and of every partial sum (accum_t)
    inv_in_fmt: FixedFormat | None = None  # the sum's format, addressing inv (inv_inp_t)
    inv_index_bits: int = 0
    inv_fmt: FixedFormat | None = None   # format of inv_contents (inv_table_t)
    inv_contents: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        if self.implementation not in ("stable", "latency", "argmax"):
            raise FixedPointError(f"softmax implementation {self.implementation!r}: valid: stable, "
                                  "latency, argmax")
        if self.implementation != "argmax":
            self.exp_contents = np.asarray(self.exp_contents, dtype=np.int64)
            self.inv_contents = np.asarray(self.inv_contents, dtype=np.int64)
            addr = self.norm_fmt if self.implementation == "stable" else self.in_fmt
            for n, fmt, contents in ((self.exp_index_bits, addr, self.exp_contents),
                                     (self.inv_index_bits, self.inv_in_fmt, self.inv_contents)):
                if not 1 <= n <= fmt.width or len(contents) != 1 << n:
                    raise FixedPointError(f"softmax table of {len(contents)} entries addressed by "
                                          f"{n} top bits of {fmt}: need 1 <= bits <= width and "
                                          "2**bits entries")

    @staticmethod
    def top_bits(codes, fmt: FixedFormat, bits: int):
        """The top ``bits`` bits of ``codes`` (``fmt``'s W-bit two's complement) as an index."""
        return (np.asarray(codes, dtype=np.int64) & ((1 << fmt.width) - 1)) >> (fmt.width - bits)

    def _tree_sum(self, e):
        n = e.shape[-1]
        if n == 1:
            return e[..., 0]
        left = 1 << ((n - 1).bit_length() - 1) if n > 2 else 1
        a, b = self._tree_sum(e[..., :left]), self._tree_sum(e[..., left:])
        return requantize(a + b, self.accum_fmt.frac_bits, self.accum_fmt)[0]

    def apply(self, codes):
        """numpy: output codes (``out_fmt``) for logit codes (``in_fmt``) along the last axis."""
        x = np.asarray(codes, dtype=np.int64)
        if self.implementation == "argmax":
            one, _ = requantize(np.ones(1, dtype=np.int64), 0, self.out_fmt)
            hot = np.arange(x.shape[-1]) == x.argmax(axis=-1)[..., None]
            return np.where(hot, one[0], 0).astype(np.int64)
        if self.implementation == "stable":
            d, _ = requantize(x.max(axis=-1, keepdims=True) - x, self.in_fmt.frac_bits, self.norm_fmt)
            addr = self.norm_fmt
        else:
            d, addr = x, self.in_fmt
        e, _ = requantize(self.exp_contents[self.top_bits(d, addr, self.exp_index_bits)],
                          self.exp_fmt.frac_bits, self.accum_fmt)
        s, _ = requantize(self._tree_sum(e), self.accum_fmt.frac_bits, self.inv_in_fmt)
        inv = self.inv_contents[self.top_bits(s, self.inv_in_fmt, self.inv_index_bits)]
        out, _ = requantize(e * inv[..., None], self.accum_fmt.frac_bits + self.inv_fmt.frac_bits,
                            self.out_fmt)
        return out
