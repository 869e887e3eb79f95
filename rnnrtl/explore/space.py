"""The search space: every named format, table size and range of a network, as knobs on a
configuration.

A :class:`FormatKnob` is one tensor's format ``fixed<I+F, I>`` (``layers.<name>.precision.<key>``):
its integer bits ``I`` are fixed from the value range the emulator traced (:func:`int_bits_for`),
its fractional bits ``F`` are the value searched. A :class:`TableKnob` is an activation table's
size (``tables.<function>.size``, a power of two), a :class:`TableRangeKnob` its input range
(``tables.<function>.range``, a power of two). A *state* maps each
knob's name to its value; :func:`to_config` writes a state into a plain configuration dict.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from .. import ir
from ..fixed import MAX_WIDTH, FixedFormat
from ..numerics.default import PRECISION_KEYS

__all__ = ["FormatKnob", "TableKnob", "TableRangeKnob", "knobs_of", "to_config", "int_bits_for", "MIN_TABLE_LOG2"]

#: Smallest table the search tries: 16 entries (config.TABLE_SIZES' smallest).
MIN_TABLE_LOG2 = 4
#: Halvings of a table's range the search tries (8 -> 1 for sigmoid's default).
RANGE_STEPS = 3


@dataclass(frozen=True)
class FormatKnob:
    layer: str
    key: str
    int_bits: int
    frac: int            # the starting fractional bits (the highest value searched)

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.key}"

    @property
    def lowest(self) -> int:
        """The fewest fractional bits: a signed format keeps at least 2 bits."""
        return max(0, 2 - self.int_bits)

    def fmt(self, frac: int) -> FixedFormat:
        return FixedFormat(self.int_bits + frac, self.int_bits)

    def apply(self, config: dict, frac: int):
        scope = config.setdefault("layers", {}).setdefault(self.layer, {})
        prec = scope.get("precision")
        if not isinstance(prec, dict):
            prec = {} if prec is None else {"default": prec}
        prec[self.key] = f"fixed<{self.int_bits + frac},{self.int_bits}>"
        scope["precision"] = prec


@dataclass(frozen=True)
class TableKnob:
    function: str
    log2: int            # the starting size's log2 (the highest value searched)

    @property
    def name(self) -> str:
        return f"tables.{self.function}.size"

    @property
    def lowest(self) -> int:
        return MIN_TABLE_LOG2

    def apply(self, config: dict, log2: int):
        config.setdefault("tables", {}).setdefault(self.function, {})["size"] = 1 << log2


@dataclass(frozen=True)
class TableRangeKnob:
    """An activation table's input half-range ``tables.<function>.range`` as a power of two: a
    smaller range at the same size gives finer bins (what lets :class:`TableKnob` go lower) and
    clips more inputs to the end entries."""
    function: str
    log2: int            # the starting range's log2 (the highest value searched)

    @property
    def name(self) -> str:
        return f"tables.{self.function}.range"

    @property
    def lowest(self) -> int:
        return self.log2 - RANGE_STEPS

    def apply(self, config: dict, log2: int):
        config.setdefault("tables", {}).setdefault(self.function, {})["range"] = \
            1 << log2 if log2 >= 0 else 2.0 ** log2


def int_bits_for(value: float, fmt: FixedFormat) -> int:
    """Integer bits of a signed format that holds magnitudes up to ``value`` (what the trace saw),
    never more than ``fmt``'s own."""
    if value <= 0:
        return min(fmt.int_bits, 2)
    return min(fmt.int_bits, math.floor(math.log2(value)) + 2)


