"""User configuration: a dict, or a YAML / JSON file, validated and resolved per layer.

Top-level keys (all optional)::

    precision: fixed<16,6>     # default format of every data tensor, or a dict of tensor -> format
    reuse: 1                   # reuse factor of every product (input and recurrent)
    reuse_input: 1             # ... of the input products W·x only
    reuse_recurrent: 1         # ... of the recurrent products U·h only
    mode: static               # static | unrolled (one cell per time step: rnnrtl.hw.unrolled)
    interleave: 1              # independent sequences in flight through a static cell
    pipeline: shallow          # shallow | deep (registers around every table read, for slower fabric)
    tables:                    # activation tables: entries and input half-range (powers of two)
      sigmoid: {size: 2048, range: 8}
      tanh: {size: 2048, range: 4}
      hard_sigmoid: {size: 1024, range: 4}
    numerics: default          # default | hls4ml (hls4ml 1.3's arithmetic: docs/hls4ml.md)
    adder_fanin: 4             # terms summed per register stage of the adder trees (timing knob)
    layers:                    # per-layer overrides, by Keras layer name; same keys as above
      lstm: {precision: {state: "fixed<18,8>"}, reuse_recurrent: 2}   # quote formats inside {}

With ``numerics: hls4ml`` the tensor keys are hls4ml's (:data:`PRECISION_KEYS_HLS4ML`) and a layer may
hold a ``softmax`` mapping (:data:`SOFTMAX_KEYS`); an hls4ml configuration dict (one with a ``Model``
key) is translated by :func:`rnnrtl.hls4ml.config_from_hls4ml` first.

A ``precision`` dict may hold ``default`` and any tensor key of :data:`PRECISION_KEYS`; a string sets
every tensor of its scope. The ``activation`` tensor (table outputs) defaults to ``fixed<18,2>``
for bounded activations, independent of ``precision``'s default, because a 16-bit table output with
6 integer bits throws away precision sigmoid and tanh never use.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .fixed import FixedFormat, FixedPointError
from .errors import ConfigError

__all__ = ["ConfigError", "PRECISION_KEYS", "PRECISION_KEYS_HLS4ML", "SOFTMAX_KEYS", "DEFAULT_CONFIG", "LayerConfig", "load_config",
           "normalize", "layer_config", "valid_reuse_factors", "check_reuse"]


#: Tensors whose format can be set, per layer kind.
PRECISION_KEYS = {
    "input": ("result",),
    "dense": ("weight", "bias", "accum", "activation", "result"),
    "simplernn": ("weight", "recurrent_weight", "bias", "accum", "activation", "result"),
    "lstm": ("weight", "recurrent_weight", "bias", "accum", "activation", "state", "result"),
    "gru": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "activation",
            "recurrent", "result"),
}
#: Tensors whose format can be set under ``numerics: hls4ml``, named as hls4ml names them
#: (docs/hls4ml.md): ``accum`` is the accumulator every product is cast to, ``table`` the type
#: table entries are stored in. As in hls4ml, a Dense layer's activation is a layer of its own,
#: named ``<dense>_<activation>`` (kind ``activation``): the Dense ``result`` is the activation's
#: input, the activation's ``result`` the output (``accum``: a softmax's sum of exponentials).
PRECISION_KEYS_HLS4ML = {
    "input": ("result",),
    "dense": ("weight", "bias", "accum", "result"),
    "activation": ("result", "table", "accum"),
    "lstm": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "table", "result"),
    "gru": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "table", "result"),
}
#: hls4ml's table type default (``ap_fixed<18,8>``), independent of the precision default.
HLS4ML_TABLE_PRECISION = "ap_fixed<18,8>"
#: Keys of a layer's ``softmax`` mapping (``numerics: hls4ml`` only; docs/hls4ml.md).
SOFTMAX_KEYS = ("implementation", "table_size", "exp_table_size", "inv_table_size", "exp_table",
                "inv_table", "inv_inp", "inp_norm")
#: Table sizes under ``numerics: hls4ml`` unless set (hls4ml's default ``table_size``).
HLS4ML_TABLE_SIZE = 1024
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency", "argmax")
_ALL_PRECISION_KEYS = sorted({k for keys in (*PRECISION_KEYS.values(), *PRECISION_KEYS_HLS4ML.values())
                              for k in keys} | {"default"})

DEFAULT_PRECISION = "fixed<16,6>"
DEFAULT_ACTIVATION_PRECISION = "fixed<18,2>"
MODES = ("static", "unrolled")
PIPELINES = ("shallow", "deep")
NUMERICS = ("default", "hls4ml")
TABLE_SIZES = tuple(1 << k for k in range(4, 17))

DEFAULT_CONFIG = {
    "precision": DEFAULT_PRECISION,
    "reuse": 1,
    "mode": "static",
    "interleave": 1,
    "pipeline": "shallow",
    "tables": {
        "sigmoid": {"size": 2048, "range": 8},
        "tanh": {"size": 2048, "range": 4},
        "hard_sigmoid": {"size": 1024, "range": 4},
    },
    "numerics": "default",
    "adder_fanin": 4,
    "layers": {},
}

_SCOPE_KEYS = ("precision", "reuse", "reuse_input", "reuse_recurrent", "mode", "interleave", "pipeline",
               "tables", "softmax")
_TOP_KEYS = _SCOPE_KEYS + ("numerics", "adder_fanin", "layers")


@dataclass(frozen=True)
class LayerConfig:
    """The configuration in force for one layer, after defaults and overrides."""
    precision: dict            # tensor key -> FixedFormat ('activation' may be None: by function)
    reuse_input: int
    reuse_recurrent: int
    mode: str
    interleave: int
    tables: dict               # function -> {"size": int, "range": float}
    softmax: dict | None = None  # numerics: hls4ml only; SOFTMAX_KEYS -> value (formats parsed)
    pipeline: str = "shallow"

    def fmt(self, key: str) -> FixedFormat:
        return self.precision[key]


def load_config(source) -> dict:
    """A configuration from a dict, a ``.yaml``/``.yml``/``.json`` path, or ``None`` (defaults).

    Returns the validated, normalised dict (every key present).
    """
    if source is None:
        return normalize({})
    if isinstance(source, dict):
        if "Model" in source:  # an hls4ml configuration (hls4ml.utils.config_from_keras_model)
            from .hls4ml import config_from_hls4ml
            source = config_from_hls4ml(source)
        return normalize(source)
    if not isinstance(source, (str, Path)) and not hasattr(source, "__fspath__"):
        raise ConfigError(f"configuration must be a dict or a path to a YAML/JSON file, got "
                          f"{type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"configuration file {str(path)!r}: use a .yaml, .yml or .json file")
    except (json.JSONDecodeError, ImportError) as e:
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: {e}") from None
    except Exception as e:  # yaml.YAMLError
        if type(e).__module__.startswith("yaml"):
            raise ConfigError(f"configuration file {str(path)!r} is not valid YAML: {e}") from None
        raise
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {str(path)!r} must hold a mapping at its top level")
    return load_config(data)


def normalize(config: dict) -> dict:
    """Validate ``config`` and fill in defaults. Raises :class:`ConfigError` naming the bad key."""
    if not isinstance(config, dict):
        raise ConfigError(f"configuration must be a dict, got {type(config).__name__}")
    _check_keys(config, _TOP_KEYS, "configuration")
    out = {k: v for k, v in DEFAULT_CONFIG.items() if k != "layers"}
    out["tables"] = {k: dict(v) for k, v in DEFAULT_CONFIG["tables"].items()}
    numerics = config.get("numerics", "default")
    if numerics not in NUMERICS:
        raise ConfigError(f"numerics {numerics!r} is not supported; valid: {', '.join(NUMERICS)}")
    if numerics == "hls4ml":  # hls4ml's defaults: ap_fixed<16,6> (truncate, wrap), 1024-entry tables
        out["precision"] = "ap_fixed<16,6>"
        for spec in out["tables"].values():
            spec["size"] = HLS4ML_TABLE_SIZE
    _merge_scope(out, config, "configuration")
    out["numerics"] = numerics
    layer_scopes = config.get("layers") if isinstance(config.get("layers"), dict) else {}
    if numerics != "hls4ml" and any("softmax" in scope for scope in
                                    [config, *(s for s in layer_scopes.values() if isinstance(s, dict))]):
        raise ConfigError("'softmax' settings describe hls4ml's softmax tables; they need "
                          "numerics: hls4ml (with numerics: default the host applies softmax)")
    fanin = config.get("adder_fanin", DEFAULT_CONFIG["adder_fanin"])
    if isinstance(fanin, bool) or not isinstance(fanin, int) or fanin < 2:
        raise ConfigError(f"adder_fanin = {fanin!r}: must be a whole number >= 2")
    out["adder_fanin"] = fanin
    layers = config.get("layers") or {}
    if not isinstance(layers, dict):
        raise ConfigError("'layers' must map Keras layer names to settings")
    out["layers"] = {}
    for name, settings in layers.items():
        where = f"layers.{name}"
        if not isinstance(settings, dict):
            raise ConfigError(f"{where} must be a mapping of settings")
        _check_keys(settings, _SCOPE_KEYS, where)
        scope = {}
        _merge_scope(scope, settings, where)
        out["layers"][name] = scope
    return out


def _check_keys(d: dict, valid, where: str):
    for key in d:
        if key not in valid:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def _merge_scope(out: dict, settings: dict, where: str):
    for key in ("reuse", "reuse_input", "reuse_recurrent", "interleave"):
        if key in settings:
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.{key} = {value!r}: must be a whole number >= 1")
            out[key] = value
    if "mode" in settings:
        if settings["mode"] not in MODES:
            raise ConfigError(f"{where}.mode = {settings['mode']!r}: valid modes are {', '.join(MODES)}")
        out["mode"] = settings["mode"]
    if "pipeline" in settings:
        if settings["pipeline"] not in PIPELINES:
            raise ConfigError(f"{where}.pipeline = {settings['pipeline']!r}: valid pipelines are "
                              f"{', '.join(PIPELINES)}")
        out["pipeline"] = settings["pipeline"]
    if "precision" in settings:
        out["precision"] = _parse_precision(settings["precision"], f"{where}.precision")
    if "tables" in settings:
        tables = settings["tables"]
        if not isinstance(tables, dict):
            raise ConfigError(f"{where}.tables must map an activation to {{size, range}}")
        merged = {k: dict(v) for k, v in out.get("tables", {}).items()}
        for fn, spec in tables.items():
            if fn not in DEFAULT_CONFIG["tables"]:
                raise ConfigError(f"{where}.tables: no table for {fn!r}; tables exist for "
                                  f"{', '.join(DEFAULT_CONFIG['tables'])}")
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}.tables.{fn} must be a mapping with size and/or range")
            _check_keys(spec, ("size", "range"), f"{where}.tables.{fn}")
            if "size" in spec and (type(spec["size"]) is not int or spec["size"] not in TABLE_SIZES):
                raise ConfigError(f"{where}.tables.{fn}.size = {spec['size']!r}: valid sizes are "
                                  f"powers of two {TABLE_SIZES[0]}..{TABLE_SIZES[-1]}")
            if "range" in spec:
                r = spec["range"]
                if isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0 or \
                        float(r) != 2.0 ** round(math.log2(r)):
                    raise ConfigError(f"{where}.tables.{fn}.range = {r!r}: must be a power of two "
                                      "(e.g. 2, 4, 8, 16)")
            merged.setdefault(fn, {}).update(spec)
        out["tables"] = merged
    if "softmax" in settings:
        out["softmax"] = _parse_softmax(settings["softmax"], f"{where}.softmax")


def _parse_softmax(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping with keys among {', '.join(SOFTMAX_KEYS)}")
    _check_keys(value, SOFTMAX_KEYS, where)
    out = {}
    for key, v in value.items():
        if key == "implementation":
            if v not in SOFTMAX_IMPLEMENTATIONS:
                raise ConfigError(f"{where}.implementation = {v!r}: valid: "
                                  f"{', '.join(SOFTMAX_IMPLEMENTATIONS)} (hls4ml's 'legacy' is not "
                                  "reproduced)")
            out[key] = v
        elif key.endswith("size"):
            if type(v) is not int or v not in TABLE_SIZES:
                raise ConfigError(f"{where}.{key} = {v!r}: valid sizes are powers of two "
                                  f"{TABLE_SIZES[0]}..{TABLE_SIZES[-1]}")
            out[key] = v
        else:
            out[key] = _fmt(v, f"{where}.{key}")
    return out


def _parse_precision(value, where: str):
    if isinstance(value, (str, FixedFormat)):
        return {"default": _fmt(value, where)}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a format string or a mapping of tensor -> format")
    _check_keys(value, _ALL_PRECISION_KEYS, where)
    return {k: _fmt(v, f"{where}.{k}") for k, v in value.items()}


#: ``numerics: hls4ml`` only: a type hls4ml infers (its 'auto'), resolved by rnnrtl/hls4ml.py.
AUTO = "auto"


def _fmt(value, where) -> FixedFormat:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO   # checked in layer_config: numerics: hls4ml only
    try:
        return FixedFormat.parse(value)
    except FixedPointError as e:
        raise ConfigError(f"{where}: {e}") from None


def layer_config(config: dict, name: str, kind: str) -> LayerConfig:
    """The settings in force for layer ``name`` of ``kind`` (a key of :data:`PRECISION_KEYS`)."""
    scope = config["layers"].get(name, {})
    hls4ml = config.get("numerics") == "hls4ml"
    keys_by_kind = PRECISION_KEYS_HLS4ML if hls4ml else PRECISION_KEYS
    if kind not in keys_by_kind:
        raise ConfigError(f"layer {name!r}: numerics: hls4ml has no {kind} layer (hls4ml 1.3's Vivado "
                          f"backend does not compute one correctly); valid layers: "
                          f"{', '.join(k for k in keys_by_kind if k != 'input')}")
    top_prec = config["precision"]
    if isinstance(top_prec, str):
        top_prec = {"default": _fmt(top_prec, "precision")}
    layer_prec = scope.get("precision", {})
    for key in layer_prec:
        if key != "default" and key not in keys_by_kind[kind]:
            raise ConfigError(f"layers.{name}.precision: {key!r} is not a tensor of a {kind} layer"
                              f"{' under numerics: hls4ml' if hls4ml else ''}; "
                              f"valid: default, {', '.join(keys_by_kind[kind])}")
    valid = {k for keys in keys_by_kind.values() for k in keys} | {"default"}
    wrong = [k for k in top_prec if k not in valid]
    if wrong:
        raise ConfigError(f"precision: {wrong[0]!r} is not a tensor under numerics: "
                          f"{config.get('numerics', 'default')}; valid: {', '.join(sorted(valid))} "
                          "(docs/numerics.md, docs/hls4ml.md)")
    default = layer_prec.get("default", top_prec.get("default", _fmt(DEFAULT_PRECISION, "")))
    precision = {}
    for key in keys_by_kind[kind]:
        if hls4ml and key == "table" and key not in layer_prec and key not in top_prec:
            precision[key] = _fmt(HLS4ML_TABLE_PRECISION, "")  # hls4ml's own table default
        elif key in layer_prec:
            precision[key] = layer_prec[key]
        elif "default" in layer_prec and key != "activation":  # as at top level: an explicit
            precision[key] = layer_prec["default"]              # 'activation' key only
        elif key in top_prec:
            precision[key] = top_prec[key]
        elif key == "activation":
            precision[key] = None  # chosen by the activation function
        else:
            precision[key] = default
    if precision.get("default", default) == AUTO or default == AUTO or \
            (not hls4ml and AUTO in precision.values()):
        bad = "default" if default == AUTO else next(k for k, v in precision.items() if v == AUTO)
        raise ConfigError(f"layers.{name}.precision.{bad} = 'auto': 'auto' types are inferred as "
                          "hls4ml infers them, so they need numerics: hls4ml, and the default "
                          "precision must be explicit")
    reuse = scope.get("reuse", config.get("reuse", 1))
    tables = {k: dict(v) for k, v in config["tables"].items()}
    for fn, spec in scope.get("tables", {}).items():
        tables[fn].update(spec)
    return LayerConfig(
        precision=precision,
        reuse_input=scope.get("reuse_input", scope.get("reuse", config.get("reuse_input", reuse))),
        reuse_recurrent=scope.get("reuse_recurrent",
                                  scope.get("reuse", config.get("reuse_recurrent", reuse))),
        mode=scope.get("mode", config["mode"]),
        interleave=scope.get("interleave", config["interleave"]),
        pipeline=scope.get("pipeline", config["pipeline"]),
        tables=tables,
        softmax={**config.get("softmax", {}), **scope.get("softmax", {})} if hls4ml else None,
    )


def valid_reuse_factors(products: int) -> list[int]:
    """Reuse factors that leave no multiplier idle: the divisors of ``products``."""
    return [r for r in range(1, products + 1) if products % r == 0]


def check_reuse(reuse: int, products: int, where: str):
    """A reuse factor must be in ``1..products``; the error lists the valid ones."""
    if not 1 <= reuse <= products:
        divisors = valid_reuse_factors(products)
        raise ConfigError(
            f"{where}: reuse factor {reuse} is invalid for {products} products; valid: any whole "
            f"number 1..{products} (ceil({products}/R) multipliers); these divide {products} and keep "
            f"every multiplier busy: {', '.join(map(str, divisors))}")
