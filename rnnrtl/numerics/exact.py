"""What the quantization-aware profiles share: exact formats, float32 bounds and code tables.

A quantization-aware tool (HGQ2, :mod:`~rnnrtl.numerics.hgq2`; Brevitas,
:mod:`~rnnrtl.numerics.brevitas`) trains a network whose forward pass is already fixed point, in
float32. Reproducing it bit for bit takes the same few pieces in each profile:

* :func:`exact_format` — the narrowest format holding a tensor of quantized (dyadic) values
  exactly, and :func:`codes` — those values as its integer codes;
* :func:`abs_type` and :func:`check_float32` — a bound on every partial sum of ``W·x + b`` and
  the refusal of a sum the tool's float32 arithmetic would round;
* :func:`code_table` — an activation table from the tool's output code for *every* input code,
  one entry per aligned run of codes with one output, so indexing it is exact;
* :func:`lossless` — whether a requantization keeps every value;
* :func:`formats_from_model` — a profile's ``prepare``: the model must be the tool's, no
  ``precision`` setting may override its formats, and the network input's is the model's.
"""

from __future__ import annotations

import numpy as np

from ..activations import Table, TableGeometry
from ..errors import ConfigError, UnsupportedModelError
from ..fixed import FixedFormat, FixedPointError, IntType, Overflow, Rounding
from ..ir import Activation, Weights

__all__ = ["FLOAT32_BITS", "MAX_TABLE_SIZE", "exact_format", "itype_format", "codes", "abs_type",
           "check_float32", "code_table", "lossless", "formats_from_model"]

#: Bits of a float32 significand: a float32 sum of fixed-point terms is exact only below this.
FLOAT32_BITS = 24
#: Largest activation table built from every input code (entries).
MAX_TABLE_SIZE = 1 << 16


def exact_format(values, where: str) -> FixedFormat:
    """The narrowest signed format holding every one of ``values`` (exact dyadic numbers) exactly."""
    v = np.asarray(values, dtype=np.float64)
    nz = v[v != 0]
    if nz.size == 0:
        return FixedFormat(2, 1, True, Rounding.RND, Overflow.SAT)
    _, exp = np.frexp(nz)                       # |v| = m·2^exp, 0.5 <= m < 1
    frac = None
    for f in range(int(-exp.max()) - 1, 64):
        if np.all(np.ldexp(nz, f) == np.round(np.ldexp(nz, f))):
            frac = f
            break
    if frac is None:
        raise UnsupportedModelError(f"{where}: values are not exact fixed-point numbers")
    ints = np.round(np.ldexp(nz, frac)).astype(np.int64)
    itype = IntType.for_range(int(min(ints.min(), 0)), int(max(ints.max(), 0)), frac, True)
    return itype_format(itype, where)


def itype_format(itype: IntType, where: str) -> FixedFormat:
    """A signed format holding every value of ``itype`` (saturating, though it never needs to)."""
    try:
        return FixedFormat(max(itype.width, 2), max(itype.width, 2) - itype.frac, True,
                           Rounding.RND, Overflow.SAT)
    except FixedPointError as e:
        raise UnsupportedModelError(f"{where}: the exact sum needs {itype.width} bits: {e}") from None


def codes(values, fmt: FixedFormat) -> np.ndarray:
    """Exact values of ``fmt`` as its integer codes (refused if one is not on its grid)."""
    scaled = np.ldexp(np.asarray(values, dtype=np.float64), fmt.frac_bits)
    if not np.all(scaled == np.round(scaled)):
        raise UnsupportedModelError(f"values are not exact in {fmt}")
    return np.round(scaled).astype(np.int64)


def abs_type(in_fmt: FixedFormat, weights: Weights | None, bias: Weights | None = None,
             extra: IntType | None = None) -> IntType:
    """A bound on every partial sum of ``W·x (+ b) (+ extra)`` (each term at its largest
    magnitude): the type a float32 accumulation must hold exactly."""
    if weights is None:
        return extra if extra is not None else IntType(2, True, in_fmt.frac_bits)
    big = max(abs(in_fmt.min_code), abs(in_fmt.max_code))
    w = np.abs(np.asarray(weights.codes, dtype=object))
    frac = in_fmt.frac_bits + weights.fmt.frac_bits
    terms = [int(x) for x in (w * big).sum(axis=1)] if w.size else [0]
    hi = max(terms)
    if bias is not None:
        bf = bias.fmt.frac_bits
        top = max(frac, bf)
        hi = (hi << (top - frac)) + (int(np.abs(bias.codes).max()) << (top - bf))
        frac = top
    if extra is not None:
        top = max(frac, extra.frac)
        hi = (hi << (top - frac)) + (max(abs(extra.min_value), extra.max_value) << (top - extra.frac))
        frac = top
    return IntType.for_range(-hi, hi, frac, True)


