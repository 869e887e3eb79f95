"""``SoftmaxUnit``: hls4ml's integer softmax from two lookup tables (``numerics: hls4ml``).

It computes, for a vector of logit codes, exactly what
:meth:`rnnrtl.activations.SoftmaxTable.apply` computes (keep in sync; ``docs/hls4ml.md``,
"Softmax"), taking every number — formats, table sizes, table contents — from the IR's
:class:`~rnnrtl.activations.SoftmaxTable`, and every requantization from
:func:`rnnrtl.fixed.requantize_value`:

1. ``stable``: ``d_i = q_norm(max(x) − x_i)``; ``latency``: ``d_i = x_i``. The exp table is addressed
   by the top ``exp_index_bits`` bits of ``d_i``'s word (one ROM, a read port per lane).
2. ``e_i = q_accum(exp[·])``; ``s = q_inv_in(tree(e))``, the tree being hls4ml's ``reduce`` (the left
   part takes the largest power of two below ``n``), every partial sum requantized into ``accum``.
3. ``out_i = q_out(e_i · inv[top(s)])`` — one multiplier per lane.

``argmax`` outputs ``q_out(1)`` at the first maximum and 0 elsewhere (no tables, no multipliers).

Timing, from ``i_valid`` in cycle 0 (``latency`` 4; ``argmax``: 1), one vector per cycle at most:
cycle 0 the maximum, ``d`` and the exp ROM addresses (combinational); cycle 1 the exp ROM data,
``e`` and the tree sum ``s`` (registered); cycle 2 the inverse ROM read; cycle 3 the products and
``q_out`` (registered): ``o`` and ``o_valid`` in cycle 4. ``o`` is held until the next result.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..activations import SoftmaxTable
from ..fixed import requantize
from .common import requantized, shape_of

__all__ = ["SoftmaxUnit"]


def _top(code, fmt, bits: int):
    """The top ``bits`` bits of ``code``'s ``fmt.width``-bit word, unsigned (``SoftmaxTable.top_bits``)."""
    return code.as_unsigned()[fmt.width - bits:fmt.width]


