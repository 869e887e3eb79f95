"""How a layer is folded in time: its :class:`Schedule`, and its matrix-vector units and multipliers.

A schedule is a timing knob only, never a change of numbers: reuse, mode, interleave, pipelining,
adder-tree fan-in and the kind of multiplier (``dsp``: ``*`` operators; ``lut``: shift-and-add of
the constant weights, :mod:`rnnrtl.constmul_plan`) change when and how the hardware computes, not
what.

:func:`matrix_units` is the one statement of which matrix-vector products a layer has and how many
multipliers each is built with; :func:`multipliers` adds the products outside the matrices (a
cell's elementwise products, a table softmax's) to give a layer's multiplier count. The quantizer
checks reuse factors against the units, and the hardware's counts equal these (tests/test_schedule.py).

This module reads layers by their ``kind`` (``dense``, ``simplernn``, ``lstm``, ``gru``) and sizes
(``in_features``, ``units``), so a float layer of :mod:`rnnrtl.frontend` and an IR layer of
:mod:`rnnrtl.ir` both do; it imports neither.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .constmul_plan import LUT_MAX_REUSE, choose
from .errors import ConfigError, ConfigWarning

__all__ = ["Schedule", "MatrixUnit", "matrix_units", "multipliers", "layer_schedule",
           "valid_reuse_factors", "check_reuse", "DEFAULT_ADDER_FANIN", "ELEMENTWISE_MULTIPLIERS",
           "elementwise_products", "elementwise_multipliers"]

#: Terms summed per register stage of the adder trees unless configured.
DEFAULT_ADDER_FANIN = 4

#: Values of ``multiplier_elementwise``: a cell's elementwise products as ``*`` operators (DSPs)
#: or as Booth partial products summed by adders in the fabric (:mod:`rnnrtl.hw.softmul`).
ELEMENTWISE_MULTIPLIERS = ("dsp", "lut")

#: Matrices per layer kind: the weight rows per unit of ``units`` (gates), by reuse knob.
_GATES = {"dense": 1, "simplernn": 1, "lstm": 4, "gru": 3}

#: Elementwise products per unit in a recurrent cell's tail, besides the matrix products
#: (LSTM: f·c, i·g, o·tanh(c); GRU: r·rec or r·h, z·h, (1−z)·hh).
_TAIL_PRODUCTS = {"dense": 0, "simplernn": 0, "lstm": 3, "gru": 3}


@dataclass
class Schedule:
    """How a layer is folded in time: a timing knob only, never a change of numbers."""
    reuse_input: int = 1
    reuse_recurrent: int = 1
    mode: str = "static"
    interleave: int = 1
    #: ``shallow``: fewest cycles per step; ``deep``: a register on the input, the requantized code
    #: and the table output of every activation (three more cycles each) for slower fabrics.
    pipeline: str = "shallow"
    #: Terms summed per register stage of the layer's adder trees.
    adder_fanin: int = DEFAULT_ADDER_FANIN
    #: How the products ``W·x`` and ``U·h`` are built: ``dsp`` (``*``), ``lut`` (shift-and-add of
    #: the constant weights) or ``auto`` (per matrix: :func:`rnnrtl.constmul_plan.choose`).
    multiplier_input: str = "dsp"
    multiplier_recurrent: str = "dsp"
    #: How a recurrent cell's elementwise products are built: ``dsp`` (``*``) or ``lut`` (adders:
    #: :mod:`rnnrtl.hw.softmul`); a timing and resource knob, the integers are the same.
    multiplier_elementwise: str = "dsp"
    #: Where the weights live: ``inline`` (constants of the circuit) or ``file`` (initialised
    #: memories shaped by the formats only: :class:`~rnnrtl.hw.matvec.MatVec`'s ``weight_range``).
    weights: str = "inline"


@dataclass(frozen=True)
class MatrixUnit:
    """One matrix-vector product of a layer, built as one MatVec.

    ``name``: ``kernel`` (``W·x``), ``recurrent`` (``U·h``), or for a GRU ``recurrent_zr``
    (``U_zr·h``, rows ``0..2N``) and ``recurrent_h`` (``U_h·h`` or ``U_h·(r⊙h)``, rows ``2N..3N``);
    ``source``: ``input`` or ``recurrent``, the reuse knob that applies; ``reuse``: that knob's value;
    ``multiplier``: the kind built (``dsp``, ``lut``; ``auto`` where it cannot be resolved yet: a
    float layer has no integer weights).
    """
    name: str
    source: str
    rows: int
    cols: int
    reuse: int
    multiplier: str = "dsp"

    @property
    def products(self) -> int:
        return self.rows * self.cols

    @property
    def multipliers(self) -> int:
        """``ceil(rows * cols / reuse)``: each multiplier computes ``reuse`` products per pass;
        0 for ``lut`` (shift-and-add in the fabric, no multiplier)."""
        return 0 if self.multiplier == "lut" else -(-self.products // self.reuse)


def matrix_units(layer, schedule: Schedule | None = None) -> tuple[MatrixUnit, ...]:
    """The matrix-vector units of ``layer`` (a float or IR layer) under ``schedule`` (default: the
    layer's own ``layer.schedule``), in the order the hardware builds them.

    Dense: ``kernel`` [N, F]. SimpleRNN: ``kernel`` [N, F], ``recurrent`` [N, N]. LSTM: ``kernel``
    [4N, F], ``recurrent`` [4N, N]. GRU: ``kernel`` [3N, F], ``recurrent_zr`` [2N, N],
    ``recurrent_h`` [N, N] — its recurrent product is two units, the second waiting for ``r``.

    ``multiplier: auto`` is resolved per unit from an IR layer's weight codes and the unit's input
    type (:func:`unit_x_type`), as :class:`~rnnrtl.hw.matvec.MatVec` resolves it.
    """
    s = schedule if schedule is not None else layer.schedule
    kind, F, N = layer.kind, layer.in_features, layer.units
    if kind not in _GATES:
        raise ValueError(f"layer {layer.name!r}: unknown layer kind {kind!r}")
    G = _GATES[kind]
    mi = getattr(s, "multiplier_input", "dsp")
    mr = getattr(s, "multiplier_recurrent", "dsp")
    units = [MatrixUnit("kernel", "input", G * N, F, s.reuse_input, mi)]
    if kind == "gru":
        units += [MatrixUnit("recurrent_zr", "recurrent", 2 * N, N, s.reuse_recurrent, mr),
                  MatrixUnit("recurrent_h", "recurrent", N, N, s.reuse_recurrent, mr)]
    elif kind != "dense":
        units.append(MatrixUnit("recurrent", "recurrent", G * N, N, s.reuse_recurrent, mr))
    if any(u.multiplier == "auto" for u in units) and hasattr(layer, "kernel") \
            and hasattr(getattr(layer, "input_fmt", None), "int_type"):
        units = [u if u.multiplier != "auto" else _resolved(layer, u, units) for u in units]
    return tuple(units)


def unit_x_type(layer, unit: MatrixUnit):
    """The type of the vector IR ``layer``'s ``unit`` multiplies: the layer's input (``kernel``),
    its output ``h`` (recurrent units), or ``r⊙h`` in ``rec_fmt`` for a GRU's ``recurrent_h``
    without ``reset_after`` (keep in sync with :mod:`rnnrtl.hw.cells`)."""
    if unit.source == "input":
        return layer.input_fmt.int_type
    if unit.name == "recurrent_h" and not layer.reset_after:
        return layer.rec_fmt.int_type
    return layer.output_fmt.int_type


def _resolved(layer, unit: MatrixUnit, units) -> MatrixUnit:
    w = layer.kernel if unit.source == "input" else layer.recurrent
    codes = [[int(v) for v in row] for row in w.codes[unit_rows(unit, units)]]
    kind = choose("auto", codes, unit_x_type(layer, unit), unit.reuse)
    return MatrixUnit(unit.name, unit.source, unit.rows, unit.cols, unit.reuse, kind)


def elementwise_products(layer) -> int:
    """Elementwise products (both operands variable) in ``layer``'s recurrent cell tail: 3 per
    unit for LSTM (f·c, i·g, o·tanh(c)) and GRU (r·rec or r·h, z·h, (1−z)·hh), else 0."""
    return _TAIL_PRODUCTS[layer.kind] * layer.units


def elementwise_multipliers(layer) -> int:
    """The multipliers ``layer``'s :func:`elementwise_products` take: one each, or none when its
    schedule builds them in the fabric (``multiplier_elementwise: lut``)."""
    lut = getattr(layer.schedule, "multiplier_elementwise", "dsp") == "lut"
    return 0 if lut else elementwise_products(layer)


def unit_rows(unit: MatrixUnit, units: tuple[MatrixUnit, ...]) -> slice:
    """The rows of its layer's weight matrix (``kernel`` or ``recurrent``) that ``unit`` multiplies:
    units of one source split that matrix's rows in order."""
    start = sum(u.rows for u in units[:units.index(unit)] if u.source == unit.source)
    return slice(start, start + unit.rows)


def multipliers(layer, timesteps: int | None = None) -> int:
    """Multipliers the hardware builds for IR ``layer``: its :func:`matrix_units`', a recurrent
    cell's elementwise products (3 per unit for LSTM and GRU, unless built in the fabric:
    :func:`elementwise_multipliers`), a table softmax's (one per lane);
    ``timesteps`` times one cell's with ``mode: unrolled`` (one cell per step)."""
    total = sum(u.multipliers for u in matrix_units(layer)) + elementwise_multipliers(layer)
    softmax = getattr(getattr(layer, "activation", None), "softmax", None)
    if layer.kind == "dense" and softmax is not None and softmax.implementation != "argmax":
        total += layer.units          # e_i · inv, one per lane
    if layer.kind != "dense" and layer.schedule.mode == "unrolled":
        if not timesteps:
            raise ValueError(f"layer {layer.name!r}: mode 'unrolled' builds one cell per time step; "
                             "its multipliers need the sequence length")
        total *= timesteps
    return total


def layer_schedule(layer, cfg) -> Schedule:
    """The schedule of float ``layer`` from its resolved configuration ``cfg``
    (:class:`rnnrtl.config.LayerConfig`), with every reuse factor checked against the layer's
    matrix units (:func:`check_reuse`).

    A factor the layer sets itself must be valid (:class:`~rnnrtl.errors.ConfigError` otherwise).
    A factor from the top level (``cfg.model_reuse``, e.g. ``--sweep-reuse 1,2,4,8`` on a model with
    a layer of 6 products) that exceeds a reuse knob's smallest matrix is clamped to that matrix's
    product count — the largest factor valid for every matrix the knob folds — with a
    :class:`~rnnrtl.errors.ConfigWarning` naming the layer and the factor used. Reuse is a timing
    knob, so the numbers are the same either way.
    """
    recurrent = layer.kind != "dense"
    schedule = Schedule(reuse_input=cfg.reuse_input,
                        reuse_recurrent=cfg.reuse_recurrent if recurrent else 1,
                        mode=cfg.mode, interleave=cfg.interleave, pipeline=cfg.pipeline,
                        adder_fanin=cfg.adder_fanin,
                        multiplier_input=getattr(cfg, "multiplier_input", "dsp"),
                        multiplier_recurrent=getattr(cfg, "multiplier_recurrent", "dsp")
                        if recurrent else "dsp",
                        multiplier_elementwise=getattr(cfg, "multiplier_elementwise", "dsp")
                        if recurrent else "dsp",
                        weights=getattr(cfg, "weights", "inline"))
    for source in ("input", "recurrent"):
        mine = [u for u in matrix_units(layer, schedule) if u.source == source]
        if not mine:
            continue
        # A GRU's recurrent reuse applies to each of its two units, so the smaller bounds it.
        smallest = min(mine, key=lambda u: u.products)
        note = (" (per unit: a GRU multiplies U_zr·h and U_h separately)" if len(mine) > 1 else "")
        where = f"layer {layer.name!r} {source} products{note}"
        if smallest.reuse > smallest.products and source in getattr(cfg, "model_reuse", ()):
            setattr(schedule, f"reuse_{source}", smallest.products)
            warnings.warn(f"{where}: the configuration's reuse factor {smallest.reuse} exceeds its "
                          f"{smallest.products} products; layer {layer.name!r} uses reuse_{source} "
                          f"{smallest.products} (set layers.{layer.name}.reuse_{source} to choose)",
                          ConfigWarning, stacklevel=3)
            continue
        check_reuse(smallest.reuse, smallest.products, where)
    for source in ("input", "recurrent"):
        reuse = getattr(schedule, f"reuse_{source}")
        if getattr(schedule, f"multiplier_{source}") == "lut" and reuse > LUT_MAX_REUSE and \
                any(u.source == source for u in matrix_units(layer, schedule)):
            raise ConfigError(
                f"layer {layer.name!r}: multiplier_{source} 'lut' at reuse_{source} {reuse}: a LUT "
                f"multiplier picks its product among its block's {reuse} constant products, which "
                f"rnnrtl builds at reuse 1..{LUT_MAX_REUSE}; valid: multiplier 'lut' with reuse "
                f"1..{LUT_MAX_REUSE}, or 'dsp' / 'auto' (auto takes dsp at reuse > 1)")
    return schedule


def valid_reuse_factors(products: int) -> list[int]:
    """Reuse factors that leave no multiplier idle: the divisors of ``products``."""
    return [r for r in range(1, products + 1) if products % r == 0]


def check_reuse(reuse: int, products: int, where: str):
    """A reuse factor must be in ``1..products``; the error lists the valid ones."""
    if not 1 <= reuse <= products:
        divisors = valid_reuse_factors(products)
        raise ConfigError(
            f"{where}: reuse factor {reuse} is invalid for {products} products; valid: any whole "
            f"number 1..{products} (ceil({products}/R) multipliers); these divide {products} and keep "
            f"every multiplier busy: {', '.join(map(str, divisors))}")