def check_float32(itype: IntType, where: str, tool: str):
    """Refuse a sum of type ``itype`` that ``tool``'s float32 arithmetic does not compute exactly."""
    bits = itype.width - (1 if itype.signed else 0)
    if bits > FLOAT32_BITS:
        raise UnsupportedModelError(
            f"{where}: the sum needs {bits} significant bits; {tool} computes it in float32, exact "
            f"only up to {FLOAT32_BITS} bits, so its own outputs are rounded there and cannot be "
            "reproduced bit for bit; train with narrower quantizers")


def code_table(function: str, in_fmt: FixedFormat, out_codes, out_frac: int, where: str,
               advice: str) -> Activation:
    """The table giving ``out_codes[k]`` (codes with ``out_frac`` fractional bits) for the ``k``-th
    code of ``in_fmt`` (from ``min_code`` up), which saturates over its full range.

    The table's bin is the longest aligned run of codes all mapped to one value, so indexing by
    ``floor(code / 2^shift)`` is exact for every code; more than :data:`MAX_TABLE_SIZE` entries is
    refused, the error ending with ``advice``."""
    if in_fmt.overflow is not Overflow.SAT or in_fmt.min_code != -(1 << (in_fmt.width - 1)):
        raise FixedPointError(f"{where}: a table's input format must saturate over its full range")
    y = np.asarray(out_codes, dtype=np.int64)
    n = in_fmt.max_code - in_fmt.min_code + 1
    if y.shape != (n,):
        raise FixedPointError(f"{where}: {y.shape} table outputs for {n} input codes")
    shift = 0
    while (n >> (shift + 1)) >= 2:
        runs = y.reshape(-1, 1 << (shift + 1))
        if not np.all(runs == runs[:, :1]):
            break
        shift += 1
    size = n >> shift
    if size > MAX_TABLE_SIZE:
        raise UnsupportedModelError(f"{where}: exact on inputs with {in_fmt.frac_bits} fractional "
                                    f"bits the table needs {size} entries (at most "
                                    f"{MAX_TABLE_SIZE}); {advice}")
    contents = y.reshape(size, -1)[:, 0]
    itype = IntType.for_range(int(min(contents.min(), 0)), int(max(contents.max(), 0)), out_frac, True)
    out_fmt = FixedFormat(max(itype.width, 2), max(itype.width, 2) - out_frac, True,
                          Rounding.RND, Overflow.SAT)
    geometry = TableGeometry(size=size, shift=shift, offset=size // 2)
    table = Table(function, in_fmt.frac_bits, geometry, out_fmt, sample="left", contents=contents)
    return Activation(function, in_fmt.frac_bits, out_fmt, table)


def lossless(src: FixedFormat, dst: FixedFormat) -> bool:
    """Whether requantizing any code of ``src`` into ``dst`` keeps its value."""
    if dst.frac_bits < src.frac_bits:
        return False
    lo, hi = src.to_float([src.min_code, src.max_code])
    dlo, dhi = dst.to_float([dst.min_code, dst.max_code])
    return bool(dlo <= lo and hi <= dhi)


def formats_from_model(profile: str, model, config: dict, *, tool: str, layers: str,
                       quantizers: str, input_fmt: FixedFormat) -> dict:
    """``config`` for a profile (named ``profile``) whose every format comes from ``model``'s
    quantizers: refuses a model that is not ``tool``'s (its ``layers`` named in the message) and
    any layer's ``precision`` setting (``quantizers`` names where the formats come from), and sets
    the network input's format to ``input_fmt`` (:class:`~rnnrtl.errors.ConfigError`)."""
    if getattr(model, "numerics", None) != profile:
        raise ConfigError(f"numerics: {profile} reproduces {tool} models ({layers}); "
                          f"model {model.name!r} has no {tool} layers")
    for name, scope in config["layers"].items():
        if isinstance(scope, dict) and scope.get("precision"):
            raise ConfigError(f"layers.{name}.precision: numerics: {profile} takes every format "
                              f"from {quantizers}; remove the precision settings")
    layers_cfg = {**config["layers"], model.input_name: {"precision": {"result": input_fmt}}}
    return {**config, "layers": layers_cfg}

