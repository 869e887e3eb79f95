"""Tests of ``rnnrtl.fixed``: every requantization rule, in both halves.

Expected values never come from the code under test: an exact oracle written here with
:class:`fractions.Fraction` defines each rounding and overflow mode from its plain-language
definition; the numpy half is compared with the oracle, and the Amaranth half is compared with the
numpy half exhaustively (every code of small sources) in the pure-Python simulator.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rnnrtl.fixed import (
    INT64_SAFE_BITS, FixedFormat, FixedPointError, IntType, Overflow, Rounding,
    requantize, requantize_bounds, requantize_code, requantize_params, requantize_through,
    requantize_through_value, requantize_value, shift_round,
)

ROUNDINGS = list(Rounding)
OVERFLOWS = list(Overflow)
MODES = list(itertools.product(ROUNDINGS, OVERFLOWS))


# -- the oracle ----------------------------------------------------------------------------------

def oracle_round(x: Fraction, mode: Rounding) -> int:
    """``x`` rounded to an integer, straight from the definition of ``mode``."""
    low = math.floor(x)
    if mode is Rounding.TRN:                       # toward -inf
        return low
    if mode is Rounding.TRN_ZERO:                  # toward zero
        return math.trunc(x)
    rem = x - low
    if rem != Fraction(1, 2):                      # not a tie: every RND mode goes to the nearest
        return low + 1 if rem > Fraction(1, 2) else low
    high = low + 1
    return {
        Rounding.RND: high,                        # ties toward +inf
        Rounding.RND_ZERO: high if x < 0 else low,     # ties toward zero
        Rounding.RND_MIN_INF: low,                 # ties toward -inf
        Rounding.RND_INF: low if x < 0 else high,      # ties away from zero
        Rounding.RND_CONV: low if low % 2 == 0 else high,  # ties to even
    }[mode]


def oracle_bounds(width: int, is_signed: bool, overflow: Overflow) -> tuple[int, int]:
    if not is_signed:
        return 0, 2 ** width - 1
    hi = 2 ** (width - 1) - 1
    return (-hi if overflow is Overflow.SAT_SYM else -hi - 1), hi


def oracle_fit(n: int, width: int, is_signed: bool, overflow: Overflow) -> tuple[int, bool]:
    """Integer ``n`` into a ``width``-bit code: ``(code, overflowed)``."""
    lo, hi = oracle_bounds(width, is_signed, overflow)
    if lo <= n <= hi:
        return n, False
    if overflow is Overflow.WRAP:                  # two's complement of the width
        code = n % 2 ** width
        if is_signed and code >= 2 ** (width - 1):
            code -= 2 ** width
        return code, True
    if overflow is Overflow.SAT_ZERO:
        return 0, True
    return min(max(n, lo), hi), True               # SAT and SAT_SYM clamp


def oracle_requantize(code: int, src_frac: int, dst: FixedFormat) -> tuple[int, bool]:
    value = Fraction(code, 2 ** src_frac) if src_frac >= 0 else Fraction(code * 2 ** -src_frac)
    scaled = value * Fraction(2) ** dst.frac_bits
    return oracle_fit(oracle_round(scaled, dst.rounding), dst.width, dst.signed, dst.overflow)


def oracle_quantize(x: float, fmt: FixedFormat) -> tuple[int, bool]:
    scaled = Fraction(x) * Fraction(2) ** fmt.frac_bits  # Fraction(float) is exact
    return oracle_fit(oracle_round(scaled, fmt.rounding), fmt.width, fmt.signed, fmt.overflow)


def test_oracle_sanity():
    """The oracle itself, on hand-written cases (so that the oracle can be trusted)."""
    half, m_half, m_three_halves = Fraction(1, 2), Fraction(-1, 2), Fraction(-3, 2)
    expected = {  # mode: (round(1/2), round(-1/2), round(-3/2), round(5/2), round(-1/3))
        Rounding.TRN: (0, -1, -2, 2, -1),
        Rounding.TRN_ZERO: (0, 0, -1, 2, 0),
        Rounding.RND: (1, 0, -1, 3, 0),
        Rounding.RND_ZERO: (0, 0, -1, 2, 0),
        Rounding.RND_MIN_INF: (0, -1, -2, 2, 0),
        Rounding.RND_INF: (1, -1, -2, 3, 0),
        Rounding.RND_CONV: (0, 0, -2, 2, 0),
    }
    for mode, want in expected.items():
        got = tuple(oracle_round(x, mode) for x in (half, m_half, m_three_halves,
                                                    Fraction(5, 2), Fraction(-1, 3)))
        assert got == want, mode
    assert oracle_fit(130, 8, True, Overflow.WRAP) == (-126, True)
    assert oracle_fit(-129, 8, True, Overflow.WRAP) == (127, True)
    assert oracle_fit(-128, 8, True, Overflow.SAT_SYM) == (-127, True)
    assert oracle_fit(-128, 8, True, Overflow.SAT) == (-128, False)
    assert oracle_fit(-1, 8, False, Overflow.SAT) == (0, True)
    assert oracle_fit(256, 8, False, Overflow.WRAP) == (0, True)
    assert oracle_fit(300, 8, False, Overflow.SAT_ZERO) == (0, True)


# -- numpy half vs the oracle --------------------------------------------------------------------

SMALL_CODES = np.arange(-64, 64)  # every code of a signed 7-bit source (and of an unsigned 6-bit one)
SRC_FRAC = 5
NUMPY_SHIFTS = list(range(-3, 10))  # left shifts, exact, rounding, and beyond the source width
DST_SHAPES = [(2, True), (3, True), (5, True), (9, True), (1, False), (3, False), (6, False)]


@pytest.mark.parametrize("rounding, overflow", MODES, ids=lambda m: m.value)
def test_requantize_matches_oracle(rounding, overflow):
    for shift, (width, is_signed) in itertools.product(NUMPY_SHIFTS, DST_SHAPES):
        dst_frac = SRC_FRAC - shift
        dst = FixedFormat(width, width - dst_frac, is_signed, rounding, overflow)
        codes, count = requantize(SMALL_CODES, SRC_FRAC, dst)
        want = [oracle_requantize(int(c), SRC_FRAC, dst) for c in SMALL_CODES]
        want_codes = [code for code, _ in want]
        assert codes.dtype == np.int64
        assert codes.tolist() == want_codes, f"{dst} shift {shift}: {_diff(SMALL_CODES, codes, want_codes)}"
        assert count == sum(flag for _, flag in want), f"{dst} shift {shift}"


@pytest.mark.parametrize("rounding, overflow", MODES, ids=lambda m: m.value)
def test_requantize_code_matches_oracle(rounding, overflow):
    """The scalar half (compiled kernels' rule) on the same grid, code by code, both as plain
    Python and as numba compiles it."""
    import numba
    compiled = numba.njit(requantize_code)
    for shift, (width, is_signed) in itertools.product(NUMPY_SHIFTS, DST_SHAPES):
        dst_frac = SRC_FRAC - shift
        dst = FixedFormat(width, width - dst_frac, is_signed, rounding, overflow)
        params = requantize_params(SRC_FRAC, dst)
        want = [oracle_requantize(int(c), SRC_FRAC, dst) for c in SMALL_CODES]
        got = [requantize_code(int(c), params) for c in SMALL_CODES]
        assert got == [(code, int(flag)) for code, flag in want], f"{dst} shift {shift}"
        jit = [tuple(int(v) for v in compiled(np.int64(c), params)) for c in SMALL_CODES]
        assert jit == got, f"{dst} shift {shift} (numba)"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROUNDINGS), st.sampled_from(OVERFLOWS), st.integers(2, 40), st.booleans(),
       st.integers(-12, 30), st.integers(-20, 20), st.integers(-(2 ** 44), 2 ** 44),
       st.integers(0, 3000))
def test_requantize_bounds_hold_every_result(rounding, overflow, width, is_signed, shift, dst_frac,
                                             lo, span):
    """Every result of a range of codes lies within the bounds, and saturating bounds are
    attained (they are the ends' results), compared with the numpy half."""
    dst = FixedFormat(width, width - dst_frac, is_signed, rounding, overflow)
    src_frac = dst_frac + shift
    hi = lo + span
    codes, _ = requantize(np.arange(lo, hi + 1, dtype=np.int64), src_frac, dst)
    b_lo, b_hi = requantize_bounds(lo, hi, src_frac, dst)
    assert b_lo <= int(codes.min()) and int(codes.max()) <= b_hi
    if overflow in (Overflow.SAT, Overflow.SAT_SYM):
        assert (b_lo, b_hi) == (int(codes.min()), int(codes.max()))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROUNDINGS), st.sampled_from(OVERFLOWS), st.integers(2, 48), st.booleans(),
       st.integers(-40, 40), st.lists(st.integers(-(2 ** 61), 2 ** 61 - 1), min_size=1, max_size=20))
