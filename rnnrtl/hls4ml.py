"""hls4ml compatibility: ``numerics: hls4ml`` and hls4ml configuration dicts.

``numerics: hls4ml`` reproduces, bit for bit, what hls4ml 1.3's Vivado/Vitis backend (io_parallel
and io_stream alike) computes for Keras LSTM, GRU (``reset_after=True``), Dense and the activations
relu, sigmoid, tanh, linear and softmax. ``docs/hls4ml.md`` states the arithmetic and what the IR
holds for it; in short:

* every product of a weight matrix with a vector is cast to the layer's ``accum`` type (ap_fixed
  defaults: truncation toward −∞, wrap-around), sums start from the bias cast to ``accum``;
* LSTM ``c`` and ``h`` and GRU ``h`` are stored in the layer's ``result`` type every step; gate
  activations are stored in ``accum``;
* sigmoid / tanh tables hold hls4ml's entries (computed in single precision, truncated into the
  table type, then cast to the activation's output type) and are indexed by
  ``trunc_toward_zero(x·N/(2R)) + N/2``;
* softmax uses hls4ml's exp and inverse tables addressed by the top bits of the input word.

The quantizer here (:func:`quantize_hls4ml`, called by :func:`rnnrtl.quantize.quantize`) builds an
ordinary :class:`rnnrtl.ir.Network` whose layers carry ``product_fmt`` and whose tables carry hls4ml's
contents and index rule, so the emulator (and the hardware) need nothing but the IR.

:func:`config_from_hls4ml` translates the dict ``hls4ml.utils.config_from_keras_model`` returns
(``granularity='model'`` or ``'name'``), with the user's edits, into an rnnrtl configuration.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
import warnings

import numpy as np

from .activations import SoftmaxTable, Table, TableGeometry
from .config import (HLS4ML_TABLE_PRECISION, HLS4ML_TABLE_SIZE, ConfigError, LayerConfig,
                     layer_config)
from .fixed import FixedFormat, FixedPointError, Overflow, Rounding, requantize
from .frontend import FloatLayer, FloatModel
from .ir import GRU, LSTM, Activation, Dense, Network, Weights
from .errors import HLS4MLConfigWarning

__all__ = ["config_from_hls4ml", "quantize_hls4ml", "parse_hls4ml_precision", "weight_codes",
           "table_contents", "softmax_table", "HLS4MLConfigWarning", "HLS4ML_VERSION"]

#: The hls4ml release whose arithmetic ``numerics: hls4ml`` reproduces.
HLS4ML_VERSION = "1.3.0"

#: hls4ml's fixed input ranges of its sigmoid and tanh tables: [-R, R).
TABLE_RANGES = {"sigmoid": 8, "tanh": 4}
#: hls4ml's softmax table types (its ``exp_table``/``inv_table``/``inv_inp`` defaults).
SOFTMAX_TABLE_PRECISION = "ap_fixed<18,8,AP_RND,AP_SAT>"
#: Activations hls4ml's RNN templates provide (``nnet::activation::{relu,sigmoid,tanh}``).
RNN_ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: Activations of a Dense layer this profile reproduces.
DENSE_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


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
                  table_size: int = HLS4ML_TABLE_SIZE, exp_table_size: int | None = None,
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


# -- the quantizer ---------------------------------------------------------------------------------

def _activation_layer_names(model: FloatModel) -> dict[str, FloatLayer]:
    """hls4ml makes a Dense layer's activation a layer of its own, ``<dense>_<activation>``."""
    return {f"{fl.name}_{fl.activation}": fl for fl in model.layers
            if fl.kind == "dense" and fl.activation != "linear"}


