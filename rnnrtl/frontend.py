"""Keras frontend: load a model safely and normalise it into a chain of float layers.

A model file is inspected *before* Keras deserializes it: its stored configuration is read as
JSON, and any layer class outside :data:`SUPPORTED_LAYERS` (a ``Lambda``, a custom object, a
``Bidirectional`` …) is refused with its name — nothing from the file is executed. Loading then
uses Keras' ``safe_mode=True`` as a second line of defence.

The result is a list of :class:`FloatLayer` — Keras semantics normalised: matrices as
``[outputs, inputs]``, gates in Keras order (LSTM i f c o, GRU z r h), GRU biases split into input
and recurrent parts, ``Activation`` layers folded into the preceding ``Dense``, ``Dropout`` dropped.
A ``Bidirectional`` wrapper becomes a :class:`FloatBidirectional` holding its two recurrent layers
(:func:`_bidirectional`).
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

__all__ = ["UnsupportedModelError", "FloatLayer", "FloatBidirectional", "FloatModel", "SUPPORTED_LAYERS",
           "SUPPORTED_ACTIVATIONS", "check_model_path", "load_keras", "from_keras"]

SUPPORTED_LAYERS = ("InputLayer", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "Activation",
                    "Dropout")
SUPPORTED_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softmax (final layer)")
_CONTAINERS = ("Sequential", "Functional", "Model")
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
    """Walk a stored configuration; refuse any class rnnrtl does not support, before loading."""
    if isinstance(cfg, list):
        for item in cfg:
            _check_classes(item, where)
        return
    if not isinstance(cfg, dict):
        return
    cls = cfg.get("class_name")
    inner = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    if cls is not None and ("layers" in inner or cls in _CONTAINERS):
        if cls not in _CONTAINERS:
            raise UnsupportedModelError(f"model container {cls!r} is not supported; use a Keras "
                                        "Sequential or functional model")
        _check_classes(inner.get("layers", []), where)
        return
    if cls is not None and "name" in inner:
        if cfg.get("registered_name") not in (None, cls) or \
                cfg.get("module") not in (None, "keras.layers"):
            raise UnsupportedModelError(
                f"layer {inner['name']!r} is a custom object ({cfg.get('registered_name') or cls}); "
                f"custom objects are refused (their code is never run). Supported layers: "
                f"{', '.join(SUPPORTED_LAYERS)}")
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
                f"{', '.join(SUPPORTED_LAYERS)}")


def check_model_path(path: Path):
    """Refuse a model path that is not a file (missing, or a directory) with one line."""
    if path.is_dir():
        raise UnsupportedModelError(f"model {str(path)!r} is a directory; give a .keras or .h5 "
                                    "model file")
    if not path.is_file():
        raise UnsupportedModelError(f"model file {str(path)!r} does not exist")


def load_keras(model):
    """A ``keras.Model`` from a model object or a ``.keras`` / ``.h5`` path, loaded safely."""
    keras = _keras()
    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise UnsupportedModelError(f"expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")
    path = Path(model)
    check_model_path(path)
    _check_classes(_stored_config(path))
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError/TypeError with its own wording
        raise UnsupportedModelError(f"{path}: Keras refused to load the model in safe mode: {e}") from None


# -- normalisation ---------------------------------------------------------------------------------

def _act(layer, key, final: bool) -> str:
    name = layer.get_config().get(key)
    name = keras_activation(name) if isinstance(name, (str, type(None))) else repr(name)
    ok = [a for a in FUNCTIONS if a != "softmax" or final]
    if name not in ok:
        where = "" if name != "softmax" else " except on the final layer"
        raise UnsupportedModelError(
            f"layer {layer.name!r}: {key}={name!r} is not supported{where}; supported: "
            f"{', '.join(SUPPORTED_ACTIVATIONS)}")
    return name


def _reject_options(layer, cfg):
    for option, bad in (("return_state", True), ("stateful", True)):
        if cfg.get(option) == bad:
            raise UnsupportedModelError(
                f"layer {layer.name!r}: option {option}={bad} is not supported; supported: "
                f"{option}={not bad} (LSTM/GRU/SimpleRNN with return_sequences and go_backwards true or "
                f"false)")


def from_keras(model) -> FloatModel:
    """Normalise a Keras model (object or path) into a :class:`FloatModel`."""
    keras_model = load_keras(model)
    layers = list(keras_model.layers)
    # Unsupported recurrent options first: return_state=True would otherwise be reported as a
    # broken chain (the next layer is fed one of the layer's several outputs).
    for layer in layers:
        if type(layer).__name__ in _RECURRENT:
            _reject_options(layer, layer.get_config())
        if type(layer).__name__ == "Bidirectional":
            for sub in (layer.forward_layer, layer.backward_layer):
                _reject_options(sub, sub.get_config())
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
                f"layers: {', '.join(SUPPORTED_LAYERS)}")
    shape = keras_model.input_shape
    if isinstance(shape, list):
        raise UnsupportedModelError("models with several inputs are not supported")
    if len(shape) != 3:
        raise UnsupportedModelError(f"input shape {shape} is not [batch, timesteps, features]; "
                                    "rnnrtl expects a sequence input")
    input_name = layers[0].name if type(layers[0]).__name__ == "InputLayer" else "input"
    out = FloatModel(name=keras_model.name, input_name=input_name, timesteps=shape[1],
                     in_features=int(shape[2]), keras_model=keras_model)
    features = out.in_features
    sequence = True
    compute = [l for l in layers if type(l).__name__ not in ("InputLayer", "Dropout")]
    for index, layer in enumerate(compute):
        final = index == len(compute) - 1
        cls = type(layer).__name__
        cfg = layer.get_config()
        weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        if cls in _RECURRENT:
            if not sequence:
                raise UnsupportedModelError(
                    f"layer {layer.name!r}: a recurrent layer needs a sequence input; set "
                    "return_sequences=True on the recurrent layer before it")
            _reject_options(layer, cfg)
            kernel, recurrent = weights[0].T, weights[1].T
            bias = recurrent_bias = None
            reset_after = bool(cfg.get("reset_after", False)) if cls == "GRU" else True
            if cfg.get("use_bias", True):
                if cls == "GRU" and reset_after:
                    bias, recurrent_bias = weights[2][0], weights[2][1]
                else:
                    bias = weights[2]
            fl = FloatLayer(
                kind=cls.lower(), name=layer.name, in_features=features, units=int(cfg["units"]),
                kernel=kernel, bias=bias, activation=_act(layer, "activation", False),
                recurrent=recurrent, recurrent_bias=recurrent_bias,
                recurrent_activation=(_act(layer, "recurrent_activation", False)
                                      if cls != "SimpleRNN" else None),
                return_sequences=bool(cfg.get("return_sequences", False)), reset_after=reset_after,
                go_backwards=bool(cfg.get("go_backwards", False)))
            sequence = fl.return_sequences
        elif cls == "Bidirectional":
            if not sequence:
                raise UnsupportedModelError(
                    f"layer {layer.name!r}: a recurrent layer needs a sequence input; set "
                    "return_sequences=True on the recurrent layer before it")
            fl = _bidirectional(layer.name, cfg, weights, in_features=features)
            sequence = fl.return_sequences
        elif cls == "Dense":
            kernel = weights[0].T
            bias = weights[1] if cfg.get("use_bias", True) else None
            fl = FloatLayer(kind="dense", name=layer.name, in_features=features,
                            units=int(cfg["units"]), kernel=kernel, bias=bias,
                            activation=_act(layer, "activation", final))
        else:  # Activation: fold into the Dense before it
            act = _act(layer, "activation", final)
            prev = out.layers[-1] if out.layers else None
            if act == "linear":
                continue
            if prev is None or prev.kind != "dense" or prev.activation != "linear":
                raise UnsupportedModelError(
                    f"layer {layer.name!r}: an Activation layer is supported only directly after a "
                    "Dense layer with linear activation")
            prev.activation = act
            continue
        if fl.activation == "softmax" and not final:
            raise UnsupportedModelError(f"layer {layer.name!r}: softmax is supported on the final layer only")
        out.layers.append(fl)
        features = fl.units
    if not out.layers:
        raise UnsupportedModelError("the model has no LSTM, GRU, SimpleRNN or Dense layer")
    return out


class _StoredLayer:
    """A wrapped layer known by its stored configuration only (what :func:`_act` and
    :func:`_reject_options` read of a layer)."""

    def __init__(self, config: dict):
        self.name, self._config = config.get("name", "?"), config

    def get_config(self):
        return self._config


def _recurrent_from_config(cls: str, cfg: dict, weights: list, in_features: int) -> FloatLayer:
    """One recurrent :class:`FloatLayer` from a Keras class name, its stored configuration and its
    weights (``kernel, recurrent_kernel[, bias]``). Keep in sync with :func:`from_keras`'s recurrent
    branch (the same normalisation, for a layer that exists as configuration only)."""
    shim = _StoredLayer(cfg)
    _reject_options(shim, cfg)
    reset_after = bool(cfg.get("reset_after", False)) if cls == "GRU" else True
    bias = recurrent_bias = None
    if cfg.get("use_bias", True):
        if cls == "GRU" and reset_after:
            bias, recurrent_bias = weights[2][0], weights[2][1]
        else:
            bias = weights[2]
    return FloatLayer(
        kind=cls.lower(), name=shim.name, in_features=in_features, units=int(cfg["units"]),
        kernel=weights[0].T, bias=bias, activation=_act(shim, "activation", False),
        recurrent=weights[1].T, recurrent_bias=recurrent_bias,
        recurrent_activation=_act(shim, "recurrent_activation", False) if cls != "SimpleRNN" else None,
        return_sequences=bool(cfg.get("return_sequences", False)), reset_after=reset_after,
        go_backwards=bool(cfg.get("go_backwards", False)))


def _bidirectional(name: str, cfg: dict, weights: list, *, in_features: int) -> FloatBidirectional:
    """A Keras ``Bidirectional`` from its configuration (``layer``, optional ``backward_layer``,
    ``merge_mode``) and weights (the forward layer's, then the backward layer's).

    Without ``backward_layer`` Keras builds the backward layer from ``layer``'s configuration with
    ``go_backwards`` flipped and the name prefixed ``backward_`` (the forward one ``forward_``);
    the stored configuration of a live Keras 3 model names both already."""
    from copy import deepcopy
    merge = cfg.get("merge_mode", "concat")
    if merge not in ("concat", "sum", "ave", "mul"):
        raise UnsupportedModelError(
            f"layer {name!r}: Bidirectional merge_mode={merge!r} is not supported; supported: "
            "concat, sum, ave, mul")
    subs = []
    fwd_cfg = deepcopy(cfg["layer"])
    bwd_cfg = deepcopy(cfg.get("backward_layer") or cfg["layer"])
    if cfg.get("backward_layer") is None:
        bwd_cfg["config"]["go_backwards"] = not fwd_cfg["config"].get("go_backwards", False)
    for prefix, sub in (("forward_", fwd_cfg), ("backward_", bwd_cfg)):
        inner = sub["config"]
        if not str(inner.get("name", "")).startswith(prefix):
            inner["name"] = prefix + str(inner.get("name", sub["class_name"].lower()))
        subs.append((sub["class_name"], inner))
    (fcls, fcfg), (bcls, bcfg) = subs
    if bool(fcfg.get("return_sequences", False)) != bool(bcfg.get("return_sequences", False)):
        raise UnsupportedModelError(f"layer {name!r}: forward and backward layers must agree on "
                                    "return_sequences")
    n_fwd = 3 if fcfg.get("use_bias", True) else 2
    forward = _recurrent_from_config(fcls, fcfg, weights[:n_fwd], in_features)
    backward = _recurrent_from_config(bcls, bcfg, weights[n_fwd:], in_features)
    if merge != "concat" and forward.units != backward.units:
        raise UnsupportedModelError(
            f"layer {name!r}: merge_mode={merge!r} needs forward and backward layers of equal "
            f"units, got {forward.units} and {backward.units}; use merge_mode='concat'")
    units = forward.units + backward.units if merge == "concat" else forward.units
    return FloatBidirectional(name=name, in_features=in_features, units=units, forward=forward,
                              backward=backward, merge_mode=merge,
                              return_sequences=forward.return_sequences)
