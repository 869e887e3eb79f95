"""The multipliers of a :class:`~rnnrtl.hw.matvec.MatVec` at ``reuse > 1``, one at a time.

:func:`multiplier` builds multiplier ``mi`` of a :class:`~rnnrtl.hw.matvec_plan.MatVecPlan` into
the MatVec's module: a MAC-cycle counter (:func:`mac_counter`; its own with a deep pipeline's
``counter_stages``, else the MatVec's :class:`SharedCounter`), a weight ROM indexed by it
(:func:`weight_rom`, with ``rom_picks`` split into :data:`ROM_GROUP`-entry ROMs and levels of
4-way picks: :func:`rom_levels`), the operand and product registers, one accumulator, and the
copies of the accumulator into the segments of the rows its block touches (see
:mod:`rnnrtl.hw.matvec` for the cycle-by-cycle schedule and the pipelining stages).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Mux, Signal, signed, unsigned

from ..fixed import IntType
from .common import delay, fanout_copies
from .constmul import selected_product
from .matvec_plan import shared_bits

__all__ = ["ROM_GROUP", "ROM_PICK", "rom_levels", "SharedCounter", "mac_counter",
           "multiplier_weights", "weight_bank", "weight_rom", "multiplier"]

#: MAC cycles per weight-ROM group when a MatVec with operand stages splits its ROM (one LUT4 per
#: bit: the group's ROM indexed by the counter's low four bits).
ROM_GROUP = 16
#: Groups (or picks) one register level of a split weight ROM chooses among: a 4:1 multiplexer per
#: bit, two LUT4s and the slice's own multiplexer on ECP5, one LUT6 on Xilinx parts.
ROM_PICK = 4


def rom_levels(reuse: int) -> int:
    """Register levels after the :data:`ROM_GROUP`-entry ROMs of a split weight ROM of ``reuse``
    entries: 0 at ``reuse <= ROM_GROUP``, then one per :data:`ROM_PICK`-fold pick of the groups
    (1 up to 64 entries, 2 up to 256, ...)."""
    levels, groups = 0, -(-reuse // ROM_GROUP)
    while groups > 1:
        levels, groups = levels + 1, -(-groups // ROM_PICK)
    return levels


def _shape(t: IntType):
    return signed(t.width) if t.signed else unsigned(t.width)


def mac_counter(m, reuse: int, start, name: str):
    """A MAC-cycle counter ``k`` (0 .. R-1 in the R = ``reuse`` cycles after ``start``), its
    ``active`` flag and ``k_next``, the value ``k`` loads at the clock edge (a register loading it
    in every cycle is a copy of ``k``: :func:`~rnnrtl.hw.common.fanout_copies`).

    ``k`` wraps from R-1 to 0 as a job ends, so it is 0 whenever the counter is idle and
    ``start`` (at most once every R cycles: while active only in the last MAC cycle) has to
    reach only the ``active`` flag: a start fanned out to every multiplier's counter is one
    route into one flip-flop's logic each, not a reset net over all counter bits. The last MAC
    cycle (``k == R-1``) is a flip-flop of its own, loaded a cycle ahead from ``k == R-2``: the
    counter's wrap and ``active``'s enable come from a register, not from a comparison of ``k``
    (on ECP5 that comparison and the enable it drove were a critical path).
    """
    R = reuse
    k, active = Signal(range(R), name=name), Signal(name=f"{name}_active")
    k_next = Signal(range(R), name=f"{name}_next")
    if R == 1:
        last = Const(1)
    else:
        last = Signal(name=f"{name}_last")
        m.d.sync += last.eq(active & ~last & (k == R - 2))
    m.d.comb += k_next.eq(Mux(active, Mux(last, 0, k + 1), k))
    m.d.sync += k.eq(k_next)
    with m.If(start):
        m.d.sync += active.eq(1)
    with m.Elif(last):
        m.d.sync += active.eq(0)
    return k, active, k_next


class SharedCounter:
    """One MAC-cycle counter (:func:`mac_counter`) for every multiplier of a MatVec whose
    multipliers all start together (no ``counter_stages``), with its decodes made once: the
    per-multiplier counters it replaces would hold the same value in every cycle, so each
    multiplier's controls are the same signals, shared (fewer flip-flops, comparators and
    delay lines; the counter and its decodes fan out to every multiplier instead).

    :meth:`at` is ``k == value`` and :meth:`ends_at` ``active & (k == value)``, each ``delay``
    cycles late (register stages made once per value and delay)."""

    def __init__(self, m, k, active, name: str):
        """``k``, ``active``: of a :func:`mac_counter` of ``m`` (the MatVec's own)."""
        self.m, self.name = m, name
        self.k, self.active = k, active
        self._decodes = {}

    def _decode(self, kind: str, value: int, delay_cycles: int):
        key = (kind, value, delay_cycles)
        if key not in self._decodes:
            now = Signal(name=f"{self.name}_{kind}{value}")
            hit = self.k == value
            self.m.d.comb += now.eq(hit & self.active if kind == "end" else hit)
            self._decodes[key] = delay(self.m, now, delay_cycles, f"{self.name}_{kind}{value}_d")
        return self._decodes[key]

    def at(self, value: int, delay_cycles: int):
        return self._decode("at", value, delay_cycles)

    def ends_at(self, value: int, delay_cycles: int):
        return self._decode("end", value, delay_cycles)


def multiplier_weights(block):
    """``(weights by MAC cycle, default, width, init)`` of a multiplier's block: the weight of
    each MAC cycle it has a product in, the weight it loads in the others (its first), the
    signed width that holds them all, and its weight register's ``init``: the bits every weight
    of the block shares (others 0), so such a bit is a constant, not a flip-flop, and the others
    power up at 0 like a DSP's input register (rnnrtl.synth.ecp5_pack moves them there)."""
    ws = [w for (_, _, _, w) in block]
    width = IntType.for_range(min(ws), max(ws), 0, True).width
    return {kk: w for (kk, _, _, w) in block}, ws[0], width, shared_bits(ws, width)


def weight_bank(m, blocks, counter: SharedCounter, reuse: int):
    """The weight registers of every multiplier of a MatVec with a :class:`SharedCounter` and no
    operand stages, as one register (``weights``) loaded from one ``case`` on the counter: in MAC
    cycle ``k`` each multiplier's field takes its block's weight of cycle ``k`` (its first weight
    in a cycle it has none). The bank holds only the bits that differ between a block's weights
    (powering up at 0, like a DSP's input register, where yosys's DSP packing puts them); a bit
    every weight of the block shares is a constant of the multiplier's operand, as it was a
    register that never changed from its ``init`` in a ROM per multiplier. The same values in
    every cycle as one ROM per multiplier, written as ``reuse`` wide constants instead of
    ``reuse`` cases per multiplier. Returns each multiplier's weight (a signed value)."""
    fields = []
    for block in blocks:
        at, default, width, shared = multiplier_weights(block)
        mask = (1 << width) - 1
        values = [w & mask for w in at.values()]        # the default is one of them
        varying = [b for b in range(width) if len({(v >> b) & 1 for v in values}) > 1]
        fields.append((at, default, width, shared, varying))

    def packed(values):
        out, shift = 0, 0
        for value, (_, _, _, _, varying) in zip(values, fields):
            for b in varying:
                out |= ((value >> b) & 1) << shift
                shift += 1
        return out

    total = sum(len(varying) for (*_, varying) in fields)
    bank = Signal(max(total, 1), name="weights", reset_less=True)
    m.d.sync += bank.eq(packed([default for (_, default, *_) in fields]))
    with m.Switch(counter.k):
        for kk in range(reuse):
            with m.Case(kk):
                m.d.sync += bank.eq(packed([at.get(kk, default) for (at, default, *_) in fields]))
    out, shift = [], 0
    for (_, _, width, shared, varying) in fields:
        column = {b: shift + k for k, b in enumerate(varying)}
        shift += len(varying)
        out.append(Cat(*(bank[column[b]] if b in column else Const((shared >> b) & 1, 1)
                         for b in range(width))).as_signed())
    return out


def weight_rom(m, weight_at, default, index, like, name):
    """A register loaded with ``weight_at[index]`` (``default`` for an index not in it): a
    new one shaped and initialised like ``like``, named ``name``, or ``like`` itself when
    ``name`` is None.

    The ROM is one ``case`` on the index (a ``casez`` of its entries in the Verilog), which yosys
    (``proc_rom``) and Vivado infer as a ROM with a registered output. An
    :class:`~amaranth.lib.memory.Memory` with ``init`` and a combinational read port into the
    same register was tried (issue 18): same cycles and numbers, but yosys mapped the jet LSTM at
    reuse 40 into 17,517 LUT / 18,862 FF on xc7 against 15,444 / 18,012 for the ``case``, with or
    without the bits all entries share kept out of the memory."""
    reg = like if name is None else Signal.like(like, name=name, reset_less=True)
    m.d.sync += reg.eq(default)
    with m.Switch(index):
        for k, w in weight_at.items():
            with m.Case(k):
                m.d.sync += reg.eq(w)
    return reg


def multiplier(m, plan, mi: int, block, segs, *, start, lane, segments, cast, rom_picks: int,
               operand_stages: int, product_stages: int, copy_stages: int,
               counter: SharedCounter | None = None, weight=None, graph=None):
    """Multiplier ``mi`` of ``plan`` (its ``block`` and ``segs``), in module ``m``: started by
    ``start`` (its counter's copy), reading the ``x`` lane ``lane`` (a lane of the turning
    register), loading its segment registers ``segments`` (one per entry of ``segs``) when each
    row's last product is accumulated. ``cast(m, product, name)`` maps a product into the plan's
    ``product_fmt`` (a wire named ``name``; None: exact). The stage counts are the MatVec's
    (``operand_stages`` with the weight ROM's ``rom_picks`` pick levels counted:
    :func:`rom_levels`, or 0 for a ROM in one stage). ``counter``: the MatVec's
    :class:`SharedCounter` (then ``start`` is unused), or None for a counter of the multiplier's
    own. ``weight``: its register in the MatVec's :func:`weight_bank` or weight memory (then it
    has no ROM of its own, and ``operand_stages`` delay only the lane: the MatVec delays the
    weight), or None. ``graph``: the
    block's :class:`~rnnrtl.constmul_plan.ShiftAddGraph` for a LUT multiplier (its product a
    multiplexer over the block's shift-add products, selected by the weight register:
    :func:`~rnnrtl.hw.constmul.selected_product`), or None for a ``*``."""
    R = plan.reuse
    xlo, xhi = plan.x_type.min_value, plan.x_type.max_value
    fabric_stages = operand_stages + product_stages
    # Without a shared counter, each multiplier counts its own MAC cycles: its weight ROM and
    # segment controls decode a local counter instead of one counter fanned out to every
    # multiplier (a deep pipeline's copies of the start reach groups of multipliers).
    if counter is None:
        km, active_m, km_next = mac_counter(m, R, start, f"k{mi}")
    else:
        km, km_next = counter.k, None
    weight_at, first, w_width, w_init = multiplier_weights(block)
    ws = list(weight_at.values())
    wlo, whi = plan.weight_bounds(ws)            # (with weights in a memory: their range)
    xsel = Signal(_shape(plan.x_type), name=f"x{mi}", reset_less=True)
    prod = Signal(signed(IntType.for_range(min(w * x for w in (wlo, whi) for x in (xlo, xhi)),
                                           max(w * x for w in (wlo, whi) for x in (xlo, xhi)), 0,
                                           True).width), name=f"p{mi}", reset_less=True)
    if weight is not None:
        wsel = weight                             # the MatVec's weight_bank loads it
    else:
        wsel = Signal(signed(w_width), name=f"w{mi}", init=w_init, reset_less=True)
        if rom_picks:
            # The weight ROM in 1 + rom_picks register stages, then the fabric register before
            # the DSP's: each group of 16 MAC cycles has its own ROM indexed by the counter's
            # low bits (one LUT per bit), and each next level picks one of up to four by two
            # more counter bits, registered beside them (the group index moves along). A deep
            # ROM in one stage was six levels of logic, and a 10-way pick in one stage four
            # (the jets' critical paths at reuse 160).
            # With a counter of its own, each group's ROM reads a copy of the counter's low
            # bits: one counter driving every group's LUTs (160 at reuse 160) was a wide net.
            low = ROM_GROUP.bit_length() - 1          # counter bits within a group
            groups = -(-R // ROM_GROUP)
            index = [km[:low]] * groups if km_next is None else \
                fanout_copies(m, km_next[:low], groups, f"k{mi}_low")
            level = [weight_rom(m, {kk % ROM_GROUP: w for kk, w in weight_at.items()
                                    if kk // ROM_GROUP == g},
                                first, index[g], wsel, f"wrom{mi}_{g}")
                     for g in range(groups)]
            group = km[low:]
            pick_bits = ROM_PICK.bit_length() - 1
            for n in range(rom_picks):
                group = delay(m, group, 1, f"wgroup{mi}_{n}", reset_less=True)
                sel, group = group[:pick_bits], group[pick_bits:]
                picked = []
                for q in range(-(-len(level) // ROM_PICK)):
                    reg = Signal.like(wsel, name=f"wpick{mi}_{n}_{q}", reset_less=True)
                    choices = level[q * ROM_PICK:(q + 1) * ROM_PICK]
                    m.d.sync += reg.eq(Array(choices)[sel] if len(choices) > 1 else choices[0])
                    picked.append(reg)
                level = picked
            m.d.sync += wsel.eq(level[0])
        elif operand_stages:
            wrom = weight_rom(m, weight_at, first, km, wsel, f"wrom{mi}")
            m.d.sync += wsel.eq(wrom)
        else:
            weight_rom(m, weight_at, first, km, wsel, None)
    if operand_stages:
        # Kept apart: multipliers reading the same lane would otherwise share one line, whose
        # last register then reaches all their DSPs across the device.
        lane = delay(m, lane, operand_stages, f"xpre{mi}", reset_less=True, kept=True)
    if graph is None:
        m.d.sync += [xsel.eq(lane), prod.eq(xsel * wsel)]  # the multiplier
    else:
        m.d.sync += [xsel.eq(lane), prod.eq(selected_product(m, graph, ws, xsel, wsel, f"lm{mi}"))]
    # product_stages: the product crosses to the fabric in a cycle of its own.
    term = delay(m, prod, product_stages, f"pf{mi}", reset_less=True)
    if cast is not None:
        # The registered product cast into product_fmt on its way into the segment
        # adder (a bit slice for TRN, one more adder for a rounding mode).
        term = cast(m, term, f"q{mi}")
    # One accumulator per multiplier: segment s takes MAC cycles k0..k1 (consecutive
    # segments), restarts it at k0 and is copied out of it at k1; decoded at the
    # operand stage, used when the products arrive 2 + fabric stages later. Between
    # segments (a short last block) it adds garbage that no segment keeps.
    acc = Signal(signed(max(len(seg) for seg in segments)), name=f"acc{mi}",
                 reset_less=True)
    late = 2 + fabric_stages
    if counter is None:
        restart, ends = Signal(name=f"restart{mi}"), []
        m.d.comb += restart.eq(Cat(*(km == k0 for (_, k0, _, _, _) in segs)).any())
        for s, (_, _, k1, _, _) in enumerate(segs):
            end = Signal(name=f"end{mi}_{s}")
            m.d.comb += end.eq(active_m & (km == k1))
            ends.append(delay(m, end, late, f"end{mi}_{s}_d"))
        restart = delay(m, restart, late, f"restart{mi}_d")
    else:
        starts = sorted({k0 for (_, k0, _, _, _) in segs})
        restart = Cat(*(counter.at(k0, late) for k0 in starts)).any() if len(starts) > 1 \
            else counter.at(starts[0], late)
        ends = [counter.ends_at(k1, late) for (_, _, k1, _, _) in segs]
    total = Signal.like(acc, name=f"sum{mi}")
    if copy_stages:
        # A segment is copied a cycle after its last product is added (a route from a register
        # to its segment, which sits with the adder tree), not from the adder's output. The
        # accumulator then never restarts: it adds every product, and a segment is its value at
        # the segment's end minus its value before the segment's first product (``base{mi}``,
        # loaded at the restart), modulo 2^width, which is exact as every segment fits the
        # width. The loop is the adder alone (a restart multiplexer after the carry chain was
        # the ECP5's longest loop). Each further copy stage is a free-running register of that
        # difference beside the accumulator (``diff{mi}``), so the route to the segment, across
        # the device, has a cycle of its own.
        base = Signal.like(acc, name=f"base{mi}")
        m.d.comb += total.eq(acc + term)
        with m.If(restart):
            m.d.sync += base.eq(acc)
        copied = delay(m, acc - base, copy_stages - 1, f"diff{mi}", reset_less=True)
    else:
        m.d.comb += total.eq(Mux(restart, term, acc + term))
        copied = total
    m.d.sync += acc.eq(total)
    for s, end in enumerate(ends):
        with m.If(delay(m, end, copy_stages, f"copy{mi}_{s}")):
            m.d.sync += segments[s].eq(copied)
