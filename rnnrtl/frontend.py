"""Keras frontend: load a model safely and normalise it into a chain of float layers.

A model file is inspected *before* Keras deserializes it: its stored configuration is read as
JSON, and any layer class outside :data:`SUPPORTED_LAYERS` (a ``Lambda``, a custom object, a
``Bidirectional`` …) is refused with its name — nothing from the file is executed. Loading then
uses Keras' ``safe_mode=True`` as a second line of defence. A ``.h5`` file written by Keras 2 is
never given to Keras: :mod:`rnnrtl.keras_h5` reads its JSON and weights with h5py.

The result is a list of :class:`FloatLayer` — Keras semantics normalised: matrices as
``[outputs, inputs]``, gates in Keras order (LSTM i f c o, GRU z r h), GRU biases split into input
and recurrent parts, ``Activation`` layers folded into the preceding ``Dense``, ``Dropout`` dropped,
``TimeDistributed(Dense)`` the same as a ``Dense`` on a sequence. Each Keras class has one small
normaliser taking ``(class name, config dict, weight arrays, chain so far, final?)``
(:data:`NORMALISERS`), shared by Keras 3 objects / ``.keras`` files and Keras 2 ``.h5`` files.
A ``Bidirectional`` wrapper becomes a :class:`FloatBidirectional` holding its two recurrent
layers (:func:`_bidirectional`).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .activations import FUNCTIONS, keras_activation
from .errors import UnsupportedModelError
from .hgq2_load import is_hgq2_model, load_hgq2
from .keras_h5 import CONTAINERS
from .keras_h5 import is_keras2_h5, read_keras2_h5

__all__ = ["UnsupportedModelError", "FloatLayer", "FloatBidirectional", "FloatModel", "SUPPORTED_LAYERS",
           "SUPPORTED_ACTIVATIONS", "SUPPORTED_WRAPPED", "RECURRENT_OPTIONS", "NORMALISERS", "Chain",
           "check_model_path", "load_keras", "from_keras", "normalise_layers", "reject_options",
           "keras_from_float"]

SUPPORTED_LAYERS = ("InputLayer", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "TimeDistributed", "Activation",
                    "Dropout", "Masking")
#: Wrapper layers and the classes each may wrap.
SUPPORTED_WRAPPED = {"TimeDistributed": ("Dense",)}
SUPPORTED_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softmax (final layer)")
_RECURRENT = ("LSTM", "GRU", "SimpleRNN")


@dataclass
class FloatLayer:
    """One layer with float weights in rnnrtl's orientation (see the module docstring)."""
    kind: str                      # "dense" | "simplernn" | "lstm" | "gru"
    name: str
    in_features: int
    units: int
    kernel: np.ndarray             # [G·N, F]
    bias: np.ndarray | None        # [G·N]
    activation: str
    recurrent: np.ndarray | None = None        # [G·N, N]
    recurrent_bias: np.ndarray | None = None   # GRU reset_after only
    recurrent_activation: str | None = None
    return_sequences: bool = False
    reset_after: bool = True
    go_backwards: bool = False


@dataclass
class FloatBidirectional:
    """A Keras ``Bidirectional``: its ``forward`` and ``backward`` recurrent :class:`FloatLayer`
    (the backward one with ``go_backwards`` set, as Keras builds it) and ``merge_mode``; ``units``
    is the merged width."""
    name: str
    in_features: int
    units: int
    forward: FloatLayer
    backward: FloatLayer
    merge_mode: str
    return_sequences: bool
    kind: str = "bidirectional"
    activation: str = "linear"


@dataclass
class FloatModel:
    name: str
    input_name: str
    timesteps: int | None
    in_features: int
    layers: list[FloatLayer] = field(default_factory=list)
    keras_model: object = field(default=None, repr=False)
    #: ``Masking(mask_value)`` right after the input (:mod:`rnnrtl.masking`): its value and the
    #: layer's name; ``None`` without one.
    mask_value: float | None = None
    mask_layer: str | None = None


def _supported_text() -> str:
    """The supported layer classes for a message, wrappers with what they may wrap."""
    return ", ".join(f"{cls}({'/'.join(SUPPORTED_WRAPPED[cls])})" if cls in SUPPORTED_WRAPPED else cls
                     for cls in SUPPORTED_LAYERS)


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # silences TensorFlow's start-up notice
    import keras
    return keras


