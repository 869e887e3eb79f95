"""``numerics: brevitas``: Brevitas' quantized forward pass, bit for bit (docs/numerics.md,
"Brevitas").

The formats come from the model, not the configuration: :mod:`rnnrtl.brevitas_frontend` reads
every quantizer as a format (power-of-two scale, ``torch.round``'s half-to-even rounding, clamp),
the quantized weights as exact values, and every quantized activation as its output code for each
input code. This profile maps them onto the ordinary IR:

* weights: each tensor in the narrowest format holding all of its quantized values exactly (the
  four gates of an LSTM may have different scales: the finest fraction and widest integer part);
* an LSTM's ``gate`` is the gate accumulator quantizer's format; ``i f o`` and ``g`` are tables
  over every gate code, ``tanh_c`` a table over every code of ``c``; ``c`` is the cell state
  quantizer's format with ``state_terms`` (``c = q_c(q_c(f·c) + q_c(i·g))``); ``h`` and the input
  are the ``io_quant``'s format;
* a Dense's ``pre`` is the ``output_quant``'s format, or the exact sum; ``out`` the format of the
  ``QuantReLU`` / ``QuantIdentity`` after it, or a table over every ``pre`` code for a
  ``QuantSigmoid`` / ``QuantTanh``;
* every sum Brevitas computes in float32 is checked to be exact there (24 bits).

Every configuration key that would set a format is refused (the model's quantizers fix them);
reuse, mode, pipeline and the other timing knobs apply as usual.
"""

from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import LSTM, Activation, Dense, matvec_type
from .exact import (abs_type, check_float32, code_table, codes, exact_format,
                    formats_from_model, itype_format, lossless)
from .profile import Profile

__all__ = ["BrevitasProfile"]

_TOOL = "Brevitas"
_ADVICE = "quantize its input with fewer bits"


def _table(spec) -> Activation:
    """The :class:`~rnnrtl.ir.Activation` of a :class:`~rnnrtl.brevitas_frontend.TableSpec`."""
    return code_table(spec.function, spec.in_fmt, spec.out_codes, spec.out_frac, spec.where, _ADVICE)


def _check_input(layer, in_fmt):
    """Refuse an input quantizer of ``layer`` that changes values of its input format."""
    q = layer.quant.get("in") or (layer.quant.get("io") if layer.kind == "lstm" else None)
    if q is not None and not lossless(in_fmt, q):
        raise UnsupportedModelError(
            f"layer {layer.name!r}: its input quantizer ({q}) changes values of its input format "
            f"{in_fmt}; rnnrtl requantizes once between layers: make them equal")


class BrevitasProfile(Profile):
    """Brevitas' quantized forward pass; formats from the model's quantizers."""
    name = "brevitas"
    precision_keys = {"input": ("result",), "dense": (), "lstm": ()}
    missing_kind_note = " (Brevitas models: one QuantLSTM, then QuantLinear layers)"
    default_precision = "fixed<16,6>"    # never used: every format comes from the model

    def prepare(self, model, config):
        return formats_from_model(self.name, model, config, tool="Brevitas",
                                  layers="QuantLSTM, QuantLinear",
                                  quantizers="the model's quantizers",
                                  input_fmt=getattr(model, "input_fmt", None))

    def weight_codes(self, values, fmt):
        return codes(values, fmt), 0

    def build_layer(self, layer, cfg, *, in_fmt, schedule, weights, sublayers):
        _check_input(layer, in_fmt)
        common = dict(name=layer.name, in_features=layer.in_features, units=layer.units,
                      input_fmt=in_fmt, schedule=schedule)

        def w(tensor):
            values = getattr(layer, {"kernel": "kernel", "recurrent_kernel": "recurrent",
                                     "bias": "bias"}[tensor])
            if values is None:
                return None
            return weights(tensor, exact_format(values, f"layer {layer.name!r}: {tensor}"))

        if layer.kind == "lstm":
            return self._lstm(layer, common, w)
        return self._dense(layer, common, w)

    def _dense(self, layer, common, w) -> Dense:
        name, in_fmt = layer.name, common["input_fmt"]
        kernel, bias = w("kernel"), w("bias")
        check_float32(abs_type(in_fmt, kernel, bias), f"layer {name!r}: W·x + b", _TOOL)
        pre = layer.quant.get("pre") or itype_format(matvec_type(in_fmt, kernel, bias),
                                                     f"layer {name!r}")
        if "out" in layer.tables:
            act = _table(layer.tables["out"])
        else:
            act = Activation(layer.activation, pre.frac_bits, layer.quant.get("out", pre))
        return Dense(**common, output_fmt=act.out_fmt, kernel=kernel, bias=bias, pre_fmt=pre,
                     activation=act)

    def _lstm(self, layer, common, w) -> LSTM:
        name, q = layer.name, layer.quant
        x_fmt, h_fmt, c_fmt = common["input_fmt"], q["io"], q["c"]
        kernel, rec, bias = w("kernel"), w("recurrent_kernel"), w("bias")
        check_float32(abs_type(x_fmt, kernel, bias, abs_type(h_fmt, rec)),
                      f"layer {name!r}: W·x + U·h + b", _TOOL)
        sig, g, tanh_c = (_table(layer.tables[k]) for k in ("sigmoid", "g", "tanh_c"))
        s = sig.out_fmt.int_type
        for what, t in (("f·c", s * c_fmt.int_type), ("i·g", s * g.out_fmt.int_type),
                        ("o·tanh(c)", s * tanh_c.out_fmt.int_type),
                        ("q(f·c) + q(i·g)", c_fmt.int_type.sum_of(2))):
            check_float32(t, f"layer {name!r}: {what}", _TOOL)
        if tanh_c.in_frac != c_fmt.frac_bits or g.in_frac != q["gate"].frac_bits:
            raise UnsupportedModelError(f"layer {name!r}: table inputs do not match their formats")
        return LSTM(**common, output_fmt=h_fmt, kernel=kernel, recurrent=rec, bias=bias,
                    return_sequences=layer.return_sequences, gate_fmt=q["gate"],
                    recurrent_activation=sig, activation=g, state_fmt=c_fmt,
                    state_activation=tanh_c, state_terms=True)