def test_requantize_code_matches_numpy_wide(rounding, overflow, width, is_signed, shift, codes):
    """Wide codes and shifts (int64 edges): the scalar half agrees with :func:`requantize`."""
    dst = FixedFormat(width, width - 8, is_signed, rounding, overflow)
    src_frac = 8 + shift
    if shift < 0:  # a left shift must stay exact in int64
        codes = [c >> (-shift + 2) for c in codes]
    want, count = requantize(np.array(codes, dtype=np.int64), src_frac, dst)
    got = [requantize_code(c, requantize_params(src_frac, dst)) for c in codes]
    assert [g for g, _ in got] == want.tolist()
    assert sum(o for _, o in got) == count


def _diff(inputs, got, want):
    bad = [(i.item() if isinstance(i, np.generic) else i, int(g), w)
           for i, g, w in zip(inputs, got, want) if int(g) != w]
    return f"{len(bad)} mismatches (input, got, want), first: {bad[:5]}"


@pytest.mark.parametrize("mode", ROUNDINGS, ids=lambda m: m.value)
def test_shift_round_int64_edges(mode):
    """Codes at the edges of the exact int64 range, shifted by up to INT64_SAFE_BITS."""
    top = 2 ** (INT64_SAFE_BITS - 1)
    codes = [-top, -top + 1, -top // 2 - 1, -3, -1, 0, 1, 3, top // 2 + 1, top - 2, top - 1]
    for shift in list(range(1, 8)) + [31, 32, 33, INT64_SAFE_BITS - 1, INT64_SAFE_BITS]:
        got = shift_round(np.array(codes, dtype=np.int64), shift, mode).tolist()
        want = [oracle_round(Fraction(c, 2 ** shift), mode) for c in codes]
        assert got == want, f"shift {shift}: {_diff(codes, got, want)}"


def test_shift_round_left_is_exact():
    codes = np.arange(-8, 8)
    for mode in ROUNDINGS:
        assert shift_round(codes, 0, mode).tolist() == list(range(-8, 8))
        assert shift_round(codes, -3, mode).tolist() == [8 * c for c in range(-8, 8)]


def test_fit_applies_only_the_overflow_mode():
    fmt = FixedFormat(4, 4, True, Rounding.RND, Overflow.WRAP)
    codes, count = fmt.fit([-9, -8, 7, 8, 23])
    assert codes.tolist() == [7, -8, 7, -8, 7] and count == 3


# -- Amaranth half vs numpy half, exhaustively ---------------------------------------------------

# Sources: (width, signed) with src_frac fractional bits; every code is simulated.
AMARANTH_SOURCES = [(8, True), (7, False)]
AMARANTH_SRC_FRAC = 4


# src_frac - dst.frac_bits, as a function of the source width: exact left shifts, then rounding
# shifts, up to and beyond the whole source width.
AMARANTH_SHIFTS = {"-2": lambda w: -2, "0": lambda w: 0, "1": lambda w: 1, "2": lambda w: 2,
                   "3": lambda w: 3, "W": lambda w: w, "W+2": lambda w: w + 2}


def _amaranth_destinations(src_width, shift):
    """Every mode, signed and unsigned, narrower and wider than the source."""
    dsts = []
    for width, is_signed, (rounding, overflow) in itertools.product(
            (2, src_width - 3, src_width + 3), (True, False), MODES):
        frac = AMARANTH_SRC_FRAC - shift
        dsts.append(FixedFormat(width, width - frac, is_signed, rounding, overflow))
    return dsts


def simulate_requantize(src_shape, src_frac, dsts, codes):
    """Run ``requantize_value`` for every format in ``dsts`` in one combinational module.

    Sweeps ``codes`` through the input in one testbench; returns ``{dst: (codes, flags)}``.
    """
    m = Module()
    value = Signal(src_shape)
    outputs = {}
    for i, dst in enumerate(dsts):
        code, overflow = requantize_value(value, src_frac, dst)
        assert code.shape() == (signed(dst.width) if dst.signed else unsigned(dst.width))
        assert len(overflow) == 1
        code_sig = Signal(code.shape(), name=f"code_{i}")
        flag_sig = Signal(name=f"over_{i}")
        m.d.comb += [code_sig.eq(code), flag_sig.eq(overflow)]
        outputs[dst] = (code_sig, flag_sig)
    results = {dst: ([], []) for dst in dsts}

    async def testbench(ctx):
        for c in codes:
            ctx.set(value, int(c))
            for dst, (code_sig, flag_sig) in outputs.items():
                results[dst][0].append(ctx.get(code_sig))
                results[dst][1].append(ctx.get(flag_sig))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return results


@pytest.mark.parametrize("src_width, src_signed", AMARANTH_SOURCES,
                         ids=lambda v: ("signed" if v else "unsigned") if isinstance(v, bool) else f"w{v}")
@pytest.mark.parametrize("shift_of", AMARANTH_SHIFTS.values(), ids=[f"shift{k}" for k in AMARANTH_SHIFTS])
def test_amaranth_matches_numpy(src_width, src_signed, shift_of):
    shift = shift_of(src_width)
    src_shape = signed(src_width) if src_signed else unsigned(src_width)
    codes = (np.arange(-2 ** (src_width - 1), 2 ** (src_width - 1)) if src_signed
             else np.arange(0, 2 ** src_width))
    dsts = _amaranth_destinations(src_width, shift)
    simulated = simulate_requantize(src_shape, AMARANTH_SRC_FRAC, dsts, codes)
    failures = []
    for dst in dsts:
        want_codes, want_count = requantize(codes, AMARANTH_SRC_FRAC, dst)
        want_codes = want_codes.tolist()
        # numpy only counts overflows; the per-code flags come from the oracle, and the numpy count
        # must match the flags simulated in hardware.
        want_flags = [int(oracle_requantize(int(c), AMARANTH_SRC_FRAC, dst)[1]) for c in codes]
        got_codes, got_flags = simulated[dst]
        if got_codes != want_codes:
            failures.append(f"{dst} code: {_diff(codes, got_codes, want_codes)}")
        if got_flags != want_flags:
            failures.append(f"{dst} overflow flag: {_diff(codes, got_flags, want_flags)}")
        if sum(got_flags) != want_count:
            failures.append(f"{dst}: {sum(got_flags)} overflows simulated, numpy counts {want_count}")
    assert not failures, "\n".join(failures[:10])


THROUGH = [  # (accumulator, destination): hls4ml's accum_t then the point's type
    (FixedFormat(6, 2, True, Rounding.TRN, Overflow.WRAP), FixedFormat(5, 3, True, Rounding.RND, Overflow.SAT)),
    (FixedFormat(6, 2, True, Rounding.TRN, Overflow.WRAP), FixedFormat(6, 2, True, Rounding.TRN, Overflow.WRAP)),
    (FixedFormat(7, 4, True, Rounding.RND_CONV, Overflow.WRAP), FixedFormat(4, 0, False, Rounding.TRN_ZERO, Overflow.SAT_ZERO)),
    (FixedFormat(5, 1, True, Rounding.TRN, Overflow.WRAP), FixedFormat(8, 2, True, Rounding.TRN, Overflow.WRAP)),
]


@pytest.mark.parametrize("acc, dst", THROUGH, ids=[f"{a}-{d}" for a, d in THROUGH])
def test_requantize_through_both_halves(acc, dst):
    """A sum through the accumulator: the oracle applied twice, the numpy half, and the Amaranth half
    (every code of a 9-bit source) agree; the flag is set when either conversion overflowed."""
    src_frac = 6
    codes = np.arange(-256, 256)
    want = [oracle_requantize(int(c), src_frac, acc) for c in codes]
    want = [(oracle_requantize(a, acc.frac_bits, dst), f) for a, f in want]
    want_codes = [c for (c, _), _ in want]
    want_flags = [int(f1 or f2) for (_, f2), f1 in want]
    got, count = requantize_through(codes, src_frac, acc, dst)
    assert got.tolist() == want_codes
    assert sum(want_flags) > 0 and count >= sum(want_flags)
    np.testing.assert_array_equal(requantize_through(codes, src_frac, None, dst)[0],
                                  requantize(codes, src_frac, dst)[0])
    m = Module()
    value = Signal(signed(9))
    code, over = requantize_through_value(value, src_frac, acc, dst)
    code_sig, flag_sig = Signal(code.shape()), Signal()
    m.d.comb += [code_sig.eq(code), flag_sig.eq(over)]
    sim_codes, sim_flags = [], []

    async def testbench(ctx):
        for c in codes:
            ctx.set(value, int(c))
            sim_codes.append(ctx.get(code_sig))
            sim_flags.append(ctx.get(flag_sig))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert sim_codes == want_codes
    assert sim_flags == want_flags


# -- float -> code -------------------------------------------------------------------------------

formats = st.builds(
    lambda width, int_bits, is_signed, rounding, overflow:
        FixedFormat(max(width, 2) if is_signed else width, int_bits, is_signed, rounding, overflow),
    st.integers(1, 20), st.integers(-8, 24), st.booleans(),
    st.sampled_from(ROUNDINGS), st.sampled_from(OVERFLOWS))

dyadic_floats = st.builds(lambda n, e: math.ldexp(n, e), st.integers(-2 ** 20, 2 ** 20), st.integers(-30, 10))
tie_floats = st.builds(lambda n, e: math.ldexp(2 * n + 1, e), st.integers(-2 ** 12, 2 ** 12), st.integers(-20, 5))
near_tie_floats = tie_floats.flatmap(lambda x: st.sampled_from([x, np.nextafter(x, -np.inf),
                                                                 np.nextafter(x, np.inf)]))
ratio_floats = st.builds(lambda n, d: n / d, st.integers(-10 ** 6, 10 ** 6), st.sampled_from([3, 7, 10, 1000]))
any_floats = st.floats(allow_nan=False, allow_infinity=False)  # includes subnormals and huge values
values = st.lists(st.one_of(dyadic_floats, tie_floats, near_tie_floats, ratio_floats, any_floats,
                            st.floats(-1e3, 1e3)), min_size=1, max_size=20)


def check_quantize(fmt, xs):
    codes, count = fmt.quantize(xs)
    want = [oracle_quantize(x, fmt) for x in xs]
    assert codes.dtype == np.int64
    assert codes.tolist() == [c for c, _ in want], f"{fmt}: {_diff(xs, codes, [c for c, _ in want])}"
    assert count == sum(flag for _, flag in want)


@settings(max_examples=400, deadline=None)
@given(formats, values)
@example(FixedFormat(8, 8, True, Rounding.RND_MIN_INF, Overflow.SAT), [-0.49999999999999994])
@example(FixedFormat(8, 8, True, Rounding.RND_INF, Overflow.SAT), [-0.49999999999999994, 0.49999999999999994])
@example(FixedFormat(8, 9, True, Rounding.TRN, Overflow.SAT), [-5e-324, 5e-324, -1e-310])
@example(FixedFormat(16, 16, True, Rounding.TRN, Overflow.WRAP), [2.0 ** 62 + 2.0 ** 10, -(2.0 ** 70) - 2.0 ** 20])
@example(FixedFormat(8, 4, False, Rounding.RND_CONV, Overflow.WRAP), [1e300, -1e300, -0.0])
@example(FixedFormat(40, -20, True, Rounding.RND, Overflow.WRAP), [1.7e308, -1.7e308, 3.0 * 2.0 ** 50])
@example(FixedFormat(40, -20, True, Rounding.RND, Overflow.SAT), [1.7e308, -1.7e308])
def test_quantize_matches_oracle(fmt, xs):
    check_quantize(fmt, xs)


@pytest.mark.parametrize("rounding", ROUNDINGS, ids=lambda m: m.value)
def test_quantize_ties_every_mode(rounding):
    """Exact ties, their neighbours, and non-dyadic values, for every mode (not left to chance)."""
    xs = [math.ldexp(k, -3) for k in range(-40, 41)]  # frac 2: every multiple of 1/8 incl. ties
    xs += [float(np.nextafter(x, d)) for x in xs for d in (-np.inf, np.inf)]
    xs += [0.1, -0.1, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 0.3, -0.7]
    for overflow in OVERFLOWS:
        for fmt in (FixedFormat(8, 6, True, rounding, overflow), FixedFormat(4, 2, False, rounding, overflow)):
            check_quantize(fmt, xs)


def test_quantize_rejects_non_finite():
    fmt = FixedFormat.parse("fixed<8,4>")
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(FixedPointError):
            fmt.quantize([0.0, bad])


def test_to_float_is_exact_inverse():
    fmt = FixedFormat.parse("fixed<10,3>")
    codes = np.arange(fmt.min_code, fmt.max_code + 1)
    assert fmt.quantize(fmt.to_float(codes)) [0].tolist() == codes.tolist()
    assert fmt.to_float([1, -3]).tolist() == [2.0 ** -7, -3 * 2.0 ** -7]


# -- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("fixed<16,6>", FixedFormat(16, 6, True, Rounding.RND, Overflow.SAT)),
    ("ufixed<8,0>", FixedFormat(8, 0, False, Rounding.RND, Overflow.SAT)),
    ("ap_fixed<16,6,AP_RND,AP_SAT>", FixedFormat(16, 6, True, Rounding.RND, Overflow.SAT)),
    ("ap_fixed<16,6>", FixedFormat(16, 6, True, Rounding.TRN, Overflow.WRAP)),
    ("ap_ufixed<12,4>", FixedFormat(12, 4, False, Rounding.TRN, Overflow.WRAP)),
    ("ap_fixed<18,8,AP_RND_CONV>", FixedFormat(18, 8, True, Rounding.RND_CONV, Overflow.WRAP)),
    ("ap_fixed<8,3,AP_TRN_ZERO,AP_SAT_SYM>", FixedFormat(8, 3, True, Rounding.TRN_ZERO, Overflow.SAT_SYM)),
    (" ap_fixed < 16 , 6 , AP_RND , AP_SAT > ", FixedFormat(16, 6, True, Rounding.RND, Overflow.SAT)),
    ("fixed<8,-2>", FixedFormat(8, -2, True, Rounding.RND, Overflow.SAT)),
    ("fixed<4,10,RND_INF,SAT_ZERO>", FixedFormat(4, 10, True, Rounding.RND_INF, Overflow.SAT_ZERO)),
    ("ufixed<1,1>", FixedFormat(1, 1, False)),
])
def test_parse(text, want):
    got = FixedFormat.parse(text)
    assert got == want
    assert (got.width, got.int_bits, got.signed, got.rounding, got.overflow) == \
        (want.width, want.int_bits, want.signed, want.rounding, want.overflow)


