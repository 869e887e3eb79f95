# amaranth: UnusedElaboratable=no
# (MatVec.of builds units the timing model reads without elaborating them)
"""``MatVec``: an exact, full-width matrix-vector product ``y = W·x (+ b) (+ addend)`` with a reuse factor.

The weights are constants of the circuit; nothing is rounded: every term is aligned (shifted left,
exactly) to the common fraction ``frac = max(x.frac + weight_frac, bias_frac, addend.frac)`` and the
output lanes have the exact :class:`~rnnrtl.fixed.IntType` :attr:`MatVec.out_type`. The schedule —
which multiplier computes which product in which MAC cycle, the segments, the exact types, the
adder tree's depth — is :class:`~rnnrtl.hw.matvec_plan.MatVecPlan`, computed without hardware; this
module builds the circuit from it.

Cycle by cycle (cycle 0 is the ``start`` cycle, where ``x`` and ``addend`` are sampled), for reuse
factor ``R``, with no pipelining stages:

* ``R = 1``: products of the ``x`` port are registered at the end of cycle 0 (segments valid in
  cycle 1, and only then: they load every cycle).
* ``R > 1``: ``x`` is registered at the end of cycle 0 into a register that turns by one lane per
  cycle, so multiplier ``m`` always finds its operand in lane ``(m * R) % cols`` (its products are
  consecutive): no operand multiplexer. MAC cycle ``k`` is cycle ``1 + k``: its operands (that
  lane and the weight of product ``k``, a constant ROM indexed by the MAC-cycle counter: one
  counter shared by every multiplier and one ``case`` loading all their weight registers
  (:func:`~rnnrtl.hw.mac.weight_bank`), or with ``counter_stages`` a counter and a ROM per
  multiplier) are registered at its end, their product one cycle later, and it is added into the
  multiplier's accumulator one cycle after that (the segment of a row it touches is copied out of
  the accumulator with the row's last product: one adder per multiplier), so segments are valid
  in cycle ``R + 3``. Only one multiplier or one adder lies between two registers.
* Each tree stage adds one cycle; the last stage is the ``y`` register, so ``done`` rises in cycle
  ``R + 3 (R > 1) + tree_stages``; ``y`` is held until the next result. The inner tree stages load
  every cycle (no enable).

Pipelining stages (counts of :class:`~rnnrtl.hw.pipelining.Pipelining`; each adds its count to
:attr:`MatVec.latency`):

* ``start_stages`` (0 or 1): ``start``, ``x`` and ``addend`` registered first.
* ``R > 1`` only: ``counter_stages`` (0, 1 or 2, with a registered start): the multipliers'
  counters take the start from a copy per group of :data:`COUNTER_GROUP` multipliers, the global
  MAC counter from one of its own (a second register level); at 2 each counter, and the global
  one, from a copy of its own taken from its group's (a third level). ``operand_stages`` (0 or
  1): the weight ROM's output and the lane pass one more register (in the fabric) before the
  multiplier's, so the route into the DSP has a cycle of its own; more at ``R >``
  :data:`~rnnrtl.hw.mac.ROM_GROUP`, where the
  weight ROM takes :func:`~rnnrtl.hw.mac.rom_levels` more stages (16-entry ROMs, then picks of one
  in four: one more stage up to reuse 64, two up to 256). ``product_stages``: registers after the
  multiplier's output register (the route out of the DSP). ``copy_stages`` (0 to 3): a segment
  is copied from the accumulator's register a cycle after its last product is added (not from the
  adder); the accumulator then adds every product and never restarts, and a segment is its value
  minus the value it held before the segment's first product (a register per multiplier, loaded
  then), so the accumulator's loop is its adder alone. At 2 or 3 that difference passes
  ``copy_stages - 1`` free-running registers, the first beside the accumulator, and the segment
  copies the last (a cycle for each hop of the route).
  ``enable_copies``: the adder tree's result enables come from copies (no latency).

A new ``start`` is accepted every ``ii = R`` cycles (or later); a start sooner than ``R`` cycles after
the previous one corrupts both results.

**LUT products** (``multiplier="lut"``; :mod:`rnnrtl.constmul_plan` plans them,
:mod:`rnnrtl.hw.constmul` builds them): no ``*`` at all. At ``R = 1`` each column ``x[i]`` builds
the odd multiples ``c * x[i]`` its weights need (shift-and-add adders, shared by every row), in
cycle 0, combinationally; each is registered once (the *term registers*, holding them in cycle 1),
and a product's segment is a wire from its term, ``±term << s`` (0 for a zero weight; cast into
``product_fmt`` on the way into the tree's first stage). Without term registers
(``terms_registered`` False, the fast preset) the multiples are combinational into the tree's
first stage, which sums them (and the addend) in the start cycle: one cycle less; with
``unregistered`` and a one-stage tree not even the result is registered (latency 0, the sums
valid in the start cycle only). With ``adder_stages`` (the deep preset)
every adder's sum is registered instead and the multiples are aligned to the deepest one: the
segments hold the products in cycle ``1 + stages["shift_add"]``
(:meth:`~rnnrtl.constmul_plan.ConstMulPlan.stages`), everything after moves by as much. At
``1 < R <= LUT_MAX_REUSE`` a multiplier's ``xsel * wsel`` becomes a multiplexer, selected by its
weight register, over its block's shift-add products of ``xsel``: same registers, same cycles.

**Weights in memories** (``weight_range``, ``bias_range``; ``weights: file``): the weights are not
constants of the circuit but the contents of one initialised :class:`~amaranth.lib.memory.Memory`
(:data:`WEIGHT_MEMORY`), ``R`` words of one field per multiplier (the weight of its product of MAC
cycle ``k`` in word ``k``, 0 past a short last block), each field as wide as ``weight_range``
needs; the bias is a one-word memory (:data:`BIAS_MEMORY`) of one ``bias_range`` field per row.
Every width (fields, products, segments, ``out_type``) is sized for any codes of the ranges
(:class:`~rnnrtl.hw.matvec_plan.MatVecPlan`), so the circuit depends on the shapes and formats only
and :mod:`rnnrtl.writer` can move the contents into ``$readmemh`` files. Cycles are those of the
constants: at ``R = 1`` both memories are read combinationally (constant words); at ``R > 1`` the
weight memory's registered read port, addressed by the MAC counter, is the weight register of
every multiplier (one register, as :func:`~rnnrtl.hw.mac.weight_bank`), followed by the operand
stages' registers (the ROM's second stage included) where the constants had a ROM per multiplier:
with ``counter_stages`` the multipliers keep their own counters for their segments, but their
weights come from the one memory read by the MatVec's counter. Only ``dsp`` products.

**Per-product casts** (``product_fmt``, ``numerics: hls4ml``, docs/hls4ml.md): every product
``W[j, i] * x[i]`` is requantized into ``product_fmt`` (hls4ml's ``accum_t``) with
:func:`rnnrtl.fixed.requantize_value` before it enters its segment, and the bias constant is
requantized into it with :func:`rnnrtl.fixed.requantize` — ``sum_i q_P(W·x) + q_P(b)``, as the
emulator's ``_MatVec`` and ``_bias`` compute it. ``product_fmt`` must wrap (``WRAP``): the products are
then summed exactly and the consumer requantizes the sum into ``product_fmt`` again, which gives the
integers of hls4ml's wrapping accumulator whatever the order of its additions. The cast is
combinational between a product and its segment register (after the product register when
``R > 1``; a bit slice for ``TRN``, an adder otherwise): latency and the multiplier count do not
change.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..constmul_plan import LUT_MAX_REUSE, MULTIPLIERS, choose, matrix_plan
from ..fixed import FixedFormat, IntType
from .adder_tree import adder_tree
from .common import (COPY_LOADS, copy_groups, delay, fanout_copies, pulse_copies, register_bank,
                     requantized)
from .constmul import constant_segments
from .mac import SharedCounter, mac_counter, multiplier, rom_levels, weight_bank
from .matvec_plan import MatVecPlan, check_int
from .pipelining import SHALLOW

__all__ = ["MatVec", "COUNTER_GROUP", "WEIGHT_MEMORY", "BIAS_MEMORY"]

#: Multipliers whose counters share one copy of a registered start (``counter_stages`` 1), or
#: whose counters' own copies are taken from one (``counter_stages`` 2).
COUNTER_GROUP = 4
#: Names of a MatVec's weight and bias memories (``weight_range``): the Verilog arrays
#: :mod:`rnnrtl.writer` moves into ``$readmemh`` files (keep in sync with it).
WEIGHT_MEMORY, BIAS_MEMORY = "weight_memory", "bias_memory"


def _shape(t: IntType):
    return signed(t.width) if t.signed else unsigned(t.width)


def _stage_count(value, what, hi):
    return check_int(value, what, 0, hi)


#: First-level copies of a deep MatVec's start (:func:`~rnnrtl.hw.common.fanout_copies`), from
#: which its counters' and lane rotator's copies are taken in turn: one register reaching every
#: copy crossed an ECP5-85F (7.1 ns).
_START_ROOTS = 4


class MatVec(wiring.Component):
    """``y[j] = sum_i W[j, i] * x[i] (+ bias[j]) (+ addend[j])``, exact, reusing each multiplier ``reuse`` times.

    Parameters (keyword-only)
    -------------------------
    weights : integer array ``[rows, cols]``
        Weight codes, with ``weight_frac`` fractional bits.
    x_type : IntType
        Type of each ``x`` lane.
    reuse : int, ``1 .. rows * cols``
        Products per multiplier (the reuse factor ``R``); also the initiation interval.
    bias, bias_frac : integer array ``[rows]`` and its fractional bits, or ``None``.
    addend_type : IntType or None
        Type of an optional extra input vector of ``rows`` lanes, added into the sum.
    tree_fanin : int >= 2
        Terms summed per pipeline stage of the adder tree.
    product_fmt : FixedFormat (``WRAP``) or None
        Every product, and the bias, requantized into this format before summing (see the module
        docstring); ``None``: exact products.
    start_stages, counter_stages, operand_stages, product_stages, copy_stages, enable_copies
        Pipelining (module docstring): the first five are register stages, 0 or 1
        (``counter_stages`` 0 to 2, ``copy_stages`` 0 to 3, ``product_stages`` any count >= 0);
        all but ``start_stages`` apply at ``reuse > 1`` only.
    addend_held : bool
        The caller holds ``addend`` from ``start`` until ``done`` and starts nothing before
        ``done``: at ``reuse > 1`` the adder tree then reads it as it is (through one register
        with ``start_stages``), instead of from copies kept past the next start (a row's worth
        of flip-flops for each copy).
    multiplier : ``"dsp"``, ``"lut"`` or ``"auto"``
        How the products are built (module docstring, *LUT products*); ``auto`` is resolved by
        :func:`rnnrtl.constmul_plan.choose` (:attr:`multiplier` is the kind built).
    adder_stages : bool
        ``lut`` at reuse 1: every shift-add adder's sum registered (:attr:`stages`' ``shift_add``).
    terms_registered : bool
        ``lut`` at reuse 1 without ``adder_stages``: the term registers (True) or none, the odd
        multiples combinational into the adder tree's first stage (module docstring, *LUT
        products*; one cycle less latency).
    binary_adders : bool
        The adder tree's groups summed by kept two-input adders
        (:func:`~rnnrtl.hw.adder_tree.adder_tree`'s ``binary``).
    unregistered : bool
        The result may go without a register where it is the unit's only one (reuse 1, ``lut``
        products without term registers, a one-stage tree): :attr:`latency` is then 0, ``done``
        is ``start`` and ``y`` holds the sum of the ``x`` and ``addend`` of that same cycle only
        (not held). Elsewhere without effect (:attr:`registered` says which).
    weight_range, bias_range : ``(lo, hi)`` codes or None
        Given: the weights (and bias) are the contents of memories sized for any codes of these
        ranges (module docstring, *Weights in memories*; ``dsp`` only); ``bias_range`` is needed
        with a bias. None: constants of the circuit.

    Ports
    -----
    x : ``In(ArrayLayout(x shape, cols))``; addend : ``In(ArrayLayout(addend shape, rows))`` (only
    with ``addend_type``); start : ``In(1)``, samples ``x`` and ``addend``;
    y : ``Out(ArrayLayout(signed(out_type.width), rows))``, codes with :attr:`frac` fractional bits;
    done : ``Out(1)``, a one-cycle pulse ``latency`` cycles after ``start``; ``y`` is valid then and held
    until the next result.

    Multipliers: exactly :attr:`multipliers` ``= ceil(rows * cols / reuse)`` ``*`` operators are built,
    one per block (none with ``multiplier="lut"``: module docstring). With ``reuse > 1`` each multiplies a selected ``x`` lane by a weight selected by
    the MAC cycle (a small constant ROM). With ``reuse = 1`` the weight is a constant, so synthesis
    turns a product by a zero or a power of two into wiring; the count is then an upper bound.
    """

    def __init__(self, *, weights, weight_frac, x_type, reuse=1, bias=None, bias_frac=None,
                 addend_type=None, tree_fanin=4, product_fmt=None, start_stages=0,
                 counter_stages=0, operand_stages=0, product_stages=0, copy_stages=0,
                 enable_copies=False, addend_held=False, multiplier="dsp", adder_stages=False,
                 terms_registered=True, binary_adders=False, unregistered=False,
                 weight_range=None, bias_range=None):
        self.plan = plan = MatVecPlan(weights=weights, weight_frac=weight_frac, x_type=x_type,
                                      reuse=reuse, bias=bias, bias_frac=bias_frac,
                                      addend_type=addend_type, tree_fanin=tree_fanin,
                                      product_fmt=product_fmt, weight_range=weight_range,
                                      bias_range=bias_range)
        if not isinstance(addend_held, bool):
            raise TypeError(f"addend_held must be a bool, got {addend_held!r}")
        if not isinstance(enable_copies, bool):
            raise TypeError(f"enable_copies must be a bool, got {enable_copies!r}")
        self._addend_held = addend_held
        if multiplier not in MULTIPLIERS:
            raise ValueError(f"multiplier {multiplier!r} is not one of {', '.join(MULTIPLIERS)}")
        if not isinstance(adder_stages, bool):
            raise TypeError(f"adder_stages must be a bool, got {adder_stages!r}")
        if plan.weight_range is not None and multiplier != "dsp":
            raise ValueError(f"multiplier {multiplier!r} with weights in a memory (weight_range): "
                             "lut and auto products are built from the weight values; valid: "
                             "multiplier 'dsp'")
        self._kind = choose(multiplier, plan.w, plan.x_type, plan.reuse)
        #: The shift-add plan of a ``lut`` MatVec (:class:`~rnnrtl.constmul_plan.ConstMulPlan`), or None.
        self.const_plan = None
        if self._kind == "lut":
            if plan.reuse > LUT_MAX_REUSE:
                raise ValueError(f"multiplier 'lut' at reuse {plan.reuse}: a LUT multiplier picks its "
                                 f"product among its {plan.reuse} constant products; valid: reuse "
                                 f"1..{LUT_MAX_REUSE}, or multiplier 'dsp'")
            self.const_plan = matrix_plan(plan.w, plan.x_type, plan.reuse)
        self._adder_stages = adder_stages
        for flag, value in (("terms_registered", terms_registered), ("binary_adders", binary_adders)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {value!r}")
        #: Term registers: 1, or 0 where the reuse-1 shift-and-add terms are combinational.
        self._term_stages = int(terms_registered or self.const_plan is None or plan.reuse > 1
                                or adder_stages)
        self._binary_adders = binary_adders
        if not isinstance(unregistered, bool):
            raise TypeError(f"unregistered must be a bool, got {unregistered!r}")
        #: The result register: 1, or 0 (``unregistered`` where the unit has no other register).
        self._result_stages = int(not (unregistered and not self._term_stages
                                       and plan.tree_stages == 1))
        self._shift_add_stages = 0 if self.const_plan is None else \
            self.const_plan.stages(adder_stages)
        macs = plan.reuse > 1   # the stages below exist only where products take MAC cycles
        self._start_stages = _stage_count(start_stages, "start_stages", 1)
        self._counter_stages = _stage_count(counter_stages, "counter_stages", 2) \
            * (macs and self._start_stages > 0)
        operand_stages = _stage_count(operand_stages, "operand_stages", 1) * macs
        self._rom_picks = rom_levels(plan.reuse) if operand_stages else 0
        #: Fabric registers before the multiplier's input register (the weight ROM's pick
        #: levels counted), and after its output register.
        self._operand_stages = operand_stages + self._rom_picks
        self._product_stages = _stage_count(product_stages, "product_stages", None) * macs
        self._fabric_stages = self._operand_stages + self._product_stages
        self._copy_stages = _stage_count(copy_stages, "copy_stages", 3) * macs
        self._enable_copies = enable_copies and macs

        #: ``x`` comes a cycle after ``start`` (a caller whose input queue reads late,
        #: :class:`~rnnrtl.hw.common.Queue`'s ``late``) and takes the place of the first start
        #: stage on ``x``: settable before elaboration when :attr:`takes_late_x`.
        self.x_late = False

        sig = {
            "x": In(data.ArrayLayout(_shape(x_type), plan.cols)),
            "start": In(1),
            "y": Out(data.ArrayLayout(_shape(plan.out_type), plan.rows)),
            "done": Out(1),
        }
        if addend_type is not None:
            sig["addend"] = In(data.ArrayLayout(_shape(addend_type), plan.rows))
        super().__init__(sig)

    @classmethod
    def of(cls, weights, *, x_type, reuse, bias=None, rows=slice(None), addend_type=None,
           tree_fanin=4, product_fmt=None, pipelining=SHALLOW, addend_held=False,
           multiplier="dsp", weights_in_memory=False, unregistered=False) -> "MatVec":
        """A MatVec of IR :class:`~rnnrtl.ir.Weights` (rows ``rows`` of them) and an optional IR
        bias, taking their codes and fractional bits from the IR (``product_fmt``: the layer's),
        and its stages from ``pipelining`` (a :class:`~rnnrtl.hw.pipelining.Pipelining`; its
        ``product`` registers, the route out of a DSP, are a register after every adder level
        of ``lut`` products at reuse 1: ``adder_stages``). ``weights_in_memory``: the weights and
        bias in memories sized by their formats' code ranges (``weights: file``);
        ``unregistered``: the constructor's."""
        p = pipelining
        ranges = {}
        if weights_in_memory:
            ranges["weight_range"] = (weights.fmt.min_code, weights.fmt.max_code)
            if bias is not None:
                ranges["bias_range"] = (bias.fmt.min_code, bias.fmt.max_code)
        return cls(weights=weights.codes[rows], weight_frac=weights.fmt.frac_bits, x_type=x_type,
                   reuse=reuse, bias=None if bias is None else bias.codes[rows],
                   bias_frac=None if bias is None else bias.fmt.frac_bits,
                   addend_type=addend_type, tree_fanin=tree_fanin, product_fmt=product_fmt,
                   start_stages=p.start, counter_stages=p.counter_start,
                   operand_stages=p.operands, product_stages=p.product, copy_stages=p.copy,
                   enable_copies=p.enable_copies, addend_held=addend_held,
                   multiplier=multiplier, adder_stages=p.product > 0,
                   terms_registered=p.terms > 0, binary_adders=p.binary_adders,
                   unregistered=unregistered, **ranges)

    # -- public properties -------------------------------------------------------------------------

    @property
    def takes_late_x(self) -> bool:
        """Whether ``x`` may come a cycle after ``start`` (:attr:`x_late`): with a start stage,
        and no addend (which is registered beside ``x``)."""
        return self._start_stages > 0 and self.plan.addend_type is None

    @property
    def rows(self) -> int:
        return self.plan.rows

    @property
    def cols(self) -> int:
        return self.plan.cols

    @property
    def reuse(self) -> int:
        return self.plan.reuse

    @property
    def x_type(self) -> IntType:
        return self.plan.x_type

    @property
    def addend_type(self) -> IntType | None:
        return self.plan.addend_type

    @property
    def ii(self) -> int:
        """Initiation interval: cycles between accepted ``start`` pulses (``= reuse``)."""
        return self.plan.reuse

    @property
    def product_fmt(self) -> FixedFormat | None:
        """Format every product and the bias are cast into before summing, or ``None`` (exact)."""
        return self.plan.product_fmt

    @property
    def multipliers(self) -> int:
        """Multiplier instances built: ``ceil(rows * cols / reuse)``; 0 for ``lut`` (no ``*``)."""
        return 0 if self.const_plan is not None else self.plan.multipliers

    @property
    def multiplier(self) -> str:
        """The kind of products built: ``dsp`` (``*`` operators) or ``lut`` (shift-and-add)."""
        return self._kind

    def cost(self) -> dict:
        """The products' cost: ``{"multiplier": kind, "multipliers": n}``, and for ``lut`` the
        :meth:`~rnnrtl.constmul_plan.ConstMulPlan.cost` model (adders, widths, registers)."""
        out = {"multiplier": self._kind, "multipliers": self.multipliers}
        if self.const_plan is not None:
            out.update(self.const_plan.cost(self._adder_stages, bool(self._term_stages)))
        return out

    @property
    def frac(self) -> int:
        """Fractional bits of ``y``: ``max(x.frac + weight_frac, bias_frac, addend.frac)``, with
        ``product_fmt``'s fractional bits in place of the first two when it is given."""
        return self.plan.frac

    @property
    def out_type(self) -> IntType:
        """Exact type of the ``y`` lanes (signed, as narrow as the weight values allow)."""
        return self.plan.out_type

    @property
    def tree_stages(self) -> int:
        """Register stages of the adder tree: ``max(1, ceil(log_fanin(L)))``, ``L`` the most terms
        of a row (its segments, plus one for a bias, plus one for an addend)."""
        return self.plan.tree_stages

    @property
    def latency(self) -> int:
        """Cycles from ``start`` to ``done``:
        ``reuse + 3·(reuse > 1) + tree_stages + start + counter + operands + product + copy
        (+ shift_add)``, the last being this unit's pipelining stages (:attr:`stages`); at reuse 1
        ``reuse`` is the product (or term) register, 0 without term registers, and
        ``tree_stages`` 0 without a result register (:attr:`registered`)."""
        R = self.plan.reuse
        return (R if self._term_stages else 0) + 3 * (R > 1) \
            + (self.plan.tree_stages if self._result_stages else 0) + sum(self.stages.values())

    @property
    def registered(self) -> bool:
        """Whether ``y`` is a register (held until the next result); False only where built
        ``unregistered`` with nothing else registered (latency 0)."""
        return bool(self._result_stages)

    @property
    def stages(self) -> dict:
        """The pipelining stages this unit has (its configuration applied to its reuse):
        ``start``, ``counter``, ``operands`` (the weight ROM's second stage included), ``product``,
        ``copy``, and for ``lut`` products ``shift_add`` (their adder levels registered at reuse 1
        with ``adder_stages``: :meth:`~rnnrtl.constmul_plan.ConstMulPlan.stages`)."""
        stages = {"start": self._start_stages, "counter": self._counter_stages,
                  "operands": self._operand_stages, "product": self._product_stages,
                  "copy": self._copy_stages}
        if self.const_plan is not None:
            stages["shift_add"] = self._shift_add_stages
        return stages


    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        R, rows = plan.reuse, plan.rows

        start, x, addend = self.start, self.x, getattr(self, "addend", None)
        counter_starts = None
        if self._start_stages:
            # One register between the caller's (combinational) start and the wide fanout of
            # start, x and addend below; free-running, so no enable net either.
            stages = 1 + self._counter_stages
            # With counter stages the first register is a few copies (a tree's first level:
            # fanout_copies), each starting some of the second level's copies below, which are
            # spread with the counters and lanes they start.
            firsts = [delay(m, self.start, 1, "start_reg")] if not self._counter_stages else \
                fanout_copies(m, self.start, _START_ROOTS, "start_reg")
            first = firsts[0]
            start = delay(m, first, self._counter_stages, "start_far")
            x = delay(m, self.x, stages - self.x_late, "x_in", reset_less=True)
            if addend is not None:
                # A held addend (the caller's until done, read at the end of the job: R >= 2
                # cycles after start) needs one local copy, not a delay line beside the start's.
                held = R > 1 and self._addend_held
                addend = delay(m, self.addend, 1 if held else stages, "addend_in",
                               reset_less=True)
            if self._counter_stages:
                # The counters, spread over the device, take the second stage from copies of the
                # start (starts are at least R >= 2 cycles apart): one per group of
                # COUNTER_GROUP multipliers' counters, and a last one for the global MAC counter
                # (the row's last cycle, the segments' valid flag), which sits with the adder
                # tree. A tree of two register levels instead of one route from one flip-flop to
                # every counter.
                n_groups = -(-plan.multipliers // COUNTER_GROUP)
                group_starts = [pulse_copies(m, firsts[g % len(firsts)], 1, f"start_group{g}_")[0]
                                for g in range(n_groups + 1)]
                if self._counter_stages == 1:
                    counter_starts = [group_starts[mi // COUNTER_GROUP]
                                      for mi in range(plan.multipliers)] + [group_starts[-1]]
                    rot_sources = firsts
                else:
                    # A third level: a copy per counter, beside it. A group's counters sit in
                    # DSP rows across the device, so the group's copy can be placed between them
                    # and each hop is part of the way only (one copy per group reached a
                    # counter 100 tiles away in one 6.8 ns route).
                    counter_starts = [
                        pulse_copies(m, group_starts[mi // COUNTER_GROUP], 1,
                                     f"start_counter{mi}_")[0]
                        for mi in range(plan.multipliers)] \
                        + pulse_copies(m, group_starts[-1], 1, "start_global_")
                    rot_sources = group_starts

        # Segments: one per (multiplier, row it touches), at the product fraction (at R > 1 the
        # multiplier's one accumulator is copied into them).
        # Datapath registers have no reset (their value means nothing until a valid flag says
        # so): the reset net reaches only the control.
        seg_sig = [[Signal(signed(IntType.for_range(lo, hi, 0, True).width), name=f"seg{mi}_{j}",
                           reset_less=True)
                    for (j, _, _, lo, hi) in segs] for mi, segs in enumerate(plan.segments)]

        if R == 1 and self.const_plan is not None:
            # Shift-and-add: each column's odd multiples registered once, the segments wires.
            ready = constant_segments(m, plan, self.const_plan, x, seg_sig,
                                      cast=None if plan.product_fmt is None else self._cast,
                                      pipelined=self._adder_stages,
                                      registered=bool(self._term_stages))
            seg_valid = delay(m, start, ready, "seg_valid")
        elif R == 1:
            # The product registers are the segments. They load every cycle, without an enable:
            # the adder tree's first stage (or ``y``) reads them only in the cycle after
            # ``start``, and a start-enabled load was a multiplexer per bit and a ``start`` net
            # to every segment flip-flop.
            ws = [w for ((_, _, _, w),) in plan.blocks] if plan.weight_range is None \
                else self._weight_memory(m, None)
            # One register bank holds them all (rnnrtl.hw.common.register_bank).
            products = [self._cast(m, x[i] * w, f"q{mi}")
                        for mi, (((_, _, i, _),), w) in enumerate(zip(plan.blocks, ws))]
            seg_sig = [[reg] for reg in register_bank(
                m, products, [len(segs[0]) for segs in seg_sig], "seg")]
            seg_valid = Signal()
            m.d.sync += seg_valid.eq(start)
        else:
            # Three register stages per MAC cycle: operand selection, the product, and the segment
            # accumulator. Nothing but one multiplier or one adder sits between two registers.
            k, active, _ = mac_counter(m, R,
                                       start if counter_starts is None else counter_starts[-1], "k")
            last = Signal()
            m.d.comb += last.eq(active & (k == R - 1))
            # The x lanes in a register that turns by one lane per MAC cycle: at MAC cycle k,
            # rot[p] = x[(p + k) % cols]. Multiplier m's products are consecutive (f = m*R + k), so
            # it always reads the same lane rot[(m*R) % cols]: no operand multiplexer.
            cols = plan.cols
            rot = Signal.like(self.x, name="rot", reset_less=True)
            # With counter stages, each group of lanes loads from a copy of the start
            # (fanout_copies of its stage before): the start selects every bit of the register.
            # With the third level, each lane has a copy of its own (a copy per two lanes, spread
            # with the multipliers they feed, reached 37 tiles in one 6.9 ns route).
            if counter_starts is None:
                with m.If(start):
                    m.d.sync += rot.eq(x)
                with m.Else():
                    m.d.sync += [rot[i].eq(rot[(i + 1) % cols]) for i in range(cols)]
            else:
                groups = copy_groups(cols, 1 if self._counter_stages > 1
                                     else COPY_LOADS // len(rot[0]))
                loads = [fanout_copies(m, rot_sources[(g + 1) % len(rot_sources)], 1,
                                       f"rot_start{g}_")[0] for g in range(groups[-1] + 1)]
                for i in range(cols):
                    with m.If(loads[groups[i]]):
                        m.d.sync += rot[i].eq(x[i])
                    with m.Else():
                        m.d.sync += rot[i].eq(rot[(i + 1) % cols])
            # Multipliers started by one start share one counter and its decodes; with the
            # deep pipeline's copies of the start, each counts on its own.
            shared = SharedCounter(m, k, active, "k") if counter_starts is None else None
            # Their weights then come from one bank (one case on the shared counter) unless
            # operand stages give each multiplier its own ROM stages.
            if plan.weight_range is not None:
                weights = self._weight_memory(m, k)
            elif shared is not None and not self._operand_stages:
                weights = weight_bank(m, plan.blocks, shared, R)
            else:
                weights = [None] * len(plan.blocks)
            for mi, (block, segs) in enumerate(zip(plan.blocks, plan.segments)):
                multiplier(m, plan, mi, block, segs, start=start if counter_starts is None
                           else counter_starts[mi], lane=rot[(mi * R) % cols],
                           segments=seg_sig[mi], cast=None if plan.product_fmt is None else self._cast,
                           rom_picks=self._rom_picks, operand_stages=self._operand_stages,
                           product_stages=self._product_stages, copy_stages=self._copy_stages,
                           counter=shared, weight=weights[mi],
                           graph=None if self.const_plan is None else self.const_plan.graphs[mi])
            # The last MAC cycle as its product is accumulated: segments are valid one cycle later
            # (one more when copied from the accumulator register).
            last_acc = delay(m, last, 2 + self._fabric_stages, "last_acc")
            seg_before = delay(m, last_acc, self._copy_stages, "seg_before")
            seg_valid = delay(m, seg_before, 1, "seg_valid")
            seg_before2 = delay(m, last, 1 + self._fabric_stages + self._copy_stages, "seg_before2")

        # Tree leaves per row: (value, lo, hi) at the common fraction. ``shift_left`` is wiring
        # (a concatenation); ``<<`` by an int is a shifter cell that Amaranth elaborates bit by bit.
        shift = plan.frac - plan.term_frac
        terms = []
        if plan.addend_type is not None:
            a_shift = plan.frac - plan.addend_type.frac
            a_lo, a_hi = plan.addend_type.min_value << a_shift, plan.addend_type.max_value << a_shift
            if R > 1 and self._addend_held or not self._term_stages:
                # the caller holds it until done, or (no term registers) the tree's first
                # stage sums it in the start cycle itself
                addend_reg = addend
            else:
                addend_reg = Signal.like(self.addend, reset_less=True)
                with m.If(start):
                    m.d.sync += addend_reg.eq(addend)
                if R > 1:
                    # Held past the next start, which can come in the last MAC cycle (``last``),
                    # and then as long again as the operand and product stages delay the segments.
                    addend_hold = Signal.like(self.addend, reset_less=True)
                    with m.If(last):
                        m.d.sync += addend_hold.eq(addend_reg)
                    # It is read at last + 2 + fabric stages (+ the copy stages past the first),
                    # after the next job's last (last + R) when R is small: one more hold stage
                    # per cycle short.
                    later = max(self._copy_stages - 1, 0)
                    last_n = last
                    for n in range(1, max(0, self._fabric_stages + 2 + later - R) + 1):
                        addend_mid = Signal.like(self.addend, name=f"addend_mid{n}", reset_less=True)
                        last_n = delay(m, last_n, 1, f"last_d{n}")
                        with m.If(last_n):
                            m.d.sync += addend_mid.eq(addend_hold)
                        addend_hold = addend_mid
                    addend_reg = Signal.like(self.addend, reset_less=True)
                    with m.If(delay(m, last_acc, later, "addend_load")):
                        m.d.sync += addend_reg.eq(addend_hold)
        biases = None if plan.bias is None or plan.bias_range is None else self._bias_memory(m)
        for j in range(rows):
            row = []
            if biases is not None:
                blo, bhi = plan.bias_range
                b_shift = plan.frac - plan.bias_frac
                row.append((biases[j].shift_left(b_shift), blo << b_shift, bhi << b_shift))
            elif plan.bias is not None:
                b = plan.bias[j] << (plan.frac - plan.bias_frac)
                row.append((Const(b), b, b))
            for mi, s in plan.row_segments[j]:
                _, _, _, lo, hi = plan.segments[mi][s]
                row.append((seg_sig[mi][s].shift_left(shift), lo << shift, hi << shift))
            if plan.addend_type is not None:
                row.append((addend_reg[j].shift_left(a_shift), a_lo, a_hi))
            terms.append(row)

        sums, valid = adder_tree(m, terms, fanin=plan.tree_fanin, valid=seg_valid,
                                 valid_before=seg_before if R > 1 else None,
                                 valid_before2=seg_before2 if R > 1 else None,
                                 spaced=self._enable_copies, binary=self._binary_adders,
                                 registered=bool(self._result_stages))
        for j, value in enumerate(sums):
            m.d.comb += self.y[j].eq(value)
        m.d.comb += self.done.eq(valid)
        return m

    def _memory_fields(self, m, name, lo_hi, words, read_domain, addr=None):
        """An initialised memory ``name`` of ``words`` (lists of signed codes in ``lo_hi``, one
        field each, the same count per word), read in ``read_domain`` at ``addr`` (None: word 0);
        returns the read word's fields (signed values)."""
        width = IntType.for_range(*lo_hi, 0, True).width
        fields = len(words[0])
        mask = (1 << width) - 1
        init = [sum((code & mask) << (width * f) for f, code in enumerate(word)) for word in words]
        m.submodules[name] = memory = Memory(shape=unsigned(width * fields), depth=len(words),
                                             init=init)
        port = memory.read_port(domain=read_domain)
        if addr is not None:
            m.d.comb += port.addr.eq(addr)
        return port.data, width

    def _weight_memory(self, m, k):
        """The weight of every multiplier from :data:`WEIGHT_MEMORY` (module docstring): word
        ``k`` combinationally at R = 1 (``k`` None), else registered at counter ``k`` and then
        delayed by the operand stages."""
        plan = self.plan
        words = [[next((w for (kk, _, _, w) in block if kk == k_), 0) for block in plan.blocks]
                 for k_ in range(plan.reuse)]
        data_, width = self._memory_fields(m, WEIGHT_MEMORY, plan.weight_range, words,
                                           "comb" if k is None else "sync", k)
        if k is not None and self._operand_stages:
            data_ = delay(m, data_, self._operand_stages, "wpre", reset_less=True)
        return [data_[f * width:(f + 1) * width].as_signed() for f in range(len(plan.blocks))]

    def _bias_memory(self, m):
        """Each row's bias from the one word of :data:`BIAS_MEMORY`, read combinationally."""
        plan = self.plan
        data_, width = self._memory_fields(m, BIAS_MEMORY, plan.bias_range, [plan.bias], "comb")
        return [data_[j * width:(j + 1) * width].as_signed() for j in range(plan.rows)]

    def _cast(self, m, product, name):
        """A product as it enters its segment: cast into ``product_fmt`` (rnnrtl.fixed's Amaranth
        half of the requantization, through named wires in ``m``: :func:`~rnnrtl.hw.common.requantized`),
        or exact."""
        plan = self.plan
        if plan.product_fmt is None:
            return product
        code, _ = requantized(m, 0, name, product, plan.prod_frac, plan.product_fmt)
        return code
