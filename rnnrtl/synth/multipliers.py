"""Where a core's multipliers go: the manifest's count against the DSP cells yosys mapped.

Contract: :func:`multiplier_inventory` reads only the IR (``rnnrtl.ir.Network``) and
:func:`multiplier_note` only numbers; neither changes a build, both explain one.
"""

from __future__ import annotations

import numpy as np

from ..schedule import elementwise_multipliers, elementwise_products, matrix_units, unit_rows

__all__ = ["multiplier_inventory", "multiplier_note"]


def multiplier_inventory(network) -> dict:
    """Where the manifest's multipliers come from, unit by unit as :func:`rnnrtl.schedule.matrix_units`
    states them (a table softmax's lane products are not listed).

    ``constant``: products of a matrix built at reuse 1, whose weight is a constant of the circuit
    (``zero`` of them need no hardware, ``pow2`` are ± a power of two: a shift);
    ``shared``: multipliers of matrices at reuse > 1 (weights from a ROM), and ``elementwise``:
    the LSTM / GRU cell products (both operands variable); ``lut``: products of matrices built with
    ``multiplier: lut`` (shift-and-add in the fabric: neither a multiplier of the manifest nor a
    DSP, at any reuse) and cell products built with ``multiplier_elementwise: lut``.
    """
    inv = {"constant": 0, "zero": 0, "pow2": 0, "shared": 0, "elementwise": 0, "lut": 0,
           "max_operand_bits": 0}

    for layer in network.flat_layers:
        units = matrix_units(layer)
        for unit in units:
            w = layer.kernel if unit.source == "input" else layer.recurrent
            x_fmt = layer.input_fmt if unit.source == "input" else layer.output_fmt
            codes = np.asarray(w.codes, dtype=np.int64)[unit_rows(unit, units)]
            if unit.multiplier == "lut":
                inv["lut"] += codes.size
                continue
            inv["max_operand_bits"] = max(inv["max_operand_bits"], w.fmt.width, x_fmt.width)
            if unit.reuse == 1:
                inv["constant"] += codes.size
                inv["zero"] += int((codes == 0).sum())
                a = np.abs(codes[codes != 0])
                inv["pow2"] += int(((a & (a - 1)) == 0).sum())
            else:
                inv["shared"] += unit.multipliers
        dsp = elementwise_multipliers(layer)
        inv["elementwise"] += dsp
        inv["lut"] += elementwise_products(layer) - dsp
    # a Bidirectional's merge_mode='mul' multiplies the directions' outputs lane by lane
    inv["elementwise"] += sum(l.units for l in network.layers if getattr(l, "merge_mode", None) == "mul")
    return inv


_DSP_NAMES = {"xc7": "DSP48E1 (25x18)", "xcup": "DSP48E2 (27x18)", "ecp5": "MULT18X18D (18x18)"}
_DSP_WIDTHS = {"xc7": (25, 18), "xcup": (27, 18), "ecp5": (18, 18)}


def multiplier_note(multipliers: int, dsp: int, family: str, inventory: dict | None = None) -> str:
    """Why yosys's DSP count differs from the manifest's multiplier count (or that it does not)."""
    name = _DSP_NAMES.get(family, "DSP")
    head = f"manifest {multipliers} multipliers, yosys {dsp} {name}"
    if inventory:
        inv = inventory
        head += (f" [multipliers: {inv['constant']} constant-weight products at reuse 1 "
                 f"({inv['zero']} zero, {inv['pow2']} ±2^k), {inv['shared']} time-shared, "
                 f"{inv['elementwise']} elementwise"
                 + (f"; {inv['lut']} products built in LUTs (multiplier: lut, multiplier_elementwise: "
                    "lut), not counted"
                    if inv.get("lut") else "") + "]")
    if dsp == multipliers:
        return head + ": one DSP per multiplier."
    reasons = []
    if dsp < multipliers:
        if inventory and inventory["constant"]:
            free = inventory["zero"] + inventory["pow2"]
            reasons.append(f"{inventory['constant']} products have a constant weight (reuse 1): "
                           f"{free} of them are zero or ±2^k and vanish into wiring and shifts; "
                           f"yosys builds others from LUT adders or shares them when that is cheaper")
        elif not inventory:
            reasons.append("products with a constant weight (reuse 1) vanish (0, ±2^k) or become LUT "
                           "logic; products narrower than the DSP threshold stay in LUTs")
        reasons.append("products whose operands yosys narrows (constant or bounded inputs) may fall "
                       "below its DSP-mapping width and stay in LUTs")
    else:
        a, b = _DSP_WIDTHS.get(family, (18, 18))
        widest = inventory["max_operand_bits"] if inventory else None
        reasons.append(f"products wider than {a}x{b} bits take several DSPs"
                       + (f" (widest operand here: {widest} bits)" if widest else ""))
        reasons.append("yosys may map an adder or accumulator into a DSP (ECP5 ALU54B)")
    return head + ": " + "; ".join(reasons) + "."
