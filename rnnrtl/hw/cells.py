# amaranth: UnusedElaboratable=no
# (a shell's timing model reads a cell's units without elaborating them)
"""The LSTM, GRU and SimpleRNN cells: the input projection and the recurrent loop, one object each.

:class:`LSTMCell`, :class:`GRUCell` and :class:`SimpleRNNCell` are each a
:class:`~rnnrtl.hw.cell.Cell` (what a shell sees of a cell); :func:`cell_of` picks one for an IR
layer.

Each loop follows the operation order of ``docs/numerics.md`` exactly; ``L`` below is the latency
of the recurrent :class:`~rnnrtl.hw.matvec.MatVec` (``U·h`` with the input projection added in its
adder tree), ``A`` the latency of the activation units, ``e`` and ``r`` the ``elementwise`` and
``rounding`` stages (:mod:`rnnrtl.hw.cell`; ``pipeline: deep``: ``A = 7``, ``e = r = 1``;
``shallow``: ``A = 1``, ``e = r = 0``; ``fast``: ``A = 0``, ``e = r = 0``, one-stage adder trees
and ``t = 0``), and cycle ``S`` is the job's start. Every other stage is one register deep: a
product, or a rounding and saturation. The formulas below are written for ``t = 1`` (the last
products registered); ``merged_tail`` (``t = 0``, :attr:`Cell.tail`) makes the last products
(o·tanh(c); z·h, (1−z)·hh) combinational into h, written a cycle earlier: ``step_cycles`` is one
fewer (the ``+3`` is ``+2 + t``, the ``+4`` of ``reset_after=False`` is ``+3 + t``).

* LSTM, ``step_cycles = L + 2A + 3 + 4e + r``: S+L gate tables (i f o sigmoid, g tanh); S+L+A
  operands of f·c, i·g (c read from the job's slot); S+L+A+1+2e c = q_c(f·c + i·g) (with
  ``state_terms``, q_c(q_c(f·c) + q_c(i·g)), the inner roundings in the same cycle) and its tanh
  table; S+L+2A+1+2e operands of o·tanh(c); S+L+2A+2+4e+r h = q_h(·).
* GRU ``reset_after``, ``step_cycles = L + 2A + 3 + 4e + r``: S+L z, r tables; rec = q_rec(U_h·h + b'_h)
  registered when ``U_h`` is done; S+L+A operands of r·rec; S+L+A+1+2e candidate
  q_gate(W_h·x + b_h + r·rec) and its tanh table; S+L+2A+1+2e operands of z·h, (1−z)·hh;
  S+L+2A+2+4e+r h = q_h(·). ``U_zr`` and ``U_h`` are two MatVecs started together (``L`` is the
  larger latency; the other's result waits for it: read as held, or from a delay line).
* GRU ``reset_after=False``, ``step_cycles = Lz + Lh + 2A + 4 + 4e + r``: the reset gate multiplies
  the state before the second product, so ``U_h·(r⊙h)`` waits for ``r``: S+Lz tables; S+Lz+A
  operands of r·h; S+Lz+A+1+2e rec = q_rec(·); S+Lz+A+2+2e start of U_h·rec (+ W_h·x + b_h in
  its tree); then the candidate table, the products and h as above.
* SimpleRNN, ``step_cycles = L + A + 1 + r``: S+L activation; S+L+A+r h = q_h(·).

Under ``numerics: hls4ml`` (``layer.product_fmt`` = ``P``, docs/hls4ml.md) only requantization points
change, never the schedule: the MatVecs cast every product and bias into ``P``; gate, candidate and
GRU ``rec`` sums are requantized through ``P`` (:func:`rnnrtl.fixed.requantize_through_value`); the
GRU's ``r·rec`` product is cast into ``P`` as it is registered.
"""

from __future__ import annotations

from amaranth.hdl import Signal
from amaranth.lib import data

from .. import ir
from ..fixed import IntType
from .cell import Cell, aligned_sum, vector, write_state
from .common import delay, requantized, shape_of

__all__ = ["LSTMCell", "GRUCell", "SimpleRNNCell", "cell_of"]


