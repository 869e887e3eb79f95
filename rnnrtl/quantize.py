"""Quantization: a normalised float model plus a configuration becomes the integer IR.

This is where floats end: weights, biases and table contents are rounded once, each into its named
format, and every requantization point of every layer gets the format the configuration says. One
driver serves every numerics profile (:mod:`rnnrtl.numerics`): it resolves each layer's configuration
(:func:`rnnrtl.config.layer_config`) and schedule (:func:`rnnrtl.schedule.layer_schedule`) and lets the
profile build the layer. Weight codes that had to be saturated or wrapped are counted in the returned
report.
"""

from __future__ import annotations

from . import numerics
from .config import layer_config
from .errors import ConfigError
from .frontend import FloatLayer, FloatModel
from .ir import Network, Weights
from .schedule import layer_schedule

__all__ = ["quantize"]

#: Weight tensors by report name (``<layer>.<name>``, as in ``Design.weight_overflows``) -> the
#: float layer's attribute.
_TENSORS = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias",
            "recurrent_bias": "recurrent_bias"}


def quantize(model: FloatModel, config: dict) -> tuple[Network, dict]:
    """Build the IR with the profile ``config["numerics"]`` names. Returns ``(network, report)``;
    ``report`` maps ``<layer>.<tensor>`` to the number of weight values that did not fit their
    format (saturated or wrapped)."""
    profile = numerics.profile(config["numerics"])
    config = profile.prepare(model, config)
    sublayers = {fl.name: profile.sublayers(fl) for fl in model.layers}
    names = [model.input_name] + [fl.name for fl in model.layers] + \
        [name for fl in model.layers for name in sublayers[fl.name]]
    unknown = [name for name in config["layers"] if name not in names]
    if unknown:  # a misspelt layer name would otherwise be ignored silently
        raise ConfigError(f"layers: no layer {unknown[0]!r} in model {model.name!r}; its layers"
                          f"{profile.names_note} are {', '.join(names)}")
    report: dict[str, int] = {}
    input_fmt = profile.format(layer_config(config, model.input_name, "input"), "result")
    fmt, layers = input_fmt, []
    for fl in model.layers:
        cfg = layer_config(config, fl.name, fl.kind)
        subs = {name: layer_config(config, name, kind) for name, kind in sublayers[fl.name].items()}
        layer = profile.build_layer(fl, cfg, in_fmt=fmt, schedule=layer_schedule(fl, cfg),
                                    weights=_weights(profile, fl, report), sublayers=subs)
        layers.append(layer)
        fmt = layer.output_fmt
    network = Network(name=model.name, timesteps=model.timesteps, in_features=model.in_features,
                      input_fmt=input_fmt, layers=layers, numerics=profile.name, config=config)
    return network, report


def _weights(profile, fl: FloatLayer, report: dict):
    """``weights(tensor, fmt)`` for the profile: ``fl``'s tensor as :class:`Weights` of ``fmt``
    (codes by :meth:`~rnnrtl.numerics.Profile.weight_codes`), overflows counted in ``report``."""
    def weights(tensor: str, fmt) -> Weights | None:
        values = getattr(fl, _TENSORS[tensor])
        if values is None:
            return None
        codes, over = profile.weight_codes(values, fmt)
        if over:
            report[f"{fl.name}.{tensor}"] = over
        return Weights(fmt, codes)
    return weights