# -- safe loading ----------------------------------------------------------------------------------

def _stored_config(path: Path) -> dict:
    """The model configuration stored in a ``.keras`` or ``.h5`` file, read as plain JSON.

    Raises :class:`UnsupportedModelError` for a file that is not of its kind (not a zip, not
    HDF5, empty) or whose stored configuration is not UTF-8 JSON."""
    where = f"model file {str(path)!r}"
    if path.suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as zf:
                raw = zf.read("config.json")
        except zipfile.BadZipFile:
            empty = " (the file is empty)" if path.stat().st_size == 0 else ""
            raise UnsupportedModelError(f"{where} is not a .keras archive (a zip file){empty}; save "
                                        "the model with model.save('model.keras')") from None
        except KeyError:
            raise UnsupportedModelError(f"{where}: the .keras archive holds no config.json; save "
                                        "the model with model.save('model.keras')") from None
        return _json_config(raw, f"{where}: config.json")
    if path.suffix in (".h5", ".hdf5"):
        import h5py
        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
        except OSError:
            empty = " (the file is empty)" if path.stat().st_size == 0 else ""
            raise UnsupportedModelError(f"{where} is not an HDF5 file{empty}; save the model with "
                                        "model.save('model.h5') or use .keras") from None
        if raw is None:
            raise UnsupportedModelError(f"{where}: HDF5 file holds weights only, no model configuration")
        return _json_config(raw, f"{where}: its model_config attribute")
    raise UnsupportedModelError(f"{where}: unknown model file type {path.suffix!r}; use .keras or .h5")


