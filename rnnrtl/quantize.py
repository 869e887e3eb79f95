"""Quantization: a normalised float model plus a configuration becomes the integer IR.

This is where floats end: weights, biases and table contents are rounded once, each into its named
format, and every requantization point of every layer gets the format the configuration says. One
driver serves every numerics profile (:mod:`rnnrtl.numerics`): it resolves each layer's configuration
(:func:`rnnrtl.config.layer_config`) and schedule (:func:`rnnrtl.schedule.layer_schedule`) and lets the
profile build the layer. Weight codes that had to be saturated or wrapped are counted in the returned
report.

A ``Bidirectional`` (:class:`~rnnrtl.frontend.FloatBidirectional`) is built as its two recurrent
layers, each configured under its own name (``layers: {forward_lstm: …}``) and reading the same
input format, and the merge configured under the wrapper's name (kind ``bidirectional``: its
``result`` format is the merged point's, :class:`rnnrtl.ir.Bidirectional`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import numerics
from .config import layer_config
from .errors import ConfigError, WeightUnderflowWarning
from .frontend import FloatBidirectional, FloatLayer, FloatModel
from .ir import Bidirectional, Network, Weights
from .masking import check_masking
from .schedule import layer_schedule

__all__ = ["quantize", "WeightReport", "UNDERFLOW_WARN_SHARE"]

#: Weight tensors by report name (``<layer>.<name>``, as in ``Design.weight_overflows``) -> the
#: float layer's attribute.
_TENSORS = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias",
            "recurrent_bias": "recurrent_bias"}
#: Weight tensors -> the precision key that sets their format (every profile names them so).
_PRECISION_KEYS = {"kernel": "weight", "recurrent_kernel": "recurrent_weight", "bias": "bias",
                   "recurrent_bias": "recurrent_bias"}


#: Share of a tensor's magnitude (``sum |value|``) carried by values lost to underflow above which
#: :func:`quantize` warns. A value below the LSB that rounds to 0 errs by less than an LSB, as every
#: rounded value does, and a trained tensor nearly always holds a few (a 10-entry bias of a trained
#: anchor loses one at the default format); losing a noticeable part of the tensor's magnitude means
#: its format's LSB is too coarse. Every count is reported (``Design.weight_underflows``, report.md /
#: report.json) whatever the share.
UNDERFLOW_WARN_SHARE = 0.01


@dataclass
class WeightReport:
    """What quantizing the weights lost, per tensor ``<layer>.<tensor>`` (only tensors that lost
    values): ``overflows``, values that did not fit their format (saturated or wrapped);
    ``underflows``, nonzero values smaller than the format's LSB that became 0."""
    overflows: dict = field(default_factory=dict)
    underflows: dict = field(default_factory=dict)


def quantize(model: FloatModel, config: dict) -> tuple[Network, WeightReport]:
    """Build the IR with the profile ``config["numerics"]`` names. Returns ``(network, report)``
    (:class:`WeightReport`).

    Every tensor that loses values to underflow is counted in ``report.underflows``; one that loses
    values carrying more than :data:`UNDERFLOW_WARN_SHARE` of its magnitude is named in a
    :class:`WeightUnderflowWarning`; a format whose LSB swallows every nonzero value of a tensor
    raises :class:`ConfigError`.
    """
    required = getattr(model, "numerics", None)   # a model whose arithmetic is fixed (HGQ2)
    if required is not None and config["numerics"] != required:
        if config["numerics"] != numerics.DEFAULT:
            raise ConfigError(f"numerics: {config['numerics']}: model {model.name!r} is "
                              f"quantization-aware and computes numerics: {required}; give that "
                              "or none")
        config = {**config, "numerics": required}
    profile = numerics.profile(config["numerics"])
    config = profile.prepare(model, config)
    flat = [sub for fl in model.layers for sub in _parts(fl)]
    sublayers = {fl.name: profile.sublayers(fl) for fl in flat}
    names = [model.input_name] + [fl.name for fl in flat] + \
        [name for fl in flat for name in sublayers[fl.name]]
    unknown = [name for name in config["layers"] if name not in names]
    if unknown:  # a misspelt layer name would otherwise be ignored silently
        raise ConfigError(f"layers: no layer {unknown[0]!r} in model {model.name!r}; its layers"
                          f"{profile.names_note} are {', '.join(names)}")
    report, lost_share = WeightReport(), {}
    input_fmt = profile.format(layer_config(config, model.input_name, "input"), "result")
    check_masking(model.mask_value, input_fmt, profile.name, model.mask_layer)
    fmt, layers = input_fmt, []
    def build(fl, in_fmt):
        cfg = layer_config(config, fl.name, fl.kind)
        if isinstance(fl, FloatBidirectional):
            forward, backward = build(fl.forward, in_fmt), build(fl.backward, in_fmt)
            return Bidirectional(name=fl.name, in_features=fl.in_features, units=fl.units,
                                 input_fmt=in_fmt, output_fmt=profile.format(cfg, "result"),
                                 forward=forward, backward=backward, merge_mode=fl.merge_mode,
                                 return_sequences=fl.return_sequences)
        subs = {name: layer_config(config, name, kind) for name, kind in sublayers[fl.name].items()}
        layer = profile.build_layer(fl, cfg, in_fmt=in_fmt, schedule=layer_schedule(fl, cfg),
                                    weights=_weights(profile, fl, report, lost_share),
                                    sublayers=subs)
        if getattr(fl, "go_backwards", False):   # (only recurrent layers carry the flag)
            layer.go_backwards = True
        return layer

    for fl in model.layers:
        layer = build(fl, fmt)
        layers.append(layer)
        fmt = layer.output_fmt
    network = Network(name=model.name, timesteps=model.timesteps, in_features=model.in_features,
                      input_fmt=input_fmt, layers=layers, numerics=profile.name, config=config,
                      mask_value=model.mask_value)
    lossy = [name for name, share in lost_share.items() if share > UNDERFLOW_WARN_SHARE]
    if lossy:
        lost = "; ".join(f"{name}: {report.underflows[name]} lost, {lost_share[name]:.1%} of its "
                         "magnitude" for name in lossy)
        warnings.warn(f"model {model.name!r}: nonzero weights quantized to 0 because they are smaller "
                      f"than their format's LSB ({lost}); give those tensors fewer integer bits or "
                      "more bits (every count: report.md, weight underflows)",
                      WeightUnderflowWarning, stacklevel=3)
    return network, report