class LSTMCell(Cell):
    """The LSTM loop (module docstring)."""

    def _build_loop(self):
        L = self.layer
        N = L.units
        P = L.product_fmt
        self.mh = self._matvec(L.recurrent, x_type=L.output_fmt.int_type,
                               addend_type=self.projection.out_type, product_fmt=P)
        ra, ga, sa = L.recurrent_activation, L.activation, L.state_activation
        self.sig = self._activation(in_type=self.mh.out_type, fmt=L.gate_fmt, activation=ra,
                                    lanes=3 * N, acc_fmt=P)
        self.cand = self._activation(in_type=self.mh.out_type, fmt=L.gate_fmt, activation=ga,
                                     lanes=N, acc_fmt=P)
        self.fc_t = ra.out_fmt.int_type * L.state_fmt.int_type
        self.ig_t = ra.out_fmt.int_type * ga.out_fmt.int_type
        c_in = L.state_fmt.int_type.sum_of(2) if L.state_terms else IntType.join(self.fc_t, self.ig_t)
        self.state = self._activation(in_type=c_in, fmt=L.state_fmt, activation=sa, lanes=N)
        self.oh_t = ra.out_fmt.int_type * sa.out_fmt.int_type

    @property
    def loop_matvecs(self):
        return [self.mh]

    def state_layouts(self):
        return {**super().state_layouts(),
                "c": data.ArrayLayout(shape_of(self.layer.state_fmt), self.layer.units)}

    @property
    def step_cycles(self):
        e, r = self.elementwise, self.rounding
        return self.mh.latency + 2 * self.sig.latency + 2 + self.tail + 4 * e + r

    def elaborate_into(self, m, *, start, h, ax, tag, bank, tag_copies=None):
        L = self.layer
        N = L.units
        Lh, A = self.mh.latency, self.sig.latency
        m.submodules.matvec_recurrent = mh = self.mh
        m.submodules[self.sig.instance_name("gates")] = sig = self.sig
        m.submodules[self.cand.instance_name("candidate")] = cand = self.cand
        m.submodules[self.state.instance_name("state")] = st = self.state
        m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])), mh.addend.eq(ax),
                     sig.i_valid.eq(mh.done), cand.i_valid.eq(mh.done)]
        for n in range(N):  # gate order i f g o; the sigmoid unit takes i, f, o
            m.d.comb += [sig.i[n].eq(mh.y[n]), sig.i[N + n].eq(mh.y[N + n]),
                         sig.i[2 * N + n].eq(mh.y[3 * N + n]), cand.i[n].eq(mh.y[2 * N + n])]
        # S+L+A: products f·c and i·g (c from the job's slot of the cell-state bank), valid
        # 1 + 2e cycles later.
        e, r = self.elementwise, self.rounding
        c_bank = bank("c")
        c = c_bank.read(tag(Lh + A)[0])
        fc = self.product(m, "fc", [sig.o[N + n] for n in range(N)], [c[n] for n in range(N)],
                      self.fc_t)
        ig = self.product(m, "ig", [sig.o[n] for n in range(N)], [cand.o[n] for n in range(N)],
                      self.ig_t)
        products = delay(m, sig.o_valid, 1 + 2 * e, "products")
        # S+L+A+1+2e: c = q_c(f·c + i·g) and tanh(c), in the state activation unit.
        fr = L.recurrent_activation.out_fmt.frac_bits
        m.d.comb += st.i_valid.eq(products)
        sf = L.state_fmt.frac_bits
        for n in range(N):
            terms = [(fc[n], fr + sf), (ig[n], fr + L.activation.out_fmt.frac_bits)]
            if L.state_terms:   # each product rounded into c's format first, combinationally
                terms = [(requantized(m, 0, f"{name}_rounded{n}", value, frac, L.state_fmt)[0], sf)
                         for name, (value, frac) in zip(("fc", "ig"), terms)]
            total, _ = aligned_sum(terms)
            m.d.comb += st.i[n].eq(total)
        # o (valid, and held, from S+L+A) is read with tanh(c), A + 1 + 2e cycles later.
        o_gate = vector(L.recurrent_activation.out_fmt, N, "o_gate")
        for n in range(N):
            m.d.comb += o_gate[n].eq(sig.o[2 * N + n])
        o_late = self.late(m, o_gate, A + 1 + 2 * e, "o_late")
        write_state(m, c_bank, st.code, cycle=Lh + 2 * A + 1 + 2 * e, enable=st.o_valid,
                    tag=tag, tag_copies=tag_copies)
        # S+L+2A+1+2e: o·tanh(c); S+L+2A+2+4e+r: h = q_h(o·tanh(c)).
        oh = self.tail_product(m, "oh", [o_late[n] for n in range(N)], [st.o[n] for n in range(N)],
                               self.oh_t)
        h_we = delay(m, st.o_valid, self.tail + 2 * e + r, "h_we")
        h_new = vector(L.output_fmt, N, "h_new")
        for n in range(N):
            code, _ = requantized(m, r, f"h_rounded{n}", oh[n],
                                  fr + L.state_activation.out_fmt.frac_bits, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, h_we


class GRUCell(Cell):
    """The GRU loop, ``reset_after`` either way (module docstring)."""

    def _build_loop(self):
        L = self.layer
        N = L.units
        zr, hh = slice(0, 2 * N), slice(2 * N, 3 * N)
        ax_t = self.projection.out_type
        h_t = L.output_fmt.int_type

        P = L.product_fmt

        def matvec(rows, x_type, addend_type, bias):
            return self._matvec(L.recurrent, rows=rows, bias=bias, x_type=x_type,
                                addend_type=addend_type, product_fmt=P)

        ra, ha = L.recurrent_activation, L.activation
        fr = ra.out_fmt.frac_bits
        self.mz = matvec(zr, h_t, ax_t, L.recurrent_bias)
        if L.reset_after:
            self.mh = matvec(hh, h_t, None, L.recurrent_bias)
            # r·rec, exact, or cast into P as hls4ml casts it to accum_t
            self.r_t = ra.out_fmt.int_type * L.rec_fmt.int_type if P is None else P.int_type
            cand_t = IntType.join(ax_t, self.r_t)
        else:
            self.mh = matvec(hh, L.rec_fmt.int_type, ax_t, None)
            self.r_t = ra.out_fmt.int_type * h_t
            cand_t = self.mh.out_type
        self.sig = self._activation(in_type=self.mz.out_type, fmt=L.gate_fmt, activation=ra,
                                    lanes=2 * N, acc_fmt=P)
        self.cand = self._activation(in_type=cand_t, fmt=L.gate_fmt, activation=ha, lanes=N,
                                     acc_fmt=P)
        one = 1 << fr
        z_fmt = ra.out_fmt
        self.omz_t = IntType.for_range(one - z_fmt.max_code, one - z_fmt.min_code, fr, True)
        self.zh_t = ra.out_fmt.int_type * h_t
        self.zc_t = self.omz_t * ha.out_fmt.int_type

    @property
    def loop_matvecs(self):
        return [self.mz, self.mh]

    @property
    def step_cycles(self):
        A, e, r, t = self.sig.latency, self.elementwise, self.rounding, self.tail
        if self.layer.reset_after:
            return max(self.mz.latency, self.mh.latency) + 2 * A + 2 + t + 4 * e + r
        return self.mz.latency + self.mh.latency + 2 * A + 3 + t + 4 * e + r

    def elaborate_into(self, m, *, start, h, ax, tag, bank, tag_copies=None):
        L = self.layer
        N = L.units
        ra = L.recurrent_activation
        fr = ra.out_fmt.frac_bits
        e, r = self.elementwise, self.rounding
        m.submodules.matvec_recurrent_zr = mz = self.mz
        m.submodules.matvec_recurrent_h = mh = self.mh
        m.submodules[self.sig.instance_name("gates")] = sig = self.sig
        m.submodules[self.cand.instance_name("candidate")] = cand = self.cand
        ax_t = self.projection.out_type
        ax_now = vector(ax_t, N, "ax_h")  # the candidate's input projection
        for n in range(N):
            m.d.comb += ax_now[n].eq(ax[2 * N + n])
        L1 = max(mz.latency, mh.latency) if L.reset_after else mz.latency
        A = self.sig.latency
        # The candidate needs it L1 + A + 1 + 2e cycles (reset_after) or L1 + A + 2 + 2e (before
        # U_h's start) later.
        ax_h = self.late(m, ax_now, L1 + A + 2 * e + (1 if L.reset_after else 2), "ax_h")
        m.d.comb += [mz.start.eq(start), mz.x.eq(h.read(tag(0)[0]))]
        # With reset_after, U_zr·h waits for U_h·h if that takes longer (an interleaved job's
        # result is overwritten by the next job's as soon as one initiation interval later).
        z_wait = L1 - mz.latency
        mz_y = self.late(m, mz.y, z_wait, "mz_y")
        for n in range(2 * N):
            m.d.comb += [mz.addend[n].eq(ax[n]), sig.i[n].eq(mz_y[n])]
        z = vector(ra.out_fmt, N, "z")  # valid (and held) from S+L1+A
        for n in range(N):
            m.d.comb += z[n].eq(sig.o[n])
        r_valid = delay(m, sig.o_valid, 1 + 2 * e, "r_valid")
        if L.reset_after:
            # U_h·h + b'_h runs beside U_zr·h; the earlier result waits for it (late).
            m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])),
                         sig.i_valid.eq(delay(m, mz.done, z_wait, "mz_done"))]
            rec = vector(L.rec_fmt, N, "rec")
            P = L.product_fmt
            codes = [requantized(m, 0, f"rec_rounded{n}", mh.y[n], mh.frac, L.rec_fmt, P)[0]
                     for n in range(N)]
            rec_wait = L1 - mh.latency + A - 1
            if rec_wait >= 0:
                with m.If(mh.done):
                    m.d.sync += [rec[n].eq(codes[n]) for n in range(N)]
                rec = self.late(m, rec, rec_wait, "rec")  # valid with r
            else:
                # A = 0 and U_h·h done with U_zr·h: r is read as U_h's result is, so rec is rounded
                # from it (held by the MatVec) in the same cycle.
                m.d.comb += [rec[n].eq(codes[n]) for n in range(N)]
            r_frac = fr + L.rec_fmt.frac_bits
            # hls4ml casts r·rec to accum_t
            cast = None if P is None else (lambda m, v, name, f=r_frac: requantized(m, 0, name, v, f, P)[0])
            rprod = self.product(m, "rprod", [sig.o[N + n] for n in range(N)],
                             [rec[n] for n in range(N)], self.r_t, cast)
            if P is not None:
                r_frac = P.frac_bits
            m.d.comb += cand.i_valid.eq(r_valid)
            for n in range(N):
                total, _ = aligned_sum([(ax_h[n], ax_t.frac), (rprod[n], r_frac)])
                m.d.comb += cand.i[n].eq(total)
            z_use = self.late(m, z, A + 1 + 2 * e, "z")  # z waits for the candidate
        else:
            m.d.comb += sig.i_valid.eq(mz.done)
            h_r = h.read(tag(L1 + A)[0])
            rprod = self.product(m, "rprod", [sig.o[N + n] for n in range(N)],
                             [h_r[n] for n in range(N)], self.r_t)
            rec = vector(L.rec_fmt, N, "rec")
            rec_valid = Signal()
            m.d.sync += rec_valid.eq(r_valid)
            codes = [requantized(m, 0, f"rec_rounded{n}", rprod[n], fr + L.output_fmt.frac_bits,
                                 L.rec_fmt)[0] for n in range(N)]
            with m.If(r_valid):
                m.d.sync += [rec[n].eq(codes[n]) for n in range(N)]
            # z waits for the candidate (L1 + Lh + 2A + 2 + 2e cycles after the start).
            z_use = self.late(m, z, mh.latency + A + 2 + 2 * e, "z")
            m.d.comb += [mh.start.eq(rec_valid), mh.x.eq(rec), cand.i_valid.eq(mh.done)]
            for n in range(N):
                m.d.comb += [mh.addend[n].eq(ax_h[n]), cand.i[n].eq(mh.y[n])]
        # Products z·h and (1 − z)·hh, then h = q_h(sum).
        one = 1 << fr
        t = self.tail
        h_z = h.read(tag(self.step_cycles - 1 - t - 2 * e - r)[0])
        zh = self.tail_product(m, "zh", [z_use[n] for n in range(N)], [h_z[n] for n in range(N)],
                               self.zh_t)
        zc = self.tail_product(m, "zc", [one - z_use[n] for n in range(N)],
                               [cand.o[n] for n in range(N)], self.zc_t)
        h_we = delay(m, cand.o_valid, t + 2 * e + r, "h_we")
        h_new = vector(L.output_fmt, N, "h_new")
        for n in range(N):
            total, frac = aligned_sum([(zh[n], fr + L.output_fmt.frac_bits),
                                    (zc[n], fr + L.activation.out_fmt.frac_bits)])
            code, _ = requantized(m, r, f"h_rounded{n}", total, frac, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, h_we


class SimpleRNNCell(Cell):
    """The SimpleRNN loop (module docstring)."""

    def _build_loop(self):
        L = self.layer
        self.mh = self._matvec(L.recurrent, x_type=L.output_fmt.int_type,
                               addend_type=self.projection.out_type)
        self.act = self._activation(in_type=self.mh.out_type, fmt=L.pre_fmt, activation=L.activation,
                                    lanes=L.units)

    @property
    def loop_matvecs(self):
        return [self.mh]

    @property
    def step_cycles(self):
        return self.mh.latency + self.act.latency + 1 + self.rounding

    def elaborate_into(self, m, *, start, h, ax, tag, bank, tag_copies=None):
        L = self.layer
        m.submodules.matvec_recurrent = mh = self.mh
        m.submodules[self.act.instance_name("output")] = act = self.act
        m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])), mh.addend.eq(ax),
                     act.i.eq(mh.y), act.i_valid.eq(mh.done)]
        h_new = vector(L.output_fmt, L.units, "h_new")
        for n in range(L.units):
            code, _ = requantized(m, self.rounding, f"h_rounded{n}", act.o[n],
                                  L.activation.out_fmt.frac_bits, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, delay(m, act.o_valid, self.rounding, "h_we")


_CELLS = {ir.LSTM: LSTMCell, ir.GRU: GRUCell, ir.SimpleRNN: SimpleRNNCell}


def cell_of(layer, **kwargs) -> Cell:
    """The cell of an IR recurrent layer (``kwargs``: :class:`Cell`'s)."""
    return _CELLS[type(layer)](layer, **kwargs)
