"""Quantization: a normalised float model plus a configuration becomes the integer IR.

This is where floats end: weights, biases and table contents are rounded once, each into its named
format, and every requantization point of every layer gets the format the configuration says.
Weight codes that had to be saturated are counted in the returned report.
"""

from __future__ import annotations

from .activations import TABLE_FUNCTIONS, Table, TableGeometry
from .config import DEFAULT_ACTIVATION_PRECISION, ConfigError, LayerConfig, check_reuse, layer_config
from .fixed import FixedFormat
from .frontend import FloatLayer, FloatModel
from .ir import GRU, LSTM, Activation, Dense, Network, Schedule, SimpleRNN, Weights

__all__ = ["quantize"]


def quantize(model: FloatModel, config: dict) -> tuple[Network, dict]:
    """Build the IR. Returns ``(network, report)``; ``report`` maps ``<layer>.<tensor>`` to the
    number of weight values that did not fit their format (saturated or wrapped)."""
    if config["numerics"] == "hls4ml":  # hls4ml 1.3's arithmetic: rnnrtl/hls4ml.py, docs/hls4ml.md
        from .hls4ml import quantize_hls4ml
        return quantize_hls4ml(model, config)
    report: dict[str, int] = {}
    names = [model.input_name] + [fl.name for fl in model.layers]
    unknown = [name for name in config["layers"] if name not in names]
    if unknown:  # a misspelt layer name would otherwise be ignored silently
        raise ConfigError(f"layers: no layer {unknown[0]!r} in model {model.name!r}; its layers are "
                          f"{', '.join(names)}")
    in_cfg = layer_config(config, model.input_name, "input")
    input_fmt = in_cfg.fmt("result")
    fmt = input_fmt
    layers = []
    for fl in model.layers:
        cfg = layer_config(config, fl.name, fl.kind)
        layer = _BUILDERS[fl.kind](fl, cfg, fmt, report)
        layers.append(layer)
        fmt = layer.output_fmt
    network = Network(name=model.name, timesteps=model.timesteps, in_features=model.in_features,
                      input_fmt=input_fmt, layers=layers, numerics=config["numerics"], config=config)
    return network, report


def _weights(values, fmt: FixedFormat, where: str, report: dict) -> Weights | None:
    if values is None:
        return None
    codes, over = fmt.quantize(values)
    if over:
        report[where] = over
    return Weights(fmt, codes)


def _activation(function: str, in_fmt: FixedFormat, cfg: LayerConfig,
                unbounded_fmt: FixedFormat) -> Activation:
    """An activation of ``function`` on codes of ``in_fmt``.

    Tables output the layer's ``activation`` format (default ``fixed<18,2>``); ``relu``/``linear``
    output it too if set, else ``unbounded_fmt``; ``softmax`` passes the logits through unchanged.
    """
    act_fmt = cfg.fmt("activation")
    if function in TABLE_FUNCTIONS:
        out_fmt = act_fmt or FixedFormat.parse(DEFAULT_ACTIVATION_PRECISION)
        spec = cfg.tables[function]
        geometry = TableGeometry.for_range(size=spec["size"], half_range=spec["range"],
                                           in_frac=in_fmt.frac_bits)
        table = Table(function, in_fmt.frac_bits, geometry, out_fmt)
        return Activation(function, in_fmt.frac_bits, out_fmt, table)
    if function == "softmax":
        return Activation(function, in_fmt.frac_bits, in_fmt)
    return Activation(function, in_fmt.frac_bits, act_fmt or unbounded_fmt)


def _schedule(fl: FloatLayer, cfg: LayerConfig, gates: int) -> Schedule:
    check_reuse(cfg.reuse_input, gates * fl.units * fl.in_features, f"layer {fl.name!r} input products")
    if fl.recurrent is not None:
        # A GRU's recurrent products are two units (U_zr·h, then U_h·h or U_h·(r⊙h)): the
        # reuse factor applies to each, so the smaller (N·N products) bounds it.
        rec_gates = 1 if fl.kind == "gru" else gates
        check_reuse(cfg.reuse_recurrent, rec_gates * fl.units * fl.units,
                    f"layer {fl.name!r} recurrent products" +
                    (" (per unit: a GRU multiplies U_zr·h and U_h separately)" if fl.kind == "gru" else ""))
    return Schedule(reuse_input=cfg.reuse_input,
                    reuse_recurrent=cfg.reuse_recurrent if fl.recurrent is not None else 1,
                    mode=cfg.mode, interleave=cfg.interleave, pipeline=cfg.pipeline)


def _common(fl: FloatLayer, cfg: LayerConfig, in_fmt: FixedFormat, report: dict, gates: int) -> dict:
    return dict(name=fl.name, in_features=fl.in_features, units=fl.units, input_fmt=in_fmt,
                output_fmt=cfg.fmt("result"), schedule=_schedule(fl, cfg, gates),
                kernel=_weights(fl.kernel, cfg.fmt("weight"), f"{fl.name}.kernel", report),
                bias=_weights(fl.bias, cfg.fmt("bias"), f"{fl.name}.bias", report))


def _recurrent(fl: FloatLayer, cfg: LayerConfig, report: dict) -> dict:
    return dict(recurrent=_weights(fl.recurrent, cfg.fmt("recurrent_weight"),
                                   f"{fl.name}.recurrent_kernel", report),
                return_sequences=fl.return_sequences)


def _dense(fl, cfg, in_fmt, report):
    pre = cfg.fmt("accum")
    return Dense(**_common(fl, cfg, in_fmt, report, 1), pre_fmt=pre,
                 activation=_activation(fl.activation, pre, cfg, cfg.fmt("result")))


def _simplernn(fl, cfg, in_fmt, report):
    pre = cfg.fmt("accum")
    return SimpleRNN(**_common(fl, cfg, in_fmt, report, 1), **_recurrent(fl, cfg, report),
                     pre_fmt=pre, activation=_activation(fl.activation, pre, cfg, cfg.fmt("result")))


def _lstm(fl, cfg, in_fmt, report):
    gate, state = cfg.fmt("accum"), cfg.fmt("state")
    return LSTM(**_common(fl, cfg, in_fmt, report, 4), **_recurrent(fl, cfg, report),
                gate_fmt=gate,
                recurrent_activation=_activation(fl.recurrent_activation, gate, cfg, gate),
                activation=_activation(fl.activation, gate, cfg, gate),
                state_fmt=state,
                state_activation=_activation(fl.activation, state, cfg, state))


def _gru(fl, cfg, in_fmt, report):
    gate = cfg.fmt("accum")
    return GRU(**_common(fl, cfg, in_fmt, report, 3), **_recurrent(fl, cfg, report),
               recurrent_bias=_weights(fl.recurrent_bias, cfg.fmt("recurrent_bias"),
                                       f"{fl.name}.recurrent_bias", report),
               reset_after=fl.reset_after, gate_fmt=gate,
               recurrent_activation=_activation(fl.recurrent_activation, gate, cfg, gate),
               activation=_activation(fl.activation, gate, cfg, gate),
               rec_fmt=cfg.fmt("recurrent"))


_BUILDERS = {"dense": _dense, "simplernn": _simplernn, "lstm": _lstm, "gru": _gru}