def quantize_hls4ml(model: FloatModel, config: dict) -> tuple[Network, dict]:
    """Build the IR of ``model`` with hls4ml 1.3's arithmetic (``config["numerics"] == "hls4ml"``).

    Returns ``(network, report)`` like :func:`rnnrtl.quantize.quantize`.
    """
    from .quantize import _schedule
    report: dict[str, int] = {}
    config = _input_alias(model, config)
    acts = _activation_layer_names(model)
    names = [model.input_name] + [fl.name for fl in model.layers] + list(acts)
    unknown = [name for name in config["layers"] if name not in names]
    if unknown:
        raise ConfigError(f"layers: no layer {unknown[0]!r} in model {model.name!r}; its layers (as "
                          f"hls4ml names them, activations apart) are {', '.join(names)}")
    for name in acts:  # (reuse / mode settings of an activation layer have no effect, as in hls4ml)
        if "softmax" in config["layers"].get(name, {}) and not name.endswith("_softmax"):
            raise ConfigError(f"layers.{name}: 'softmax' settings belong to a softmax layer")
    top = config["precision"]
    default = FixedFormat.parse(top if isinstance(top, (str, FixedFormat)) else top["default"])
    input_fmt = _resolve(layer_config(config, model.input_name, "input"), "result", default)
    fmt, layers = input_fmt, []
    for fl in model.layers:
        cfg = layer_config(config, fl.name, fl.kind)
        gates = {"dense": 1, "lstm": 4, "gru": 3}[fl.kind]
        common = dict(name=fl.name, in_features=fl.in_features, units=fl.units, input_fmt=fmt,
                      schedule=_schedule(fl, cfg, gates))
        if fl.kind == "dense":
            act_name = f"{fl.name}_{fl.activation}"
            act_cfg = layer_config(config, act_name, "activation") if act_name in acts else None
            layer = _dense(fl, cfg, act_cfg, common, report, default)
        else:
            layer = _recurrent(fl, cfg, common, report, default)
        layers.append(layer)
        fmt = layer.output_fmt
    network = Network(name=model.name, timesteps=model.timesteps, in_features=model.in_features,
                      input_fmt=input_fmt, layers=layers, numerics="hls4ml", config=config)
    return network, report


def _keras_input_name(model: FloatModel) -> str | None:
    """The name hls4ml gives the model's input: its Keras InputLayer's, which a Sequential model
    keeps out of ``model.layers`` (e.g. ``input_layer_3``; rnnrtl calls that input ``input``)."""
    km = model.keras_model
    try:
        return getattr(km, "_functional", km).inputs[0]._keras_history.operation.name
    except (AttributeError, IndexError, TypeError):
        return None


def _input_alias(model: FloatModel, config: dict) -> dict:
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


def _weights(values, fmt: FixedFormat, where: str, report: dict) -> Weights | None:
    if values is None:
        return None
    codes, over = weight_codes(values, fmt)
    if over:
        report[where] = over
    return Weights(fmt, codes)


def _resolve(cfg: LayerConfig, key: str, default: FixedFormat) -> FixedFormat:
    """``cfg``'s format for ``key``; an 'auto' type becomes the model default, as hls4ml 1.3's
    InferPrecisionTypes does for weights, biases, RNN and activation types."""
    fmt = cfg.fmt(key)
    return default if fmt == "auto" else fmt


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


def _accum(cfg: LayerConfig, name: str, acc: FixedFormat | None = None) -> FixedFormat:
    acc = acc if acc is not None else cfg.fmt("accum")
    if acc.overflow is not Overflow.WRAP:
        raise ConfigError(
            f"layers.{name}.precision.accum = {acc}: numerics: hls4ml reproduces wrapping "
            "accumulators only (ap_fixed's default AP_WRAP); with a saturating accumulator hls4ml's "
            "result depends on its accumulation order, which changes with Strategy and ReuseFactor")
    return acc


def _table(function: str, in_fmt: FixedFormat, out_fmt: FixedFormat, cfg: LayerConfig,
           where: str) -> Activation:
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