def _json_config(raw, where: str) -> dict:
    """A stored model configuration (``bytes`` or ``str``) parsed as a JSON object."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not isinstance(text, str):
            raise TypeError(f"it holds {type(raw).__name__}, not text")
        config = json.loads(text)
    except UnicodeDecodeError as e:
        raise UnsupportedModelError(f"{where} is not UTF-8 text ({e.reason} at byte {e.start}); "
                                    "it must be the JSON Keras writes") from None
    except (json.JSONDecodeError, TypeError) as e:
        raise UnsupportedModelError(f"{where} is not JSON ({e}); it must be the JSON Keras "
                                    "writes") from None
    if not isinstance(config, dict):
        raise UnsupportedModelError(f"{where} holds a JSON {type(config).__name__}, not the "
                                    "object Keras writes")
    return config


def _check_classes(cfg, where="model"):
    """Walk a stored configuration; refuse any class rnnrtl does not support, before loading.

    Containers are walked into (their ``layers``, or the plain list an old Keras 2 ``Sequential``
    stores), and so is the layer a wrapper (``TimeDistributed``) holds, which must be one of
    :data:`SUPPORTED_WRAPPED`."""
    if isinstance(cfg, list):
        for item in cfg:
            _check_classes(item, where)
        return
    if not isinstance(cfg, dict):
        return
    cls = cfg.get("class_name")
    inner = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    if cls is not None and ("layers" in inner or cls in CONTAINERS):
        if cls not in CONTAINERS:
            raise UnsupportedModelError(f"model container {cls!r} is not supported; use a Keras "
                                        "Sequential or functional model")
        _check_classes(cfg.get("config") if isinstance(cfg.get("config"), list)
                       else inner.get("layers", []), where)
        return
    if cls is not None and "name" in inner:
        if cfg.get("registered_name") not in (None, cls) or \
                cfg.get("module") not in (None, "keras.layers"):
            raise UnsupportedModelError(
                f"layer {inner['name']!r} is a custom object ({cfg.get('registered_name') or cls}); "
                f"custom objects are refused (their code is never run). Supported layers: "
                f"{_supported_text()}")
        if cls == "Bidirectional":  # the wrapped layers are refused here too, before loading
            for key in ("layer", "backward_layer"):
                sub = inner.get(key)
                if sub is not None:
                    _check_classes(sub, where)
                    if not isinstance(sub, dict) or sub.get("class_name") not in _RECURRENT:
                        got = sub.get("class_name") if isinstance(sub, dict) else type(sub).__name__
                        raise UnsupportedModelError(
                            f"layer {inner['name']!r}: Bidirectional {key} of type {got} is not "
                            f"supported; it must be one of {', '.join(_RECURRENT)}")
        if cls not in SUPPORTED_LAYERS:
            extra = " (its code is never run)" if cls == "Lambda" else ""
            raise UnsupportedModelError(
                f"layer {inner['name']!r} of type {cls} is not supported{extra}; supported layers: "
                f"{_supported_text()}")
        if cls in SUPPORTED_WRAPPED:
            wrapped = inner.get("layer")
            wrapped_cls = wrapped.get("class_name") if isinstance(wrapped, dict) else None
            if wrapped_cls not in SUPPORTED_WRAPPED[cls]:
                extra = " (its code is never run)" if wrapped_cls == "Lambda" else ""
                raise UnsupportedModelError(
                    f"layer {inner['name']!r}: {cls}({wrapped_cls}) is not supported{extra}; "
                    f"supported: {', '.join(f'{cls}({c})' for c in SUPPORTED_WRAPPED[cls])}")
            _check_classes(wrapped, where)


def check_model_path(path: Path):
    """Refuse a model path that is not a file (missing, or a directory) with one line."""
    if path.is_dir():
        raise UnsupportedModelError(f"model {str(path)!r} is a directory; give a .keras or .h5 "
                                    "model file")
    if not path.is_file():
        raise UnsupportedModelError(f"model file {str(path)!r} does not exist")


def load_keras(model):
    """A ``keras.Model`` from a model object or a ``.keras`` / ``.h5`` path, loaded safely.

    A Keras 2 ``.h5`` file is never given to Keras (Keras 3 cannot read its legacy options): the
    model returned is rebuilt in Keras 3 from the validated float layers
    (:func:`keras_from_float`), computing the same float outputs."""
    keras = _keras()
    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise UnsupportedModelError(f"expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")
    path = Path(model)
    check_model_path(path)
    if is_keras2_h5(path):
        return _from_keras2_h5(path).keras_model
    if is_hgq2_model(path):   # HGQ2 classes (numerics: hgq2): checked by rnnrtl.hgq2_load
        return load_hgq2(path)
    _check_classes(_stored_config(path))
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError/TypeError with its own wording
        raise UnsupportedModelError(f"{path}: Keras refused to load the model in safe mode: {e}") from None


# -- normalisation: one small function per Keras class ---------------------------------------------
#
# Each takes (class name, the layer's configuration dict, its weight arrays in Keras' order, the
# chain built so far, whether it is the last computing layer) and returns the FloatLayer it adds,
# or None when it adds none (an Activation folded into the Dense before it). The .keras / model
# object path (``layer.get_config()``, ``layer.get_weights()``) and the Keras 2 HDF5 reader
# (:mod:`rnnrtl.keras_h5`: the stored JSON and weight datasets) share them through
# :func:`normalise_layers`.

@dataclass
class Chain:
    """What a layer's normaliser sees of the layers before it."""
    layers: list[FloatLayer]
    features: int          # the features each step (or the single vector) carries into the layer
    sequence: bool         # a sequence flows into the layer (not a single vector)


def _act(name: str, cfg: dict, key: str, final: bool) -> str:
    value = cfg.get(key)
    value = keras_activation(value) if isinstance(value, (str, type(None))) else repr(value)
    ok = [a for a in FUNCTIONS if a != "softmax" or final]
    if value not in ok:
        where = "" if value != "softmax" else " except on the final layer"
        raise UnsupportedModelError(
            f"layer {name!r}: {key}={value!r} is not supported{where}; supported: "
            f"{', '.join(SUPPORTED_ACTIVATIONS)}")
    return value


#: Options of a recurrent layer (Keras 3 and Keras 2's legacy ones) whose other value changes what
#: the layer computes at inference, with the one value rnnrtl supports.
RECURRENT_OPTIONS = {"return_state": False, "stateful": False, "time_major": False}


def reject_options(name: str, cfg: dict):
    """Refuse a recurrent layer configuration with an option rnnrtl does not reproduce (naming the
    layer, the option and the supported value). Options that only act in training (``dropout``,
    ``recurrent_dropout``) or only choose how the same arithmetic is run (``unroll``,
    ``implementation``) are accepted whatever their value."""
    for option, good in RECURRENT_OPTIONS.items():
        if option in cfg and cfg[option] != good:
            raise UnsupportedModelError(
                f"layer {name!r}: option {option}={cfg[option]} is not supported; supported: "
                f"{option}={good} (LSTM/GRU/SimpleRNN with return_sequences true or false)")