def test_parse_fixed_defaults_follow_arguments():
    assert FixedFormat.parse("fixed<8,2>", rounding=Rounding.TRN, overflow=Overflow.WRAP) == \
        FixedFormat(8, 2, True, Rounding.TRN, Overflow.WRAP)
    assert FixedFormat.parse(FixedFormat(8, 2)) == FixedFormat(8, 2)


@pytest.mark.parametrize("fmt", [
    FixedFormat(width, int_bits, is_signed, rounding, overflow)
    for width, int_bits, is_signed in [(16, 6, True), (8, 0, False), (2, -5, True), (48, 60, False)]
    for rounding, overflow in MODES])
def test_str_round_trips(fmt):
    assert FixedFormat.parse(str(fmt)) == fmt
    assert FixedFormat.from_json(fmt.to_json()) == fmt


@pytest.mark.parametrize("text", [
    "fixed<16>", "fixd<16,6>", "fixed<0,0>", "fixed<99,6>", "ap_fixed<16,6,AP_FOO>",
    "ap_fixed<16,6,AP_RND,AP_FOO>", "ap_fixed<16,6,AP_SAT>", "fixed<1,1>", "fixed<16,6", "fixed(16,6)",
    "fixed<16,6,RND,SAT,TRN>", "fixed<49,6>", "fixed<16,65>", "fixed<a,6>", "", "int<16>",
])
def test_parse_rejects_malformed(text):
    with pytest.raises(FixedPointError, match="accepted syntax"):
        FixedFormat.parse(text)


