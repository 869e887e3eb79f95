"""hls4ml configuration dicts: :func:`config_from_hls4ml` translates one into an rnnrtl configuration.

The dict is what ``hls4ml.utils.config_from_keras_model(model, granularity='model' | 'name')``
returns, with the user's edits. Settings that change the numbers the way hls4ml 1.3 does are
translated; settings rnnrtl does not reproduce raise :class:`~rnnrtl.errors.ConfigError` naming them;
settings hls4ml 1.3 itself ignores are ignored with an :class:`~rnnrtl.errors.HLS4MLConfigWarning`;
settings without numeric effect (``Strategy``, ``IOType``, ``Trace``, …) are accepted. The result
selects ``numerics: hls4ml`` (:mod:`rnnrtl.numerics.hls4ml`).
"""

from __future__ import annotations

import re
import warnings

from ..errors import ConfigError, HLS4MLConfigWarning
from ..fixed import FixedFormat, FixedPointError
from .hls4ml_numbers import SOFTMAX_TABLE_PRECISION, TABLE_PRECISION, TABLE_RANGES, TABLE_SIZE

__all__ = ["config_from_hls4ml", "parse_hls4ml_precision", "is_hls4ml_config"]


def is_hls4ml_config(source) -> bool:
    """Whether ``source`` is an hls4ml configuration dict (one with a ``Model`` key)."""
    return isinstance(source, dict) and "Model" in source


_AP_RE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<([^>]*)>\s*$")
#: Model-level keys with no effect on the numbers (accepted, ignored). hls4ml 1.3 writes
#: ``Strategy``, ``BramFactor``, ``TraceOutput`` (``config_from_keras_model``), ``BitExact``
#: (``convert_from_keras_model``, into the caller's own dict), ``ChannelsLastConversion`` and
#: ``TransposeOutputs`` (``config_from_pytorch_model``: layout passes that leave a Keras model's
#: channels-last data as it is); it reads ``AllowDAFallback`` / ``AllowV2Fallback`` (which converter
#: handles a Keras 3 layer; the layers rnnrtl takes have one handler). ``BitExact`` is checked in
#: :func:`_bit_exact`.
_MODEL_IGNORED = ("Strategy", "BramFactor", "TraceOutput", "PipelineStyle", "PipelineInterval",
                  "Compression", "TargetCycles", "ConvImplementation", "BitExact",
                  "ChannelsLastConversion", "TransposeOutputs", "AllowDAFallback", "AllowV2Fallback")
#: Top-level keys of an hls4ml HLSConfig / convert() arguments with no effect on the numbers.
_TOP_IGNORED = ("IOType", "Backend", "OutputDir", "ProjectName", "Part", "ClockPeriod",
                "ClockUncertainty", "WriterConfig", "Namespace", "WriteWeightsTxt", "WriteTar",
                "InputData", "OutputPredictions", "Board", "Interface", "Driver", "Version",
                "Stamp", "KerasModel", "HLSConfig")
_BACKENDS = ("vivado", "vitis", "vivadoaccelerator")
#: Precision variables hls4ml 1.3 reads (``ModelGraph.config.get_precision``) for these layers.
_PRECISION_VARS = ("default", "result", "accum", "weight", "bias", "recurrent_weight", "recurrent_bias")
#: Precision variables hls4ml 1.3 lists but never reads (their types come from ``*_t`` keys).
_IGNORED_PRECISION_VARS = {"table": TABLE_PRECISION, "exp_table": SOFTMAX_TABLE_PRECISION,
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
        return "auto"   # inferred as hls4ml 1.3's InferPrecisionTypes does (numerics/hls4ml.py)
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
    numbers in a way rnnrtl does not reproduce raise :class:`~rnnrtl.errors.ConfigError` naming
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
            if key == "BitExact":
                _bit_exact(value)
        else:
            raise ConfigError(f"Model.{key}: unknown hls4ml model setting; rnnrtl reads Precision "
                              f"and ReuseFactor and ignores {', '.join(_MODEL_IGNORED)}")
    precision.setdefault("default", parse_hls4ml_precision("fixed<16,6>", "Model.Precision"))
    if precision["default"] == "auto":
        raise ConfigError("Model.Precision: the default precision must be explicit, not 'auto'")
    out["precision"] = precision
    out["tables"] = {fn: {"size": TABLE_SIZE} for fn in TABLE_RANGES}
    names = hls_config.get("LayerName") or {}
    if not isinstance(names, dict):
        raise ConfigError("LayerName must map layer names to settings")
    for name, settings in names.items():
        out["layers"][name] = _layer(name, settings)
    return out


def _table_size(value, where: str) -> int:
    """A table size as hls4ml takes it: a whole number (checked against the valid sizes later)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} = {value!r}: a table size is a whole number, a power of two "
                          "such as 1024")
    return value


def _bit_exact(value):
    """``Model.BitExact``, which ``hls4ml.converters.convert_from_keras_model(bit_exact=...)`` writes
    into the caller's dict: ``None`` (hls4ml's default: on only for a model with HGQ
    ``FixedPointQuantizer`` layers, which rnnrtl does not take) and ``False`` change nothing;
    ``True`` makes hls4ml re-derive every type by interval arithmetic, which rnnrtl does not do."""
    if value is None or value is False:
        return
    if value is not True:
        raise ConfigError(f"Model.BitExact = {value!r}: must be true, false or null (hls4ml's "
                          "bit_exact argument)")
    warnings.warn("Model.BitExact = True is ignored: hls4ml would re-derive every type by its "
                  "bit-exact precision propagation; rnnrtl uses the types as configured, so its "
                  "numbers are those of hls4ml with bit_exact=False", HLS4MLConfigWarning, stacklevel=4)


def _layer(name: str, settings) -> dict:
    where = f"LayerName.{name}"
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} must be a mapping of settings")
    scope: dict = {}
    precision: dict = {}
    softmax: dict = {}
    for raw, value in settings.items():
        here = f"{where}.{raw}"
        if not isinstance(raw, str):
            raise ConfigError(f"{here}: hls4ml layer settings are named by strings, got {raw!r}")
        key = _snake(raw)
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
            size = _table_size(value, here)
            if name.endswith("_softmax"):
                softmax["table_size"] = size
            else:
                scope["tables"] = {fn: {"size": size} for fn in TABLE_RANGES}
        elif key in ("exp_table_size", "inv_table_size"):
            softmax[key] = _table_size(value, here)
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
