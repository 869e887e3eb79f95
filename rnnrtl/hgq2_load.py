"""Recognising and loading HGQ2 models safely (no code from a model file runs).

A ``.keras`` file is read as JSON first: every object in it must be a Keras built-in or one of
HGQ2's registered classes (``module`` ``hgq…``, ``registered_name`` ``hgq>…``), and no layer may
be a ``Lambda``; only then does Keras load it, with ``safe_mode=True``. Used by
:func:`rnnrtl.frontend.load_keras` (any HGQ2 file given to rnnrtl) and by
:mod:`rnnrtl.hgq2_frontend`; it imports neither.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .errors import UnsupportedModelError

__all__ = ["HGQ_LAYERS", "PASSIVE_LAYERS", "is_hgq2_model", "is_hgq2_layer", "load_hgq2"]

#: HGQ2 layer classes rnnrtl reads, and the passive Keras layers allowed around them.
HGQ_LAYERS = ("QGRU", "QSimpleRNN", "QDense")
PASSIVE_LAYERS = ("InputLayer", "Dropout")


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    return keras


def is_hgq2_layer(obj) -> bool:
    """Whether ``obj`` (a Keras layer) is one of HGQ2's classes."""
    return type(obj).__module__.split(".")[0] == "hgq"


def _stored_hgq_config(path: Path) -> dict | None:
    """A ``.keras`` file's configuration JSON if it names an HGQ2 class, else ``None``."""
    if path.suffix != ".keras" or not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError):
        return None   # the generic frontend reports what is wrong with the file
    text = json.dumps(config)
    return config if '"hgq>' in text or '"module": "hgq' in text else None


def is_hgq2_model(model) -> bool:
    """Whether ``model`` (a Keras model or a model path) holds HGQ2 layers."""
    if isinstance(model, (str, os.PathLike)):
        return _stored_hgq_config(Path(model)) is not None
    return any(is_hgq2_layer(layer) for layer in getattr(model, "layers", ()) or ())


def _check_stored(cfg, where: str = "model"):
    """Walk a stored configuration: every serialized object must be a Keras built-in or an HGQ2
    class; no layer is a ``Lambda``."""
    if isinstance(cfg, list):
        for item in cfg:
            _check_stored(item, where)
        return
    if not isinstance(cfg, dict):
        return
    if "class_name" in cfg:
        module = str(cfg.get("module") or "keras")
        registered = cfg.get("registered_name")
        name = (cfg.get("config") or {}).get("name") if isinstance(cfg.get("config"), dict) else None
        ours = module.split(".")[0] == "hgq" and str(registered or "").startswith("hgq>")
        builtin = module.split(".")[0] == "keras" and registered in (None, cfg["class_name"])
        if not (ours or builtin):
            raise UnsupportedModelError(
                f"{where}: object {name or cfg['class_name']!r} is a custom object "
                f"({registered or cfg['class_name']} from {module}); custom objects are refused "
                f"(their code is never run). Supported: Keras built-ins and HGQ2's "
                f"{', '.join(HGQ_LAYERS)}")
        if cfg["class_name"] == "Lambda":
            raise UnsupportedModelError(f"{where}: layer {name!r} is a Lambda (its code is never "
                                        "run); not supported")
    for value in cfg.values():
        _check_stored(value, where)


def load_hgq2(model):
    """A live ``keras.Model`` with HGQ2 layers from a model object or an existing ``.keras``
    path (checked as the module docstring says)."""
    keras = _keras()
    if isinstance(model, keras.Model):
        return model
    path = Path(model)
    config = _stored_hgq_config(path)
    if config is None:
        raise UnsupportedModelError(f"model file {str(path)!r} holds no HGQ2 layer")
    _check_stored(config, f"model file {str(path)!r}")
    try:
        import hgq  # noqa: F401  (registers HGQ2's classes with Keras)
    except ImportError:
        raise UnsupportedModelError(f"model file {str(path)!r} holds HGQ2 layers; reading it needs "
                                    "the hgq2 package: pip install 'rnnrtl[hgq2]'") from None
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError/TypeError with its own wording
        raise UnsupportedModelError(f"{path}: Keras refused to load the model in safe mode: {e}") from None