def _check_weights(name: str, cls: str, weights, shapes):
    """Refuse weight arrays whose shapes are not ``shapes`` (a file inconsistent with its
    configuration), naming the layer and both lists of shapes."""
    have = [tuple(np.shape(w)) for w in weights]
    if have != [tuple(s) for s in shapes]:
        raise UnsupportedModelError(
            f"layer {name!r} ({cls}): weights of shapes {have or 'none'} do not fit its configuration "
            f"(expected {[tuple(s) for s in shapes]}); the model file is inconsistent")


_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _recurrent(cls: str, cfg: dict, weights, chain: Chain, final: bool) -> FloatLayer:
    name = cfg["name"]
    if not chain.sequence:
        raise UnsupportedModelError(
            f"layer {name!r}: a recurrent layer needs a sequence input; set "
            "return_sequences=True on the recurrent layer before it")
    reject_options(name, cfg)
    units, features = int(cfg["units"]), chain.features
    gn = _GATES[cls] * units
    reset_after = bool(cfg.get("reset_after", False)) if cls == "GRU" else True
    use_bias = cfg.get("use_bias", True)
    shapes = [(features, gn), (units, gn)]
    if use_bias:
        shapes.append((2, gn) if cls == "GRU" and reset_after else (gn,))
    _check_weights(name, cls, weights, shapes)
    bias = recurrent_bias = None
    if use_bias:
        if cls == "GRU" and reset_after:
            bias, recurrent_bias = weights[2][0], weights[2][1]
        else:
            bias = weights[2]
    return FloatLayer(
        kind=cls.lower(), name=name, in_features=features, units=units,
        kernel=weights[0].T, bias=bias, activation=_act(name, cfg, "activation", False),
        recurrent=weights[1].T, recurrent_bias=recurrent_bias,
        recurrent_activation=(_act(name, cfg, "recurrent_activation", False)
                              if cls != "SimpleRNN" else None),
        return_sequences=bool(cfg.get("return_sequences", False)), reset_after=reset_after,
        go_backwards=bool(cfg.get("go_backwards", False)))


def _bidirectional(cls: str, cfg: dict, weights, chain: Chain, final: bool) -> FloatBidirectional:
    """A Keras ``Bidirectional`` from its configuration (``layer``, optional ``backward_layer``,
    ``merge_mode``) and weights (the forward layer's, then the backward layer's), each direction
    normalised by :func:`_recurrent`.

    Without ``backward_layer`` (Keras 2 files, or a Keras 3 wrapper given one layer) Keras builds
    the backward layer from ``layer``'s configuration with ``go_backwards`` flipped; the directions
    are named ``forward_<name>`` and ``backward_<name>`` as Keras names them."""
    from copy import deepcopy
    name = cfg["name"]
    if not chain.sequence:
        raise UnsupportedModelError(
            f"layer {name!r}: a recurrent layer needs a sequence input; set "
            "return_sequences=True on the recurrent layer before it")
    merge = cfg.get("merge_mode", "concat")
    if merge not in ("concat", "sum", "ave", "mul"):
        raise UnsupportedModelError(
            f"layer {name!r}: Bidirectional merge_mode={merge!r} is not supported; supported: "
            "concat, sum, ave, mul")
    fwd = deepcopy(cfg["layer"])
    bwd = deepcopy(cfg.get("backward_layer") or cfg["layer"])
    if cfg.get("backward_layer") is None:
        bwd["config"]["go_backwards"] = not fwd["config"].get("go_backwards", False)
    for prefix, sub in (("forward_", fwd), ("backward_", bwd)):
        inner = sub["config"]
        if not str(inner.get("name", "")).startswith(prefix):
            inner["name"] = prefix + str(inner.get("name", sub["class_name"].lower()))
        if sub["class_name"] not in _RECURRENT:
            raise UnsupportedModelError(
                f"layer {name!r}: Bidirectional of {sub['class_name']} is not supported; it must "
                f"be one of {', '.join(_RECURRENT)}")
    if bool(fwd["config"].get("return_sequences", False)) != \
            bool(bwd["config"].get("return_sequences", False)):
        raise UnsupportedModelError(f"layer {name!r}: forward and backward layers must agree on "
                                    "return_sequences")
    n_fwd = 3 if fwd["config"].get("use_bias", True) else 2
    inner_chain = Chain(layers=[], features=chain.features, sequence=True)
    forward = _recurrent(fwd["class_name"], fwd["config"], weights[:n_fwd], inner_chain, False)
    backward = _recurrent(bwd["class_name"], bwd["config"], weights[n_fwd:], inner_chain, False)
    if merge != "concat" and forward.units != backward.units:
        raise UnsupportedModelError(
            f"layer {name!r}: merge_mode={merge!r} needs forward and backward layers of equal "
            f"units, got {forward.units} and {backward.units}; use merge_mode='concat'")
    units = forward.units + backward.units if merge == "concat" else forward.units
    return FloatBidirectional(name=name, in_features=chain.features, units=units, forward=forward,
                              backward=backward, merge_mode=merge,
                              return_sequences=forward.return_sequences)


