# amaranth: UnusedElaboratable=no
# (a shell's timing model reads a cell's units without elaborating them)
"""``Cell``: what a recurrent cell is to the shells that hold it, and the tail's shared pieces.

A cell (the concrete ones are in :mod:`rnnrtl.hw.cells`) is the input projection and the recurrent
loop of one layer: it owns its MatVecs and activation units and knows its figures
(:attr:`Cell.step_cycles`, :attr:`Cell.multipliers`, :attr:`Cell.job_spacing`), but not where its
jobs come from. A *shell* holds it and calls :meth:`Cell.elaborate_into`, which adds the loop's
logic into the shell's own ``Module`` (no hardware level of its own, so the loop's names are the
shell's): the static shell (:mod:`rnnrtl.hw.static`, one cell for every step) and the unrolled one
(:mod:`rnnrtl.hw.unrolled`, a cell per time step) compose the same cells.

Pipelining (:class:`~rnnrtl.hw.pipelining.Pipelining`): the MatVecs take their stage counts, the
activation units their latency ``A``; each elementwise product of the tail has ``e`` register
stages on either side (``elementwise``, 0 or 1: its operands in registers that feed nothing but the
multiplier, the DSP's input registers, and the product once more after the DSP's output register,
so a product is valid ``1 + 2e`` cycles after its operands, :func:`elementwise_product`; with
``multiplier_elementwise: lut`` the product's adders in those cycles, :mod:`rnnrtl.hw.softmul`), and the
new state's rounded value passes ``r`` registers before its saturation (``rounding``). With
``merged_tail`` (``pipeline: fast``) the last products of the loop are combinational into the new
state (:meth:`Cell.tail_product`, :attr:`Cell.tail` = 0); with ``one_stage_trees`` every MatVec
sums a row in one adder-tree stage (:func:`one_stage_fanin`).
"""

from __future__ import annotations

from amaranth.hdl import Signal, Value
from amaranth.lib import data

from ..errors import HardwareError
from ..schedule import elementwise_multipliers
from .activation import ActivationUnit
from .common import delay, shape_of
from .matvec import MatVec
from .pipelining import Pipelining
from .softmul import soft_product

__all__ = ["Cell", "vector", "elementwise_product", "aligned_sum", "one_stage_fanin",
           "write_state"]


def vector(t, lanes, name):
    """A signal named ``name`` of ``lanes`` codes of ``t`` (a FixedFormat or an IntType)."""
    return Signal(data.ArrayLayout(shape_of(t), lanes), name=name)


def elementwise_product(m, stages: int, name: str, a, b, t, cast=None, *, lut: bool = False):
    """Lanewise products ``a[n] * b[n]`` (lists of Amaranth values) in a registered vector of
    ``t`` (an :class:`IntType`; ``cast(m, product, name)`` maps each product first, e.g. into an
    accumulator format),
    valid ``1 + 2 * stages`` cycles after the operands: with ``stages`` = 1 the operands get
    reset-less registers that feed nothing but the multiplier (the DSP's input registers) and the
    product one more after the DSP's output register, so the routes into and out of the DSP have
    cycles of their own.

    ``lut``: each product is :func:`~rnnrtl.hw.softmul.soft_product` (adders, no DSP) with
    ``stages`` register levels inside its sum, whose last level and ``cast`` feed the vector's
    register: the same cycles and the same integers."""
    if stages:
        regs = []
        for side, lanes in (("a", a), ("b", b)):
            regs.append([Signal.like(v, name=f"{name}_{side}{n}", reset_less=True)
                         for n, v in enumerate(lanes)])
            m.d.sync += [r.eq(v) for r, v in zip(regs[-1], lanes)]
        a, b = regs
    out = vector(t, len(a), name)
    for n, (x, y) in enumerate(zip(a, b)):
        product = soft_product(m, x, y, f"{name}_lut{n}", stages=stages) if lut else x * y
        m.d.sync += out[n].eq(product if cast is None else cast(m, product, f"{name}_cast{n}"))
    return delay(m, out, 0 if lut else stages, f"{name}_f", reset_less=True)


def one_stage_fanin(weights, fanin: int, pipelining: Pipelining) -> int:
    """The adder-tree fan-in of a MatVec of IR ``weights`` (``[rows, cols]``): ``fanin``, or with
    ``one_stage_trees`` enough for every row in one stage (a row has at most one term per column,
    a bias and an addend)."""
    if not pipelining.one_stage_trees:
        return fanin
    return max(fanin, weights.codes.shape[1] + 2)


def aligned_sum(terms):
    """Amaranth sum of ``(value, frac)`` terms shifted to the finest fraction; ``(expr, frac)``."""
    frac = max(f for _, f in terms)
    total = None
    for value, f in terms:
        term = Value.cast(value).shift_left(frac - f)   # wiring, not a shifter cell
        total = term if total is None else total + term
    return total, frac