def _tensors(layer) -> dict[str, tuple[FixedFormat, tuple[str, ...], str | None]]:
    """Tensor key -> (its format in ``layer``, the traced points it bounds, its weight tensor)."""
    n = layer.name
    kind = layer.kind
    out = {"weight": (layer.kernel.fmt, (), f"{n}.kernel")}
    if layer.bias is not None:
        out["bias"] = (layer.bias.fmt, (), f"{n}.bias")
    if kind == "dense" or kind == "simplernn":
        out["accum"] = (layer.pre_fmt, (f"{n}.pre",), None)
        if layer.activation.table is not None:
            out["activation"] = (layer.activation.out_fmt, (), None)
        out["result"] = (layer.output_fmt, (f"{n}.out" if kind == "dense" else f"{n}.h",), None)
    else:
        out["accum"] = (layer.gate_fmt, (f"{n}.gate",) + ((f"{n}.cand",) if kind == "gru" else ()),
                        None)
        out["activation"] = (layer.recurrent_activation.out_fmt, (), None)
        out["result"] = (layer.output_fmt, (f"{n}.h",), None)
    if kind != "dense":
        out["recurrent_weight"] = (layer.recurrent.fmt, (), f"{n}.recurrent_kernel")
    if kind == "lstm":
        out["state"] = (layer.state_fmt, (f"{n}.c",), None)
    if kind == "gru":
        out["recurrent"] = (layer.rec_fmt, (f"{n}.rec",), None)
        if layer.recurrent_bias is not None:
            out["recurrent_bias"] = (layer.recurrent_bias.fmt, (), f"{n}.recurrent_bias")
    assert set(out) <= set(PRECISION_KEYS[kind]), (kind, out)   # keep in sync with the profile
    return out


def knobs_of(network: ir.Network, input_name: str, ranges: dict, tables: dict | None) -> list:
    """The knobs of ``network`` (the IR of the starting configuration), integer bits trimmed to
    ``ranges`` (:func:`rnnrtl.explore.task.run_point`'s: largest magnitude per point and weight);
    ``tables`` is the configuration's top-level ``tables`` (``None``: no table knobs).

    Table activations' outputs (``activation``) are bounded by 1 whatever the trace says."""
    points, weights = ranges["points"], ranges["weights"]
    out = []

    def add(layer_name, key, fmt, value):
        frac = fmt.width - fmt.int_bits
        out.append(FormatKnob(layer_name, key, int_bits_for(value, fmt), frac))

    add(input_name, "result", network.input_fmt, points.get("input", 0.0))
    for layer in network.layers:
        parts = layer.directions if isinstance(layer, ir.Bidirectional) else (layer,)
        for sub in parts:
            for key, (fmt, traced, weight) in _tensors(sub).items():
                if key == "activation":
                    value = 1.0
                elif weight is not None:
                    value = weights.get(weight, 0.0)
                else:
                    value = max((points.get(p, 0.0) for p in traced), default=0.0)
                add(sub.name, key, fmt, value)
        if isinstance(layer, ir.Bidirectional):
            add(layer.name, "result", layer.output_fmt, points.get(f"{layer.name}.out", 0.0))
    if tables is not None:
        used = sorted({a.table.function for L in network.flat_layers
                       for a in (getattr(L, "recurrent_activation", None),
                                 getattr(L, "activation", None), getattr(L, "state_activation", None))
                       if a is not None and a.table is not None})
        for fn in used:
            spec = tables[fn]
            out.append(TableKnob(fn, spec["size"].bit_length() - 1))
            out.append(TableRangeKnob(fn, round(math.log2(spec["range"]))))
    return [k for k in out if not (isinstance(k, FormatKnob) and k.int_bits + k.frac > MAX_WIDTH)]


def start_state(knobs) -> dict:
    """Every knob at its highest value (the trimmed starting point)."""
    return {k.name: (k.frac if isinstance(k, FormatKnob) else k.log2) for k in knobs}


def to_config(base: dict, knobs, state: dict) -> dict:
    """``base`` (a plain configuration dict) with every knob set to its value in ``state``."""
    config = copy.deepcopy(base)
    for knob in knobs:
        knob.apply(config, state[knob.name])
    return config
