"""Keras 2 HDF5 model files (``model.save('m.h5')`` under Keras 2.x / TensorFlow 2.x), read
without Keras.

Keras 3 refuses these files (their recurrent layers carry Keras 2's ``time_major`` option), and
deserialising them would run whatever they hold. So rnnrtl reads them itself with h5py, as hls4ml
does, in the layout Keras 2 writes:

* root attributes ``keras_version`` (``"2.x.y"``), ``backend`` and ``model_config``: the model's
  JSON configuration (``Sequential`` — its ``layers``, or the plain list of Keras ≤ 2.1 — or
  ``Functional`` / ``Model`` with ``inbound_nodes``, ``input_layers``, ``output_layers``);
* group ``model_weights``: attribute ``layer_names``, and per layer a group of that name whose
  attribute ``weight_names`` lists its weights in Keras order (e.g.
  ``lstm/lstm_cell/kernel:0``), each a dataset at that path inside the layer's group.

This module only reads, and refuses what is specific to Keras 2 files: a nested model, a
functional model that is not one chain, a sparse or ragged input, weights missing or not floats,
and Keras 2's ``hard_sigmoid`` (``0.2·x + 0.5``, not Keras 3's ``x/6 + 0.5`` that rnnrtl
implements). :func:`rnnrtl.frontend.from_keras` does the rest with what every model goes through —
the class walk of the stored configuration, the recurrent options
(:data:`rnnrtl.frontend.RECURRENT_OPTIONS`: ``time_major``, ``stateful``, ``return_state``,
``go_backwards`` true are refused by name), the per-class normalisation — so a Keras 2 file gives
the same float layers as the same model saved by Keras 3. Keras 2's other legacy options are
accepted with their default meaning whatever their value, as they do not change inference:
``unroll``, ``implementation``, ``dropout`` / ``recurrent_dropout``, ``batch_input_shape``,
``dtype``, initializer / regularizer / constraint entries.

Its float reference (``FloatModel.keras_model``, for ``--data`` float outputs and shape checks) is
a Keras 3 model rebuilt from the validated float layers (:func:`rnnrtl.frontend.keras_from_float`)
— nothing from the file is executed. Keras 3 ``.h5`` files (``keras_version`` 3.x) are not handled
here: Keras 3 loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UnsupportedModelError

__all__ = ["CONTAINERS", "KERAS2_ACTIVATIONS_REFUSED", "StoredModel", "is_keras2_h5", "read_keras2_h5"]

#: The model classes (containers) of a stored configuration, Keras 2 and 3.
CONTAINERS = ("Sequential", "Functional", "Model")

#: Activations whose Keras 2 definition differs from Keras 3's (which rnnrtl implements).
KERAS2_ACTIVATIONS_REFUSED = {"hard_sigmoid": "Keras 2's hard_sigmoid is 0.2·x + 0.5 clipped to "
                                              "[0, 1], rnnrtl's is Keras 3's x/6 + 0.5"}
_H5_SUFFIXES = (".h5", ".hdf5")


def _text(value) -> str | None:
    """An HDF5 string attribute (``bytes`` or ``str``) as ``str``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None


def is_keras2_h5(path: Path) -> bool:
    """Whether ``path`` is an HDF5 model file written by Keras 2 (``keras_version`` 2.x).

    Files that are not HDF5, or carry no ``keras_version``, are left to the caller (``False``); a
    Keras 1 file is refused."""
    path = Path(path)
    if path.suffix not in _H5_SUFFIXES or not path.is_file():
        return False
    import h5py
    try:
        with h5py.File(path, "r") as f:
            version = _text(f.attrs.get("keras_version"))
    except OSError:
        return False
    if version is None:
        return False
    major = version.split(".")[0]
    if major == "1":
        raise UnsupportedModelError(f"model file {str(path)!r} was written by Keras {version}; Keras 1 "
                                    "files are not supported: save the model with Keras 2 or 3")
    return major == "2"


# -- the stored configuration ----------------------------------------------------------------------

def _where(path: Path) -> str:
    return f"model file {str(path)!r}"


