"""User configuration: a dict, or a YAML / JSON file, validated and resolved per layer.

Top-level keys (all optional)::

    precision: fixed<16,6>     # default format of every data tensor, or a dict of tensor -> format
    reuse: 1                   # reuse factor of every product (input and recurrent)
    reuse_input: 1             # ... of the input products W·x only
    reuse_recurrent: 1         # ... of the recurrent products U·h only
    mode: static               # static | unrolled
    interleave: 1              # independent sequences in flight through a static cell
    tables:                    # activation tables: entries and input half-range (powers of two)
      sigmoid: {size: 2048, range: 8}
      tanh: {size: 2048, range: 4}
      hard_sigmoid: {size: 1024, range: 4}
    numerics: default
    adder_fanin: 4             # terms summed per register stage of the adder trees (timing knob)
    layers:                    # per-layer overrides, by Keras layer name; same keys as above
      lstm: {precision: {state: fixed<18,8>}, reuse_recurrent: 2}

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

__all__ = ["ConfigError", "PRECISION_KEYS", "DEFAULT_CONFIG", "LayerConfig", "load_config",
           "normalize", "layer_config", "valid_reuse_factors", "check_reuse"]


class ConfigError(ValueError):
    """A configuration that cannot be honoured; the message names the key and the valid choices."""


#: Tensors whose format can be set, per layer kind.
PRECISION_KEYS = {
    "input": ("result",),
    "dense": ("weight", "bias", "accum", "activation", "result"),
    "simplernn": ("weight", "recurrent_weight", "bias", "accum", "activation", "result"),
    "lstm": ("weight", "recurrent_weight", "bias", "accum", "activation", "state", "result"),
    "gru": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "activation",
            "recurrent", "result"),
}
_ALL_PRECISION_KEYS = sorted({k for keys in PRECISION_KEYS.values() for k in keys} | {"default"})

DEFAULT_PRECISION = "fixed<16,6>"
DEFAULT_ACTIVATION_PRECISION = "fixed<18,2>"
MODES = ("static", "unrolled")
NUMERICS = ("default",)
TABLE_SIZES = tuple(1 << k for k in range(4, 17))

DEFAULT_CONFIG = {
    "precision": DEFAULT_PRECISION,
    "reuse": 1,
    "mode": "static",
    "interleave": 1,
    "tables": {
        "sigmoid": {"size": 2048, "range": 8},
        "tanh": {"size": 2048, "range": 4},
        "hard_sigmoid": {"size": 1024, "range": 4},
    },
    "numerics": "default",
    "adder_fanin": 4,
    "layers": {},
}

_SCOPE_KEYS = ("precision", "reuse", "reuse_input", "reuse_recurrent", "mode", "interleave", "tables")
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

    def fmt(self, key: str) -> FixedFormat:
        return self.precision[key]


def load_config(source) -> dict:
    """A configuration from a dict, a ``.yaml``/``.yml``/``.json`` path, or ``None`` (defaults).

    Returns the validated, normalised dict (every key present).
    """
    if source is None:
        return normalize({})
    if isinstance(source, dict):
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
    return normalize(data)


def normalize(config: dict) -> dict:
    """Validate ``config`` and fill in defaults. Raises :class:`ConfigError` naming the bad key."""
    if not isinstance(config, dict):
        raise ConfigError(f"configuration must be a dict, got {type(config).__name__}")
    _check_keys(config, _TOP_KEYS, "configuration")
    out = {k: v for k, v in DEFAULT_CONFIG.items() if k != "layers"}
    out["tables"] = {k: dict(v) for k, v in DEFAULT_CONFIG["tables"].items()}
    _merge_scope(out, config, "configuration")
    numerics = config.get("numerics", "default")
    if numerics not in NUMERICS:
        raise ConfigError(f"numerics {numerics!r} is not supported; valid: {', '.join(NUMERICS)}")
    out["numerics"] = numerics
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


def _parse_precision(value, where: str):
    if isinstance(value, (str, FixedFormat)):
        return {"default": _fmt(value, where)}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a format string or a mapping of tensor -> format")
    _check_keys(value, _ALL_PRECISION_KEYS, where)
    return {k: _fmt(v, f"{where}.{k}") for k, v in value.items()}


def _fmt(value, where) -> FixedFormat:
    try:
        return FixedFormat.parse(value)
    except FixedPointError as e:
        raise ConfigError(f"{where}: {e}") from None


def layer_config(config: dict, name: str, kind: str) -> LayerConfig:
    """The settings in force for layer ``name`` of ``kind`` (a key of :data:`PRECISION_KEYS`)."""
    scope = config["layers"].get(name, {})
    top_prec = config["precision"]
    if isinstance(top_prec, str):
        top_prec = {"default": _fmt(top_prec, "precision")}
    layer_prec = scope.get("precision", {})
    for key in layer_prec:
        if key != "default" and key not in PRECISION_KEYS[kind]:
            raise ConfigError(f"layers.{name}.precision: {key!r} is not a tensor of a {kind} layer; "
                              f"valid: default, {', '.join(PRECISION_KEYS[kind])}")
    default = layer_prec.get("default", top_prec.get("default", _fmt(DEFAULT_PRECISION, "")))
    precision = {}
    for key in PRECISION_KEYS[kind]:
        if key in layer_prec:
            precision[key] = layer_prec[key]
        elif "default" in layer_prec and key != "activation":  # as at top level: an explicit
            precision[key] = layer_prec["default"]              # 'activation' key only
        elif key in top_prec:
            precision[key] = top_prec[key]
        elif key == "activation":
            precision[key] = None  # chosen by the activation function
        else:
            precision[key] = default
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
        tables=tables,
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