@pytest.mark.parametrize("text", ["ap_fixed<16,6,1>", "ap_fixed<16,6,AP_WRAP,1>", "fixed<16,6,0>"])
def test_parse_fifth_parameter_needs_both_modes(text):
    """``N`` is the fifth parameter: with Q or O missing, a number there is malformed."""
    with pytest.raises(FixedPointError, match="accepted syntax"):
        FixedFormat.parse(text)


@pytest.mark.parametrize("n", [1, 2, 15])
@pytest.mark.parametrize("overflow", ["AP_WRAP", "AP_SAT"])
def test_parse_refuses_saturation_bits(n, overflow):
    """``ap_fixed<W,I,Q,O,N>``: rnnrtl's wrap is N = 0; any other N is refused, never dropped."""
    with pytest.raises(FixedPointError, match=rf"5th parameter N = {n}.*saturation bits"):
        FixedFormat.parse(f"ap_fixed<16,6,AP_TRN,{overflow},{n}>")
    assert FixedFormat.parse(f"ap_fixed<16,6,AP_TRN,{overflow},0>") == \
        FixedFormat.parse(f"ap_fixed<16,6,AP_TRN,{overflow}>")


def test_parse_rejects_non_string():
    with pytest.raises(FixedPointError, match="accepted syntax"):
        FixedFormat.parse(16)


