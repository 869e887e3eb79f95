"""Fixed-point formats and every requantization rule, in a numpy half and an Amaranth half.

A :class:`FixedFormat` is ``ap_fixed<W, I>``-style: ``W`` total bits, ``I`` integer bits *including*
the sign bit when signed, so a value is ``code * 2**-(W - I)`` with ``code`` a W-bit integer.

Every change of format after quantization is a :func:`requantize`: an integer ``code`` with ``src_frac``
fractional bits becomes a code of ``dst``. It is done in two steps, identical in both halves:

1. *Rounding*, when ``shift = src_frac - dst.frac_bits > 0``: ``(code + k) >> shift`` (arithmetic
   shift, i.e. floor division by ``2**shift``) where the correction ``k`` depends on the rounding mode,
   on the sign of ``code`` and, for round-to-nearest-even, on bit ``shift`` of ``code``
   (see :func:`_rounding_correction`). When ``shift <= 0`` the code is shifted left, exactly.
2. *Overflow* into ``[dst.min_code, dst.max_code]``: saturate (to the nearest bound), saturate
   symmetrically (``min_code = -max_code``), saturate to zero, or wrap (keep the low ``W`` bits and
   sign-extend).

The numpy half (:func:`requantize`) works on ``int64`` arrays; widths are checked so that every
intermediate is exact in ``int64`` — a wider request raises :class:`FixedPointError` instead of
wrapping silently. The Amaranth half (:func:`requantize_value`) builds the same arithmetic as a
combinational expression. ``tests/test_fixed.py`` ties the two together exhaustively on small widths.

Float → code conversion (:meth:`FixedFormat.quantize`) is the only place floats are rounded; it is
used for weights, inputs and table contents, never inside the datapath.

One concept, hence past ~400 lines: the formats and their requantization rules, each rule's numpy
and Amaranth halves side by side so they cannot drift apart (they share :func:`_rounding_correction`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import numpy as np

from .errors import FixedPointError

__all__ = [
    "FixedPointError", "Rounding", "Overflow", "FixedFormat", "IntType",
    "requantize", "requantize_value", "requantize_through", "requantize_through_value",
    "requantize_through_rounded", "saturate_value", "shift_round", "shift_round_value",
    "INT64_SAFE_BITS", "shift_round_params", "requantize_params", "requantize_code", "requantize_bounds",
]

#: Widest signed intermediate (in bits) the numpy half computes exactly.
INT64_SAFE_BITS = 62


class Rounding(enum.Enum):
    """Rounding modes, named as in Xilinx ``ap_fixed``."""
    TRN = "TRN"                  # toward -inf (floor); ap_fixed's default
    TRN_ZERO = "TRN_ZERO"        # toward zero
    RND = "RND"                  # to nearest, ties toward +inf (round half up)
    RND_ZERO = "RND_ZERO"        # to nearest, ties toward zero
    RND_MIN_INF = "RND_MIN_INF"  # to nearest, ties toward -inf
    RND_INF = "RND_INF"          # to nearest, ties away from zero
    RND_CONV = "RND_CONV"        # to nearest, ties to even (convergent)


class Overflow(enum.Enum):
    """Overflow modes, named as in Xilinx ``ap_fixed``."""
    WRAP = "WRAP"          # keep the low W bits (two's complement wrap-around); ap_fixed's default
    SAT = "SAT"            # saturate to the nearest bound
    SAT_ZERO = "SAT_ZERO"  # an overflowing value becomes zero
    SAT_SYM = "SAT_SYM"    # saturate, signed range made symmetric (min = -max)


_SYNTAX = ("accepted syntax: fixed<W,I>, ufixed<W,I>, ap_fixed<W,I[,Q[,O[,0]]]>, "
           "ap_ufixed<W,I[,Q[,O[,0]]]> with 1 <= W <= 48, Q one of "
           + ", ".join("AP_" + r.value for r in Rounding)
           + " and O one of " + ", ".join("AP_" + o.value for o in Overflow)
           + "; e.g. 'fixed<16,6>', 'ufixed<8,0>', 'ap_fixed<16,6,AP_RND,AP_SAT>'")

_FORMAT_RE = re.compile(
    r"^\s*(?P<kind>ap_fixed|ap_ufixed|fixed|ufixed)\s*<\s*(?P<w>-?\d+)\s*,\s*(?P<i>-?\d+)\s*"
    r"(?:,\s*(?P<q>[A-Za-z_]+)\s*(?:,\s*(?P<o>[A-Za-z_]+)\s*(?:,\s*(?P<n>\d+)\s*)?)?)?>\s*$")

#: Widest format accepted; products of two such codes still fit the int64 datapath model.
MAX_WIDTH = 48


@dataclass(frozen=True)
class FixedFormat:
    """A fixed-point number format.

    ``width`` total bits, ``int_bits`` integer bits (including the sign bit when ``signed``); the
    number of fractional bits is ``width - int_bits`` and may exceed ``width`` (``int_bits`` < 0).
    ``rounding`` and ``overflow`` apply whenever a value is converted *into* this format.
    """
    width: int
    int_bits: int
    signed: bool = True
    rounding: Rounding = Rounding.RND
    overflow: Overflow = Overflow.SAT

    def __post_init__(self):
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise FixedPointError(f"width {self.width!r} is not supported; {_SYNTAX}")
        if self.signed and self.width < 2:
            raise FixedPointError(f"a signed format needs at least 2 bits, got width {self.width}; {_SYNTAX}")
        if not isinstance(self.int_bits, int) or abs(self.int_bits) > 64:
            raise FixedPointError(f"integer bits {self.int_bits!r} out of range -64..64; {_SYNTAX}")
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        object.__setattr__(self, "overflow", Overflow(self.overflow))

    # -- parsing and printing --------------------------------------------------------------------

    @classmethod
    def parse(cls, text, *, rounding=Rounding.RND, overflow=Overflow.SAT) -> "FixedFormat":
        """Parse ``fixed<W,I>``, ``ufixed<W,I>`` or ``ap_[u]fixed<W,I[,AP_Q[,AP_O]]>``.

        ``fixed``/``ufixed`` without modes take ``rounding``/``overflow`` (rnnrtl's defaults: round
        half up, saturate). ``ap_fixed`` without modes has Xilinx's defaults (``AP_TRN``,
        ``AP_WRAP``), so an hls4ml precision string means what it means in hls4ml.
        """
        if isinstance(text, FixedFormat):
            return text
        if not isinstance(text, str):
            raise FixedPointError(f"precision {text!r} is not a string; {_SYNTAX}")
        match = _FORMAT_RE.match(text)
        if match is None:
            raise FixedPointError(f"malformed precision {text!r}; {_SYNTAX}")
        kind = match["kind"]
        signed = kind in ("fixed", "ap_fixed")
        if kind.startswith("ap_"):
            rounding, overflow = Rounding.TRN, Overflow.WRAP
        if match["q"]:
            rounding = _parse_mode(Rounding, match["q"], text)
        if match["o"]:
            overflow = _parse_mode(Overflow, match["o"], text)
        if match["n"] and int(match["n"]) != 0:
            # Vivado HLS's ap_fixed<W,I,Q,O,N>: N saturation bits for the AP_WRAP / AP_WRAP_SM
            # overflow modes. rnnrtl's wrap keeps the low W bits only, which is N = 0; honouring
            # N > 0 would need it in both halves of every requantization, so it is refused, never
            # dropped.
            raise FixedPointError(
                f"precision {text!r}: the 5th parameter N = {match['n']} (saturation bits of the "
                "AP_WRAP / AP_WRAP_SM overflow modes) is not supported; rnnrtl wraps by keeping the "
                "low W bits (N = 0): write 0 or leave it out, or use AP_SAT")
        return cls(int(match["w"]), int(match["i"]), signed, rounding, overflow)

    def __str__(self):
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.int_bits},{self.rounding.value},{self.overflow.value}>"

    def to_json(self) -> str:
        return str(self)

    @classmethod
    def from_json(cls, text: str) -> "FixedFormat":
        return cls.parse(text)

    def with_modes(self, rounding=None, overflow=None) -> "FixedFormat":
        return FixedFormat(self.width, self.int_bits, self.signed,
                           self.rounding if rounding is None else rounding,
                           self.overflow if overflow is None else overflow)

    # -- ranges ----------------------------------------------------------------------------------

    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    @property
    def min_code(self) -> int:
        if not self.signed:
            return 0
        if self.overflow is Overflow.SAT_SYM:
            return -(1 << (self.width - 1)) + 1
        return -(1 << (self.width - 1))

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def int_type(self) -> "IntType":
        return IntType(self.width, self.signed, self.frac_bits)

    @property
    def step(self) -> float:
        return 2.0 ** -self.frac_bits

    def to_float(self, codes):
        """Codes of this format as float64 values (exact)."""
        return np.ldexp(np.asarray(codes, dtype=np.float64), -self.frac_bits)

    def quantize(self, values):
        """Round float ``values`` into codes of this format.

        Returns ``(codes, overflows)``: an ``int64`` array and how many values were out of range
        (saturated or wrapped). Scaling by ``2**frac`` is exact in float64; only the final rounding
        to an integer is a float operation, done with this format's rounding mode.
        """
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise FixedPointError(f"cannot quantize non-finite values into {self}")
        # A tiny value could scale (frac_bits < 0) to a subnormal or to zero, which rounds; its code
        # depends only on its sign (|scaled| stays far below 1/2), so lift it to a normal magnitude
        # that scales exactly: frac_bits >= -63, so 2**-900 scales to at least 2**-963.
        tiny = 2.0 ** -900
        values = np.where((values != 0) & (np.abs(values) < tiny), np.copysign(tiny, values), values)
        with np.errstate(over="ignore"):  # an infinite result overflows any format (see below)
            scaled = np.ldexp(values, self.frac_bits)
        limit = 2.0 ** INT64_SAFE_BITS
        if self.overflow is Overflow.WRAP:
            # Beyond the limit scaled is an integer; wrapping keeps its low bits, so replace it by a
            # value congruent modulo 2**width (fmod is exact) that still overflows. An infinite
            # scaled value stands for a multiple of 2**971, so it is congruent to 0.
            span = 2.0 ** self.width
            big = np.abs(scaled) >= limit
            low = np.fmod(np.where(np.isfinite(scaled), scaled, 0.0), span)
            scaled = np.where(big, low + np.copysign(2 * span, scaled), scaled)
        scaled = np.clip(scaled, -limit, limit)  # anything beyond overflows any format anyway
        floor = np.floor(scaled)
        negative = scaled < 0
        # rem = scaled - floor is not exact for negative scaled (-(0.5 - 2**-54) - -1 rounds to 0.5),
        # so compare it with 1/2 through the fraction of |scaled|, which is exact.
        magnitude = np.abs(scaled)
        frac = magnitude - np.floor(magnitude)  # exact
        inexact = frac > 0                                                   # rem > 0
        tie = frac == 0.5                                                    # rem == 0.5
        above = np.where(negative, inexact & (frac < 0.5), frac > 0.5)      # rem > 0.5
        mode = self.rounding
        if mode is Rounding.TRN:
            up = np.zeros_like(negative)
        elif mode is Rounding.TRN_ZERO:
            up = negative & inexact
        elif mode is Rounding.RND:
            up = above | tie
        elif mode is Rounding.RND_MIN_INF:
            up = above
        elif mode is Rounding.RND_ZERO:
            up = above | (tie & negative)
        elif mode is Rounding.RND_INF:
            up = above | (tie & ~negative)
        else:  # RND_CONV
            odd = np.mod(floor, 2.0) == 1.0
            up = above | (tie & odd)
        codes = floor.astype(np.int64) + up.astype(np.int64)
        return self.fit(codes)

    def fit(self, codes):
        """Apply this format's overflow mode to integer ``codes`` already at its scale.

        Returns ``(codes, overflows)``.
        """
        codes = np.asarray(codes, dtype=np.int64)
        lo, hi = self.min_code, self.max_code
        if codes.size == 0 or (codes.min() >= lo and codes.max() <= hi):
            return codes, 0  # two reductions, no temporaries: the common case in a datapath
        clipped = np.clip(codes, lo, hi)
        over = clipped != codes
        count = int(np.count_nonzero(over))
        if count == 0:
            return codes, 0
        mode = self.overflow
        if mode is Overflow.WRAP:
            mask = (1 << self.width) - 1
            wrapped = codes & mask
            if self.signed:
                wrapped = np.where(wrapped > self.max_code, wrapped - (1 << self.width), wrapped)
            return wrapped, count
        if mode is Overflow.SAT_ZERO:
            return np.where(over, 0, codes), count
        return clipped, count


def _parse_mode(enum_cls, token, text):
    name = token.upper()
    if name.startswith("AP_"):
        name = name[3:]
    try:
        return enum_cls(name)
    except ValueError:
        raise FixedPointError(f"unknown {enum_cls.__name__.lower()} mode {token!r} in {text!r}; "
                              f"{_SYNTAX}") from None


@dataclass(frozen=True)
class IntType:
    """The type of a full-width intermediate: ``width`` bits, ``signed``, ``frac`` fractional bits.

    Used to size hardware signals and to prove the numpy half exact (``width <= INT64_SAFE_BITS``).
    """
    width: int
    signed: bool
    frac: int

    def check_int64(self, what: str) -> "IntType":
        if self.width > INT64_SAFE_BITS:
            raise FixedPointError(
                f"{what} needs a {self.width}-bit intermediate, wider than the {INT64_SAFE_BITS} bits "
                f"computed exactly; use narrower formats")
        return self

    @property
    def min_value(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_value(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __mul__(self, other: "IntType") -> "IntType":
        """The exact (and narrowest) product type."""
        corners = [a * b for a in (self.min_value, self.max_value)
                   for b in (other.min_value, other.max_value)]
        return IntType.for_range(min(corners), max(corners), self.frac + other.frac,
                                 self.signed or other.signed)

    def align(self, frac: int) -> "IntType":
        """This type shifted left to ``frac`` fractional bits (exact)."""
        if frac < self.frac:
            raise FixedPointError("align() only shifts left")
        return IntType(self.width + frac - self.frac, self.signed, frac)

    def sum_of(self, terms: int) -> "IntType":
        """The exact (and narrowest) type of a sum of ``terms`` values of this type."""
        terms = max(terms, 1)
        return IntType.for_range(terms * self.min_value, terms * self.max_value, self.frac, self.signed)

    @staticmethod
    def join(*types: "IntType") -> "IntType":
        """The exact type of a sum of one value of each type, aligned to the finest fraction."""
        frac = max(t.frac for t in types)
        signed = any(t.signed for t in types)
        hi = sum(max(t.max_value, 0) << (frac - t.frac) for t in types)
        lo = sum(min(t.min_value, 0) << (frac - t.frac) for t in types)
        return IntType.for_range(lo, hi, frac, signed)

    @staticmethod
    def for_range(lo: int, hi: int, frac: int, signed: bool | None = None) -> "IntType":
        """The narrowest type holding every integer in ``[lo, hi]``."""
        if signed is None:
            signed = lo < 0
        if signed:
            width = max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1
        else:
            width = max(hi.bit_length(), 1)
        return IntType(width, signed, frac)


# -- rounding: one rule, two halves ---------------------------------------------------------------

def _rounding_correction(mode: Rounding, shift: int, negative, odd):
    """The correction ``k`` for ``(code + k) >> shift`` to round in ``mode``.

    ``negative`` is the sign of the code, ``odd`` is bit ``shift`` of the code (the lowest kept bit).
    Works on numpy booleans and Amaranth values alike (they are only combined with ``+``, ``-`` and
    multiplication by constants). Keep in sync with the float rounding in :meth:`FixedFormat.quantize`.
    """
    half = 1 << (shift - 1)
    mask = (1 << shift) - 1
    if mode is Rounding.TRN:
        return 0
    if mode is Rounding.TRN_ZERO:
        return negative * mask
    if mode is Rounding.RND:
        return half
    if mode is Rounding.RND_MIN_INF:
        return half - 1
    if mode is Rounding.RND_ZERO:
        return half - 1 + negative
    if mode is Rounding.RND_INF:
        return half - 1 + (1 - negative)
    return half - 1 + odd  # RND_CONV


def shift_round(codes, shift: int, mode: Rounding):
    """``codes * 2**-shift`` rounded in ``mode`` (numpy; exact). ``shift <= 0`` shifts left."""
    codes = np.asarray(codes, dtype=np.int64)
    if shift <= 0:
        return codes << -shift
    mode = Rounding(mode)
    # Only compute the sign / kept-bit arrays a mode's correction actually uses.
    negative = (codes < 0).astype(np.int64) if mode in _SIGN_MODES else 0
    odd = ((codes >> shift) & 1) if mode is Rounding.RND_CONV else 0
    return (codes + _rounding_correction(mode, shift, negative, odd)) >> shift


_SIGN_MODES = (Rounding.TRN_ZERO, Rounding.RND_ZERO, Rounding.RND_INF)


def requantize(codes, src_frac: int, dst: FixedFormat):
    """Convert integer ``codes`` with ``src_frac`` fractional bits into ``dst``.

    Returns ``(codes, overflows)``. The caller is responsible for ``codes`` being exact ``int64``
    (their :class:`IntType` checked with :meth:`IntType.check_int64`).
    """
    return dst.fit(shift_round(codes, src_frac - dst.frac_bits, dst.rounding))


def requantize_through(codes, src_frac: int, acc: FixedFormat | None, dst: FixedFormat):
    """A sum requantized *through an accumulator*: into ``acc`` first, then into ``dst`` (a no-op
    when ``dst == acc``); plain :func:`requantize` when ``acc`` is ``None``. This is hls4ml's
    ``accum_t`` sum cast to the point's type (``numerics: hls4ml``, docs/hls4ml.md; the emulator's
    ``_Layer.accumulate``). Returns ``(codes, overflows)`` (both conversions counted)."""
    if acc is None:
        return requantize(codes, src_frac, dst)
    codes, over = requantize(codes, src_frac, acc)
    if dst == acc:
        return codes, over
    codes, more = requantize(codes, acc.frac_bits, dst)
    return codes, over + more


# -- the scalar half, for compiled kernels -------------------------------------------------------
#
# The emulator's compiled step kernels (rnnrtl/emulator_kernels.py) requantize one integer at a
# time. They take the rule from here as plain integers: the rounding correction of
# :func:`_rounding_correction` is affine in the code's sign and kept bit, so three coefficients
# evaluated from it carry any mode; :func:`requantize_code` applies them with the overflow rule of
# :meth:`FixedFormat.fit`. ``tests/test_fixed.py`` ties it to :func:`requantize` exhaustively.

#: Overflow modes as the integers of :func:`requantize_params` (SAT_SYM is SAT with its own bound).
_OVERFLOW_CODE = {Overflow.SAT: 0, Overflow.SAT_SYM: 0, Overflow.SAT_ZERO: 1, Overflow.WRAP: 2}


def shift_round_params(shift: int, mode: Rounding) -> tuple[int, int, int, int]:
    """``(shift, k0, k_neg, k_odd)``: :func:`shift_round`'s correction for ``shift > 0`` is
    ``k0 + k_neg·(code < 0) + k_odd·bit_shift(code)`` (evaluated from :func:`_rounding_correction`);
    all zero when ``shift <= 0`` (a left shift)."""
    if shift <= 0:
        return (shift, 0, 0, 0)
    mode = Rounding(mode)
    k0 = int(_rounding_correction(mode, shift, 0, 0))
    k_neg = int(_rounding_correction(mode, shift, 1, 0)) - k0
    k_odd = int(_rounding_correction(mode, shift, 0, 1)) - k0
    return (shift, k0, k_neg, k_odd)


def requantize_params(src_frac: int, dst: FixedFormat) -> tuple[int, ...]:
    """:func:`requantize` ``(codes, src_frac, dst)`` as nine integers for :func:`requantize_code`:
    :func:`shift_round_params`, then ``lo, hi`` (``dst``'s code range), the overflow mode
    (0 saturate, 1 to zero, 2 wrap), ``dst.width`` and ``dst.signed``."""
    return shift_round_params(src_frac - dst.frac_bits, dst.rounding) + (
        dst.min_code, dst.max_code, _OVERFLOW_CODE[dst.overflow], dst.width, int(dst.signed))


def requantize_code(code, params):
    """One integer ``code`` requantized by ``params`` (:func:`requantize_params`): returns
    ``(code, overflowed)`` (0 or 1), the integers :func:`requantize` gives for that code. Plain
    integer arithmetic that numba compiles as it is (``>>`` is floor division by a power of two on
    Python ints and numba's int64 alike); the caller keeps ``code`` exact in int64."""
    shift, k0, k_neg, k_odd, lo, hi, mode, width, signed = params
    # Branch-free where the data decides (the sign, the kept bit, saturation): a compiled loop
    # then runs without mispredicted branches.
    if shift <= 0:
        y = code << -shift
    else:
        y = (code + k0 + k_neg * (code < 0) + k_odd * ((code >> shift) & 1)) >> shift
    over = int((y < lo) | (y > hi))
    if mode == 0:
        return min(max(y, lo), hi), over
    if over == 0:
        return y, 0
    if mode == 1:
        return 0, 1
    y = y & ((1 << width) - 1)
    if signed != 0 and y > hi:
        y -= 1 << width
    return y, 1


def requantize_bounds(lo: int, hi: int, src_frac: int, dst: FixedFormat) -> tuple[int, int]:
    """Bounds of :func:`requantize` ``(c, src_frac, dst)`` over every integer ``lo <= c <= hi``.

    Rounding by a shift is monotone, so the rounded ends bound every rounded value; when neither
    end overflows, nothing does. When one does, saturation (SAT, SAT_SYM) is monotone too, so the
    results of the ends still bound every result; wrapping or zeroing is not, so then the bounds
    are ``dst``'s whole code range."""
    params = requantize_params(src_frac, dst)
    (a, over_a), (b, over_b) = requantize_code(lo, params), requantize_code(hi, params)
    if not (over_a or over_b) or dst.overflow in (Overflow.SAT, Overflow.SAT_SYM):
        return a, b
    return dst.min_code, dst.max_code


# -- the Amaranth half ----------------------------------------------------------------------------

def shift_round_value(value, shift: int, mode: Rounding):
    """Amaranth half of :func:`shift_round`: a combinational expression (``value`` signed)."""
    from amaranth.hdl import Cat, Const
    if shift <= 0:
        return value << -shift
    width = len(value)
    negative = value[width - 1] if value.shape().signed else Const(0, 1)
    odd = value[shift] if shift < width else (negative if value.shape().signed else Const(0, 1))
    k = _rounding_correction(Rounding(mode), shift, negative.as_unsigned(), odd.as_unsigned())
    if isinstance(k, int):
        if k == 0:
            return value >> shift
        k = Const(k)
    # Widen by one bit so the correction cannot overflow, keeping signedness.
    return (value + Cat(k).as_unsigned()) >> shift


def _unshared(value, role: str):
    """The default ``share`` of the Amaranth half: the expression itself."""
    return value


def _out_of_range_value(value, dst: FixedFormat, share=_unshared):
    """``(value > dst.max_code, value < dst.min_code)`` for a value at least ``dst.width`` bits wide,
    as bit tests rather than magnitude comparisons: a two's complement range is exceeded exactly
    when the bits above it are not all copies of the sign, which is a reduction with no carry chain
    (the comparisons cost two carry chains after the rounding adder's). ``fits`` (read by both
    tests) goes through ``share`` (see :func:`saturate_value`)."""
    from amaranth.hdl import Const
    n, w = len(value), dst.width
    signed_src = value.shape().signed
    sign = value[n - 1] if signed_src else Const(0, 1)
    # ``value`` fits the dst's two's complement (or unsigned) range: the bits above it copy the sign.
    top = w - 1 if dst.signed else w
    upper = value[top:]
    fits = ~(upper.any() & ~upper.all()) if signed_src else ~upper.any()
    if len(upper) == 0:
        fits = Const(1, 1)
    fits = share(fits, "fits")
    too_high = ~sign & ~fits
    too_low = sign & ~fits if dst.signed else sign
    if dst.signed and dst.min_code == -dst.max_code:
        # the symmetric range also excludes -2**(w-1), the one code whose low bits are all zero
        too_low = too_low | (sign & fits & ~value[:w - 1].any())
    return too_high, too_low


def requantize_value(value, src_frac: int, dst: FixedFormat, share=_unshared):
    """Amaranth half of :func:`requantize`.

    Returns ``(code, overflow)``: ``code`` a combinational expression of shape
    ``signed(dst.width)`` / ``unsigned(dst.width)``, ``overflow`` a 1-bit expression that is high
    when the value was saturated or wrapped. It is :func:`saturate_value` of
    :func:`shift_round_value`, which a pipelined circuit may register in between (``share``:
    see :func:`saturate_value`; the rounded value goes through it too).
    """
    shifted = shift_round_value(value, src_frac - dst.frac_bits, dst.rounding)
    return saturate_value(share(shifted, "rounded"), dst, share)


def saturate_value(shifted, dst: FixedFormat, share=_unshared):
    """The overflow half of :func:`requantize_value`: ``(code, overflow)`` of ``shifted`` (a value
    already rounded to ``dst.frac_bits`` fractional bits) in ``dst``'s range and overflow mode.

    ``share(value, role)`` returns a value equal to ``value``: the identity by default; a circuit
    passes a named wire (:func:`rnnrtl.hw.common.wire`), so that the range tests read in several
    places (``fits``, ``high``, ``low``) are emitted once instead of once per read (Amaranth's
    lowering copies an expression for each place it is read). The arithmetic is the same."""
    from amaranth.hdl import Cat, Const, Mux, Shape
    if len(shifted) < dst.width:
        # Extend to the destination width first, so that the slices below keep ``dst.width`` bits.
        is_signed = shifted.shape().signed
        fill = shifted[-1] if is_signed else Const(0, 1)
        shifted = Cat(shifted, fill.replicate(dst.width - len(shifted)))
        shifted = shifted.as_signed() if is_signed else shifted.as_unsigned()
    shape = Shape(dst.width, dst.signed)
    lo, hi = dst.min_code, dst.max_code
    too_high, too_low = _out_of_range_value(shifted, dst, share)
    too_high, too_low = share(too_high, "high"), share(too_low, "low")
    overflow = too_high | too_low
    mode = dst.overflow
    if mode is Overflow.WRAP:
        code = shifted[:dst.width]
        code = code.as_signed() if dst.signed else code.as_unsigned()
    elif mode is Overflow.SAT_ZERO:
        code = Mux(overflow, 0, shifted)
    else:
        code = Mux(too_high, hi, Mux(too_low, lo, shifted))
    if mode is not Overflow.WRAP:
        code = code[:dst.width]
        code = code.as_signed() if dst.signed else code.as_unsigned()
    assert code.shape() == shape
    return code, overflow


def requantize_through_value(value, src_frac: int, acc: FixedFormat | None, dst: FixedFormat):
    """Amaranth half of :func:`requantize_through`: ``(code, overflow)`` as
    :func:`requantize_value` returns them (:func:`saturate_value` of
    :func:`requantize_through_rounded`)."""
    shifted, over = requantize_through_rounded(value, src_frac, acc, dst)
    code, more = saturate_value(shifted, dst)
    return code, over | more


def requantize_through_rounded(value, src_frac: int, acc: FixedFormat | None, dst: FixedFormat,
                               share=_unshared):
    """:func:`requantize_through_value` up to its last saturation: ``(shifted, overflow)``, the
    value rounded to ``dst.frac_bits`` fractional bits (through ``acc`` first, when given) and
    whether that first requantization overflowed; :func:`saturate_value` of ``shifted`` in ``dst``
    completes it. ``share`` (:func:`saturate_value`) serves the requantization into ``acc``; its
    code goes through it as ``acc_code``."""
    from amaranth.hdl import Const
    if acc is not None and dst != acc:
        value, over = requantize_value(value, src_frac, acc, lambda v, role: share(v, f"acc_{role}"))
        value = share(value, "acc_code")
        src_frac = acc.frac_bits
    else:                      # no accumulator, or it is the destination: one requantization
        over = Const(0, 1)
    return shift_round_value(value, src_frac - dst.frac_bits, dst.rounding), over