def write_state(m, bank, value, *, cycle: int, enable, tag, tag_copies):
    """Write ``value`` into the state store ``bank`` in cycle ``cycle`` of the loop, when
    ``enable`` is high then (zero for its sequence's last job, kept for a masked one;
    :meth:`Cell.elaborate_into`'s ``tag`` and ``tag_copies``). With ``tag_copies`` each group of
    the store's lanes (``bank.lane_groups()``) is written under a copy of its own of the job's tag,
    whose start bit, ``cycle`` cycles after the loop start, is high with ``enable``."""
    if tag_copies is None:
        slot, last, masked = tag(cycle)
        with m.If(enable):
            bank.write(m, slot, value, last, keep=masked)
        return
    groups = bank.lane_groups()
    for lanes, (slot, last, masked, start) in zip(groups, tag_copies(cycle, len(groups))):
        with m.If(start):
            bank.write(m, slot, value, last, keep=masked, lanes=lanes)


class CellFigures:
    """The figures a layer shell (:class:`~rnnrtl.hw.static.StaticLayer`, an unrolled stage)
    takes from its :class:`Cell`, ``self.cell``."""

    @property
    def projection(self):
        """The cell's input projection (:class:`~rnnrtl.hw.matvec.MatVec`)."""
        return self.cell.projection

    @property
    def step_cycles(self) -> int:
        """``D``: cycles from a job's loop start to the next loop start of the same slot (the
        cell's :attr:`Cell.step_cycles`)."""
        return self.cell.step_cycles

    @property
    def multipliers(self) -> int:
        return self.cell.multipliers

    @property
    def job_spacing(self) -> int:
        """Cycles between job starts: the multipliers' initiation interval."""
        return self.cell.job_spacing


