"""hls4ml 1.3's numbers: weight codes and table contents exactly as its generated C++ makes them.

Everything here reproduces a computation of hls4ml 1.3's Vivado/Vitis backend (docs/hls4ml.md):
how a float weight becomes an ``ap_fixed`` code (printed into a header, read back by the compiler,
truncated), how the sigmoid / tanh tables are filled (single precision, through the C library's
``expf``/``tanhf``), and the softmax's exp and inverse tables. The profile that builds layers from
them is :mod:`rnnrtl.numerics.hls4ml`.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from ..activations import SoftmaxTable
from ..errors import ConfigError
from ..fixed import FixedFormat, FixedPointError, Overflow, Rounding, requantize

__all__ = ["HLS4ML_VERSION", "TABLE_RANGES", "TABLE_SIZE", "TABLE_PRECISION", "SOFTMAX_TABLE_PRECISION",
           "weight_codes", "table_contents", "softmax_table"]

#: The hls4ml release whose arithmetic ``numerics: hls4ml`` reproduces.
HLS4ML_VERSION = "1.3.0"

#: hls4ml's fixed input ranges of its sigmoid and tanh tables: [-R, R).
TABLE_RANGES = {"sigmoid": 8, "tanh": 4}
#: hls4ml's table size unless set (its ``table_size``).
TABLE_SIZE = 1024
#: hls4ml's sigmoid / tanh table type (``table_t``) unless set, independent of the precision default.
TABLE_PRECISION = "ap_fixed<18,8>"
#: hls4ml's softmax table types (its ``exp_table``/``inv_table``/``inv_inp`` defaults).
SOFTMAX_TABLE_PRECISION = "ap_fixed<18,8,AP_RND,AP_SAT>"


# -- single-precision maths as hls4ml's C++ does it ------------------------------------------------

def _libm():
    """The C library's maths (hls4ml's tables call ``expf``/``tanhf`` through g++), or ``None``."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        for name in ("expf", "tanhf"):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lib
    except (OSError, AttributeError):
        return None


_LIBM = _libm()


def _f32(values):
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def _float_fn(name: str, x) -> np.ndarray:
    """``expf``/``tanhf`` of float32 ``x``, as float32: the C library's (what hls4ml's compiled C++
    calls) when it can be loaded, else the float64 function rounded to float32 (identical for every
    table of up to 4096 entries checked; see docs/hls4ml.md)."""
    x = _f32(x)
    if _LIBM is not None:
        fn = getattr(_LIBM, name)
        return np.array([fn(float(v)) for v in x.tolist()], dtype=np.float32)
    with np.errstate(over="ignore"):
        return _f32({"expf": np.exp, "tanhf": np.tanh}[name](x.astype(np.float64)))


def _quantize_float(values, fmt: FixedFormat) -> np.ndarray:
    """Float → ``fmt`` codes as ``ap_fixed``'s constructor does, infinities included (an infinity
    is an overflow: saturated, or 0 under WRAP / SAT_ZERO since 2^1024 has no low bits)."""
    values = np.asarray(values, dtype=np.float64)
    inf = np.isinf(values)
    codes, _ = fmt.quantize(np.where(inf, 0.0, values))
    if inf.any():
        sat = fmt.overflow in (Overflow.SAT, Overflow.SAT_SYM)
        hi, lo = (fmt.max_code, fmt.min_code) if sat else (0, 0)
        codes = np.where(inf, np.where(values > 0, hi, lo), codes)
    return codes.astype(np.int64)


# -- hls4ml's numbers ----------------------------------------------------------------------------

def weight_codes(values, fmt: FixedFormat) -> tuple[np.ndarray, int]:
    """Weight codes exactly as hls4ml makes them: each float32 weight is printed with ``F`` decimals
    (``F`` = the type's fractional bits, hls4ml's ``'{:.Ff}'``) into the generated header, the C++
    compiler reads that decimal back, and ``ap_fixed`` truncates it into the type.

    Returns ``(codes, overflows)``.
    """
    values = np.asarray(values, dtype=np.float32)
    places = max(0, fmt.frac_bits)
    printed = np.array([float(f"{v:.{places}f}") for v in values.ravel().tolist()], dtype=np.float64)
    return fmt.quantize(printed.reshape(values.shape))


def table_contents(function: str, size: int, table_fmt: FixedFormat, out_fmt: FixedFormat) -> np.ndarray:
    """hls4ml's sigmoid / tanh table as codes of ``out_fmt``.

    Entry ``i`` samples ``x_i = 2R·(i − N/2)/N`` (R = 8 for sigmoid, 4 for tanh); the value is
    computed in single precision (``1.0/(1 + expf(−x))`` rounded to float; ``tanhf(x)``), truncated
    into ``table_fmt`` (hls4ml's ``table_t``) and then converted into ``out_fmt`` (the activation's
    ``res_T``), each conversion with its destination's rounding and overflow.
    """
    if function not in TABLE_RANGES:
        raise FixedPointError(f"hls4ml has no {function!r} table; tables: {', '.join(TABLE_RANGES)}")
    r = TABLE_RANGES[function]
    x = _f32(2.0 * r * (np.arange(size, dtype=np.float64) - size / 2.0) / size)  # exact
    if function == "sigmoid":
        d = np.float32(1) + _float_fn("expf", -x)                                  # float add
        v = _f32(1.0 / d.astype(np.float64))              # double division, returned as float
    else:
        v = _float_fn("tanhf", x)
    codes = _quantize_float(v.astype(np.float64), table_fmt)
    return requantize(codes, table_fmt.frac_bits, out_fmt)[0]