def _dense(cls: str, cfg: dict, weights, chain: Chain, final: bool) -> FloatLayer:
    name, units = cfg["name"], int(cfg["units"])
    use_bias = cfg.get("use_bias", True)
    _check_weights(name, cls, weights, [(chain.features, units)] + ([(units,)] if use_bias else []))
    return FloatLayer(kind="dense", name=name, in_features=chain.features, units=units,
                      kernel=weights[0].T, bias=weights[1] if use_bias else None,
                      activation=_act(name, cfg, "activation", final))


def _time_distributed(cls: str, cfg: dict, weights, chain: Chain, final: bool) -> FloatLayer:
    """``TimeDistributed(Dense)``: the same float layer as a ``Dense`` on a sequence, under the
    wrapper's name (the name Keras reports)."""
    name = cfg["name"]
    inner = cfg.get("layer") if isinstance(cfg.get("layer"), dict) else {}
    inner_cls = inner.get("class_name")
    if inner_cls not in SUPPORTED_WRAPPED[cls]:
        raise UnsupportedModelError(
            f"layer {name!r}: {cls}({inner_cls}) is not supported; supported: "
            f"{', '.join(f'{cls}({c})' for c in SUPPORTED_WRAPPED[cls])}")
    if not chain.sequence:
        raise UnsupportedModelError(f"layer {name!r}: {cls} needs a sequence input; set "
                                    "return_sequences=True on the recurrent layer before it")
    return _dense(inner_cls, {**inner.get("config", {}), "name": name}, weights, chain, final)


def _activation(cls: str, cfg: dict, weights, chain: Chain, final: bool) -> None:
    """An ``Activation`` folded into the linear ``Dense`` directly before it."""
    name = cfg["name"]
    act = _act(name, cfg, "activation", final)
    prev = chain.layers[-1] if chain.layers else None
    if act == "linear":
        return None
    if prev is None or prev.kind != "dense" or prev.activation != "linear":
        raise UnsupportedModelError(
            f"layer {name!r}: an Activation layer is supported only directly after a "
            "Dense layer with linear activation")
    prev.activation = act
    return None


#: The normaliser of each Keras class that computes something (InputLayer and Dropout add nothing).
NORMALISERS = {"LSTM": _recurrent, "GRU": _recurrent, "SimpleRNN": _recurrent,
               "Bidirectional": _bidirectional, "Dense": _dense,
               "TimeDistributed": _time_distributed, "Activation": _activation}
#: Classes that add nothing at inference.
_PASSIVE = ("InputLayer", "Dropout", "Masking")