# -- ranges --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, lo, hi, frac", [
    ("fixed<8,3>", -128, 127, 5),
    ("ufixed<8,0>", 0, 255, 8),
    ("fixed<8,3,RND,SAT_SYM>", -127, 127, 5),
    ("ufixed<4,6,RND,SAT_SYM>", 0, 15, -2),
])
def test_ranges(fmt, lo, hi, frac):
    fmt = FixedFormat.parse(fmt)
    assert (fmt.min_code, fmt.max_code, fmt.frac_bits) == (lo, hi, frac)
    assert fmt.step == 2.0 ** -frac
    assert fmt.int_type == IntType(fmt.width, fmt.signed, frac)


# -- IntType -------------------------------------------------------------------------------------

def holds(t: IntType, lo: int, hi: int) -> bool:
    """Whether ``t`` holds every integer of ``[lo, hi]``, from first principles."""
    if t.signed:
        return -(2 ** (t.width - 1)) <= lo and hi <= 2 ** (t.width - 1) - 1
    return 0 <= lo and hi <= 2 ** t.width - 1


def assert_exact_and_minimal(t: IntType, lo: int, hi: int, is_signed: bool):
    assert t.signed == is_signed
    assert holds(t, lo, hi), f"{t} does not hold [{lo}, {hi}]"
    assert t.width == 1 or not holds(IntType(t.width - 1, t.signed, t.frac), lo, hi), \
        f"{t} is wider than needed for [{lo}, {hi}]"