def _dense(fl: FloatLayer, cfg: LayerConfig, act_cfg: LayerConfig | None, common: dict,
           report: dict, default: FixedFormat) -> Dense:
    name, act = fl.name, fl.activation
    weight, bias = _resolve(cfg, "weight", default), _resolve(cfg, "bias", default)
    if "auto" in (cfg.fmt("accum"), cfg.fmt("result")):
        auto = _dense_auto(common["input_fmt"], weight, bias if fl.bias is not None else None,
                           fl.in_features, name)
    accum = _accum(cfg, name, auto if cfg.fmt("accum") == "auto" else None)
    res = auto if cfg.fmt("result") == "auto" else cfg.fmt("result")
    if act not in DENSE_ACTIVATIONS:
        raise ConfigError(f"layer {name!r}: activation {act!r} is not reproduced by numerics: hls4ml "
                          f"(hls4ml computes hard_sigmoid with its own slope/shift types); "
                          f"supported: {', '.join(DENSE_ACTIVATIONS)}")
    if act == "linear":
        activation = Activation("linear", res.frac_bits, res)
    else:
        out = _resolve(act_cfg, "result", default)
        where = f"layers.{name}_{act}"
        if act == "relu":
            activation = Activation("relu", res.frac_bits, out)
        elif act == "softmax":
            sm = dict(act_cfg.softmax or {})
            table = softmax_table(in_fmt=res, out_fmt=out, accum=_resolve(act_cfg, "accum", default),
                                  where=f"{where}.softmax", **sm)
            activation = Activation("softmax", res.frac_bits, out, softmax=table)
        else:
            activation = _table(act, res, out, act_cfg, where)
    return Dense(**common, output_fmt=activation.out_fmt,
                 kernel=_weights(fl.kernel, weight, f"{name}.kernel", report),
                 bias=_weights(fl.bias, bias, f"{name}.bias", report),
                 pre_fmt=res, activation=activation, product_fmt=accum)


def _recurrent(fl: FloatLayer, cfg: LayerConfig, common: dict, report: dict, default: FixedFormat):
    name = fl.name
    fmt = lambda key: _resolve(cfg, key, default)  # noqa: E731
    accum, res = _accum(cfg, name, fmt("accum")), fmt("result")
    for role, fn in (("activation", fl.activation), ("recurrent_activation", fl.recurrent_activation)):
        if fn not in RNN_ACTIVATIONS:
            raise ConfigError(f"layer {name!r}: {role} {fn!r} has no hls4ml RNN implementation "
                              f"(nnet::activation provides {', '.join(RNN_ACTIVATIONS)})")

    def act(fn, in_fmt):   # hls4ml 1.3 stores every gate activation in accum_t
        if fn == "relu":
            return Activation("relu", in_fmt.frac_bits, accum)
        return _table(fn, in_fmt, accum, cfg, f"layers.{name}")

    weights = dict(kernel=_weights(fl.kernel, fmt("weight"), f"{name}.kernel", report),
                   recurrent=_weights(fl.recurrent, fmt("recurrent_weight"),
                                      f"{name}.recurrent_kernel", report),
                   bias=_weights(fl.bias, fmt("bias"), f"{name}.bias", report),
                   return_sequences=fl.return_sequences)
    if fl.kind == "lstm":
        return LSTM(**common, output_fmt=res, **weights, gate_fmt=accum,
                    recurrent_activation=act(fl.recurrent_activation, accum),
                    activation=act(fl.activation, accum), state_fmt=res,
                    state_activation=act(fl.activation, res), product_fmt=accum)
    if not fl.reset_after:
        raise ConfigError(f"layer {name!r}: GRU(reset_after=False) is not reproduced by numerics: "
                          "hls4ml — hls4ml 1.3 computes it wrongly (its GRU reads the recurrent bias "
                          "out of bounds); use reset_after=True or numerics: default")
    return GRU(**common, output_fmt=res, **weights,
               recurrent_bias=_weights(fl.recurrent_bias, fmt("recurrent_bias"),
                                       f"{name}.recurrent_bias", report),
               reset_after=True, gate_fmt=accum,
               recurrent_activation=act(fl.recurrent_activation, accum),
               activation=act(fl.activation, accum), rec_fmt=accum, product_fmt=accum)


