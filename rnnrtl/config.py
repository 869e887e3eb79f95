"""User configuration: a dict, or a YAML / JSON file, validated and resolved per layer.

Top-level keys (all optional)::

    precision: fixed<16,6>     # default format of every data tensor, or a dict of tensor -> format
    reuse: 1                   # reuse factor of every product (input and recurrent)
    reuse_input: 1             # ... of the input products W·x only
    reuse_recurrent: 1         # ... of the recurrent products U·h only
    mode: static               # static | unrolled (one cell per time step: rnnrtl.hw.unrolled)
    interleave: 1              # independent sequences in flight through a static cell
    pipeline: shallow          # shallow | deep (registers around every table read, for slower fabric) | fast (fewest cycles per step)
    tables:                    # activation tables: entries and input half-range (powers of two)
      sigmoid: {size: 2048, range: 8}
      tanh: {size: 2048, range: 4}
      hard_sigmoid: {size: 1024, range: 4}
    precision: auto            # (numerics: default) search the formats on data: rnnrtl.explore
    numerics: default          # default | hls4ml (hls4ml 1.3's arithmetic: docs/hls4ml.md)
    adder_fanin: 4             # terms summed per register stage of the adder trees (timing knob)
    multiplier: dsp            # dsp | lut | auto: products by '*' (DSPs) or shift-and-add in LUTs
    multiplier_input: dsp      # ... of the input products W·x only
    multiplier_recurrent: dsp  # ... of the recurrent products U·h only
    multiplier_elementwise: dsp  # dsp | lut: a recurrent cell's elementwise products (f·c, z·h, …): '*' or Booth adders
    timesteps: 20              # sequence length, for a model whose input has none (Input((None, F)))
    input: step                # step (one time step per input beat) | sequence (all T×F in one beat)
    weights: inline            # inline (constants of the Verilog) | file ($readmemh files beside it)
    layers:                    # per-layer overrides, by Keras layer name; same keys as above
      lstm: {precision: {state: "fixed<18,8>"}, reuse_recurrent: 2}   # quote formats inside {}

``numerics`` selects a profile (:mod:`rnnrtl.numerics`), and the profile declares the rest: which
tensor keys each layer kind has (:data:`rnnrtl.numerics.default.PRECISION_KEYS`, hls4ml's in
:mod:`rnnrtl.numerics.hls4ml`), the default precision and table size, tensors with a default of their
own, whether formats may be ``auto``, and scope keys of its own (hls4ml's ``softmax``). A dict
another tool wrote (an hls4ml configuration, with a ``Model`` key) is translated by the profile that
reproduces it first. This module parses, validates and resolves generically.

A ``precision`` dict may hold ``default`` and any tensor key of the layer kinds; a string sets every
tensor of its scope except those with a default of their own (``numerics: default``: the
``activation`` tensor, table outputs, ``fixed<18,2>`` for bounded activations, because a 16-bit
table output with 6 integer bits throws away precision sigmoid and tanh never use).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import numerics
from .errors import ConfigError
from .fixed import FixedFormat, FixedPointError
from .numerics import AUTO, FORMAT, SIZE, Choice
from .constmul_plan import MULTIPLIERS
from .schedule import DEFAULT_ADDER_FANIN, ELEMENTWISE_MULTIPLIERS

__all__ = ["ConfigError", "DEFAULT_CONFIG", "LayerConfig", "load_config", "normalize", "layer_config",
           "TABLE_SIZES", "MODES", "PIPELINES", "INPUTS", "WEIGHTS", "input_kind", "weights_kind",
           "is_auto_precision",
           "without_auto_precision"]

MODES = ("static", "unrolled")
#: What one input beat carries: ``step`` (one time step's features, the default) or ``sequence``
#: (all ``T × F`` features of a sequence, step-major: hls4ml's io_parallel; :mod:`rnnrtl.hw.network`).
INPUTS = ("step", "sequence")
#: Where the weights and biases of every matrix product live: ``inline`` (constants of the
#: circuit, folded into its structure: the default) or ``file`` (initialised memories whose shapes
#: depend on the formats only, their contents in ``$readmemh`` files: :mod:`rnnrtl.writer`).
WEIGHTS = ("inline", "file")
PIPELINES = ("shallow", "deep", "fast")   # keep in sync with rnnrtl.hw.pipelining.PRESETS
TABLE_SIZES = tuple(1 << k for k in range(4, 17))

DEFAULT_CONFIG = {
    "precision": numerics.PROFILES[numerics.DEFAULT].default_precision,
    "reuse": 1,
    "mode": "static",
    "interleave": 1,
    "pipeline": "shallow",
    "tables": {
        "sigmoid": {"size": 2048, "range": 8},
        "tanh": {"size": 2048, "range": 4},
        "hard_sigmoid": {"size": 1024, "range": 4},
    },
    "numerics": numerics.DEFAULT,
    "adder_fanin": DEFAULT_ADDER_FANIN,
    "layers": {},
}

#: Scope keys of every profile's own (e.g. hls4ml's ``softmax``): key -> (profile, Option).
_OPTIONS = {key: (p, option) for p in numerics.PROFILES.values() for key, option in p.options.items()}
_SCOPE_KEYS = ("precision", "reuse", "reuse_input", "reuse_recurrent", "mode", "interleave", "pipeline",
               "tables", "multiplier", "multiplier_input", "multiplier_recurrent",
               "multiplier_elementwise") + tuple(_OPTIONS)
#: Scope keys of recurrent layers only (refused on a Dense layer's own settings).
_RECURRENT_KEYS = ("reuse_recurrent", "mode", "interleave", "multiplier_recurrent",
                   "multiplier_elementwise")
_TOP_KEYS = _SCOPE_KEYS + ("numerics", "adder_fanin", "timesteps", "input", "weights", "layers")
_ALL_PRECISION_KEYS = sorted({k for p in numerics.PROFILES.values() for keys in p.precision_keys.values()
                              for k in keys} | {"default"})


@dataclass(frozen=True)
class LayerConfig:
    """The configuration in force for one layer, after defaults and overrides."""
    precision: dict            # tensor key -> FixedFormat (None: chosen by the profile; or AUTO)
    reuse_input: int
    reuse_recurrent: int
    mode: str
    interleave: int
    tables: dict               # function -> {"size": int, "range": float}
    pipeline: str = "shallow"
    adder_fanin: int = DEFAULT_ADDER_FANIN
    #: The network's default format (top-level ``precision`` default): what a profile's inferred
    #: (``auto``) types may fall back to.
    model_default: FixedFormat | None = None
    #: The profile's own scope keys (:attr:`rnnrtl.numerics.Profile.options`): key -> mapping
    #: (formats parsed), the layer's settings over the top level's.
    options: dict = field(default_factory=dict)
    #: Reuse knobs (``input``, ``recurrent``) whose factor is the top level's, not the layer's own:
    #: a factor too large for this layer's products is clamped (with a warning) rather than refused
    #: (:func:`rnnrtl.schedule.layer_schedule`).
    model_reuse: frozenset = frozenset()
    #: How the input / recurrent products are built: ``dsp``, ``lut`` or ``auto``
    #: (:mod:`rnnrtl.constmul_plan`).
    multiplier_input: str = "dsp"
    multiplier_recurrent: str = "dsp"
    #: How a recurrent cell's elementwise products are built: ``dsp`` (``*``) or ``lut``
    #: (:mod:`rnnrtl.hw.softmul`).
    multiplier_elementwise: str = "dsp"
    #: Where the weights live: ``inline`` or ``file`` (the top level's ``weights``).
    weights: str = "inline"

    def fmt(self, key: str) -> FixedFormat:
        return self.precision[key]


def load_config(source) -> dict:
    """A configuration from a dict, a ``.yaml``/``.yml``/``.json`` path, or ``None`` (defaults).

    Returns the validated, normalised dict (every key present).
    """
    if source is None:
        return normalize({})
    if isinstance(source, dict):
        for profile in numerics.PROFILES.values():  # another tool's configuration (hls4ml's)
            translated = profile.translate(source)
            if translated is not None:
                return normalize(translated)
        return normalize(source)
    if not isinstance(source, (str, Path)) and not hasattr(source, "__fspath__"):
        raise ConfigError(f"configuration must be a dict or a path to a YAML/JSON file, got "
                          f"{type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")   # (a byte-order mark is dropped)
    except UnicodeDecodeError as e:
        raise ConfigError(f"configuration file {str(path)!r} is not UTF-8 text (byte {e.start} is "
                          f"0x{e.object[e.start]:02x}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: {e.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_json_mapping)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = _load_yaml(text)
        else:
            raise ConfigError(f"configuration file {str(path)!r}: use a .yaml, .yml or .json file")
    except _DuplicateKey as e:
        raise ConfigError(f"configuration file {str(path)!r}: {e}") from None
    except (json.JSONDecodeError, ImportError) as e:
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: {e}") from None
    except Exception as e:  # yaml.YAMLError
        if type(e).__module__.startswith("yaml"):
            raise ConfigError(f"configuration file {str(path)!r} is not valid YAML: "
                              f"{' '.join(str(e).split())}") from None
        raise
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {str(path)!r} must hold a mapping at its top level")
    return load_config(data)


class _DuplicateKey(Exception):
    """A key given twice in one mapping of a configuration file (the later would win silently)."""


def _json_mapping(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"key {key!r} is given twice in one mapping; keep one")
        out[key] = value
    return out


def _load_yaml(text: str):
    """``yaml.safe_load`` refusing a key given twice in one mapping (PyYAML keeps the last one)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":   # '<<: *anchor': keys merged in
                        continue                                    # may be overridden, as in YAML
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.setdefault(key, key_node)
                    except TypeError:       # an unhashable key: SafeLoader's own error follows
                        continue
                    if first is not key_node:
                        raise _DuplicateKey(
                            f"key {key!r} on line {key_node.start_mark.line + 1} is given twice in "
                            f"one mapping (first on line {first.start_mark.line + 1}); keep one")
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=Loader)


