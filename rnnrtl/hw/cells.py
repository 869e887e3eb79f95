# amaranth: UnusedElaboratable=no
# (the timing model builds these components to read their figures, without elaborating them)
"""The recurrent loops of the LSTM, GRU and SimpleRNN cells.

Each cell is a :class:`~rnnrtl.hw.recurrent.RecurrentLayer` whose loop follows the operation order
of ``docs/numerics.md`` exactly; ``L`` below is the latency of the recurrent
:class:`~rnnrtl.hw.matvec.MatVec` (``U·h`` with the input projection added in its adder tree),
``A`` the latency of the activation units (1, or 7 with ``pipeline: deep``), and cycle ``S`` is the
job's start. Every other stage is one register deep: a product, or a rounding and saturation.

With ``pipeline: deep`` each elementwise product has a register stage on either side (``op = 1``,
:attr:`~rnnrtl.hw.recurrent.RecurrentLayer.product_stages`; else ``op = 0``): its operands in
registers that feed nothing but the multiplier (the DSP's input registers) and the product once
more after the DSP's output register, so a product is valid ``1 + 2op`` cycles after its operands;
and the new state's rounding is registered before its saturation (``op`` more cycles).

* LSTM, ``step_cycles = L + 2A + 3 + 5op``: S+L gate tables (i f o sigmoid, g tanh); S+L+A
  operands of f·c, i·g (c read from the job's slot); S+L+A+1+2op c = q_c(f·c + i·g) and its tanh
  table; S+L+2A+1+2op operands of o·tanh(c); S+L+2A+2+5op h = q_h(·).
* GRU ``reset_after``, ``step_cycles = L + 2A + 3 + 5op``: S+L z, r tables; rec = q_rec(U_h·h + b'_h)
  registered when ``U_h`` is done; S+L+A operands of r·rec; S+L+A+1+2op candidate
  q_gate(W_h·x + b_h + r·rec) and its tanh table; S+L+2A+1+2op operands of z·h, (1−z)·hh;
  S+L+2A+2+5op h = q_h(·). ``U_zr`` and ``U_h`` are two MatVecs started together (``L`` is the
  larger latency; the other's result waits for it: read as held, or from a delay line).
* GRU ``reset_after=False``, ``step_cycles = Lz + Lh + 2A + 4 + 5op``: the reset gate multiplies
  the state before the second product, so ``U_h·(r⊙h)`` waits for ``r``: S+Lz tables; S+Lz+A
  operands of r·h; S+Lz+A+1+2op rec = q_rec(·); S+Lz+A+2+2op start of U_h·rec (+ W_h·x + b_h in
  its tree); then the candidate table, the products and h as above.
* SimpleRNN, ``step_cycles = L + A + 1 + op``: S+L activation; S+L+A+op h = q_h(·).

Under ``numerics: hls4ml`` (``layer.product_fmt`` = ``P``, docs/hls4ml.md) only requantization points
change, never the schedule: the MatVecs cast every product and bias into ``P``; gate, candidate and
GRU ``rec`` sums are requantized through ``P`` (:func:`rnnrtl.fixed.requantize_through_value`); the
GRU's ``r·rec`` product is cast into ``P`` as it is registered.
"""

from __future__ import annotations

from amaranth.hdl import Signal
from amaranth.lib import data

from .. import ir
from ..fixed import IntType, requantize_through_value, requantize_value
from .activation import ActivationUnit
from .common import requantized, shape_of
from .matvec import MatVec
from .recurrent import RecurrentLayer, delay

__all__ = ["LSTMLayer", "GRULayer", "SimpleRNNLayer", "recurrent_layer"]


def _vector(t, lanes, name):
    return Signal(data.ArrayLayout(shape_of(t), lanes), name=name)


def _product(m, stages: int, name: str, a, b, t, cast=None):
    """Lanewise products ``a[n] * b[n]`` (lists of Amaranth values) in a registered vector of
    ``t`` (an :class:`IntType`; ``cast`` maps each product first, e.g. into an accumulator format),
    valid ``1 + 2 * stages`` cycles after the operands: with ``stages`` = 1 the operands get
    reset-less registers that feed nothing but the multiplier (the DSP's input registers) and the
    product one more after the DSP's output register, so the routes into and out of the DSP have
    cycles of their own."""
    if stages:
        regs = []
        for side, lanes in (("a", a), ("b", b)):
            regs.append([Signal.like(v, name=f"{name}_{side}{n}", reset_less=True)
                         for n, v in enumerate(lanes)])
            m.d.sync += [r.eq(v) for r, v in zip(regs[-1], lanes)]
        a, b = regs
    out = _vector(t, len(a), name)
    for n, (x, y) in enumerate(zip(a, b)):
        m.d.sync += out[n].eq(x * y if cast is None else cast(x * y))
    return delay(m, out, stages, f"{name}_f", reset_less=True)