def _parts(fl) -> tuple:
    """A float layer and, for a ``Bidirectional``, its two recurrent layers (configured apart)."""
    return (fl, fl.forward, fl.backward) if isinstance(fl, FloatBidirectional) else (fl,)


def _weights(profile, fl: FloatLayer, report: WeightReport, lost_share: dict):
    """``weights(tensor, fmt)`` for the profile: ``fl``'s tensor as :class:`Weights` of ``fmt``
    (codes by :meth:`~rnnrtl.numerics.Profile.weight_codes`), overflows and underflows counted in
    ``report`` (and the share of each tensor's magnitude lost to underflow in ``lost_share``); a
    tensor all of whose nonzero values underflow is refused."""
    def weights(tensor: str, fmt) -> Weights | None:
        values = getattr(fl, _TENSORS[tensor])
        if values is None:
            return None
        codes, over = profile.weight_codes(values, fmt)
        name = f"{fl.name}.{tensor}"
        if over:
            report.overflows[name] = over
        lost = _underflows(values, codes, fmt)
        if lost.any():
            magnitude = np.abs(np.asarray(values, dtype=np.float64))
            if np.count_nonzero(lost) == np.count_nonzero(magnitude):
                raise ConfigError(_all_lost(fl.name, tensor, values, fmt))
            report.underflows[name] = int(np.count_nonzero(lost))
            lost_share[name] = float(magnitude[lost].sum() / magnitude.sum())
        return Weights(fmt, codes)
    return weights


def _underflows(values, codes, fmt) -> np.ndarray:
    """Where nonzero ``values`` smaller in magnitude than ``fmt``'s LSB got code 0 (lost to the
    format's resolution; a value that overflowed to 0 under ``SAT_ZERO`` is an overflow)."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    return (values != 0) & (values < fmt.step) & (np.asarray(codes) == 0)


def _all_lost(layer: str, tensor: str, values, fmt) -> str:
    """The error for a format whose LSB swallows every nonzero value of a tensor, with a format of
    the same width that holds its largest value."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    largest = float(values.max())
    key = _PRECISION_KEYS[tensor]
    int_bits = math.floor(math.log2(largest)) + (2 if fmt.signed else 1)
    suggestion = f"{'fixed' if fmt.signed else 'ufixed'}<{fmt.width},{max(int_bits, 1)}>"
    return (f"layers.{layer}.precision.{key} = {fmt}: every nonzero value of {layer}.{tensor} "
            f"({int(np.count_nonzero(values))} values, largest |value| {largest:.3g}) is smaller "
            f"than the format's LSB {fmt.step:.3g} and would quantize to 0; use fewer integer bits "
            f"or more bits, e.g. {suggestion} (W bits with I integer bits have LSB 2**(I-W))")
