"""``numerics: hls4ml``: hls4ml 1.3's arithmetic, bit for bit (docs/hls4ml.md).

Reproduces what hls4ml 1.3's Vivado/Vitis backend (io_parallel and io_stream alike) computes for
Keras LSTM, GRU (``reset_after=True``), Dense and the activations relu, sigmoid, tanh, linear and
softmax; in short:

* every product of a weight matrix with a vector is cast to the layer's ``accum`` type (ap_fixed
  defaults: truncation toward −∞, wrap-around), sums start from the bias cast to ``accum``;
* LSTM ``c`` and ``h`` and GRU ``h`` are stored in the layer's ``result`` type every step; gate
  activations are stored in ``accum``;
* sigmoid / tanh tables hold hls4ml's entries (:mod:`~rnnrtl.numerics.hls4ml_numbers`) and are
  indexed by ``trunc_toward_zero(x·N/(2R)) + N/2``;
* softmax uses hls4ml's exp and inverse tables addressed by the top bits of the input word.

The IR is ordinary: layers carry ``product_fmt`` and tables carry hls4ml's contents and index rule,
so the emulator and the hardware need nothing but the IR. As in hls4ml, a Dense layer's activation is
a layer of its own, named ``<dense>_<activation>`` (kind ``activation``), and formats may be
``auto`` (inferred as hls4ml 1.3 infers them). hls4ml configuration dicts are translated by
:mod:`~rnnrtl.numerics.hls4ml_config`.
"""

from __future__ import annotations

import math

from ..activations import Table, TableGeometry
from ..errors import ConfigError
from ..fixed import FixedFormat, FixedPointError, Overflow, Rounding
from ..ir import GRU, LSTM, Activation, Dense
from .hls4ml_config import config_from_hls4ml, is_hls4ml_config
from .hls4ml_numbers import (TABLE_PRECISION, TABLE_RANGES, TABLE_SIZE, softmax_table, table_contents,
                             weight_codes)
from .profile import AUTO, FORMAT, SIZE, Choice, Option, Profile

__all__ = ["Hls4mlProfile", "PRECISION_KEYS", "SOFTMAX_KEYS", "RNN_ACTIVATIONS", "DENSE_ACTIVATIONS"]

#: Tensors whose format can be set, named as hls4ml names them: ``accum`` is the accumulator every
#: product is cast to, ``table`` the type table entries are stored in. The Dense ``result`` is its
#: activation layer's input, the activation's ``result`` the output (``accum``: a softmax's sum of
#: exponentials).
PRECISION_KEYS = {
    "input": ("result",),
    "dense": ("weight", "bias", "accum", "result"),
    "activation": ("result", "table", "accum"),
    "lstm": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "table", "result"),
    "gru": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "table", "result"),
}
#: Keys of a ``softmax`` mapping (a softmax layer's, or the top level's for every softmax layer).
SOFTMAX_OPTION = Option("describe hls4ml's softmax tables", {
    "implementation": Choice(("stable", "latency", "argmax"), "hls4ml's 'legacy' is not reproduced"),
    "table_size": SIZE, "exp_table_size": SIZE, "inv_table_size": SIZE, "exp_table": FORMAT,
    "inv_table": FORMAT, "inv_inp": FORMAT, "inp_norm": FORMAT})
SOFTMAX_KEYS = tuple(SOFTMAX_OPTION.keys)
#: Activations hls4ml's RNN templates provide (``nnet::activation::{relu,sigmoid,tanh}``).
RNN_ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: Activations of a Dense layer this profile reproduces.
DENSE_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