def values_of(t: IntType) -> range:
    if t.signed:
        return range(-(2 ** (t.width - 1)), 2 ** (t.width - 1))
    return range(0, 2 ** t.width)


SMALL_TYPES = [IntType(w, s, f) for w in range(1, 6) for s in (False, True) for f in (0, 2) if w > 1 or not s]


def test_values_of_and_bounds():
    for t in SMALL_TYPES:
        assert (t.min_value, t.max_value) == (min(values_of(t)), max(values_of(t)))


def test_for_range_is_exact_and_minimal():
    for lo in range(-40, 41):
        for hi in range(lo, 41):
            assert_exact_and_minimal(IntType.for_range(lo, hi, 3), lo, hi, lo < 0)
            if lo >= 0:
                assert_exact_and_minimal(IntType.for_range(lo, hi, 3, signed=True), lo, hi, True)
            assert IntType.for_range(lo, hi, 3).frac == 3


def test_product_is_exact_and_minimal():
    for a, b in itertools.product(SMALL_TYPES, repeat=2):
        products = [x * y for x in values_of(a) for y in values_of(b)]
        t = a * b
        assert t.frac == a.frac + b.frac
        assert_exact_and_minimal(t, min(products), max(products), a.signed or b.signed)


def test_sum_of_is_exact_and_minimal():
    for t in SMALL_TYPES:
        for terms in range(1, 10):
            s = t.sum_of(terms)
            assert s.frac == t.frac
            assert_exact_and_minimal(s, terms * t.min_value, terms * t.max_value, t.signed)


