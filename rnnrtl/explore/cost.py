"""What a candidate design costs in hardware, from its IR alone (milliseconds, nothing built).

``mult_bits``: over every multiplier the hardware builds, the product of its two operand widths
(an array multiplier's area grows with both; a constant multiplier at reuse 1 with the weight's
width too): the matrix-vector units of :func:`rnnrtl.schedule.matrix_units` (``ceil(products /
reuse)`` multipliers of input width × weight width) and a cell's elementwise products
(:func:`rnnrtl.schedule.elementwise_products`, gate table output × state or table output; in the
fabric with ``multiplier_elementwise: lut``, the same bit-products but no multiplier).
``table_bits``: every activation table's ``size × output width``, once per lane it serves (a
table read by ``N`` units in the same cycle is ``N`` ROM ports: replicated).

``cost = mult_bits + table_bits / TABLE_BITS_PER_UNIT``: a LUT6 holds 64 ROM bits and one
bit-product of a multiplier costs about one LUT, so both terms are roughly LUTs. ``--synth``
compares the figure with yosys' counts on the Pareto front (:func:`calibrate`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import ir
from ..schedule import elementwise_multipliers, matrix_units

__all__ = ["Cost", "cost", "calibrate", "TABLE_BITS_PER_UNIT"]

#: ROM bits per cost unit (one LUT6 holds 64).
TABLE_BITS_PER_UNIT = 64


@dataclass(frozen=True)
class Cost:
    mult_bits: int
    table_bits: int
    multipliers: int

    @property
    def total(self) -> float:
        return self.mult_bits + self.table_bits / TABLE_BITS_PER_UNIT

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def _matrix_bits(layer) -> tuple[int, int]:
    """``(multipliers, bit-products)`` of ``layer``'s matrix-vector units."""
    mults = bits = 0
    for unit in matrix_units(layer):
        x = layer.input_fmt if unit.source == "input" else layer.output_fmt
        w = layer.kernel if unit.source == "input" else layer.recurrent
        mults += unit.multipliers
        bits += unit.multipliers * x.width * w.fmt.width
    return mults, bits


def _tail(layer) -> list[tuple[int, int, int]]:
    """``(count, width a, width b)`` of a recurrent cell's elementwise products."""
    N = layer.units
    if isinstance(layer, ir.LSTM):
        sig, act = layer.recurrent_activation.out_fmt.width, layer.activation.out_fmt.width
        tanh_c = layer.state_activation.out_fmt.width
        return [(N, sig, layer.state_fmt.width), (N, sig, act), (N, sig, tanh_c)]
    if isinstance(layer, ir.GRU):
        sig, act = layer.recurrent_activation.out_fmt.width, layer.activation.out_fmt.width
        return [(N, sig, layer.rec_fmt.width), (N, sig, layer.output_fmt.width), (N, sig, act)]
    return []


def _tables(layer) -> list[tuple[object, int]]:
    """``(activation, lanes)`` of ``layer``'s table activations."""
    N = layer.units
    if isinstance(layer, ir.LSTM):
        acts = [(layer.recurrent_activation, 3 * N), (layer.activation, N),
                (layer.state_activation, N)]
    elif isinstance(layer, ir.GRU):
        acts = [(layer.recurrent_activation, 2 * N), (layer.activation, N)]
    else:
        acts = [(layer.activation, N)]
    return [(a, lanes) for a, lanes in acts if a.table is not None]


def cost(network: ir.Network) -> Cost:
    """The :class:`Cost` of ``network`` (an IR of ``numerics: default``) as its schedules build it."""
    mults = bits = table = 0
    for layer in network.flat_layers:
        m, b = _matrix_bits(layer)
        mults, bits = mults + m, bits + b
        mults += elementwise_multipliers(layer)
        bits += sum(count * wa * wb for count, wa, wb in _tail(layer))
        for act, lanes in _tables(layer):
            table += act.table.geometry.size * act.out_fmt.width * lanes
    return Cost(mult_bits=bits, table_bits=table, multipliers=mults)


def calibrate(points) -> dict | None:
    """LUT-equivalents per cost unit from synthesised points (each a dict with ``cost`` and
    ``synth``: yosys ``lut``, ``dsp``): ``{"luts_per_unit", "points"}``, or ``None`` without any.

    A DSP slice counts as :data:`LUTS_PER_DSP` LUTs (a 27x18 multiplier in LUTs)."""
    pairs = [(p["cost"]["total"], p["synth"]["lut"] + LUTS_PER_DSP * p["synth"].get("dsp", 0))
             for p in points if p.get("synth")]
    if not pairs:
        return None
    num = sum(c * l for c, l in pairs)
    den = sum(c * c for c, _ in pairs)
    return {"luts_per_unit": num / den if den else None, "points": len(pairs)}


#: LUTs a DSP slice stands for in :func:`calibrate` (a 27x18 multiplier built in LUTs).
LUTS_PER_DSP = 250
