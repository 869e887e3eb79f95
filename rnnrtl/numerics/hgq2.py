"""``numerics: hgq2``: HGQ2's quantized forward pass, bit for bit (docs/numerics.md, "HGQ2").

The formats come from the model, not the configuration: :mod:`rnnrtl.hgq2_frontend` reads every
HGQ2 quantizer as a :class:`~rnnrtl.hgq2_frontend.QSpec` and the quantized weights as exact values.
This profile maps them onto the ordinary IR:

* weights: each tensor in the narrowest format holding all of its (per-weight quantized) values
  exactly — the widest integer part and the finest fraction among them; zero-width weights are 0;
* sums are exact (as HGQ2's float32 sums are while they stay within 24 bits, which is checked);
* a datalane quantizer is a named point's format (same rounding and overflow): the input
  (first ``iq``), a Dense's ``out`` (the next layer's ``iq`` or its own ``oq``), a SimpleRNN's
  ``pre`` (``paq``), a GRU's ``rec`` (``rhq``) and ``h`` (``sq``);
* a GRU's ``praq`` (hard sigmoid, an affine map of a quantizer) and ``paq`` (hard tanh) are
  tables indexed from the exact, saturating gate sum, one entry per run of input codes that the
  quantizer maps to one value (the run length found by checking every code), so each entry is
  exact.

Every configuration key that would set a format is refused (the model's quantizers fix them);
reuse, mode, pipeline and the other timing knobs apply as usual.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..fixed import FixedFormat, FixedPointError, IntType, Overflow, Rounding, requantize
from ..ir import GRU, Activation, Dense, SimpleRNN, Weights, matvec_type
from .exact import (FLOAT32_BITS, MAX_TABLE_SIZE, abs_type, check_float32, code_table, codes,
                    exact_format, formats_from_model, itype_format, lossless)
from .profile import Profile

#: (exact_format, lossless and MAX_TABLE_SIZE are rnnrtl.numerics.exact's, shared with Brevitas.)
__all__ = ["Hgq2Profile", "MAX_TABLE_SIZE", "exact_format", "lossless", "quantizer_table"]

#: HGQ2 names itself so in the float32 refusals.
_TOOL = "HGQ2"


def _float32_exact(itype: IntType, where: str):
    """Refuse a sum HGQ2's float32 arithmetic does not compute exactly."""
    check_float32(itype, where, _TOOL)


def quantizer_table(function: str, q, in_fmt: FixedFormat, where: str) -> Activation:
    """The table computing HGQ2 quantizer ``q`` (a :class:`~rnnrtl.hgq2_frontend.QSpec`, with its
    affine map) on codes of ``in_fmt``, which covers its whole range with a saturating overflow.

    Every code of ``in_fmt`` is mapped with rnnrtl's own requantization (the rounding and overflow
    rules HGQ2's quantizers share); the table's bin is the longest aligned run of codes all mapped
    to one value, so indexing by ``floor(code / 2^shift)`` is exact for every code."""
    if in_fmt.overflow is not Overflow.SAT or in_fmt.min_code != -(1 << (in_fmt.width - 1)):
        raise FixedPointError(f"{where}: a gate table's input format must saturate over its full range")
    qfmt = q.fmt
    every = np.arange(in_fmt.min_code, in_fmt.max_code + 1, dtype=np.int64)
    y, _ = requantize(every, in_fmt.frac_bits, qfmt)
    out_frac = qfmt.frac_bits
    if q.affine is not None:
        scale, shift = q.affine
        log = np.log2(scale) if scale > 0 else np.nan
        if not (np.isfinite(log) and log == int(log)):
            raise UnsupportedModelError(f"quantizer {q.describe()}: affine scale {scale} is not a "
                                        "power of two; not reproduced")
        out_frac = max(out_frac - int(log), 0)
        y = y << (out_frac - qfmt.frac_bits + int(log))
        offset = np.ldexp(shift, out_frac)
        if offset != int(offset):
            raise UnsupportedModelError(f"quantizer {q.describe()}: affine shift {shift} is not "
                                        f"exact with {out_frac} fractional bits; not reproduced")
        y = y + int(offset)
    return code_table(function, in_fmt, y, out_frac, f"quantizer {q.describe()}",
                      f"train with fewer fractional bits in the weights and inputs of this "
                      "layer, or a rounding mode other than RND_CONV")