def _chain_layers(config: dict, where: str) -> tuple[str, list[dict], bool]:
    """``(model name, stored layer entries in order, sequential?)`` of a Keras 2 model
    configuration (a ``Sequential``'s ``layers`` or, from Keras ≤ 2.1, its plain list)."""
    cls = config.get("class_name")
    inner = config.get("config")
    if cls not in CONTAINERS:
        raise UnsupportedModelError(f"{where}: the stored model is a {cls!r}; use a Keras Sequential "
                                    "or functional model")
    if cls == "Sequential":
        layers = inner if isinstance(inner, list) else (inner or {}).get("layers")
        name = inner.get("name", "sequential") if isinstance(inner, dict) else "sequential"
    else:
        layers = (inner or {}).get("layers")
        name = (inner or {}).get("name", "model")
    if not isinstance(layers, list) or not all(isinstance(l, dict) and isinstance(l.get("config"), dict)
                                               and isinstance(l["config"].get("name"), str)
                                               for l in layers):
        raise UnsupportedModelError(f"{where}: the stored configuration has no list of named layers; "
                                    "it is not the JSON Keras 2 writes")
    if not layers:
        raise UnsupportedModelError(f"{where}: the stored model has no layers")
    for layer in layers:
        if layer.get("class_name") in CONTAINERS or "layers" in layer["config"]:
            raise UnsupportedModelError(
                f"{where}: layer {layer['config']['name']!r} is a nested model "
                f"({layer.get('class_name')}); flatten it into one Sequential or functional model")
    return str(name), layers, cls == "Sequential"


def _check_single_chain(inner: dict, layers: list[dict], where: str):
    """A Keras 2 functional configuration: one input, each layer fed once by the one before it,
    the last layer the one output."""
    inputs, outputs = inner.get("input_layers"), inner.get("output_layers")
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise UnsupportedModelError(f"{where}: models with several inputs are not supported")
    if not isinstance(outputs, list) or len(outputs) != 1:
        raise UnsupportedModelError(f"{where}: models with several outputs are not supported")
    for prev, layer in zip(layers, layers[1:]):
        nodes = layer.get("inbound_nodes")
        fed = None
        if isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], list) and len(nodes[0]) == 1:
            tensor = nodes[0][0]
            if isinstance(tensor, list) and len(tensor) >= 3 and tensor[2] == 0 and \
                    not any(isinstance(v, (list, dict)) for v in
                            (tensor[3].values() if len(tensor) > 3 and isinstance(tensor[3], dict) else ())):
                fed = tensor[0]
        if fed != prev["config"]["name"]:
            raise UnsupportedModelError(
                f"layer {layer['config']['name']!r} is not fed by the layer before it "
                f"({prev['config']['name']!r}); only single-chain models (Sequential or linear "
                "functional) are supported")
    first, last = layers[0]["config"]["name"], layers[-1]["config"]["name"]
    if not (isinstance(inputs[0], list) and inputs[0][:1] == [first]) or \
            not (isinstance(outputs[0], list) and outputs[0][:1] == [last]):
        raise UnsupportedModelError(f"{where}: the model's input is not its first layer or its output "
                                    "not its last; only single-chain models are supported")


def _input(layers: list[dict], where: str) -> tuple[str | None, list]:
    """``(input layer name or None, [batch, timesteps, features])`` from the InputLayer's
    ``batch_input_shape`` (or the first layer's, when the model was built without an Input)."""
    first = layers[0]
    cfg = first["config"]
    if first.get("class_name") == "InputLayer":
        for option in ("sparse", "ragged"):
            if cfg.get(option):
                raise UnsupportedModelError(f"input layer {cfg['name']!r}: option {option}=True is "
                                            f"not supported; supported: {option}=False (a dense input)")
    shape = cfg.get("batch_input_shape", cfg.get("batch_shape"))
    if not isinstance(shape, list):
        raise UnsupportedModelError(f"{where}: the model's input shape is not stored (no "
                                    "batch_input_shape); build the model with an Input layer")
    if len(shape) != 3 or not all(d is None or isinstance(d, int) for d in shape) or \
            not isinstance(shape[2], int):
        raise UnsupportedModelError(f"input shape {shape} is not [batch, timesteps, features]; "
                                    "rnnrtl expects a sequence input")
    name = cfg["name"] if first.get("class_name") == "InputLayer" else None
    return name, shape