def normalise_layers(out: FloatModel, layers) -> FloatModel:
    """Append to ``out.layers`` the float layers of ``layers``, an iterable of ``(class name,
    configuration dict, weight arrays)`` in chain order (the configuration holds ``name``).
    Raises :class:`UnsupportedModelError` for a class or option rnnrtl does not reproduce."""
    layers = list(layers)
    out.mask_value, out.mask_layer = _masking([(cls, cfg.get("name"), cfg) for cls, cfg, _ in layers])
    compute = [(cls, cfg, weights) for cls, cfg, weights in layers if cls not in _PASSIVE]
    chain = Chain(layers=out.layers, features=out.in_features, sequence=True)
    for index, (cls, cfg, weights) in enumerate(compute):
        final = index == len(compute) - 1
        if cls not in NORMALISERS:
            raise UnsupportedModelError(
                f"layer {cfg.get('name')!r} of type {cls} is not supported; supported layers: "
                f"{_supported_text()}")
        weights = [np.asarray(w, dtype=np.float64) for w in weights]
        fl = NORMALISERS[cls](cls, cfg, weights, chain, final)
        if fl is None:
            continue
        if fl.activation == "softmax" and not final:
            raise UnsupportedModelError(f"layer {fl.name!r}: softmax is supported on the final layer only")
        out.layers.append(fl)
        chain.features = fl.units
        if fl.kind != "dense":
            chain.sequence = fl.return_sequences
    if not out.layers:
        raise UnsupportedModelError("the model has no LSTM, GRU, SimpleRNN or Dense layer")
    return out