def _aligned(terms):
    """Amaranth sum of ``(value, frac)`` terms shifted to the finest fraction; ``(expr, frac)``."""
    frac = max(f for _, f in terms)
    total = None
    for value, f in terms:
        term = value << (frac - f)
        total = term if total is None else total + term
    return total, frac


class LSTMLayer(RecurrentLayer):
    TAIL_MULTIPLIERS = 3  # f·c, i·g, o·tanh(c)

    def _build_loop(self):
        L = self.layer
        N = L.units
        P = L.product_fmt
        self.mh = MatVec.of(L.recurrent, x_type=L.output_fmt.int_type,
                            reuse=L.schedule.reuse_recurrent, addend_type=self.projection.out_type,
                            tree_fanin=self.tree_fanin, product_fmt=P, registered_start=self.deep,
                            deep_operands=self.deep, addend_held=self.results_held)
        ra, ga, sa = L.recurrent_activation, L.activation, L.state_activation
        self.sig = ActivationUnit(in_type=self.mh.out_type, fmt=L.gate_fmt, activation=ra, lanes=3 * N,
                                  acc_fmt=P, deep=self.deep)
        self.cand = ActivationUnit(in_type=self.mh.out_type, fmt=L.gate_fmt, activation=ga, lanes=N,
                                   acc_fmt=P, deep=self.deep)
        self.fc_t = ra.out_fmt.int_type * L.state_fmt.int_type
        self.ig_t = ra.out_fmt.int_type * ga.out_fmt.int_type
        self.state = ActivationUnit(in_type=IntType.join(self.fc_t, self.ig_t), fmt=L.state_fmt,
                                    activation=sa, lanes=N, deep=self.deep)
        self.oh_t = ra.out_fmt.int_type * sa.out_fmt.int_type

    @property
    def loop_matvecs(self):
        return [self.mh]

    def _state_layouts(self):
        return {**super()._state_layouts(),
                "c": data.ArrayLayout(shape_of(self.layer.state_fmt), self.layer.units)}

    @property
    def step_cycles(self):
        return self.mh.latency + 2 * self.sig.latency + 3 + 5 * self.product_stages

    def _elaborate_loop(self, m, *, start, h, ax, tag):
        L = self.layer
        N = L.units
        Lh, A = self.mh.latency, self.sig.latency
        m.submodules.mh = mh = self.mh
        m.submodules.sig = sig = self.sig
        m.submodules.cand = cand = self.cand
        m.submodules.state = st = self.state
        m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])), mh.addend.eq(ax),
                     sig.i_valid.eq(mh.done), cand.i_valid.eq(mh.done)]
        for n in range(N):  # gate order i f g o; the sigmoid unit takes i, f, o
            m.d.comb += [sig.i[n].eq(mh.y[n]), sig.i[N + n].eq(mh.y[N + n]),
                         sig.i[2 * N + n].eq(mh.y[3 * N + n]), cand.i[n].eq(mh.y[2 * N + n])]
        # S+L+A: products f·c and i·g (c from the job's slot of the cell-state bank), valid
        # 1 + 2op cycles later.
        op = self.product_stages
        c_bank = self._state_bank("c")
        c = c_bank.read(tag(Lh + A)[0])
        fc = _product(m, op, "fc", [sig.o[N + n] for n in range(N)], [c[n] for n in range(N)],
                      self.fc_t)
        ig = _product(m, op, "ig", [sig.o[n] for n in range(N)], [cand.o[n] for n in range(N)],
                      self.ig_t)
        products = delay(m, sig.o_valid, 1 + 2 * op, "products")
        # S+L+A+1+2op: c = q_c(f·c + i·g) and tanh(c), in the state activation unit.
        fr = L.recurrent_activation.out_fmt.frac_bits
        m.d.comb += st.i_valid.eq(products)
        for n in range(N):
            total, _ = _aligned([(fc[n], fr + L.state_fmt.frac_bits),
                                 (ig[n], fr + L.activation.out_fmt.frac_bits)])
            m.d.comb += st.i[n].eq(total)
        # o (valid, and held, from S+L+A) is read with tanh(c), A + 1 + 2op cycles later.
        o_gate = _vector(L.recurrent_activation.out_fmt, N, "o_gate")
        for n in range(N):
            m.d.comb += o_gate[n].eq(sig.o[2 * N + n])
        o_late = self._late(m, o_gate, A + 1 + 2 * op, "o_late")
        with m.If(st.o_valid):
            c_slot, c_last = tag(Lh + 2 * A + 1 + 2 * op)
            c_bank.write(m, c_slot, st.code, c_last)
        # S+L+2A+1+2op: o·tanh(c); S+L+2A+2+5op: h = q_h(o·tanh(c)).
        oh = _product(m, op, "oh", [o_late[n] for n in range(N)], [st.o[n] for n in range(N)],
                      self.oh_t)
        h_we = delay(m, st.o_valid, 1 + 3 * op, "h_we")
        h_new = _vector(L.output_fmt, N, "h_new")
        for n in range(N):
            code, _ = requantized(m, op, f"h_rounded{n}", oh[n],
                                  fr + L.state_activation.out_fmt.frac_bits, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, h_we


class GRULayer(RecurrentLayer):
    TAIL_MULTIPLIERS = 3  # r·rec (or r·h), z·h, (1−z)·hh

    def _build_loop(self):
        L = self.layer
        N = L.units
        zr, hh = slice(0, 2 * N), slice(2 * N, 3 * N)
        ax_t = self.projection.out_type
        h_t = L.output_fmt.int_type

        P = L.product_fmt

        def matvec(rows, x_type, addend_type, bias):
            return MatVec.of(L.recurrent, rows=rows, bias=bias, x_type=x_type,
                             reuse=L.schedule.reuse_recurrent, addend_type=addend_type,
                             tree_fanin=self.tree_fanin, product_fmt=P, registered_start=self.deep,
                             deep_operands=self.deep, addend_held=self.results_held)

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
        self.sig = ActivationUnit(in_type=self.mz.out_type, fmt=L.gate_fmt, activation=ra, lanes=2 * N,
                                  acc_fmt=P, deep=self.deep)
        self.cand = ActivationUnit(in_type=cand_t, fmt=L.gate_fmt, activation=ha, lanes=N,
                                   acc_fmt=P, deep=self.deep)
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
        A, op = self.sig.latency, self.product_stages
        if self.layer.reset_after:
            return max(self.mz.latency, self.mh.latency) + 2 * A + 3 + 5 * op
        return self.mz.latency + self.mh.latency + 2 * A + 4 + 5 * op

    def _elaborate_loop(self, m, *, start, h, ax, tag):
        L = self.layer
        N = L.units
        ra = L.recurrent_activation
        fr = ra.out_fmt.frac_bits
        op = self.product_stages
        m.submodules.mz = mz = self.mz
        m.submodules.mh = mh = self.mh
        m.submodules.sig = sig = self.sig
        m.submodules.cand = cand = self.cand
        ax_t = self.projection.out_type
        ax_now = _vector(ax_t, N, "ax_h")  # the candidate's input projection
        for n in range(N):
            m.d.comb += ax_now[n].eq(ax[2 * N + n])
        L1 = max(mz.latency, mh.latency) if L.reset_after else mz.latency
        A = self.sig.latency
        # The candidate needs it L1 + A + 1 + 2op cycles (reset_after) or L1 + A + 2 + 2op (before
        # U_h's start) later.
        ax_h = self._late(m, ax_now, L1 + A + 2 * op + (1 if L.reset_after else 2), "ax_h")
        m.d.comb += [mz.start.eq(start), mz.x.eq(h.read(tag(0)[0]))]
        # With reset_after, U_zr·h waits for U_h·h if that takes longer (an interleaved job's
        # result is overwritten by the next job's as soon as one initiation interval later).
        z_wait = L1 - mz.latency
        mz_y = self._late(m, mz.y, z_wait, "mz_y")
        for n in range(2 * N):
            m.d.comb += [mz.addend[n].eq(ax[n]), sig.i[n].eq(mz_y[n])]
        z = _vector(ra.out_fmt, N, "z")  # valid (and held) from S+L1+A
        for n in range(N):
            m.d.comb += z[n].eq(sig.o[n])
        r_valid = delay(m, sig.o_valid, 1 + 2 * op, "r_valid")
        if L.reset_after:
            # U_h·h + b'_h runs beside U_zr·h; the earlier result waits for it (_late).
            m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])),
                         sig.i_valid.eq(delay(m, mz.done, z_wait, "mz_done"))]
            rec = _vector(L.rec_fmt, N, "rec")
            P = L.product_fmt
            with m.If(mh.done):
                for n in range(N):
                    code, _ = requantize_through_value(mh.y[n], mh.frac, P, L.rec_fmt)
                    m.d.sync += rec[n].eq(code)
            rec = self._late(m, rec, L1 - mh.latency + A - 1, "rec")  # valid with r
            r_frac = fr + L.rec_fmt.frac_bits
            # hls4ml casts r·rec to accum_t
            cast = None if P is None else (lambda v, f=r_frac: requantize_value(v, f, P)[0])
            rprod = _product(m, op, "rprod", [sig.o[N + n] for n in range(N)],
                             [rec[n] for n in range(N)], self.r_t, cast)
            if P is not None:
                r_frac = P.frac_bits
            m.d.comb += cand.i_valid.eq(r_valid)
            for n in range(N):
                total, _ = _aligned([(ax_h[n], ax_t.frac), (rprod[n], r_frac)])
                m.d.comb += cand.i[n].eq(total)
            z_use = self._late(m, z, A + 1 + 2 * op, "z")  # z waits for the candidate
        else:
            m.d.comb += sig.i_valid.eq(mz.done)
            h_r = h.read(tag(L1 + A)[0])
            rprod = _product(m, op, "rprod", [sig.o[N + n] for n in range(N)],
                             [h_r[n] for n in range(N)], self.r_t)
            rec = _vector(L.rec_fmt, N, "rec")
            rec_valid = Signal()
            m.d.sync += rec_valid.eq(r_valid)
            with m.If(r_valid):
                for n in range(N):
                    code, _ = requantize_value(rprod[n], fr + L.output_fmt.frac_bits, L.rec_fmt)
                    m.d.sync += rec[n].eq(code)
            # z waits for the candidate (L1 + Lh + 2A + 2 + 2op cycles after the start).
            z_use = self._late(m, z, mh.latency + A + 2 + 2 * op, "z")
            m.d.comb += [mh.start.eq(rec_valid), mh.x.eq(rec), cand.i_valid.eq(mh.done)]
            for n in range(N):
                m.d.comb += [mh.addend[n].eq(ax_h[n]), cand.i[n].eq(mh.y[n])]
        # Products z·h and (1 − z)·hh, then h = q_h(sum).
        one = 1 << fr
        h_z = h.read(tag(self.step_cycles - 2 - 3 * op)[0])
        zh = _product(m, op, "zh", [z_use[n] for n in range(N)], [h_z[n] for n in range(N)],
                      self.zh_t)
        zc = _product(m, op, "zc", [one - z_use[n] for n in range(N)],
                      [cand.o[n] for n in range(N)], self.zc_t)
        h_we = delay(m, cand.o_valid, 1 + 3 * op, "h_we")
        h_new = _vector(L.output_fmt, N, "h_new")
        for n in range(N):
            total, frac = _aligned([(zh[n], fr + L.output_fmt.frac_bits),
                                    (zc[n], fr + L.activation.out_fmt.frac_bits)])
            code, _ = requantized(m, op, f"h_rounded{n}", total, frac, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, h_we


class SimpleRNNLayer(RecurrentLayer):
    def _build_loop(self):
        L = self.layer
        self.mh = MatVec.of(L.recurrent, x_type=L.output_fmt.int_type,
                            reuse=L.schedule.reuse_recurrent, addend_type=self.projection.out_type,
                            tree_fanin=self.tree_fanin, registered_start=self.deep,
                            deep_operands=self.deep, addend_held=self.results_held)
        self.act = ActivationUnit(in_type=self.mh.out_type, fmt=L.pre_fmt, activation=L.activation,
                                  lanes=L.units, deep=self.deep)

    @property
    def loop_matvecs(self):
        return [self.mh]

    @property
    def step_cycles(self):
        return self.mh.latency + self.act.latency + 1 + self.product_stages

    def _elaborate_loop(self, m, *, start, h, ax, tag):
        L = self.layer
        m.submodules.mh = mh = self.mh
        m.submodules.act = act = self.act
        m.d.comb += [mh.start.eq(start), mh.x.eq(h.read(tag(0)[0])), mh.addend.eq(ax),
                     act.i.eq(mh.y), act.i_valid.eq(mh.done)]
        h_new = _vector(L.output_fmt, L.units, "h_new")
        for n in range(L.units):
            code, _ = requantized(m, self.product_stages, f"h_rounded{n}", act.o[n],
                                  L.activation.out_fmt.frac_bits, L.output_fmt)
            m.d.comb += h_new[n].eq(code)
        return h_new, delay(m, act.o_valid, self.product_stages, "h_we")


def recurrent_layer(layer, **kwargs):
    """The hardware of an IR recurrent layer: its cell in the static shell (:class:`RecurrentLayer`),
    or with ``mode: unrolled`` an :class:`~rnnrtl.hw.unrolled.UnrolledLayer`, one cell per step."""
    if layer.schedule.mode == "unrolled":
        from .unrolled import UnrolledLayer  # (imported here: it builds its stages from these cells)
        return UnrolledLayer(layer, **kwargs)
    cls = {ir.LSTM: LSTMLayer, ir.GRU: GRULayer, ir.SimpleRNN: SimpleRNNLayer}[type(layer)]
    return cls(layer, **kwargs)
