"""``Pipelining``: how many register stages each place of the hardware gets, decoded once.

A layer's ``pipeline`` setting (``ir.Schedule.pipeline``) names a preset; :meth:`Pipelining.of`
turns it into this value, and every hardware component takes the counts of the places it owns
(nothing else reads the preset's name). A component's ``latency`` is the sum of its own counts
and of its fixed stages (see each one's docstring); :func:`preset_table` lists what each preset
adds, in cycles (README's ``pipeline`` row points to it).

Places (all counts are register stages; each adds that many cycles where it lies on a path):

* ``start`` — :class:`~rnnrtl.hw.matvec.MatVec`: ``start``, ``x`` and ``addend`` registered before
  their fanout to every operand register.
* ``counter_start`` — MatVec with ``reuse > 1`` and a registered ``start``: a second level of
  ``start`` copies, one per group of multipliers' MAC counters (1), and a third, one per counter
  (2).
* ``operands`` — MatVec with ``reuse > 1``: fabric registers on the weight ROM's output and the
  ``x`` lane before the multiplier's input register (more where the weight ROM is split into
  16-entry ROMs and 4-way picks: one more at ``reuse > 16``, two at ``reuse > 64``).
* ``product`` — MatVec with ``reuse > 1``: registers after the multiplier's output register.
* ``copy`` — MatVec with ``reuse > 1``: a segment copied from the accumulator's register, a cycle
  after its last product is added, instead of from the adder (and the accumulator free-running:
  a segment is its difference from the value before the segment's first product); at 2 that
  difference is registered beside the accumulator before its route to the segment, at 3 once
  more on the way (deep: a single register-to-register hop from the accumulator to its segment
  crossed an ECP5-85F in 6.2-7.1 ns). With ``product`` 2 (deep) the product, too, has two hops
  from the DSP to its accumulator (one was 7.7 ns).
* ``enable_copies`` — MatVec with ``reuse > 1``: the adder tree's result registers take their
  enable from a copy per group of rows (no latency).
* ``activation`` — :class:`~rnnrtl.hw.activation.ActivationUnit`: its latency, 0, 1 or 7.
* ``elementwise`` — a cell's elementwise products (f·c, i·g, o·tanh(c), z·h, …): registers on
  either side of each (operands, and the product after the multiplier's output register).
* ``rounding`` — a cell's new state: its rounded value registered before its saturation.
* ``loop_start_chain`` — the static shell: the loop start is a copy of the job's start that
  travels with the job's tag registers, not the input projection's ``done`` (no latency).
* ``release`` — the :class:`~rnnrtl.hw.common.OutputQueue` of a static shell or a Dense layer
  (an unrolled stage's queue has none): registers between a beat's transfer and its credit's
  release.
* ``link`` — :class:`~rnnrtl.hw.common.CreditLink` stages each way between two layers (0: the
  layers' streams are connected directly); between two layers the larger of theirs.
* ``link_slices`` — a :class:`~rnnrtl.hw.common.RegisterSlice` at each end of that credit link
  (either layer's setting), so that its handshakes with the two layers run between the slice's
  flip-flops and the layer's: 2 cycles per link.
* ``port_slices`` — a :class:`~rnnrtl.hw.common.RegisterSlice` on the network's input stream
  (before the first layer, if deep) and output stream (after the last layer, if deep), so that
  the top's ``tready`` and ``tvalid`` reach a layer's queue through a register: 1 cycle each.
* ``one_stage_trees`` — every MatVec of a recurrent or Dense layer: each row's adder tree is one
  stage, whatever ``adder_fanin`` (at reuse 1 a MatVec's latency is then 2: the product register
  and the sum register).
* ``merged_tail`` — a cell's last elementwise products (LSTM ``o·tanh(c)``; GRU ``z·h`` and
  ``(1−z)·hh``) are combinational into the new state ``h``, rounded and written in the cycle of
  the value before them (c and its tanh; the candidate): one register, and one cycle per step,
  fewer. Needs ``elementwise`` and ``rounding`` 0.
* ``terms`` — MatVec at reuse 1 with ``lut`` products: the *term registers* (1: each column's odd
  multiples registered once before the adder tree) or none (0: the shift-and-add adders are
  combinational into the tree's first stage, one cycle and a row of flip-flops per multiple
  fewer). Without effect where ``product`` registers every adder level.
* ``projection`` — :class:`~rnnrtl.hw.unrolled_sequence.SequenceStage` (``input: sequence``,
  ``mode: unrolled``): the input projection's result register (1), or none (0) where the projection
  has no other register (:class:`~rnnrtl.hw.matvec.MatVec`'s ``unregistered``: ``lut`` products
  with ``terms`` 0 and a one-stage tree): ``W·x + b`` then is combinational into the loop's first
  sums, a row of flip-flops per projection row and a cycle of latency fewer. Elsewhere the step's
  input is not held for a whole loop, so the projection keeps its register.
* ``binary_adders`` — every adder tree (:func:`~rnnrtl.hw.adder_tree.adder_tree`): a stage's
  group is summed by a balanced tree of two-input adders whose partial sums are kept signals (one
  carry-chain adder each, about a LUT per bit), instead of one expression of many operands, which
  yosys maps as a carry-save tree of full adders (about two LUTs per bit and operand).

``activation`` may be 0 (``fast``): the tables are read combinationally (small LUT ROMs) from the
requantized input, so a cell's table lookups add no cycle to its step (they share the cycle of
the register that feeds them and the one they feed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import HardwareError

__all__ = ["Pipelining", "SHALLOW", "DEEP", "FAST", "PRESETS", "preset_table"]


@dataclass(frozen=True)
class Pipelining:
    """Register stages per place (see the module docstring)."""
    name: str
    start: int = 0
    counter_start: int = 0
    operands: int = 0
    product: int = 0
    copy: int = 0
    enable_copies: bool = False
    activation: int = 1
    elementwise: int = 0
    rounding: int = 0
    loop_start_chain: bool = False
    release: int = 0
    link: int = 0
    link_slices: bool = False
    port_slices: bool = False
    one_stage_trees: bool = False
    merged_tail: bool = False
    terms: int = 1
    projection: int = 1
    binary_adders: bool = False

    @classmethod
    def of(cls, schedule) -> "Pipelining":
        """The pipelining of an :class:`~rnnrtl.ir.Schedule` (its ``pipeline`` preset)."""
        try:
            return PRESETS[schedule.pipeline]
        except KeyError:
            raise HardwareError(f"pipeline {schedule.pipeline!r} has no hardware; valid: "
                                f"{', '.join(PRESETS)}") from None


#: Fewest cycles per step.
SHALLOW = Pipelining("shallow")

#: For slower fabrics (ECP5, a large design on a large device): no route spans two components
#: without a register, no carry chain shares a stage with another, and every table read and
#: multiplier has registers of its own on both sides. Without ``link_slices`` / ``port_slices``:
#: on the jet LSTM (``jet-ecp5-r80``) they cost +5,624 FF / +2,801 LUT and made the ECP5 route
#: worse (router2 seed 1: 64.9 MHz, the slice's ``ready`` fanning out to the enables of a
#: 320-bit beat's registers across the device; router1 had not converged after 62 minutes).
#: ``release`` 4: at 2, the output queue's transfer reached the first register of its credit's
#: release across an ECP5-85F (8.5 ns, the jet LSTM's critical path at nextpnr seed 1); at 3,
#: with the event registered first (:func:`~rnnrtl.hw.common.delayed_pulse`), the chain's last
#: register reached the credit count in 4 levels and 6.4 ns (seed 2). Four stages leave a
#: flip-flop-only hop at both ends of the chain.
DEEP = Pipelining("deep", start=1, counter_start=2, operands=1, product=2, copy=3,
                  enable_copies=True, activation=7, elementwise=1, rounding=1,
                  loop_start_chain=True, release=4, link=2)

#: Fewest cycles per step, for a fast fabric or a slow clock (latency first, the L1-trigger regime
#: of issue 20): combinational table reads, one-stage adder trees, the cell's last products
#: merged into the state update, LUT products combinational into the adder trees, which are made
#: of two-input adders. Long paths: a table read, a multiplier and two roundings share a cycle;
#: a shift-and-add product and a row's whole sum share another.
FAST = Pipelining("fast", activation=0, one_stage_trees=True, merged_tail=True, terms=0,
                  projection=0, binary_adders=True)

PRESETS = {p.name: p for p in (SHALLOW, DEEP, FAST)}

#: What each place is, for :func:`preset_table` (a line each).
_PLACES = {
    "start": "MatVec: `start`, `x`, addend registered before their fanout",
    "counter_start": "MatVec (reuse > 1, registered start): start copies per 4 MAC counters "
                     "(1), then per counter (2)",
    "operands": "MatVec (reuse > 1): weight ROM output and `x` lane before the multiplier "
                "(+1 more at reuse > 16, +2 at > 64: ROM in stages of 4-way picks)",
    "product": "MatVec (reuse > 1): product after the multiplier",
    "copy": "MatVec (reuse > 1): segment copied from the accumulator register (2, 3: through "
            "1, 2 registers of the difference, the first beside it)",
    "enable_copies": "MatVec (reuse > 1): adder-tree result enables from copies (no cycle)",
    "activation": "activation unit latency (each of the cell's tables)",
    "elementwise": "cell: each side of each elementwise product",
    "rounding": "cell: new state rounded, then saturated",
    "loop_start_chain": "static shell: loop start carried with the job's tag (no cycle)",
    "release": "output queue (static shell, Dense): beat taken to credit released",
    "link": "credit link stages each way between layers (0: direct)",
    "link_slices": "register slice at each end of a credit link (1 cycle each)",
    "port_slices": "register slice on the network's input / output stream (1 cycle each)",
    "one_stage_trees": "MatVecs of recurrent and Dense layers: every row summed in one adder-tree stage "
                       "(`adder_fanin` ignored there)",
    "merged_tail": "cell: o·tanh(c) (LSTM), z·h + (1−z)·hh (GRU) combinational into h (one cycle "
                   "fewer)",
    "terms": "MatVec (reuse 1, `lut` products): odd multiples registered before the adder tree "
             "(0: combinational into it, one cycle fewer)",
    "projection": "unrolled stage (`input: sequence`): input projection's result registered "
                  "(0: combinational into the loop where it has no other register)",
    "binary_adders": "adder trees: balanced two-input adders with kept partial sums (not one "
                     "many-operand sum)",
}


def preset_table() -> str:
    """A Markdown table of the presets: for each place, what each preset sets (cycles)."""
    presets = list(PRESETS.values())
    head = "| place | " + " | ".join(f"`{p.name}`" for p in presets) + " |"
    rule = "|---|" + "---|" * len(presets)
    rows = []
    for f in fields(Pipelining):
        if f.name == "name":
            continue
        values = [getattr(p, f.name) for p in presets]
        cells = ["yes" if v is True else "no" if v is False else str(v) for v in values]
        rows.append(f"| `{f.name}`: {_PLACES[f.name]} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])