class Cell:
    """The units and the loop of one recurrent layer, built (not elaborated) from the IR layer.

    ``pipelining`` (:class:`~rnnrtl.hw.pipelining.Pipelining`) gives the stage counts the cell's
    units use: its MatVecs' (``start``, ``operands``, …), ``activation`` (:attr:`activation_latency`),
    ``elementwise`` and ``rounding`` (module docstring). ``results_held``: the shell starts a unit's
    next job only after the current step is over, so a unit's result (the input projection's, a
    table's) can be read as it is until then: it needs no delay line (:meth:`late`) and the
    loop's MatVecs need no copy of their addend (``addend_held``). ``projection_unregistered``:
    the input projection is built :class:`~rnnrtl.hw.matvec.MatVec`'s ``unregistered`` (for a shell
    that holds the step's input in the projection's start cycle and reads the result only then,
    or through :meth:`late`'s delay lines: not with ``results_held``).

    Subclasses build :attr:`loop_matvecs` and the activation units in :meth:`_build_loop`, and
    define :attr:`step_cycles`, :meth:`state_layouts` and :meth:`elaborate_into`.
    """

    def __init__(self, layer, *, pipelining: Pipelining, tree_fanin: int = 4,
                 results_held: bool = False, projection_unregistered: bool = False):
        if projection_unregistered and results_held:
            raise HardwareError("a cell whose shell holds results (results_held) reads its input "
                                "projection after the start cycle: it needs its register")
        self.layer = layer
        self.pipelining = pipelining
        self.tree_fanin = tree_fanin
        self.results_held = results_held
        #: ``e``: register stages on either side of each elementwise product of the tail.
        self.elementwise = pipelining.elementwise
        #: The elementwise products in the fabric (``multiplier_elementwise: lut``), not DSPs.
        self.elementwise_lut = layer.schedule.multiplier_elementwise == "lut"
        #: ``r``: register stages between the new state's rounding and its saturation.
        self.rounding = pipelining.rounding
        #: ``A``: the latency of the cell's activation units.
        self.activation_latency = pipelining.activation
        #: ``t``: the register of the last elementwise products (1), or none (``merged_tail``: 0).
        self.tail = int(not pipelining.merged_tail)
        if pipelining.merged_tail and (self.elementwise or self.rounding):
            raise HardwareError(f"pipeline {pipelining.name!r}: merged_tail needs elementwise and "
                                f"rounding 0, got {self.elementwise} and {self.rounding}")
        #: The input projection ``W·x_t + b``, which the shell starts for every job.
        self.projection = MatVec.of(layer.kernel, bias=layer.bias, x_type=layer.input_fmt.int_type,
                                    reuse=layer.schedule.reuse_input,
                                    tree_fanin=self._fanin(layer.kernel),
                                    product_fmt=getattr(layer, "product_fmt", None),
                                    pipelining=pipelining,
                                    multiplier=layer.schedule.multiplier_input,
                                    weights_in_memory=layer.schedule.weights == "file",
                                    unregistered=projection_unregistered)
        self._build_loop()

    def _matvec(self, weights, **kwargs):
        """A loop MatVec of this cell's reuse, fan-in, pipelining and ``results_held``."""
        return MatVec.of(weights, reuse=self.layer.schedule.reuse_recurrent,
                         tree_fanin=self._fanin(weights), pipelining=self.pipelining,
                         addend_held=self.results_held,
                         multiplier=self.layer.schedule.multiplier_recurrent,
                         weights_in_memory=self.layer.schedule.weights == "file", **kwargs)

    def _fanin(self, weights) -> int:
        return one_stage_fanin(weights, self.tree_fanin, self.pipelining)

    def product(self, m, name, a, b, t, cast=None):
        """The cell's elementwise products ``a[n] * b[n]``: :func:`elementwise_product` with its
        ``e`` stages, by ``*`` or in the fabric (``multiplier_elementwise``)."""
        return elementwise_product(m, self.elementwise, name, a, b, t, cast, lut=self.elementwise_lut)

    def tail_product(self, m, name, a, b, t):
        """The last elementwise products of the loop (``a[n] * b[n]`` into a vector of ``t``):
        :meth:`product` (valid ``1 + 2e`` cycles after its operands), or with ``merged_tail``
        combinational (valid with them; :attr:`tail` is 0)."""
        if self.tail:
            return self.product(m, name, a, b, t)
        out = vector(t, len(a), name)
        for n, (x, y) in enumerate(zip(a, b)):
            product = soft_product(m, x, y, f"{name}_lut{n}") if self.elementwise_lut else x * y
            m.d.comb += out[n].eq(product)
        return out

    def _activation(self, **kwargs):
        return ActivationUnit(latency=self.activation_latency, **kwargs)

    def late(self, m, value, cycles: int, name: str):
        """A unit's held result ``value``, read ``cycles`` later in the same step: as it is when
        :attr:`results_held`, else through a delay line."""
        return value if self.results_held else delay(m, value, cycles, name, reset_less=True)

    def state_layouts(self) -> dict:
        """The cell's state, carried from one step to the next: name -> layout of one copy."""
        return {"h": data.ArrayLayout(shape_of(self.layer.output_fmt), self.layer.units)}

    # -- for subclasses ------------------------------------------------------------------------------

    def _build_loop(self):
        """Create the loop's units (MatVecs, activation units) without elaborating them."""
        raise NotImplementedError

    @property
    def step_cycles(self) -> int:
        """``D``: cycles from a job's loop start to the next loop start of the same state."""
        raise NotImplementedError

    @property
    def loop_matvecs(self) -> list:
        """The loop's MatVecs (the recurrent products)."""
        raise NotImplementedError

    def elaborate_into(self, m, *, start, h, ax, tag, bank, tag_copies=None):
        """Add the loop to the shell's module ``m`` (its units as submodules of ``m``).

        ``start`` is the loop start (one cycle) with the job's input projection ``ax``;
        ``tag(d)`` gives ``(slot, last, masked)`` of the job that started ``d`` cycles ago
        (``masked``: the job is a masked step, :mod:`rnnrtl.hw.masking`; ``None`` in a model
        without masking); ``h`` is the state store of ``h`` (``read(slot)``,
        ``write(m, slot, value, clear, keep=None)``; read it with the slot of the stage that uses
        it); ``bank(name)`` gives the store of another state element (``c``), created when asked
        for. Returns ``(h_new, h_we)``: ``h_we`` high in cycle ``start + step_cycles - 1`` with the
        new state ``h_new`` (the shell writes it, or keeps the state on a masked step). Other
        state is written here, to zero when the job is its sequence's last, and kept (``keep``)
        when the job is masked. ``tag_copies(d, count)`` (or ``None``), ``d >= 1``: ``count``
        copies of ``tag(d)`` with the job's start bit, ``(slot, last, masked, start)`` each, in
        registers of their own: a wide state write takes its control from a copy per group of
        lanes."""
        raise NotImplementedError

    # -- figures ---------------------------------------------------------------------------------------

    @property
    def multipliers(self) -> int:
        """The projection's, the loop MatVecs' and the tail's elementwise products
        (:func:`rnnrtl.schedule.elementwise_multipliers`: none when built in the fabric)."""
        return (self.projection.multipliers + sum(mv.multipliers for mv in self.loop_matvecs)
                + elementwise_multipliers(self.layer))

    @property
    def job_spacing(self) -> int:
        """Cycles between job starts: the multipliers' initiation interval."""
        return max([self.projection.ii] + [mv.ii for mv in self.loop_matvecs])