# -- hls4ml configuration dicts ----------------------------------------------------------------------

_AP_RE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<([^>]*)>\s*$")
#: Model-level keys with no effect on the numbers (accepted, ignored).
_MODEL_IGNORED = ("Strategy", "BramFactor", "TraceOutput", "PipelineStyle", "PipelineInterval",
                  "Compression", "TargetCycles", "ConvImplementation")
#: Top-level keys of an hls4ml HLSConfig / convert() arguments with no effect on the numbers.
_TOP_IGNORED = ("IOType", "Backend", "OutputDir", "ProjectName", "Part", "ClockPeriod",
                "ClockUncertainty", "WriterConfig", "Namespace", "WriteWeightsTxt", "WriteTar",
                "InputData", "OutputPredictions", "Board", "Interface", "Driver", "Version",
                "Stamp", "KerasModel", "HLSConfig")
_BACKENDS = ("vivado", "vitis", "vivadoaccelerator")
#: Precision variables hls4ml 1.3 reads (``ModelGraph.config.get_precision``) for these layers.
_PRECISION_VARS = ("default", "result", "accum", "weight", "bias", "recurrent_weight", "recurrent_bias")
#: Precision variables hls4ml 1.3 lists but never reads (their types come from ``*_t`` keys).
_IGNORED_PRECISION_VARS = {"table": HLS4ML_TABLE_PRECISION, "exp_table": SOFTMAX_TABLE_PRECISION,
                           "inv_table": SOFTMAX_TABLE_PRECISION, "inv_inp": SOFTMAX_TABLE_PRECISION,
                           "maximum": "error"}
#: Layer keys (hls4ml snake_case) -> how they map.
_LAYER_TYPE_KEYS = {"table_t": "table", "accum_t": "accum", "exp_table_t": "exp_table",
                    "inv_table_t": "inv_table", "inv_inp_t": "inv_inp", "inp_norm_t": "inp_norm"}
_LAYER_IGNORED = ("strategy", "trace", "parallelization_factor", "compression", "target_cycles",
                  "conv_implementation")