class Hls4mlProfile(Profile):
    """hls4ml 1.3's arithmetic."""
    name = "hls4ml"
    precision_keys = PRECISION_KEYS
    missing_kind_note = " (hls4ml 1.3's Vivado backend does not compute one correctly)"
    default_precision = "ap_fixed<16,6>"      # truncate, wrap
    own_precision = {"table": TABLE_PRECISION}
    table_size = TABLE_SIZE
    auto_types = True
    options = {"softmax": SOFTMAX_OPTION}
    names_note = " (as hls4ml names them, activations apart)"

    def translate(self, source):
        return config_from_hls4ml(source) if is_hls4ml_config(source) else None

    def prepare(self, model, config):
        config = _input_alias(model, config)
        for fl in model.layers:   # (reuse / mode settings of an activation layer have no effect)
            for name in self.sublayers(fl):
                if "softmax" in config["layers"].get(name, {}) and fl.activation != "softmax":
                    raise ConfigError(f"layers.{name}: 'softmax' settings belong to a softmax layer")
        return config

    def sublayers(self, layer):
        """hls4ml makes a Dense layer's activation a layer of its own, ``<dense>_<activation>``."""
        if layer.kind == "dense" and layer.activation != "linear":
            return {f"{layer.name}_{layer.activation}": "activation"}
        return {}

    def format(self, cfg, key):
        """``cfg``'s format for ``key``; an 'auto' type becomes the model default, as hls4ml 1.3's
        InferPrecisionTypes does for weights, biases, RNN and activation types."""
        fmt = cfg.fmt(key)
        return cfg.model_default if fmt == AUTO else fmt

    def weight_codes(self, values, fmt):
        return weight_codes(values, fmt)

    def table(self, function, in_fmt, out_fmt, cfg, where):
        spec = cfg.tables[function]
        if spec["range"] != TABLE_RANGES[function]:
            raise ConfigError(f"{where}: tables.{function}.range = {spec['range']}: hls4ml's {function} "
                              f"table covers ±{TABLE_RANGES[function]} only")
        size = spec["size"]
        geometry = TableGeometry.for_range(size=size, half_range=TABLE_RANGES[function],
                                           in_frac=in_fmt.frac_bits, index_rounding=Rounding.TRN_ZERO)
        contents = table_contents(function, size, cfg.fmt("table"), out_fmt)
        table = Table(function, in_fmt.frac_bits, geometry, out_fmt, sample="left", contents=contents)
        return Activation(function, in_fmt.frac_bits, out_fmt, table)

    def build_layer(self, layer, cfg, *, in_fmt, schedule, weights, sublayers):
        common = dict(name=layer.name, in_features=layer.in_features, units=layer.units,
                      input_fmt=in_fmt, schedule=schedule)
        if layer.kind == "dense":
            act_cfg = next(iter(sublayers.values()), None)
            return self._dense(layer, cfg, act_cfg, common, weights)
        return self._recurrent(layer, cfg, common, weights)

    def _dense(self, fl, cfg, act_cfg, common, weights) -> Dense:
        name, act = fl.name, fl.activation
        weight, bias = self.format(cfg, "weight"), self.format(cfg, "bias")
        if AUTO in (cfg.fmt("accum"), cfg.fmt("result")):
            auto = _dense_auto(common["input_fmt"], weight, bias if fl.bias is not None else None,
                               fl.in_features, name)
        accum = _accum(cfg, name, auto if cfg.fmt("accum") == AUTO else None)
        res = auto if cfg.fmt("result") == AUTO else cfg.fmt("result")
        if act not in DENSE_ACTIVATIONS:
            raise ConfigError(f"layer {name!r}: activation {act!r} is not reproduced by numerics: hls4ml "
                              f"(hls4ml computes hard_sigmoid with its own slope/shift types); "
                              f"supported: {', '.join(DENSE_ACTIVATIONS)}")
        if act == "linear":
            activation = Activation("linear", res.frac_bits, res)
        else:
            out = self.format(act_cfg, "result")
            where = f"layers.{name}_{act}"
            if act == "relu":
                activation = Activation("relu", res.frac_bits, out)
            elif act == "softmax":
                sm = dict(act_cfg.options.get("softmax") or {})
                table = softmax_table(in_fmt=res, out_fmt=out, accum=self.format(act_cfg, "accum"),
                                      where=f"{where}.softmax", **sm)
                activation = Activation("softmax", res.frac_bits, out, softmax=table)
            else:
                activation = self.table(act, res, out, act_cfg, where)
        return Dense(**common, output_fmt=activation.out_fmt,
                     kernel=weights("kernel", weight), bias=weights("bias", bias),
                     pre_fmt=res, activation=activation, product_fmt=accum)

    def _recurrent(self, fl, cfg, common, weights):
        name = fl.name
        fmt = lambda key: self.format(cfg, key)  # noqa: E731
        accum, res = _accum(cfg, name, fmt("accum")), fmt("result")
        for role, fn in (("activation", fl.activation), ("recurrent_activation", fl.recurrent_activation)):
            if fn not in RNN_ACTIVATIONS:
                raise ConfigError(f"layer {name!r}: {role} {fn!r} has no hls4ml RNN implementation "
                                  f"(nnet::activation provides {', '.join(RNN_ACTIVATIONS)})")

        def act(fn, in_fmt):   # hls4ml 1.3 stores every gate activation in accum_t
            if fn == "relu":
                return Activation("relu", in_fmt.frac_bits, accum)
            return self.table(fn, in_fmt, accum, cfg, f"layers.{name}")

        tensors = dict(kernel=weights("kernel", fmt("weight")),
                       recurrent=weights("recurrent_kernel", fmt("recurrent_weight")),
                       bias=weights("bias", fmt("bias")), return_sequences=fl.return_sequences)
        if fl.kind == "lstm":
            return LSTM(**common, output_fmt=res, **tensors, gate_fmt=accum,
                        recurrent_activation=act(fl.recurrent_activation, accum),
                        activation=act(fl.activation, accum), state_fmt=res,
                        state_activation=act(fl.activation, res), product_fmt=accum)
        if not fl.reset_after:
            raise ConfigError(f"layer {name!r}: GRU(reset_after=False) is not reproduced by numerics: "
                              "hls4ml — hls4ml 1.3 computes it wrongly (its GRU reads the recurrent bias "
                              "out of bounds); use reset_after=True or numerics: default")
        return GRU(**common, output_fmt=res, **tensors,
                   recurrent_bias=weights("recurrent_bias", fmt("recurrent_bias")),
                   reset_after=True, gate_fmt=accum,
                   recurrent_activation=act(fl.recurrent_activation, accum),
                   activation=act(fl.activation, accum), rec_fmt=accum, product_fmt=accum)