def _word_values(fmt: FixedFormat, bits: int) -> np.ndarray:
    """The value (float32, as ``(float)x`` gives it) of each ``fmt`` word whose top ``bits`` bits
    are ``i`` and whose other bits are 0, for ``i`` in ``0 .. 2^bits − 1`` (hls4ml's
    ``softmax_real_val_from_idx``)."""
    codes = np.arange(1 << bits, dtype=np.int64) << (fmt.width - bits)
    if fmt.signed:
        codes = np.where(codes >= 1 << (fmt.width - 1), codes - (1 << fmt.width), codes)
    return _f32(np.ldexp(codes.astype(np.float64), -fmt.frac_bits))


def softmax_table(*, in_fmt: FixedFormat, out_fmt: FixedFormat, implementation: str = "stable",
                  table_size: int = TABLE_SIZE, exp_table_size: int | None = None,
                  inv_table_size: int | None = None,
                  exp_table: FixedFormat | str = SOFTMAX_TABLE_PRECISION,
                  inv_table: FixedFormat | str = SOFTMAX_TABLE_PRECISION,
                  inv_inp: FixedFormat | str = SOFTMAX_TABLE_PRECISION,
                  accum: FixedFormat | str, inp_norm: FixedFormat | str | None = None,
                  where: str = "softmax") -> SoftmaxTable:
    """hls4ml's softmax (``softmax_stable`` / ``softmax_latency`` / ``softmax_argmax``) as an
    :class:`~rnnrtl.activations.SoftmaxTable`, with hls4ml's table sizes and types.

    ``in_fmt``: the logits' type (the Dense result); ``out_fmt``: the softmax result type.
    Sizes follow hls4ml 1.3: ``table_size`` shrinks to ``2^min(input width, inv_table width)``
    unless ``inv_table_size`` is given (its ``FixSoftmaxTableSize`` pass); ``stable`` addresses the
    exp table with ``ap_ufixed<W−1, I−1>`` of the input (``inp_norm``) and caps its size at
    ``2^(W−1)`` (counting from the inverse table's size, as its template does).
    """
    fmts = {k: FixedFormat.parse(v) for k, v in
            (("exp_table", exp_table), ("inv_table", inv_table), ("inv_inp", inv_inp), ("accum", accum))}
    if implementation == "argmax":
        return SoftmaxTable("argmax", in_fmt, out_fmt)
    if inv_table_size is None:   # FixSoftmaxTableSize (skipped when inv_table_size is set)
        limit = 1 << min(in_fmt.width, fmts["inv_table"].width)
        table_size = min(table_size, limit)
    exp_size = exp_table_size or table_size
    inv_size = inv_table_size or table_size
    if implementation == "stable":
        if inp_norm is None:
            signed = int(in_fmt.signed)
            norm = FixedFormat(in_fmt.width - signed, in_fmt.int_bits - signed, False,
                               Rounding.TRN, Overflow.WRAP)
            if signed:  # the template caps the exp table from the inverse table's size
                exp_size = min(inv_size, 1 << norm.width)
        else:
            norm = FixedFormat.parse(inp_norm)
        addr = norm
    elif implementation == "latency":
        norm, addr = None, in_fmt
    else:
        raise ConfigError(f"{where}.implementation = {implementation!r}: valid: stable, latency, argmax")
    exp_bits, inv_bits = exp_size.bit_length() - 1, inv_size.bit_length() - 1
    for bits, size, fmt, what in ((exp_bits, exp_size, addr, "exp table"),
                                  (inv_bits, inv_size, fmts["inv_inp"], "inverse table")):
        if 1 << bits != size or not 1 <= bits <= fmt.width:
            raise ConfigError(f"{where}: a {what} of {size} entries cannot be addressed by the top "
                              f"bits of {fmt} (hls4ml slices ceil(log2(size)) <= {fmt.width} bits)")
    x = _word_values(addr, exp_bits)
    if implementation == "stable":
        x = -x
    exp_codes = _quantize_float(_float_fn("expf", x).astype(np.float64), fmts["exp_table"])
    with np.errstate(divide="ignore"):
        inv = np.float32(1) / _word_values(fmts["inv_inp"], inv_bits)  # float division (1/0 = inf)
    inv_codes = _quantize_float(inv.astype(np.float64), fmts["inv_table"])
    return SoftmaxTable(implementation, in_fmt, out_fmt, norm_fmt=norm, exp_index_bits=exp_bits,
                        exp_fmt=fmts["exp_table"], exp_contents=exp_codes, accum_fmt=fmts["accum"],
                        inv_in_fmt=fmts["inv_inp"], inv_index_bits=inv_bits, inv_fmt=fmts["inv_table"],
                        inv_contents=inv_codes)