def normalize(config: dict) -> dict:
    """Validate ``config`` and fill in defaults. Raises :class:`ConfigError` naming the bad key."""
    if not isinstance(config, dict):
        raise ConfigError(f"configuration must be a dict, got {type(config).__name__}")
    _check_keys(config, _TOP_KEYS, "configuration")
    out = {k: v for k, v in DEFAULT_CONFIG.items() if k != "layers"}
    out["tables"] = {k: dict(v) for k, v in DEFAULT_CONFIG["tables"].items()}
    profile = numerics.profile(config.get("numerics", numerics.DEFAULT))
    out["precision"] = profile.default_precision
    if profile.table_size is not None:
        for spec in out["tables"].values():
            spec["size"] = profile.table_size
    if _top_auto(config, profile):   # a search on data chooses the formats (rnnrtl.explore)
        _merge_scope(out, {k: v for k, v in config.items() if k != "precision"}, "configuration")
        out["precision"] = AUTO
    else:
        _merge_scope(out, config, "configuration")
    out["numerics"] = profile.name
    layer_scopes = config.get("layers") if isinstance(config.get("layers"), dict) else {}
    for key, (owner, option) in _OPTIONS.items():
        if key not in profile.options and any(key in scope for scope in [
                config, *(s for s in layer_scopes.values() if isinstance(s, dict))]):
            raise ConfigError(f"{key!r} settings {option.about}; they need numerics: {owner.name} "
                              f"(numerics: {profile.name} has no {key!r} settings)")
    fanin = config.get("adder_fanin", DEFAULT_CONFIG["adder_fanin"])
    if isinstance(fanin, bool) or not isinstance(fanin, int) or fanin < 2:
        raise ConfigError(f"adder_fanin = {fanin!r}: must be a whole number >= 2")
    out["adder_fanin"] = fanin
    if "timesteps" in config:  # absent unless given: the model's own length (rnnrtl.design)
        steps = config["timesteps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"timesteps = {steps!r}: must be a whole number >= 1 (the sequence "
                              "length of a model whose input has none)")
        out["timesteps"] = steps
    if "input" in config:  # absent unless given: "step" (input_kind), every other design unchanged
        if config["input"] not in INPUTS:
            raise ConfigError(f"input = {config['input']!r}: valid values are {', '.join(INPUTS)} "
                              "(one time step per input beat, or a whole sequence per beat)")
        out["input"] = config["input"]
    if "weights" in config:  # absent unless given: "inline" (weights_kind), every design unchanged
        if config["weights"] not in WEIGHTS:
            raise ConfigError(f"weights = {config['weights']!r}: valid values are "
                              f"{', '.join(WEIGHTS)} (constants of the Verilog, or $readmemh files "
                              "beside it: rnnrtl convert --weights-file)")
        out["weights"] = config["weights"]
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
    if weights_kind(out) == "file":
        _check_weights_file(out)
    return out


def weights_kind(config: dict | None) -> str:
    """Where the weights live under the (normalised) ``config``: ``"inline"`` unless it says
    ``weights: file``."""
    return (config or {}).get("weights", "inline")


def _check_weights_file(config: dict):
    """Refuse settings whose circuit depends on the weight values, which ``weights: file`` keeps
    out of the Verilog: ``lut`` products are shift-and-add structure made of the weights, and
    ``auto`` chooses between ``lut`` and ``dsp`` by them."""
    scopes = [("", config)] + [(f"layers.{name}.", scope)
                               for name, scope in config["layers"].items()]
    for where, scope in scopes:
        for key in ("multiplier", "multiplier_input", "multiplier_recurrent"):
            if scope.get(key, "dsp") != "dsp":
                raise ConfigError(
                    f"{where}{key} = {scope[key]!r} with weights: file: {scope[key]} products are "
                    "built from the weight values (lut: shift-and-add of each constant; auto: "
                    "chosen by them), so new weights would need new Verilog; with weights: file "
                    "use multiplier: dsp (or weights: inline)")


def input_kind(config: dict | None) -> str:
    """What one input beat carries under the (normalised) ``config``: ``"step"`` unless it says
    ``input: sequence``."""
    return (config or {}).get("input", "step")


def _top_auto(config: dict, profile) -> bool:
    """Whether ``config`` says ``precision: auto`` at its top level under a profile without inferred
    types (``numerics: default``): the formats are searched on data (:mod:`rnnrtl.explore`). Under
    ``numerics: hls4ml`` ``auto`` stays the profile's inferred type of a tensor (per-tensor only)."""
    value = config.get("precision")
    return isinstance(value, str) and value.strip().lower() == AUTO and not profile.auto_types


def is_auto_precision(config: dict) -> bool:
    """Whether a configuration (normalised or not) asks for ``precision: auto``: formats searched on
    data by :func:`rnnrtl.explore.explore` (``rnnrtl convert --data`` runs it)."""
    return _top_auto(config, numerics.profile(config.get("numerics", numerics.DEFAULT)))


def without_auto_precision(config: dict) -> dict:
    """``config`` with its top-level ``precision: auto`` replaced by the profile's default
    precision (where the search starts)."""
    profile = numerics.profile(config.get("numerics", numerics.DEFAULT))
    return {**config, "precision": profile.default_precision}


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
    for key in ("multiplier", "multiplier_input", "multiplier_recurrent"):
        if key in settings:
            if settings[key] not in MULTIPLIERS:
                raise ConfigError(f"{where}.{key} = {settings[key]!r}: valid multipliers are "
                                  f"{', '.join(MULTIPLIERS)} (dsp: '*' operators; lut: shift-and-add "
                                  "of the constant weights; auto: per matrix)")
            out[key] = settings[key]
    if "multiplier_elementwise" in settings:
        if settings["multiplier_elementwise"] not in ELEMENTWISE_MULTIPLIERS:
            raise ConfigError(f"{where}.multiplier_elementwise = {settings['multiplier_elementwise']!r}: "
                              f"valid are {', '.join(ELEMENTWISE_MULTIPLIERS)} (dsp: '*' operators; "
                              "lut: Booth partial products summed by adders in the fabric)")
        out["multiplier_elementwise"] = settings["multiplier_elementwise"]
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
                if not _power_of_two(r):
                    raise ConfigError(f"{where}.tables.{fn}.range = {r!r}: must be a power of two "
                                      f"from 2**-{TABLE_RANGE_EXPONENT} to 2**{TABLE_RANGE_EXPONENT} "
                                      "(e.g. 2, 4, 8, 16)")
            merged.setdefault(fn, {}).update(spec)
        out["tables"] = merged
    for key, (_, option) in _OPTIONS.items():
        if key in settings:
            out[key] = _parse_option(settings[key], option, f"{where}.{key}")


#: Table half-ranges accepted: powers of two ``2**-k .. 2**k`` (the table geometry's shifts stay
#: within int64 for any input format).
TABLE_RANGE_EXPONENT = 32


def _power_of_two(r) -> bool:
    """Whether ``r`` is a number (not a bool) equal to a power of two within
    ``2**±TABLE_RANGE_EXPONENT``."""
    if isinstance(r, bool) or not isinstance(r, (int, float)):
        return False
    try:
        r = float(r)
    except OverflowError:       # an int beyond float's range
        return False
    if not math.isfinite(r) or r <= 0:
        return False
    exponent = round(math.log2(r))
    return abs(exponent) <= TABLE_RANGE_EXPONENT and r == 2.0 ** exponent


def _parse_option(value, option, where: str) -> dict:
    """A profile's own scope key (:class:`rnnrtl.numerics.Option`): a mapping of formats, table
    sizes and choices."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping with keys among {', '.join(option.keys)}")
    _check_keys(value, tuple(option.keys), where)
    out = {}
    for key, v in value.items():
        kind = option.keys[key]
        if isinstance(kind, Choice):
            if v not in kind.values:
                note = f" ({kind.note})" if kind.note else ""
                raise ConfigError(f"{where}.{key} = {v!r}: valid: {', '.join(kind.values)}{note}")
            out[key] = v
        elif kind == SIZE:
            if type(v) is not int or v not in TABLE_SIZES:
                raise ConfigError(f"{where}.{key} = {v!r}: valid sizes are powers of two "
                                  f"{TABLE_SIZES[0]}..{TABLE_SIZES[-1]}")
            out[key] = v
        else:
            assert kind == FORMAT, kind
            out[key] = _fmt(v, f"{where}.{key}")
    return out


def _parse_precision(value, where: str):
    if isinstance(value, (str, FixedFormat)):
        return {"default": _fmt(value, where)}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a format string or a mapping of tensor -> format")
    _check_keys(value, _ALL_PRECISION_KEYS, where)
    return {k: _fmt(v, f"{where}.{k}") for k, v in value.items()}


def _fmt(value, where) -> FixedFormat:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO   # inferred by the profile; checked in layer_config (Profile.auto_types)
    try:
        return FixedFormat.parse(value)
    except FixedPointError as e:
        raise ConfigError(f"{where}: {e}") from None


def layer_config(config: dict, name: str, kind: str) -> LayerConfig:
    """The settings in force for layer ``name`` of ``kind`` (a layer kind of the configuration's
    profile, e.g. ``lstm``; ``input`` for the network input)."""
    scope = config["layers"].get(name, {})
    profile = numerics.profile(config.get("numerics", numerics.DEFAULT))
    under = f"numerics: {profile.name}"
    keys_by_kind = profile.precision_keys
    if kind not in keys_by_kind:
        raise ConfigError(f"layer {name!r}: {under} has no {kind} layer{profile.missing_kind_note}; "
                          f"valid layers: {', '.join(k for k in keys_by_kind if k != 'input')}")
    if "recurrent_weight" not in keys_by_kind[kind]:    # not a recurrent layer: no time axis
        wrong = [key for key in _RECURRENT_KEYS if key in scope]
        if wrong:
            takes = [k for k in _SCOPE_KEYS if k not in _RECURRENT_KEYS
                     and (k not in _OPTIONS or k in profile.options)]
            raise ConfigError(f"layers.{name}.{wrong[0]}: a {kind} layer has no time steps or "
                              f"recurrent products, so {wrong[0]!r} means nothing there; a {kind} "
                              f"layer takes {', '.join(takes)}")
    top_prec = config["precision"]
    if isinstance(top_prec, str) and top_prec == AUTO and not profile.auto_types:
        raise ConfigError("precision: auto chooses every format by a search on data the model is "
                          "compared on: give the data (rnnrtl convert MODEL --data DATA.npz -c "
                          "CONFIG, or rnnrtl explore MODEL --data DATA.npz), or set precision to a "
                          "format such as fixed<16,6>")
    if isinstance(top_prec, (str, FixedFormat)):
        top_prec = {"default": _fmt(top_prec, "precision")}
    layer_prec = scope.get("precision", {})
    for key in layer_prec:
        if key != "default" and key not in keys_by_kind[kind]:
            raise ConfigError(f"layers.{name}.precision: {key!r} is not a tensor of a {kind} layer "
                              f"under {under}; valid: default, {', '.join(keys_by_kind[kind])}")
    valid = {k for keys in keys_by_kind.values() for k in keys} | {"default"}
    wrong = [k for k in top_prec if k not in valid]
    if wrong:
        raise ConfigError(f"precision: {wrong[0]!r} is not a tensor under {under}; valid: "
                          f"{', '.join(sorted(valid))} (docs/numerics.md, docs/hls4ml.md)")
    model_default = top_prec.get("default", _fmt(profile.default_precision, ""))
    default = layer_prec.get("default", model_default)
    precision = {}
    for key in keys_by_kind[kind]:
        if key in layer_prec:
            precision[key] = layer_prec[key]
        elif key in profile.own_precision:      # not set by a 'default': its own key only
            own = profile.own_precision[key]
            precision[key] = top_prec[key] if key in top_prec else own and _fmt(own, "")
        elif "default" in layer_prec:
            precision[key] = layer_prec["default"]
        elif key in top_prec:
            precision[key] = top_prec[key]
        else:
            precision[key] = default
    if default == AUTO or model_default == AUTO or \
            (not profile.auto_types and AUTO in precision.values()):
        bad = "default" if AUTO in (default, model_default) else \
            next(k for k, v in precision.items() if v == AUTO)
        need = ", ".join(f"numerics: {p.name}" for p in numerics.PROFILES.values() if p.auto_types)
        raise ConfigError(f"layers.{name}.precision.{bad} = 'auto': 'auto' types are inferred as "
                          f"the profile infers them, so they need {need}, and the default "
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
        adder_fanin=config.get("adder_fanin", DEFAULT_ADDER_FANIN),
        tables=tables,
        model_default=model_default,
        options={key: {**config.get(key, {}), **scope.get(key, {})} for key in profile.options},
        model_reuse=frozenset(source for source in ("input", "recurrent")
                              if "reuse" not in scope and f"reuse_{source}" not in scope),
        weights=weights_kind(config),
        multiplier_elementwise=scope.get("multiplier_elementwise",
                                         config.get("multiplier_elementwise", "dsp")),
        **{f"multiplier_{source}": scope.get(f"multiplier_{source}", scope.get(
            "multiplier", config.get(f"multiplier_{source}", config.get("multiplier", "dsp"))))
           for source in ("input", "recurrent")},
    )