class Hgq2Profile(Profile):
    """HGQ2's quantized forward pass; formats from the model's quantizers."""
    name = "hgq2"
    precision_keys = {"input": ("result",), "dense": (), "simplernn": (), "gru": ()}
    missing_kind_note = " (HGQ2 has QGRU, QSimpleRNN and QDense; no QLSTM)"
    default_precision = "fixed<16,6>"    # never used: every format comes from the model
    names_note = ""

    def prepare(self, model, config):
        input_q = getattr(model, "input_q", None)
        return formats_from_model(self.name, model, config, tool="HGQ2",
                                  layers="QGRU, QSimpleRNN, QDense",
                                  quantizers="the model's trained quantizers",
                                  input_fmt=None if input_q is None else input_q.fmt)

    def weight_codes(self, values, fmt):
        return codes(values, fmt), 0

    def build_layer(self, layer, cfg, *, in_fmt, schedule, weights, sublayers):
        common = dict(name=layer.name, in_features=layer.in_features, units=layer.units,
                      input_fmt=in_fmt, schedule=schedule)
        iq = layer.quant.get("iq")
        if iq is not None and not lossless(in_fmt, iq.fmt):   # (the previous layer checks it)
            raise UnsupportedModelError(f"layer {layer.name!r}: input quantizer {iq.describe()} "
                                        f"changes values of its input format {in_fmt}")
        w = lambda tensor: self._weights(layer, tensor, weights)  # noqa: E731
        if layer.kind == "dense":
            return self._dense(layer, common, w)
        if layer.kind == "simplernn":
            return self._simplernn(layer, common, w)
        return self._gru(layer, common, w)

    @staticmethod
    def _weights(layer, tensor, weights):
        attr = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias",
                "recurrent_bias": "recurrent_bias"}[tensor]
        values = getattr(layer, attr)
        if values is None:
            return None
        return weights(tensor, exact_format(values, f"layer {layer.name!r}: {tensor}"))

    def _dense(self, layer, common, w) -> Dense:
        kernel, bias = w("kernel"), w("bias")
        pre_type = matvec_type(common["input_fmt"], kernel, bias)
        _float32_exact(abs_type(common["input_fmt"], kernel, bias), f"layer {layer.name!r}: W·x + b")
        pre = itype_format(pre_type, f"layer {layer.name!r}")
        out = layer.out_q.fmt if layer.out_q is not None else pre
        act = Activation(layer.activation, pre.frac_bits, out)
        return Dense(**common, output_fmt=out, kernel=kernel, bias=bias, pre_fmt=pre, activation=act)

    def _simplernn(self, layer, common, w) -> SimpleRNN:
        name = layer.name
        paq = layer.quant["paq"]
        pre = paq.fmt
        if paq.affine is not None:
            raise UnsupportedModelError(f"layer {name!r}: quantizer {paq.describe()} with an affine "
                                        "map is not reproduced in a QSimpleRNN")
        sq = layer.quant.get("sq")
        if sq is not None and not lossless(pre, sq.fmt):
            raise UnsupportedModelError(f"layer {name!r}: state quantizer {sq.describe()} changes "
                                        f"the state ({pre}); not reproduced — disable it (the "
                                        "default in a QSimpleRNN) or make it as wide as paq")
        _check_output(layer, pre, "its output (paq)")
        kernel, rec, bias = w("kernel"), w("recurrent_kernel"), w("bias")
        _float32_exact(abs_type(common["input_fmt"], kernel, bias, abs_type(pre, rec)),
                       f"layer {name!r}: W·x + U·h + b")
        act = Activation(layer.activation, pre.frac_bits, pre)
        return SimpleRNN(**common, output_fmt=pre, kernel=kernel, recurrent=rec, bias=bias,
                         return_sequences=layer.return_sequences, pre_fmt=pre, activation=act)

    def _gru(self, layer, common, w) -> GRU:
        name, q = layer.name, layer.quant
        sq, praq, paq, rhq = q["sq"], q["praq"], q["paq"], q["rhq"]
        if not sq.same(layer.out_q):
            got = layer.out_q.describe() if layer.out_q else \
                "none (HGQ2 passes z·h + (1−z)·hh on unquantized)"
            raise UnsupportedModelError(
                f"layer {name!r}: rnnrtl's GRU outputs its state as the state quantizer "
                f"{sq.describe()} stores it, so the layer reading it must quantize it the same way; "
                f"the quantizer after it is {got}. Give the next layer an input quantizer equal to "
                "the GRU's sq (e.g. the same fixed, non-trainable QuantizerConfig for both)")
        h_fmt, rec_fmt, x_fmt = sq.fmt, rhq.fmt, common["input_fmt"]
        kernel, rk, bias, rbias = w("kernel"), w("recurrent_kernel"), w("bias"), w("recurrent_bias")
        units = layer.units
        rows = lambda wt, s: None if wt is None else Weights(wt.fmt, wt.codes[s])  # noqa: E731
        zr, hs = slice(0, 2 * units), slice(2 * units, 3 * units)
        # the exact sums: gate (z, r), rec and the candidate, each checked against float32
        gate_t = IntType.join(matvec_type(x_fmt, rows(kernel, zr), rows(bias, zr)),
                              matvec_type(h_fmt, rows(rk, zr), rows(rbias, zr)))
        _float32_exact(abs_type(x_fmt, rows(kernel, zr), rows(bias, zr),
                                 abs_type(h_fmt, rows(rk, zr), rows(rbias, zr))),
                       f"layer {name!r}: W_zr·x + U_zr·h + b_zr")
        if layer.reset_after:
            _float32_exact(abs_type(h_fmt, rows(rk, hs), rows(rbias, hs)), f"layer {name!r}: U_h·h + b'_h")
        # r and z: praq's affine output, in [0, 1] with z_frac fractional bits (f + 2 for the
        # hard sigmoid)
        z_frac = praq.fmt.frac_bits - (int(np.log2(praq.affine[0])) if praq.affine else 0)
        r_type = IntType.for_range(0, 1 << z_frac, z_frac, True)
        cand_term = r_type * rec_fmt.int_type if layer.reset_after else \
            matvec_type(rec_fmt, rows(rk, hs))
        cand_t = IntType.join(matvec_type(x_fmt, rows(kernel, hs), rows(bias, hs)), cand_term)
        cand_abs = cand_term if layer.reset_after else abs_type(rec_fmt, rows(rk, hs))
        _float32_exact(abs_type(x_fmt, rows(kernel, hs), rows(bias, hs), cand_abs),
                       f"layer {name!r}: W_h·x + b_h + r·rec")
        frac = max(gate_t.frac, cand_t.frac)
        if any(qq.overflow is Overflow.WRAP for qq in (praq, paq)):
            # a wrapping quantizer never settles: the gate holds the exact sums
            int_bits = max(gate_t.width - gate_t.frac, cand_t.width - cand_t.frac, 2)
        else:
            # saturating one bit beyond where both quantizers saturate: the tables' end entries
            # are what the exact sum would give there
            int_bits = max(qq.fmt.int_bits for qq in (praq, paq)) + 1
        if int_bits + frac > FLOAT32_BITS:
            raise UnsupportedModelError(
                f"layer {name!r}: the gate sums need {int_bits + frac} bits ({frac} fractional) for "
                f"the tables of {praq.describe()} and {paq.describe()} to be exact; at most "
                f"{FLOAT32_BITS} are checked; train with fewer fractional bits")
        gate = FixedFormat(int_bits + frac, int_bits, True, Rounding.RND, Overflow.SAT)
        sig = quantizer_table("hard_sigmoid", praq, gate, f"layer {name!r}")
        tanh = quantizer_table("tanh", paq, gate, f"layer {name!r}")
        if sig.out_fmt.frac_bits != z_frac:
            raise UnsupportedModelError(f"layer {name!r}: quantizer {praq.describe()} gives z with "
                                        f"{sig.out_fmt.frac_bits} fractional bits; not reproduced")
        z_max = sig.out_fmt.to_float(sig.table.contents).max()
        z_min = sig.out_fmt.to_float(sig.table.contents).min()
        h_bits = z_frac + max(h_fmt.frac_bits, tanh.out_fmt.frac_bits) + \
            max(h_fmt.int_bits, tanh.out_fmt.int_bits) + 1
        if h_bits > FLOAT32_BITS + 1 or z_min < 0 or z_max > 1:
            raise UnsupportedModelError(
                f"layer {name!r}: z·h + (1−z)·hh needs {h_bits} bits (z in [{z_min}, {z_max}]); "
                f"HGQ2 computes it in float32, exact only up to {FLOAT32_BITS} bits")
        return GRU(**common, output_fmt=h_fmt, kernel=kernel, recurrent=rk, bias=bias,
                   return_sequences=layer.return_sequences, recurrent_bias=rbias,
                   reset_after=layer.reset_after, gate_fmt=gate, recurrent_activation=sig,
                   activation=tanh, rec_fmt=rec_fmt)


def _check_output(layer, fmt: FixedFormat, what: str):
    """Refuse an output quantizer that would change ``layer``'s output values (in ``fmt``): rnnrtl
    passes them on unchanged."""
    if layer.out_q is not None and not lossless(fmt, layer.out_q.fmt):
        raise UnsupportedModelError(
            f"layer {layer.name!r}: the quantizer after it, {layer.out_q.describe()}, changes "
            f"{what} in {fmt}; rnnrtl passes it on unchanged — make that quantizer at least as wide "
            "or disable it")
