"""Constant products as shift-and-add in the fabric (``multiplier: lut``), from a
:class:`~rnnrtl.constmul_plan.ShiftAddGraph` or a :class:`~rnnrtl.constmul_plan.ConstMulPlan`.

:func:`odd_multiples` builds one input's odd multiples ``c * x`` (an adder each, from two built
ones, shifted and signed: :class:`~rnnrtl.constmul_plan.Adder`), combinationally or with every
adder's sum registered. :func:`signed_product` is one product ``w * x`` from them: a shift and a
sign (wiring, and a negation the row's adder absorbs). :func:`constant_segments` is a
:class:`~rnnrtl.hw.matvec.MatVec`'s reuse-1 products, :func:`selected_product` one multiplier's
at reuse ``R > 1`` (see :mod:`rnnrtl.hw.matvec` for where they sit in its schedule).
"""

from __future__ import annotations

from amaranth.hdl import Const, Signal, signed

from ..constmul_plan import ShiftAddGraph, odd_part
from ..fixed import IntType
from .common import delay

__all__ = ["odd_multiples", "signed_product", "constant_segments", "selected_product"]


def _signed(m, x, name):
    """``x`` as a signed value of the same integers (one more bit when ``x`` is unsigned)."""
    if x.shape().signed:
        return x
    xs = Signal(signed(len(x) + 1), name=name)
    m.d.comb += xs.eq(x)
    return xs


def odd_multiples(m, graph: ShiftAddGraph, x, name: str, *, pipelined: bool = False):
    """The odd multiples of ``x`` that ``graph`` builds, in module ``m``; returns ``at(c, cycle)``,
    the value ``c * x`` in cycle ``cycle`` (``x`` is read in cycle 0).

    ``pipelined`` False: every adder is combinational (all in cycle 0). True: every adder's sum
    is registered, so ``c * x`` is first there in cycle ``graph.depth[c]``, and an operand built
    sooner reaches a later adder through a delay line (made once per operand and cycle); ``at``
    then delays a multiple to the cycle asked for (not sooner than its depth)."""
    ready = {1: (_signed(m, x, f"{name}_x"), 0)}
    lines = {}        # c -> [c * x in cycle first, first + 1, ...]: one delay line per multiple

    def at(c: int, cycle: int):
        value, first = ready[c]
        if cycle < first:
            raise ValueError(f"{c}*x is built in cycle {first}, not {cycle}")
        line = lines.setdefault(c, [value])
        while len(line) <= cycle - first:
            line.append(delay(m, line[-1], 1, f"{name}_m{c}_c{first + len(line)}",
                              reset_less=True))
        return line[cycle - first]

    for a in graph.adders:
        cycle = graph.depth[a.c] - 1 if pipelined else 0
        terms = [(at(a.a, cycle).shift_left(a.a_shift), a.a_sign),
                 (at(a.b, cycle).shift_left(a.b_shift), a.b_sign)]
        pos = [t for t, s in terms if s > 0]
        neg = [t for t, s in terms if s < 0]
        expr = pos[0] + pos[1] if not neg else pos[0] - neg[0]
        total = Signal(signed(graph.adder_width(a)), name=f"{name}_s{a.c}",
                       reset_less=pipelined)
        if pipelined:
            m.d.sync += total.eq(expr)
        else:
            m.d.comb += total.eq(expr)
        # The k low bits of the sum are 0 (exact): the odd multiple is the rest.
        ready[a.c] = (total[a.k:].as_signed() if a.k else total,
                      cycle + 1 if pipelined else 0)
    return at


def signed_product(term, w: int):
    """``w * x`` from ``term`` = ``c * x`` for ``w``'s odd part ``c`` (``w`` not 0)."""
    sign, _, shift = odd_part(w)
    value = term.shift_left(shift)
    return value if sign > 0 else -value


def constant_segments(m, plan, cplan, x, segments, *, cast, pipelined: bool,
                      registered: bool = True):
    """Reuse-1 products of a MatVec ``plan`` as shift-and-add (``cplan``: its
    :class:`~rnnrtl.constmul_plan.ConstMulPlan`, one graph per column of ``x``), in module ``m``.

    Each column's odd multiples needed by some product are registered once (the *term registers*,
    holding ``c * x[i]`` in cycle ``1 + cplan.stages(pipelined)``, ``x`` read in cycle 0); the segment
    ``segments[mi][0]`` of product ``mi`` (weight ``w`` in column ``i``) is a wire from them:
    ``±term << s``, 0 for a zero weight, cast into ``product_fmt`` by ``cast(m, value, name)`` when
    given (``cast`` None: exact). ``registered`` False (not ``pipelined``): no term registers, the
    segments hold the products combinationally in cycle 0. Returns the cycle the segments hold the
    products, relative to the cycle ``x`` is read."""
    last = cplan.stages(pipelined) + (1 if registered or pipelined else 0)
    held = {}
    for i, graph in enumerate(cplan.graphs):
        at = odd_multiples(m, graph, x[i], f"cm{i}", pipelined=pipelined)
        for w in set(cplan.groups[i]) - {0}:
            c = odd_part(w)[1]
            if (i, c) in held:
                continue
            if pipelined:
                held[(i, c)] = at(c, last)
            elif not registered:
                held[(i, c)] = at(c, 0)
            else:
                held[(i, c)] = delay(m, at(c, 0), 1, f"cm{i}_t{c}", reset_less=True)
    for mi, ((_, _, i, w),) in enumerate(plan.blocks):
        if w == 0:
            value = Const(0, 1)
        else:
            value = signed_product(held[(i, odd_part(w)[1])], w)
            if cast is not None:
                value = cast(m, value, f"q{mi}")
        m.d.comb += segments[mi][0].eq(value)
    return last


def selected_product(m, graph: ShiftAddGraph, block_weights, x, weight, name: str):
    """One multiplier's product at reuse ``R > 1``: ``weight * x`` for ``weight`` (a value that
    holds one of ``block_weights`` in every cycle) as a multiplexer over the block's constant
    products ``w * x``, each a shift-and-add of ``x`` (``graph``: the block's, combinational).
    Returns a signed value (0 for a zero weight)."""
    at = odd_multiples(m, graph, x, name)
    distinct = sorted(set(block_weights))
    lo = min(min(w * v for v in (graph.x_type.min_value, graph.x_type.max_value)) for w in distinct)
    hi = max(max(w * v for v in (graph.x_type.min_value, graph.x_type.max_value)) for w in distinct)
    out = Signal(signed(IntType.for_range(min(lo, 0), max(hi, 0), 0, True).width),
                 name=f"{name}_sel")
    with m.Switch(weight):
        for w in distinct:
            with m.Case(w):
                m.d.comb += out.eq(0 if w == 0 else signed_product(at(odd_part(w)[1], 0), w))
    return out