def test_join_is_exact_and_minimal():
    for types in itertools.chain(itertools.product(SMALL_TYPES, repeat=2),
                                 itertools.product(SMALL_TYPES[::3], repeat=3)):
        frac = max(t.frac for t in types)
        sums = {0}  # every sum of one value of each type, aligned to the finest fraction
        for t in types:
            sums = {s + (v << (frac - t.frac)) for s in sums for v in values_of(t)}
        j = IntType.join(*types)
        assert j.frac == frac
        assert_exact_and_minimal(j, min(sums), max(sums), any(t.signed for t in types))


def test_align_shifts_left_only():
    t = IntType(5, True, 2)
    assert t.align(2) == t
    assert t.align(6) == IntType(9, True, 6)
    with pytest.raises(FixedPointError):
        t.align(1)


def test_check_int64():
    for width in (1, 32, INT64_SAFE_BITS):
        t = IntType(width, True, 0)
        assert t.check_int64("ok") is t
    for width in (INT64_SAFE_BITS + 1, 64, 100):
        with pytest.raises(FixedPointError, match="the accumulator"):
            IntType(width, True, 0).check_int64("the accumulator")
    assert INT64_SAFE_BITS <= 62  # headroom for the rounding correction in int64
    widest = FixedFormat(48, 10).int_type
    with pytest.raises(FixedPointError):
        (widest * widest).check_int64("a 48x48 product")
