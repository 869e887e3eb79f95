"""The pipelined adder tree that reduces each row of a :class:`~rnnrtl.hw.matvec.MatVec` to one sum.

Each row is a list of terms ``(value, lo, hi)``: an Amaranth value and the exact range of the
integers it can hold. A stage adds groups of ``fanin`` consecutive terms into one register sized
from the group's summed range, so nothing ever wraps. Inner stages load every cycle (no enable
net over every register; a stage's registers are one bank,
:func:`~rnnrtl.hw.common.register_bank`); only the last stage, the result, loads when its
``valid`` flag says so and holds until the next one (``spaced``: from a copy of that flag per group of rows).

A group is one sum expression of its terms, or with ``binary`` a balanced tree of two-input adders
whose partial sums are kept signals (``keep``), so that synthesis builds one carry-chain adder per
sum (about a LUT per bit) rather than merging the group into one many-operand adder, which yosys
maps as a carry-save tree of full adders (about two LUTs per bit and operand; measured on seven
13-bit terms: 82 LUTs against 112 per row, yosys ``synth_xilinx -family xcup``).
"""

from __future__ import annotations

from amaranth.hdl import Signal, signed

from ..fixed import IntType
from .common import fanout_copies, pulse_copies, register_bank

__all__ = ["tree_stages", "adder_tree", "summed", "group_sum"]


def tree_stages(leaves: int, fanin: int) -> int:
    """Register stages that reduce ``leaves`` terms ``fanin`` at a time to one (at least one: the
    result register)."""
    stages = 0
    while leaves > 1:
        leaves = -(-leaves // fanin)
        stages += 1
    return max(1, stages)


#: Result rows that share one copy of the result registers' enable (``spaced`` trees): a row is
#: 20 to 32 bits, about :data:`~rnnrtl.hw.common.COPY_LOADS` flip-flops.
ENABLE_GROUP = 1

#: First-level copies of a ``spaced`` tree's flag, from which the rows' copies are taken in turn.
ENABLE_ROOTS = 4


def summed(group):
    """``(lo, hi, type)`` of the sum of ``group``'s terms ``(value, lo, hi)``: its range and the
    signed :class:`~rnnrtl.fixed.IntType` that holds it (and 0)."""
    lo, hi = sum(t[1] for t in group), sum(t[2] for t in group)
    return lo, hi, IntType.for_range(min(lo, 0), max(hi, 0), 0, True)


def group_sum(m, group, name: str, binary: bool):
    """The sum of ``group``'s terms ``(value, lo, hi)``: one expression, or (``binary``) a balanced
    tree of two-input sums, each a kept signal sized from its terms' summed range."""
    if not binary:
        total = group[0][0]
        for value, _, _ in group[1:]:
            total = total + value
        return total
    level, k = list(group), 0
    while len(level) > 1:
        nxt = []
        for pair in zip(level[::2], level[1::2]):
            lo, hi, t = summed(pair)
            s = Signal(signed(t.width), name=f"{name}_p{k}", attrs={"keep": 1})
            m.d.comb += s.eq(pair[0][0] + pair[1][0])
            nxt.append((s, lo, hi))
            k += 1
        level = nxt + level[len(level) - len(level) % 2:]
    return level[0][0]


def adder_tree(m, rows, *, fanin: int, valid, name: str = "t", spaced: bool = False,
               valid_before=None, valid_before2=None, binary: bool = False,
               registered: bool = True):
    """Build the tree in module ``m``; ``rows`` are lists of ``(value, lo, hi)`` terms and ``valid``
    is high in the cycle their values are to be summed. Returns ``(sums, done)``: one held
    register per row and the flag that is high in the cycle they first hold the result,
    :func:`tree_stages` cycles after ``valid``.

    ``spaced``: ``valid`` pulses are at least two cycles apart. The result
    registers then take their enable from a copy per :data:`ENABLE_GROUP` rows of the previous
    stage's flag (:func:`~rnnrtl.hw.common.pulse_copies`): no one flip-flop drives the enable of
    every result register, which may be spread over the device. A one-stage tree takes the copies
    from ``valid_before`` (the flag one cycle before ``valid``) when the caller gives it. When the
    flag two stages before is known (``valid_before2`` for a tree of one or two stages), the copies
    come in turn from :data:`ENABLE_ROOTS` kept copies of that flag (a two-level tree: one
    register reaching the copies of every row crossed an ECP5-85F, 8.2 ns). ``binary``: each
    group summed by kept two-input adders (module docstring). ``registered`` False (a one-stage
    tree only): no result register, the sums combinational and ``done`` is ``valid`` itself."""
    if not registered:
        if tree_stages(max(len(row) for row in rows), fanin) != 1:
            raise ValueError("an adder tree without a result register has one stage; "
                             f"fan-in {fanin} needs {tree_stages(max(map(len, rows)), fanin)}")
        sums = []
        for j, row in enumerate(rows):
            total = Signal(signed(summed(row)[2].width), name=f"{name}0_{j}_0")
            m.d.comb += total.eq(group_sum(m, row, f"{name}0_{j}_0_sum", binary))
            sums.append(total)
        return sums, valid
    stages = tree_stages(max(len(row) for row in rows), fanin)
    flags = [valid_before2, valid_before]     # the flags before ``valid``, oldest first
    for stage in range(stages):
        last = stage == stages - 1
        before, before2 = flags[-1], flags[-2]
        enables = [valid] * len(rows)
        if last and spaced and before is not None:
            roots = [before] if before2 is None else \
                fanout_copies(m, before2, ENABLE_ROOTS, f"{name}_enable_root")
            copies = [pulse_copies(m, roots[g % len(roots)], 1, f"{name}_enable{g}_")[0]
                      for g in range(-(-len(rows) // ENABLE_GROUP))]
            enables = [copies[j // ENABLE_GROUP] for j in range(len(rows))]
        new_rows, totals, widths = [], [], []
        for j, row in enumerate(rows):
            new_row = []
            for g in range(0, len(row), fanin):
                group = row[g:g + fanin]
                lo, hi, t = summed(group)
                total = group_sum(m, group, f"{name}{stage}_{j}_{g // fanin}_sum", binary)
                if last:
                    reg = Signal(signed(t.width), name=f"{name}{stage}_{j}_{g // fanin}")
                    with m.If(enables[j]):
                        m.d.sync += reg.eq(total)
                else:
                    reg = None             # in the stage's register bank, below
                    totals.append(total)
                    widths.append(t.width)
                new_row.append([reg, lo, hi])
            new_rows.append(new_row)
        if not last:
            # Inner stages load every cycle: the stage's registers are one bank.
            regs = iter(register_bank(m, totals, widths, f"{name}{stage}"))
            for row in new_rows:
                for term in row:
                    term[0] = next(regs)
        rows = [[tuple(term) for term in row] for row in new_rows]
        next_valid = Signal(name=f"v{stage}")
        m.d.sync += next_valid.eq(valid)
        flags.append(valid)
        valid = next_valid
    return [row[0][0] for row in rows], valid