def _snake(key: str) -> str:
    """hls4ml's ``convert_to_snake_case``: ``TableSize`` -> ``table_size``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def parse_hls4ml_precision(text, where: str) -> str:
    """An hls4ml precision string (``fixed<16,6>``, ``ap_fixed<18,8,AP_RND,AP_SAT>``,
    ``ufixed<8,0,RND_CONV,SAT>``) as an rnnrtl format string with its modes explicit.

    hls4ml's ``fixed<W,I>`` is ``ap_fixed<W,I>``: truncation and wrap-around unless modes are given
    (rnnrtl's own ``fixed<W,I>`` rounds and saturates, hence the translation).
    """
    if not isinstance(text, str):
        raise ConfigError(f"{where} = {text!r}: an hls4ml precision is a string such as 'fixed<16,6>'")
    if text.strip().lower() == "auto":
        return "auto"   # inferred by quantize_hls4ml as hls4ml 1.3's InferPrecisionTypes does
    m = _AP_RE.match(text)
    if m is None or m[3] != "fixed":
        raise ConfigError(f"{where} = {text!r}: numerics: hls4ml supports (ap_)[u]fixed<W,I[,Q[,O[,N]]]> "
                          "precisions only (no integer, float or ac_ types)")
    fields = [f.strip() for f in m[4].split(",")]
    if len(fields) < 2 or len(fields) > 5:
        raise ConfigError(f"{where} = {text!r}: expected fixed<W,I[,rounding[,overflow[,sat_bits]]]>")
    if len(fields) == 5 and fields[4] not in ("0", ""):
        raise ConfigError(f"{where} = {text!r}: saturation bits (the 5th field) are not supported")
    modes = [f if f.upper().startswith("AP_") else "AP_" + f for f in fields[2:4]]
    kind = "ap_ufixed" if m[2] else "ap_fixed"
    fmt_text = f"{kind}<{fields[0]},{fields[1]}{''.join(',' + x for x in modes)}>"
    try:
        return str(FixedFormat.parse(fmt_text))
    except FixedPointError as e:
        raise ConfigError(f"{where} = {text!r}: {e}") from None


def _precision_dict(value, where: str, out: dict) -> dict:
    """hls4ml ``Precision`` (a string or a dict of variables) -> rnnrtl precision keys."""
    if isinstance(value, str):
        out["default"] = parse_hls4ml_precision(value, where)
        return out
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a precision string or a dict of variable -> precision")
    for var, text in value.items():
        if var == "maximum":
            raise ConfigError(f"{where}.maximum (a cap on hls4ml's 'auto' type inference) is not "
                              "reproduced; remove it and give explicit types where it mattered")
        if var in _IGNORED_PRECISION_VARS:
            default = _IGNORED_PRECISION_VARS[var]
            if default is not None and parse_hls4ml_precision(text, f"{where}.{var}") != \
                    str(FixedFormat.parse(default)):
                key = {"table": "table_t"}.get(var, var + "_t")
                warnings.warn(f"{where}.{var} = {text!r} is ignored, as hls4ml 1.3 ignores it (it "
                              f"reads that type from the layer key {key!r} only)",
                              HLS4MLConfigWarning, stacklevel=4)
            continue
        if var not in _PRECISION_VARS:
            raise ConfigError(f"{where}: precision variable {var!r} is not one numerics: hls4ml "
                              f"reproduces; valid: {', '.join(_PRECISION_VARS)}")
        out[var] = parse_hls4ml_precision(text, f"{where}.{var}")
    return out


def _reuse(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} = {value!r}: must be a whole number >= 1")
    return value


def config_from_hls4ml(hls_config: dict) -> dict:
    """An rnnrtl configuration (``numerics: hls4ml``) equivalent to an hls4ml configuration.

    ``hls_config`` is what ``hls4ml.utils.config_from_keras_model(model, granularity='model' |
    'name')`` returns, possibly edited: ``Model`` (``Precision`` string or dict, ``ReuseFactor``,
    ``Strategy``, …) and optionally ``LayerName`` (per layer: ``Precision``, ``ReuseFactor``,
    ``Static``/``static``, ``TableSize``/``table_size``, ``table_t``, softmax's ``implementation``,
    ``exp_table_t``, ``inv_table_t``, ``inv_inp_t``, ``accum_t``, …). Keys that would change the
    numbers in a way rnnrtl does not reproduce raise :class:`~rnnrtl.config.ConfigError` naming
    them; settings hls4ml 1.3 itself ignores (e.g. ``Precision: {table: …}``) are ignored with an
    :class:`HLS4MLConfigWarning`; settings without numeric effect (``Strategy``, ``IOType``,
    ``Trace``, …) are accepted. Add ``numerics: default`` to the result to get rnnrtl's own
    arithmetic with the same formats.
    """
    if not isinstance(hls_config, dict) or not isinstance(hls_config.get("Model"), dict):
        raise ConfigError("an hls4ml configuration is a dict with a 'Model' mapping (from "
                          "hls4ml.utils.config_from_keras_model)")
    for key, value in hls_config.items():
        if key in ("Model", "LayerName") or key in _TOP_IGNORED:
            continue
        if key == "LayerType":
            raise ConfigError("LayerType (granularity='type') is not supported: its settings apply "
                              "by hls4ml layer class; use granularity='name' (LayerName)")
        if key in ("Flows", "Optimizers", "SkipOptimizers"):
            raise ConfigError(f"hls4ml key {key!r} changes hls4ml's optimizer passes, which rnnrtl "
                              "does not reproduce; remove it")
        raise ConfigError(f"unknown hls4ml configuration key {key!r}; rnnrtl reads Model and "
                          "LayerName (and ignores " + ", ".join(_TOP_IGNORED[:4]) + ", …)")
    backend = str(hls_config.get("Backend", "Vivado")).lower()
    if backend not in _BACKENDS:
        raise ConfigError(f"Backend {hls_config['Backend']!r}: numerics: hls4ml reproduces the Vivado "
                          "and Vitis backends only")
    model = hls_config["Model"]
    out: dict = {"numerics": "hls4ml", "layers": {}}
    precision: dict = {}
    for key, value in model.items():
        if key == "Precision":
            _precision_dict(value, "Model.Precision", precision)
        elif key == "ReuseFactor":
            out["reuse"] = _reuse(value, "Model.ReuseFactor")
        elif key in _MODEL_IGNORED:
            if key == "Strategy" and str(value).lower() not in ("latency", "resource"):
                raise ConfigError(f"Model.Strategy = {value!r}: numerics: hls4ml reproduces the "
                                  "Latency and Resource strategies (identical numbers) only")
        else:
            raise ConfigError(f"Model.{key}: unknown hls4ml model setting; rnnrtl reads Precision "
                              f"and ReuseFactor and ignores {', '.join(_MODEL_IGNORED)}")
    precision.setdefault("default", parse_hls4ml_precision("fixed<16,6>", "Model.Precision"))
    if precision["default"] == "auto":
        raise ConfigError("Model.Precision: the default precision must be explicit, not 'auto'")
    out["precision"] = precision
    out["tables"] = {fn: {"size": HLS4ML_TABLE_SIZE} for fn in TABLE_RANGES}
    names = hls_config.get("LayerName") or {}
    if not isinstance(names, dict):
        raise ConfigError("LayerName must map layer names to settings")
    for name, settings in names.items():
        out["layers"][name] = _layer(name, settings)
    return out


def _layer(name: str, settings) -> dict:
    where = f"LayerName.{name}"
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} must be a mapping of settings")
    scope: dict = {}
    precision: dict = {}
    softmax: dict = {}
    for raw, value in settings.items():
        key = _snake(raw)
        here = f"{where}.{raw}"
        if key == "precision":
            _precision_dict(value, here, precision)
        elif key == "reuse_factor":
            scope["reuse"] = _reuse(value, here)
        elif key == "recurrent_reuse_factor":
            scope["reuse_recurrent"] = _reuse(value, here)
        elif key == "static":
            if not isinstance(value, bool):
                raise ConfigError(f"{here} = {value!r}: must be true or false")
            scope["mode"] = "static" if value else "unrolled"
        elif key == "table_size":
            size = int(value)
            if name.endswith("_softmax"):
                softmax["table_size"] = size
            else:
                scope["tables"] = {fn: {"size": size} for fn in TABLE_RANGES}
        elif key in ("exp_table_size", "inv_table_size"):
            softmax[key] = int(value)
        elif key == "implementation":
            softmax["implementation"] = value
        elif key == "skip":
            if value:
                raise ConfigError(f"{here} = True (softmax skipped, logits output) is not reproduced; "
                                  "use numerics: default, whose hardware outputs the logits")
        elif key in _LAYER_TYPE_KEYS:
            fmt = parse_hls4ml_precision(value, here)
            target = _LAYER_TYPE_KEYS[key]
            if target in ("table", "accum"):
                precision[target] = fmt          # *_t keys override Precision (hls4ml's order)
            else:
                softmax[target] = fmt
        elif key in _LAYER_IGNORED:
            if key == "strategy" and str(value).lower() not in ("latency", "resource"):
                raise ConfigError(f"{here} = {value!r}: numerics: hls4ml reproduces the Latency and "
                                  "Resource strategies (identical numbers) only")
        else:
            raise ConfigError(f"{here}: hls4ml layer setting {raw!r} is not one rnnrtl can honour; "
                              "it reads Precision, ReuseFactor, RecurrentReuseFactor, Static, "
                              "TableSize, table_t, accum_t, implementation, exp_table_t, "
                              "inv_table_t, inv_inp_t, inp_norm_t")
    if precision:
        scope["precision"] = precision
    if softmax:
        scope["softmax"] = softmax
    return scope