class SoftmaxUnit(wiring.Component):
    """``lanes`` probabilities from ``lanes`` logits, as hls4ml 1.3 computes them.

    Parameters (keyword-only)
    -------------------------
    softmax : rnnrtl.activations.SoftmaxTable
    lanes : int >= 1

    Ports
    -----
    i : ``In(ArrayLayout(in_fmt shape, lanes))``; i_valid : ``In(1)``;
    o : ``Out(ArrayLayout(out_fmt shape, lanes))``; o_valid : ``Out(1)``, :attr:`latency` cycles after
    ``i_valid``.
    """

    def __init__(self, *, softmax, lanes):
        if not isinstance(softmax, SoftmaxTable):
            raise TypeError(f"softmax must be an rnnrtl.activations.SoftmaxTable, got {softmax!r}")
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes {lanes!r} is out of range; valid: an integer >= 1")
        if softmax.implementation != "argmax":
            for name, fmt, contents in (("exp", softmax.exp_fmt, softmax.exp_contents),
                                        ("inverse", softmax.inv_fmt, softmax.inv_contents)):
                lo, hi = int(contents.min()), int(contents.max())
                if lo < fmt.min_code or hi > fmt.max_code:
                    raise ValueError(f"softmax {name} table contents span {lo}..{hi}, outside {fmt}")
        self._sm = softmax
        self._lanes = lanes
        super().__init__({
            "i": In(data.ArrayLayout(shape_of(softmax.in_fmt), lanes)),
            "i_valid": In(1),
            "o": Out(data.ArrayLayout(shape_of(softmax.out_fmt), lanes)),
            "o_valid": Out(1),
        })

    @property
    def latency(self) -> int:
        """Cycles from ``i_valid`` to ``o_valid``: 4 with tables, 1 for ``argmax``."""
        return 1 if self._sm.implementation == "argmax" else 4

    @property
    def multipliers(self) -> int:
        """Multipliers built: one per lane (``e_i · inv``), none for ``argmax``."""
        return 0 if self._sm.implementation == "argmax" else self._lanes

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def out_fmt(self):
        return self._sm.out_fmt

    def elaborate(self, platform):
        m = Module()
        if self._sm.implementation == "argmax":
            self._argmax(m)
        else:
            self._tables(m)
        return m

    def _argmax(self, m):
        sm, n = self._sm, self._lanes
        one = int(requantize(np.ones(1, dtype=np.int64), 0, sm.out_fmt)[0][0])  # as SoftmaxTable.apply
        x = [self.i[k] for k in range(n)]
        with m.If(self.i_valid):
            for k in range(n):
                first_max = Const(1, 1)
                for j in range(n):
                    if j < k:
                        first_max = first_max & (x[k] > x[j])
                    elif j > k:
                        first_max = first_max & (x[k] >= x[j])
                m.d.sync += self.o[k].eq(Mux(first_max, one, 0))
        m.d.sync += self.o_valid.eq(self.i_valid)

    def _tree(self, m, e, name="sum"):
        """hls4ml's ``reduce`` over ``e`` (codes of ``accum``), each partial sum requantized (in a
        named wire: read by the next level's rounding and saturation, an expression would be
        copied for each read, level after level)."""
        acc = self._sm.accum_fmt
        if len(e) == 1:
            return e[0]
        n = len(e)
        left = 1 << ((n - 1).bit_length() - 1) if n > 2 else 1
        a, b = self._tree(m, e[:left], f"{name}l"), self._tree(m, e[left:], f"{name}r")
        code, _ = requantized(m, 0, name, a + b, acc.frac_bits, acc)
        return code

    def _tables(self, m):
        sm, n = self._sm, self._lanes
        x = [self.i[k] for k in range(n)]
        # Cycle 0: d and the exp table addresses.
        if sm.implementation == "stable":
            top = x[0]
            for k, v in enumerate(x[1:]):
                running = Signal.like(top, name=f"max{k + 1}")  # a wire, so the chain is not copied
                m.d.comb += running.eq(Mux(v > top, v, top))
                top = running
            addr_fmt = sm.norm_fmt
            d = [requantized(m, 0, f"d{k}", top - v, sm.in_fmt.frac_bits, sm.norm_fmt)[0]
                 for k, v in enumerate(x)]
        else:
            addr_fmt, d = sm.in_fmt, x
        m.submodules.exp_rom = exp_rom = Memory(
            shape=shape_of(sm.exp_fmt), depth=1 << sm.exp_index_bits,
            init=[int(v) for v in sm.exp_contents])
        raw = []
        for k in range(n):
            port = exp_rom.read_port(domain="sync")
            m.d.comb += [port.addr.eq(_top(d[k], addr_fmt, sm.exp_index_bits)),
                         port.en.eq(self.i_valid)]
            raw.append(port.data)
        v1, v2, v3 = Signal(), Signal(), Signal()
        m.d.sync += [v1.eq(self.i_valid), v2.eq(v1), v3.eq(v2), self.o_valid.eq(v3)]
        # Cycle 1: e = q_accum(exp), s = q_inv_in(tree(e)).
        acc = sm.accum_fmt
        e = [requantized(m, 0, f"e{k}", r, sm.exp_fmt.frac_bits, acc)[0] for k, r in enumerate(raw)]
        s, _ = requantized(m, 0, "s", self._tree(m, e), acc.frac_bits, sm.inv_in_fmt)
        e1 = Signal(data.ArrayLayout(shape_of(acc), n), name="e1")
        s1 = Signal(shape_of(sm.inv_in_fmt), name="s1")
        with m.If(v1):
            m.d.sync += [e1[k].eq(e[k]) for k in range(n)]
            m.d.sync += s1.eq(s)
        # Cycle 2: the inverse table read.
        m.submodules.inv_rom = inv_rom = Memory(
            shape=shape_of(sm.inv_fmt), depth=1 << sm.inv_index_bits,
            init=[int(v) for v in sm.inv_contents])
        inv = inv_rom.read_port(domain="sync")
        m.d.comb += [inv.addr.eq(_top(s1, sm.inv_in_fmt, sm.inv_index_bits)), inv.en.eq(v2)]
        e2 = Signal.like(e1, name="e2")
        with m.If(v2):
            m.d.sync += e2.eq(e1)
        # Cycle 3: out = q_out(e · inv).
        codes = [requantized(m, 0, f"out{k}", e2[k] * inv.data, acc.frac_bits + sm.inv_fmt.frac_bits,
                             sm.out_fmt)[0] for k in range(n)]
        with m.If(v3):
            m.d.sync += [self.o[k].eq(codes[k]) for k in range(n)]
