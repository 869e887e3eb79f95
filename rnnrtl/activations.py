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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .fixed import FixedFormat, FixedPointError, Rounding, shift_round, shift_round_value

__all__ = ["FUNCTIONS", "TABLE_FUNCTIONS", "PIECEWISE_FUNCTIONS", "TableGeometry", "Table",
           "keras_activation"]


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
        from amaranth.hdl import Mux
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