def _masking(layers) -> tuple[float | None, str | None]:
    """``(mask_value, name)`` of a ``Masking`` layer directly after the input, ``(None, None)``
    without one. ``layers``: the model's layers in order as ``(class name, layer name, config
    dict)`` (from Keras objects or a stored JSON configuration alike). A Masking anywhere else is
    refused by name: the hardware recognises a masked step on the input stream
    (:mod:`rnnrtl.masking`)."""
    body = [entry for entry in layers if entry[0] != "InputLayer"]
    found = [i for i, (cls, _, _) in enumerate(body) if cls == "Masking"]
    for index in found:
        if index != 0:
            raise UnsupportedModelError(
                f"layer {body[index][1]!r}: Masking is supported only as the first layer, right "
                f"after the input (here it follows {body[index - 1][1]!r}); masked steps are "
                "recognised on the input stream")
    if not found:
        return None, None
    _, name, cfg = body[0]
    value = cfg.get("mask_value", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise UnsupportedModelError(f"layer {name!r}: mask_value={value!r} is not supported; "
                                    "a single number (the value of every feature of a masked step)")
    return float(value), name


def from_keras(model) -> FloatModel:
    """Normalise a Keras model (object or path) into a :class:`FloatModel`.

    A ``.h5`` file written by Keras 2 is read without Keras (:mod:`rnnrtl.keras_h5`); its
    ``keras_model`` is a Keras 3 model rebuilt from the validated float layers."""
    if is_hgq2_model(model):
        raise UnsupportedModelError("the model holds HGQ2 layers; read it with "
                                    "rnnrtl.hgq2_frontend.from_hgq2 (rnnrtl.convert does)")
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        check_model_path(path)
        if is_keras2_h5(path):
            return _from_keras2_h5(path)
    keras_model = load_keras(model)
    layers = list(keras_model.layers)
    # Unsupported recurrent options first: return_state=True would otherwise be reported as a
    # broken chain (the next layer is fed one of the layer's several outputs).
    for layer in layers:
        if type(layer).__name__ in _RECURRENT:
            reject_options(layer.name, layer.get_config())
        if type(layer).__name__ == "Bidirectional":
            for sub in (layer.forward_layer, layer.backward_layer):
                reject_options(sub.name, sub.get_config())
    # A functional model must be a single chain: every layer fed by the previous one.
    chain = [] if isinstance(keras_model, _keras().Sequential) else zip(layers, layers[1:])
    for prev, layer in chain:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        if len(inputs) != 1 or inputs[0] is not prev.output:
            raise UnsupportedModelError(
                f"layer {layer.name!r} is not fed by the layer before it ({prev.name!r}); only "
                "single-chain models (Sequential or linear functional) are supported")
    for layer in layers:
        if type(layer).__name__ not in SUPPORTED_LAYERS:
            raise UnsupportedModelError(
                f"layer {layer.name!r} of type {type(layer).__name__} is not supported; supported "
                f"layers: {_supported_text()}")
    shape = keras_model.input_shape
    if isinstance(shape, list):
        raise UnsupportedModelError("models with several inputs are not supported")
    if len(shape) != 3:
        raise UnsupportedModelError(f"input shape {shape} is not [batch, timesteps, features]; "
                                    "rnnrtl expects a sequence input")
    input_name = layers[0].name if type(layers[0]).__name__ == "InputLayer" else "input"
    out = FloatModel(name=keras_model.name, input_name=input_name, timesteps=shape[1],
                     in_features=int(shape[2]), keras_model=keras_model)
    return normalise_layers(out, ((type(layer).__name__, {**layer.get_config(), "name": layer.name},
                                   layer.get_weights()) for layer in layers))


def _from_keras2_h5(path: Path) -> FloatModel:
    """A Keras 2 ``.h5`` file read without Keras (:mod:`rnnrtl.keras_h5`), checked and normalised
    as any model, with a Keras 3 float reference rebuilt from its float layers."""
    config = _stored_config(path)
    _check_classes(config)
    stored = read_keras2_h5(path, config)
    # Refused recurrent options first: return_state would otherwise read as a broken chain.
    for cls, cfg, _ in stored.layers:
        if cls in _RECURRENT:
            reject_options(cfg["name"], cfg)
    stored.check_single_chain()
    # A Sequential model's input is "input", as for a Keras 3 Sequential (whose layers omit it).
    input_name = stored.input_layer if not stored.sequential and stored.input_layer else "input"
    out = FloatModel(name=stored.name, input_name=input_name, timesteps=stored.batch_shape[1],
                     in_features=int(stored.batch_shape[2]))
    normalise_layers(out, stored.layers)
    out.keras_model = keras_from_float(out, sequential=stored.sequential, input_layer=stored.input_layer)
    return out


# -- a float reference rebuilt from float layers (the inverse of the normalisers) -------------------

def _keras_layer(keras, fl: FloatLayer, name: str | None = None):
    """``(Keras 3 layer, its weights in Keras order)`` computing ``fl`` in float (named ``name``,
    default ``fl.name``)."""
    if isinstance(fl, FloatBidirectional):
        # Keras names the directions forward_<layer name> / backward_<backward layer name>.
        fwd, fw = _keras_layer(keras, fl.forward, fl.forward.name.removeprefix("forward_"))
        bwd, bw = _keras_layer(keras, fl.backward, fl.backward.name.removeprefix("backward_"))
        return (keras.layers.Bidirectional(fwd, backward_layer=bwd, merge_mode=fl.merge_mode,
                                           name=fl.name), fw + bw)
    name = fl.name if name is None else name
    use_bias = fl.bias is not None
    if fl.kind == "dense":
        layer = keras.layers.Dense(fl.units, activation=fl.activation, use_bias=use_bias, name=name)
        return layer, [fl.kernel.T] + ([fl.bias] if use_bias else [])
    classes = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simplernn": keras.layers.SimpleRNN}
    if fl.kind not in classes:
        raise UnsupportedModelError(f"layer {fl.name!r}: no Keras 3 float reference for a {fl.kind} "
                                    "layer")
    options = {"return_sequences": fl.return_sequences, "go_backwards": fl.go_backwards}
    if fl.kind != "simplernn":
        options["recurrent_activation"] = fl.recurrent_activation
    if fl.kind == "gru":
        options["reset_after"] = fl.reset_after
    layer = classes[fl.kind](fl.units, activation=fl.activation, use_bias=use_bias, name=name,
                             **options)
    weights = [fl.kernel.T, fl.recurrent.T]
    if use_bias:
        weights.append(np.stack([fl.bias, fl.recurrent_bias]) if fl.kind == "gru" and fl.reset_after
                       else fl.bias)
    return layer, weights


def keras_from_float(model: FloatModel, *, sequential: bool = True, input_layer: str | None = None):
    """A Keras 3 model computing ``model``'s float layers — a ``Sequential`` or a functional chain
    whose input is named ``input_layer`` — with the float layers' weights set as float32.

    It is the float reference of a model Keras 3 cannot load (a Keras 2 ``.h5`` file): its
    ``from_keras`` gives back the same float layers (keep :func:`_keras_layer` in sync with
    :data:`NORMALISERS`)."""
    keras = _keras()
    inp = keras.Input((model.timesteps, model.in_features), name=input_layer)
    built = [_keras_layer(keras, fl) for fl in model.layers]
    if model.mask_value is not None:
        built.insert(0, (keras.layers.Masking(model.mask_value, name=model.mask_layer), []))
    if sequential:
        km = keras.Sequential([inp] + [layer for layer, _ in built], name=model.name)
    else:
        h = inp
        for layer, _ in built:
            h = layer(h)
        km = keras.Model(inp, h, name=model.name)
    for layer, weights in built:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return km