def _keras_input_name(model) -> str | None:
    """The name hls4ml gives the model's input: its Keras InputLayer's, which a Sequential model
    keeps out of ``model.layers`` (e.g. ``input_layer_3``; rnnrtl calls that input ``input``)."""
    km = model.keras_model
    try:
        return getattr(km, "_functional", km).inputs[0]._keras_history.operation.name
    except (AttributeError, IndexError, TypeError):
        return None


def _input_alias(model, config: dict) -> dict:
    """``config`` with the input's settings under ``model.input_name`` when they were given under
    hls4ml's name for it (a ``granularity='name'`` dict of a Sequential model)."""
    alias = _keras_input_name(model)
    layers = config["layers"]
    if alias is None or alias == model.input_name or alias not in layers:
        return config
    if model.input_name in layers:
        raise ConfigError(f"layers: {alias!r} and {model.input_name!r} both name the input of "
                          f"model {model.name!r}; keep one")
    return {**config, "layers": {model.input_name if k == alias else k: v for k, v in layers.items()}}


def _dense_auto(in_fmt: FixedFormat, weight: FixedFormat, bias: FixedFormat | None, n_in: int,
                name: str) -> FixedFormat:
    """hls4ml 1.3's inferred Dense accumulator / result type (``_infer_common_precision``): wide
    enough for any sum, truncating and wrapping."""
    log = math.ceil(math.log2(n_in)) if n_in > 1 else 0
    width = weight.width + in_fmt.width + log
    integers = weight.int_bits + in_fmt.int_bits + log
    signed = weight.signed or in_fmt.signed
    frac = width - integers
    b_w, b_i, b_s = (bias.width, bias.int_bits, bias.signed) if bias is not None else (1, 1, False)
    integers = max(integers + (b_s and not signed), b_i + (signed and not b_s)) + 1
    width = integers + max(frac, b_w - b_i)
    try:
        return FixedFormat(width, integers, signed or b_s, Rounding.TRN, Overflow.WRAP)
    except FixedPointError as e:
        raise ConfigError(f"layer {name!r}: hls4ml's inferred ('auto') type is ap_fixed<{width},"
                          f"{integers}>, wider than rnnrtl supports ({e}); set accum/result") from None



def _accum(cfg, name: str, acc: FixedFormat | None = None) -> FixedFormat:
    acc = acc if acc is not None else cfg.fmt("accum")
    if acc.overflow is not Overflow.WRAP:
        raise ConfigError(
            f"layers.{name}.precision.accum = {acc}: numerics: hls4ml reproduces wrapping "
            "accumulators only (ap_fixed's default AP_WRAP); with a saturating accumulator hls4ml's "
            "result depends on its accumulation order, which changes with Strategy and ReuseFactor")
    return acc