def _refuse_keras2_activations(layer: dict):
    """Refuse an activation Keras 2 defines differently from Keras 3 (in the layer or the layers a
    wrapper holds: ``layer``, and ``backward_layer`` of a ``Bidirectional``)."""
    cfg = layer["config"]
    wrapped = [cfg[key].get("config") for key in ("layer", "backward_layer")
               if isinstance(cfg.get(key), dict)]
    for c in [cfg] + [w for w in wrapped if isinstance(w, dict)]:
        for key in ("activation", "recurrent_activation"):
            if c.get(key) in KERAS2_ACTIVATIONS_REFUSED:
                raise UnsupportedModelError(
                    f"layer {cfg['name']!r}: {key}={c[key]!r} of a Keras 2 file is not supported "
                    f"({KERAS2_ACTIVATIONS_REFUSED[c[key]]}); supported: tanh, sigmoid, relu, "
                    "linear, softmax (final layer)")


# -- the weights -----------------------------------------------------------------------------------

def _layer_weights(group, name: str, where: str) -> list[np.ndarray]:
    """The weights of layer ``name`` in Keras order, from ``model_weights/<name>``."""
    if name not in group:
        raise UnsupportedModelError(f"{where}: no weights stored for layer {name!r} (model_weights "
                                    f"holds {', '.join(map(str, group.keys())) or 'nothing'})")
    layer = group[name]
    names = [_text(n) for n in layer.attrs.get("weight_names", [])]
    out = []
    for weight in names:
        if weight is None or weight not in layer:
            raise UnsupportedModelError(f"{where}: layer {name!r} lists weight {weight!r} that is "
                                        "not stored")
        array = np.asarray(layer[weight])
        if not np.issubdtype(array.dtype, np.floating):
            raise UnsupportedModelError(f"{where}: weight {weight!r} of layer {name!r} holds "
                                        f"{array.dtype} values, not floats")
        out.append(array)
    return out


@dataclass
class StoredModel:
    """What a Keras 2 ``.h5`` file stores, read and checked for its Keras 2 specifics only (the
    layer classes and options are the frontend's to check)."""
    where: str
    name: str
    sequential: bool
    input_layer: str | None        # the InputLayer's name, None when the model has none
    batch_shape: list              # [batch, timesteps, features]
    layers: list[tuple[str, dict, list[np.ndarray]]]   # (class, configuration, weights), no InputLayer
    graph: dict | None = None      # a functional model's configuration (its inbound nodes)
    stored_layers: list[dict] = field(default_factory=list)  # every layer's stored entry, in order

    def check_single_chain(self):
        """Refuse a functional model that is not one chain (one input, each layer fed once by the
        one before it, the last layer the output)."""
        if not self.sequential:
            _check_single_chain(self.graph, self.stored_layers, self.where)


def read_keras2_h5(path, config: dict) -> StoredModel:
    """The model in the Keras 2 ``.h5`` file ``path`` whose parsed ``model_config`` is ``config``.

    Refuses (:class:`UnsupportedModelError`) a nested model, Keras 2's ``hard_sigmoid``, a sparse
    or ragged input, an input that is not ``[batch, timesteps, features]``, and weights missing or
    not floats."""
    import h5py
    path = Path(path)
    where = _where(path)
    name, layers, sequential = _chain_layers(config, where)
    for layer in layers:
        _refuse_keras2_activations(layer)
    input_layer, shape = _input(layers, where)
    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise UnsupportedModelError(f"{where}: the file holds no model_weights group; save the "
                                        "whole model with model.save('model.h5')")
        group = f["model_weights"]
        entries = [(layer["class_name"], layer["config"],
                    _layer_weights(group, layer["config"]["name"], where))
                   for layer in layers if layer["class_name"] != "InputLayer"]
    return StoredModel(where=where, name=name, sequential=sequential, input_layer=input_layer,
                       batch_shape=shape, layers=entries,
                       graph=None if sequential else config.get("config"), stored_layers=layers)
