"""The bit-accurate numpy emulator: exactly the integers the hardware computes.

It reads only the IR (:mod:`rnnrtl.ir`) and the rules of :mod:`rnnrtl.fixed` /
:mod:`rnnrtl.activations`, and follows the operation order of ``docs/numerics.md``. Everything
after input quantization is integer arithmetic on ``int64``, vectorised over the batch; the input
projection ``W·x_t`` of a recurrent layer is computed for all time steps at once, since it does
not depend on the state.

Products ``W·x`` use float32 BLAS when every partial sum provably stays below ``2**24`` in
magnitude, float64 below ``2**53`` (so the float type is exact), else exact ``int64`` matrix
products; the bound uses the values an input can take (an LSTM's ``h`` is bounded by its tables,
:meth:`_LSTMEmu.h_range`). Every intermediate is sized with :class:`~rnnrtl.fixed.IntType` at
construction and refused if it would not be exact in ``int64``.

An LSTM step (exact sums, the default numerics) runs its elementwise work in a compiled kernel
(:mod:`rnnrtl.emulator_kernels`: the same integers, per code, by the rules of :mod:`rnnrtl.fixed`);
``Emulator(network, kernels=False)`` runs the numpy step instead, and the tests compare the two.

One concept, hence past ~400 lines: the emulator of each layer kind beside the others, sharing the
step loop, the exact matrix products and the requantization bookkeeping.
"""

from __future__ import annotations

import functools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from . import emulator_kernels as kernels
from .fixed import IntType, Rounding, requantize, requantize_bounds, shift_round
from .ir import GRU, LSTM, Activation, Bidirectional, Dense, Network, SimpleRNN, Weights, matvec_type
from .errors import FixedPointOverflowWarning
from .masking import check_layers, masked_steps

__all__ = ["Emulator", "EmulationResult", "FixedPointOverflowWarning"]

_FLOAT_EXACT = 2 ** 53
_FLOAT32_EXACT = 2 ** 24


@dataclass
class EmulationResult:
    """What an emulation produced.

    ``codes``: the network output as integer codes of the output format (the hardware's output
    lanes); ``y``: the same as floats (softmax applied on the host to a softmax layer's logits);
    ``overflows``: values saturated or wrapped, per named point (only points that overflowed);
    ``trace``: per named point, integer codes with the time axis second where there is one.
    """
    codes: np.ndarray
    y: np.ndarray
    overflows: dict = field(default_factory=dict)
    trace: dict | None = None


class _Counter:
    def __init__(self, trace: bool):
        self.overflows: dict[str, int] = {}
        self.trace: dict[str, list] | None = {} if trace else None

    def requant(self, point, codes, src_frac, fmt):
        out, over = requantize(codes, src_frac, fmt)
        if over:
            self.overflows[point] = self.overflows.get(point, 0) + over
        return out

    def record(self, point, codes):
        if self.trace is not None:
            self.trace.setdefault(point, []).append(codes)


class _MatVec:
    """``x @ W.T`` for integer codes, exact; float32 or float64 BLAS when provably exact.

    ``in_range`` ``(lo, hi)``: the values ``x`` can take when narrower than ``in_type``'s range
    (an LSTM's ``h`` is bounded by its tables, :meth:`_LSTMEmu.h_range`). BLAS in a float type is
    exact when every partial sum is an integer its significand holds: ``|partial| <= Σ_j |W_ij|
    · max|x| < 2**24`` (float32) or ``2**53`` (float64), in any order of summation.

    With ``product_fmt`` (``numerics: hls4ml``), every product is first requantized into it and the
    result has its fractional bits: ``sum_j q_P(W_ij·x_j)`` (docs/hls4ml.md). ``product_fmt``'s
    overflow is WRAP (checked by the quantizer), so wrapping each product or only the final sum gives
    the same integers; the caller wraps the sum.
    """

    #: Elements of the per-product array computed at once (``product_fmt`` with rounding).
    PRODUCT_CHUNK = 1 << 18

    def __init__(self, weights: Weights, in_type: IntType, where: str, product_fmt=None,
                 in_range: tuple[int, int] | None = None):
        self.codes = np.ascontiguousarray(weights.codes.T.astype(np.int64))  # [in, out]
        in_max = max(abs(in_type.min_value), abs(in_type.max_value))
        row_sum = int(np.abs(weights.codes.astype(object)).sum(axis=1).max(initial=0))
        bound = row_sum * in_max
        # Sized from the actual weight codes (docs/numerics.md, "Sums"): every partial sum is <= bound.
        IntType.for_range(-bound, bound, 0, True).check_int64(where)
        if in_range is not None:
            bound = row_sum * max(abs(in_range[0]), abs(in_range[1]))
        #: The BLAS type that is exact for these weights and inputs, or ``None`` (int64 products).
        self.float_type = (np.float32 if bound < _FLOAT32_EXACT else
                           np.float64 if bound < _FLOAT_EXACT else None)
        self.exact_in_float = self.float_type is not None
        if self.exact_in_float:
            self.as_float = self.codes.astype(self.float_type)
        self.frac = in_type.frac + weights.fmt.frac_bits
        self.product_fmt, self.shift = product_fmt, 0
        if product_fmt is not None:
            self.shift = self.frac - product_fmt.frac_bits  # > 0: each product is rounded
            self.frac = product_fmt.frac_bits
            if self.shift > 0:
                prod = in_type * weights.int_type
                self.dtype = np.int32 if prod.width <= 32 else np.int64
                self.w = np.ascontiguousarray(weights.codes.astype(self.dtype))  # [out, in]

    @property
    def raw_type(self):
        """The dtype :meth:`raw` takes and returns."""
        return self.float_type or np.int64

    @property
    def raw_weights(self):
        """The weight codes ``[in, out]`` in :attr:`raw_type`."""
        return self.as_float if self.exact_in_float else self.codes

    def raw(self, x, out=None):
        """``x @ W.T`` (exact products only) in :attr:`raw_type`: exact integers, possibly held
        as floats; ``x`` already of that type."""
        return np.matmul(x, self.as_float if self.exact_in_float else self.codes, out=out)

    def _exact(self, x):
        if self.exact_in_float:
            return (x.astype(self.float_type) @ self.as_float).astype(np.int64)
        return x @ self.codes

    def __call__(self, x):
        if self.shift <= 0:  # exact products (shifted left into product_fmt's fraction when set)
            out = self._exact(x)
            return out << -self.shift if self.shift else out
        shape = x.shape
        x = x.reshape(-1, shape[-1]).astype(self.dtype)
        n_out, n_in = self.w.shape
        out = np.empty((len(x), n_out), dtype=np.int64)
        step = max(1, self.PRODUCT_CHUNK // max(n_out * n_in, 1))
        trn = self.product_fmt.rounding is Rounding.TRN
        for i in range(0, len(x), step):
            p = x[i:i + step, None, :] * self.w[None]
            if trn:
                p >>= self.shift
            else:
                p = shift_round(p, self.shift, self.product_fmt.rounding)
            out[i:i + step] = p.sum(axis=-1, dtype=np.int64)
        return out.reshape(shape[:-1] + (n_out,))


def _act_range(act: Activation):
    """``(lo, hi)`` of an activation's output codes: its table's contents, else its format."""
    if act.table is not None:
        return int(act.table.contents.min()), int(act.table.contents.max())
    return act.out_fmt.min_code, act.out_fmt.max_code


def _aligned_sum(*terms):
    """Sum of ``(codes, frac)`` terms, each shifted left to the finest fraction (exact)."""
    terms = [t for t in terms if t is not None]
    frac = max(f for _, f in terms)
    total = None
    for codes, f in terms:
        term = codes if f == frac else codes << (frac - f)
        total = term if total is None else total + term
    return total, frac


def _bias(weights: Weights | None, product_fmt=None):
    """A bias as a ``(codes, frac)`` term; requantized into ``product_fmt`` when there is one."""
    if weights is None:
        return None
    if product_fmt is not None:
        return requantize(weights.codes, weights.fmt.frac_bits, product_fmt)[0], product_fmt.frac_bits
    return weights.codes.astype(np.int64), weights.fmt.frac_bits


def _check_sum(where: str, *types: IntType):
    """Refuse a step whose exact (aligned) sum of terms of ``types`` would not fit int64."""
    IntType.join(*types).check_int64(where)


class _Layer:
    #: ``(lo, hi)`` bounding the output codes when narrower than the output format (the next
    #: layer's ``in_range``); ``None``: the format's range.
    out_range = None

    def __init__(self, layer, kernels: bool = True):
        self.layer = layer
        self.name = layer.name
        self.kernels = kernels

    @property
    def product_fmt(self):
        return getattr(self.layer, "product_fmt", None)

    def accumulate(self, point, acc, frac, fmt, ctr):
        """Requantize a sum into ``fmt``: through the accumulator (``product_fmt``) first if any."""
        acc_fmt = self.product_fmt
        if acc_fmt is not None:
            acc, frac = ctr.requant(point, acc, frac, acc_fmt), acc_fmt.frac_bits
            if fmt == acc_fmt:
                return acc
        return ctr.requant(point, acc, frac, fmt)

    def activation(self, act: Activation, codes, point, ctr):
        """Apply ``act`` to codes with ``act.in_frac`` fractional bits; result in ``act.out_fmt``."""
        if act.table is not None:
            return act.table.lookup(codes)
        if act.softmax is not None:
            return act.softmax.apply(codes)
        if act.function == "relu":
            codes = np.maximum(codes, 0)
        return ctr.requant(point, codes, act.in_frac, act.out_fmt)  # linear, relu, softmax logits


class _DenseEmu(_Layer):
    def __init__(self, layer: Dense, in_range=None, kernels: bool = True):
        super().__init__(layer, kernels)
        self.mv = _MatVec(layer.kernel, layer.input_fmt.int_type, f"layer {layer.name!r}",
                          layer.product_fmt, in_range)
        layer.pre_type.check_int64(f"layer {layer.name!r}")

    def __call__(self, x, ctr):
        L = self.layer
        acc, frac = _aligned_sum((self.mv(x), self.mv.frac), _bias(L.bias, L.product_fmt))
        pre = self.accumulate(f"{L.name}.pre", acc, frac, L.pre_fmt, ctr)
        act = self.activation(L.activation, pre, f"{L.name}.out", ctr)
        if L.activation.out_fmt != L.output_fmt:
            act = ctr.requant(f"{L.name}.out", act, L.activation.out_fmt.frac_bits, L.output_fmt)
        ctr.record(f"{L.name}.pre", pre)
        ctr.record(f"{L.name}.out", act)
        return act


class _RecurrentEmu(_Layer):
    """Shared step loop: input projection for all steps, then the recurrence."""

    def __init__(self, layer, in_range=None, kernels: bool = True):
        super().__init__(layer, kernels)
        where = f"layer {layer.name!r}"
        pf = getattr(layer, "product_fmt", None)
        self.out_range = self.h_range()
        self.mx = _MatVec(layer.kernel, layer.input_fmt.int_type, where, pf, in_range)
        self.mh = _MatVec(layer.recurrent, layer.output_fmt.int_type, where, pf, self.out_range)
        self.units = layer.units
        rec_in = layer.rec_fmt if isinstance(layer, GRU) and not layer.reset_after else layer.output_fmt
        _check_sum(where, matvec_type(layer.input_fmt, layer.kernel, layer.bias),
                   matvec_type(layer.output_fmt, layer.recurrent, getattr(layer, "recurrent_bias", None)),
                   matvec_type(rec_in, layer.recurrent))
        if isinstance(layer, LSTM):
            s, g = layer.recurrent_activation.out_fmt.int_type, layer.activation.out_fmt.int_type
            _check_sum(where, s * layer.state_fmt.int_type, s * g)                # f·c + i·g
            _check_sum(where, s * layer.state_activation.out_fmt.int_type)        # o·tanh(c)
        if isinstance(layer, GRU):
            ra, out = layer.recurrent_activation.out_fmt, layer.output_fmt.int_type
            s, one = ra.int_type, 1 << ra.frac_bits
            one_minus_z = IntType.for_range(one - ra.max_code, one - ra.min_code, ra.frac_bits)
            _check_sum(where, s * out)                                       # r·h
            _check_sum(where, matvec_type(layer.input_fmt, layer.kernel, layer.bias),
                       s * layer.rec_fmt.int_type)                           # W_h·x + b_h + r·rec
            _check_sum(where, s * out, one_minus_z * layer.activation.out_fmt.int_type)  # h

    def __call__(self, x, ctr, mask=None):
        """The layer's output for input codes ``x`` ``[batch, steps, features]``.

        ``mask`` (``[batch, steps]`` booleans, :mod:`rnnrtl.masking`): on a masked step the step is
        computed as any other (so the hardware's and these overflow counts include it) but its new
        state is dropped, the state (``h``, and ``c``) kept; the step's output is then the kept
        ``h``: the previous output, zeros before the first unmasked step (Keras semantics)."""
        L = self.layer
        batch, steps, _ = x.shape
        ax = self.mx(x.reshape(batch * steps, -1)).reshape(batch, steps, -1)
        self.ax_frac = self.mx.frac
        bias = self.step_bias()
        if bias is not None:  # added once for every step: integer sums are exact in any order
            ax, self.ax_frac = _aligned_sum((ax, self.mx.frac), bias)
        state = self.initial_state(batch)
        outputs = []
        for t in range(steps):
            new = self.step(ax[:, t], state, ctr)
            if mask is not None:
                keep = mask[:, t, None]
                new = tuple(np.where(keep, old, value) for old, value in zip(state, new))
            state = new
            h = state[0]
            ctr.record(f"{L.name}.h", h)
            outputs.append(h)
        return np.stack(outputs, axis=1) if L.return_sequences else outputs[-1]

    def initial_state(self, batch):
        return (np.zeros((batch, self.units), dtype=np.int64),)

    def h_range(self):
        """``(lo, hi)`` bounding every ``h`` (and the zero initial state) when the layer's tables
        prove it narrower than ``output_fmt``; ``None`` otherwise."""
        return None

    def step_bias(self):
        """The bias term every step adds to the input projection (folded into it up front), or
        ``None`` when the cell adds its biases itself."""
        return None


class _SimpleRNNEmu(_RecurrentEmu):
    def step_bias(self):
        return _bias(self.layer.bias)

    def step(self, ax, state, ctr):
        L, (h,) = self.layer, state
        acc, frac = _aligned_sum((ax, self.ax_frac), (self.mh(h), self.mh.frac))
        pre = ctr.requant(f"{L.name}.pre", acc, frac, L.pre_fmt)
        act = self.activation(L.activation, pre, f"{L.name}.h", ctr)
        if L.activation.out_fmt != L.output_fmt:
            act = ctr.requant(f"{L.name}.h", act, L.activation.out_fmt.frac_bits, L.output_fmt)
        ctr.record(f"{L.name}.pre", pre)
        return (act,)


class _LSTMEmu(_RecurrentEmu):
    def __init__(self, layer: LSTM, in_range=None, kernels: bool = True):
        super().__init__(layer, in_range, kernels)
        features = self.mx.codes.shape[0]
        #: Input features whose W·x_t the kernel computes (few); 0: it reads a BLAS product.
        self.inline_features = features if features <= self.INLINE_FEATURES else 0
        self.kernel_args = self._kernel_args() if kernels else None

    def initial_state(self, batch):
        zeros = np.zeros((batch, self.units), dtype=np.int64)
        return (zeros, zeros)

    def h_range(self):
        """``h = q_h(o·tanh_c)``: ``o`` and ``tanh_c`` lie within their tables' contents (or
        formats), so ``h`` within the requantized bounds of their products (and 0)."""
        L = self.layer
        (olo, ohi), (tlo, thi) = (_act_range(L.recurrent_activation),
                                  _act_range(L.state_activation))
        corners = [a * b for a in (olo, ohi) for b in (tlo, thi)]
        frac = L.recurrent_activation.out_fmt.frac_bits + L.state_activation.out_fmt.frac_bits
        lo, hi = requantize_bounds(min(corners), max(corners), frac, L.output_fmt)
        return min(lo, 0), max(hi, 0)

    def _kernel_args(self):
        """``(step, args)``: the compiled step of this layer's structure
        (:func:`rnnrtl.emulator_kernels.lstm_step`) and its constant arguments (bias, shifts,
        requantization parameters, table offsets and contents), or ``None`` when the numpy step
        runs (``numerics: hls4ml``'s per-product rounding, Brevitas' rounded ``state_terms``, or
        an activation no kernel computes)."""
        L = self.layer
        acts = [kernels.activation_args(a) for a in
                (L.recurrent_activation, L.activation, L.state_activation)]
        if L.product_fmt is not None or L.state_terms or any(a is None for a in acts):
            return None
        bias = _bias(L.bias)
        bias_codes, bias_frac = bias if bias is not None else (np.zeros(4 * self.units, np.int64), 0)
        frac = max(self.mx.frac, self.mh.frac, bias_frac)
        fr, sf = L.recurrent_activation.out_fmt.frac_bits, L.state_fmt.frac_bits
        gr, tf = L.activation.out_fmt.frac_bits, L.state_activation.out_fmt.frac_bits
        c_frac = max(fr + sf, fr + gr)
        (sig, sig_tab), (g, g_tab), (tc, tc_tab) = acts
        params = [kernels.requant_params(frac, L.gate_fmt), sig[1], g[1],
                  kernels.requant_params(c_frac, L.state_fmt), tc[1],
                  kernels.requant_params(fr + tf, L.output_fmt)]
        step = kernels.lstm_step(self.inline_features, (sig[0], g[0], tc[0]),
                                 tuple(kernels.requant_shape(p) for p in params))
        shifts = [frac - self.mx.frac, frac - bias_frac, frac - self.mh.frac, c_frac - (fr + sf),
                  c_frac - (fr + gr)]
        return step, (np.ascontiguousarray(bias_codes, dtype=np.int64),
                      np.array(shifts, dtype=np.int64), np.array(params, dtype=np.int64),
                      np.array([sig[2], g[2], tc[2]], dtype=np.int64), sig_tab, g_tab, tc_tab)

    def __call__(self, x, ctr, mask=None):
        if self.kernel_args is None:
            return super().__call__(x, ctr, mask)
        return self._run_kernel(x, ctr, mask)

    #: Elements of the input projection ``W·x_t`` computed at once (a block of steps).
    AX_BLOCK = 1 << 20
    #: Inputs with at most this many features have ``W·x_t`` computed in the kernel.
    INLINE_FEATURES = 16

    def _run_kernel(self, x, ctr, mask):
        """:meth:`_RecurrentEmu.__call__` with each step's elementwise work in one compiled pass
        (:func:`rnnrtl.emulator_kernels.lstm_step`, unit-major ``[units, batch]`` arrays: the
        products are ``U·h`` as ``W [4N, N] @ h [N, batch]``): the same integers, overflows and
        trace."""
        L, (step, consts) = self.layer, self.kernel_args
        batch, steps, _ = x.shape
        N, G = self.units, 4 * self.units
        tracing = ctr.trace is not None
        xt = np.ascontiguousarray(x.transpose(1, 2, 0))              # [steps, features, batch]
        h_blas = np.zeros((N, batch), dtype=self.mh.raw_type)         # h as the BLAS operand
        rec = np.empty((G, batch), dtype=self.mh.raw_type)
        w_rec = np.ascontiguousarray(self.mh.raw_weights.T)           # [4N, N]
        c = np.zeros((N, batch), dtype=np.int64)
        h = np.zeros((N, batch), dtype=np.int64)
        counts = np.zeros(len(kernels.LSTM_POINTS), dtype=np.int64)
        inline = self.inline_features > 0
        wx = self.mx.codes if inline else np.zeros((0, G), dtype=np.int64)
        no_ax = np.zeros((0, 0), dtype=np.float64)
        block = steps if inline else max(1, self.AX_BLOCK // max(batch * G, 1))
        # [4N, F]; float64 whenever a float type is exact (one compiled variant fewer)
        in_type = np.int64 if self.mx.float_type is None else np.float64
        w_in = None if inline else np.ascontiguousarray(self.mx.codes.T.astype(in_type))
        gate = act = np.empty((0, batch), dtype=np.int64)           # filled only for a trace
        index, scratch = np.empty((1, batch), dtype=np.int64), np.empty((8, batch), dtype=np.int64)
        tanh_c = np.empty((N, batch), dtype=np.int64)
        # Every step writes into arrays allocated here (a fresh array per step costs page faults):
        # h of every step when kept (return_sequences), else two buffers in turn, as for c; a
        # trace keeps views of its arrays, so then each step has fresh ones.
        hs = np.empty((steps if L.return_sequences else 2, N, batch), dtype=np.int64)
        c_spare = np.empty_like(c)
        for t0 in range(0, steps, block):
            if not inline:   # W·x_t for a block of steps: [steps, 4N, batch]
                ax_block = np.matmul(w_in, xt[t0:t0 + block].astype(in_type))
            for t in range(t0, min(t0 + block, steps)):
                np.matmul(w_rec, h_blas, out=rec)
                h_new, c_new = hs[t if L.return_sequences else t % 2], c_spare
                if tracing:   # fresh arrays: the trace keeps views of them
                    gate, act = np.empty((G, batch), np.int64), np.empty((G, batch), np.int64)
                    tanh_c, c_new = np.empty_like(tanh_c), np.empty_like(c)
                    if not L.return_sequences:
                        h_new = np.empty_like(h)
                step(xt[t], wx, no_ax if inline else ax_block[t - t0], rec, c, c_new, h_new, h_blas,
                     *consts, counts, tracing, gate, act, tanh_c, index, scratch)
                if tracing:   # a masked step's points hold its computed values
                    ctr.record(f"{L.name}.gate", gate.T)
                    for point, value in (("i", act[:N]), ("f", act[N:2 * N]), ("g", act[2 * N:3 * N]),
                                         ("o", act[3 * N:]), ("c", c_new), ("tanh_c", tanh_c)):
                        ctr.record(f"{L.name}.{point}", value.T)
                    c_new = c_new.copy()   # the trace keeps the computed c, the state may differ
                if mask is not None:
                    keep = mask[None, :, t]
                    np.copyto(h_new, h, where=keep)
                    np.copyto(c_new, c, where=keep)
                    h_blas[...] = h_new
                h, (c, c_spare) = h_new, (c_new, c)
                ctr.record(f"{L.name}.h", h.T)
        for point, n in zip(kernels.LSTM_POINTS, counts.tolist()):   # the sums over all steps
            if n:
                name = f"{L.name}.{point}"
                ctr.overflows[name] = ctr.overflows.get(name, 0) + n
        if L.return_sequences:
            return np.ascontiguousarray(hs.transpose(2, 0, 1))
        return np.ascontiguousarray(h.T)

    def step_bias(self):
        return _bias(self.layer.bias, self.layer.product_fmt)

    def step(self, ax, state, ctr):
        L, (h, c) = self.layer, state
        N = self.units
        acc, frac = _aligned_sum((ax, self.ax_frac), (self.mh(h), self.mh.frac))
        gate = self.accumulate(f"{L.name}.gate", acc, frac, L.gate_fmt, ctr)
        ra, ga = L.recurrent_activation, L.activation
        if ra.table is not None:  # one lookup for i, f, o (elementwise, so slicing after is exact)
            sig = ra.table.lookup(gate)
            i, f, o = sig[:, 0 * N:1 * N], sig[:, 1 * N:2 * N], sig[:, 3 * N:4 * N]
        else:
            i = self.activation(ra, gate[:, 0 * N:1 * N], f"{L.name}.i", ctr)
            f = self.activation(ra, gate[:, 1 * N:2 * N], f"{L.name}.f", ctr)
            o = self.activation(ra, gate[:, 3 * N:4 * N], f"{L.name}.o", ctr)
        g = self.activation(ga, gate[:, 2 * N:3 * N], f"{L.name}.g", ctr)
        fr, gr = ra.out_fmt.frac_bits, ga.out_fmt.frac_bits
        fc, ig = (f * c, fr + L.state_fmt.frac_bits), (i * g, fr + gr)
        if L.state_terms:   # each product rounded into c's format first (Brevitas)
            fc, ig = ((ctr.requant(f"{L.name}.c", *term, L.state_fmt), L.state_fmt.frac_bits)
                      for term in (fc, ig))
        c_acc, c_frac = _aligned_sum(fc, ig)
        c = ctr.requant(f"{L.name}.c", c_acc, c_frac, L.state_fmt)
        tc = self.activation(L.state_activation, c, f"{L.name}.tanh_c", ctr)
        h = ctr.requant(f"{L.name}.h", o * tc, fr + L.state_activation.out_fmt.frac_bits, L.output_fmt)
        for point, value in (("gate", gate), ("i", i), ("f", f), ("g", g), ("o", o), ("c", c),
                             ("tanh_c", tc)):
            ctr.record(f"{L.name}.{point}", value)
        return (h, c)


class _GRUEmu(_RecurrentEmu):
    def __init__(self, layer: GRU, in_range=None, kernels: bool = True):
        super().__init__(layer, in_range, kernels)
        N = layer.units
        where = f"layer {layer.name!r}"
        zr = Weights(layer.recurrent.fmt, layer.recurrent.codes[:2 * N])
        hh = Weights(layer.recurrent.fmt, layer.recurrent.codes[2 * N:])
        self.mh_zr = _MatVec(zr, layer.output_fmt.int_type, where, layer.product_fmt)
        self.mh_h = _MatVec(hh, layer.output_fmt.int_type if layer.reset_after
                            else layer.rec_fmt.int_type, where, layer.product_fmt)

    def step(self, ax, state, ctr):
        L, (h,) = self.layer, state
        N = self.units
        P = L.product_fmt
        bias, rbias = _bias(L.bias, P), _bias(L.recurrent_bias, P)
        part = lambda b, s: None if b is None else (b[0][s], b[1])  # noqa: E731
        zr, h_slice = slice(0, 2 * N), slice(2 * N, 3 * N)
        acc, frac = _aligned_sum((ax[:, zr], self.mx.frac), part(bias, zr),
                                 (self.mh_zr(h), self.mh_zr.frac), part(rbias, zr))
        gate = self.accumulate(f"{L.name}.gate", acc, frac, L.gate_fmt, ctr)
        ra = L.recurrent_activation
        if ra.table is not None:  # one lookup for z and r
            zr_act = ra.table.lookup(gate)
            z, r = zr_act[:, :N], zr_act[:, N:]
        else:
            z = self.activation(ra, gate[:, :N], f"{L.name}.z", ctr)
            r = self.activation(ra, gate[:, N:], f"{L.name}.r", ctr)
        fr = ra.out_fmt.frac_bits
        if L.reset_after:
            rec_acc, rec_frac = _aligned_sum((self.mh_h(h), self.mh_h.frac), part(rbias, h_slice))
            rec = self.accumulate(f"{L.name}.rec", rec_acc, rec_frac, L.rec_fmt, ctr)
            cand_rec = (r * rec, fr + L.rec_fmt.frac_bits)
            if P is not None:  # hls4ml casts the product r·rec to the accumulator type
                cand_rec = (ctr.requant(f"{L.name}.cand", *cand_rec, P), P.frac_bits)
        else:
            rec = ctr.requant(f"{L.name}.rec", r * h, fr + L.output_fmt.frac_bits, L.rec_fmt)
            cand_rec = (self.mh_h(rec), self.mh_h.frac)
        acc, frac = _aligned_sum((ax[:, h_slice], self.mx.frac), part(bias, h_slice), cand_rec)
        cand = self.accumulate(f"{L.name}.cand", acc, frac, L.gate_fmt, ctr)
        hh = self.activation(L.activation, cand, f"{L.name}.hh", ctr)
        ha = L.activation.out_fmt.frac_bits
        one_minus_z = (1 << fr) - z
        h_acc, h_frac = _aligned_sum((z * h, fr + L.output_fmt.frac_bits), (one_minus_z * hh, fr + ha))
        h = ctr.requant(f"{L.name}.h", h_acc, h_frac, L.output_fmt)
        for point, value in (("gate", gate), ("z", z), ("r", r), ("rec", rec), ("cand", cand),
                             ("hh", hh)):
            ctr.record(f"{L.name}.{point}", value)
        return (h,)


class _BackwardsEmu:
    """A recurrent layer with ``go_backwards``: its emulator run on the time-reversed input (its
    outputs, and its trace, stay in processing order, as Keras returns them)."""

    def __init__(self, inner):
        self.inner, self.layer, self.name = inner, inner.layer, inner.name
        self.out_range = inner.out_range

    def __call__(self, x, ctr):
        return self.inner(x[:, ::-1], ctr)


def _recurrent_emu(layer, in_range=None, kernels: bool = True):
    emu = _EMULATORS[type(layer)](layer, in_range, kernels)
    return _BackwardsEmu(emu) if getattr(layer, "go_backwards", False) else emu


class _BidirectionalEmu:
    """Both directions on the same input; with ``return_sequences`` the backward outputs are
    re-reversed (Keras); then the merge into ``output_fmt`` at the point ``<layer>.out``
    (:class:`rnnrtl.ir.Bidirectional`)."""

    out_range = None

    def __init__(self, layer: Bidirectional, in_range=None, kernels: bool = True):
        self.layer, self.name = layer, layer.name
        self.forward = _recurrent_emu(layer.forward, in_range, kernels)
        self.backward = _recurrent_emu(layer.backward, in_range, kernels)

    def __call__(self, x, ctr):
        L = self.layer
        hf, hb = self.forward(x, ctr), self.backward(x, ctr)
        if L.return_sequences:
            hb = hb[:, ::-1]
        out = merge(L, hf, hb, ctr.requant)
        ctr.record(f"{L.name}.out", out)
        return out


def merge(layer: Bidirectional, hf, hb, requant):
    """The merge of a :class:`~rnnrtl.ir.Bidirectional`'s direction outputs ``hf``, ``hb`` (codes
    of ``forward.output_fmt``, ``backward.output_fmt``) into ``layer.output_fmt``;
    ``requant(point, codes, src_frac, fmt)`` requantizes (and counts overflows). Keep in sync with
    :class:`rnnrtl.hw.bidirectional.Merge`."""
    point, fmt = f"{layer.name}.out", layer.output_fmt
    ff, fb = layer.forward.output_fmt.frac_bits, layer.backward.output_fmt.frac_bits
    if layer.merge_mode == "concat":
        return np.concatenate([requant(point, hf, ff, fmt), requant(point, hb, fb, fmt)], axis=-1)
    if layer.merge_mode == "mul":
        return requant(point, hf * hb, ff + fb, fmt)
    total, frac = _aligned_sum((hf, ff), (hb, fb))
    return requant(point, total, frac + (layer.merge_mode == "ave"), fmt)   # ave: one more bit


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded (numpy's, which the products use, is loaded by then), found once:
    a search of the loaded libraries costs about a millisecond, as much as emulating a thousand
    samples of a small model."""
    return ThreadpoolController()


_EMULATORS = {Dense: _DenseEmu, SimpleRNN: _SimpleRNNEmu, LSTM: _LSTMEmu, GRU: _GRUEmu}


class Emulator:
    """Runs a :class:`~rnnrtl.ir.Network` on a batch of float sequences, bit-accurately."""

    def __init__(self, network: Network, *, kernels: bool = True):
        """``kernels=False`` runs every step in numpy (:mod:`rnnrtl.emulator_kernels` computes
        the same integers; the tests compare the two)."""
        self.network = network
        check_layers(network.layers, network.mask_value)
        self.layers, in_range = [], None
        for layer in network.layers:
            if isinstance(layer, Bidirectional):
                emu = _BidirectionalEmu(layer, in_range, kernels)
            elif isinstance(layer, Dense):
                emu = _DenseEmu(layer, in_range, kernels)
            else:
                emu = _recurrent_emu(layer, in_range, kernels)
            self.layers.append(emu)
            in_range = emu.out_range

    #: Samples per chunk: small enough for every per-step array to stay in cache.
    CHUNK = 512

    def run(self, x, *, trace: bool = False, warn: bool = True) -> EmulationResult:
        """Emulate ``x`` (floats ``[batch, timesteps, features]``).

        The batch is split into chunks run on a small thread pool (numpy releases the GIL); the
        chunks are independent, so the result is the same as one pass over the whole batch.
        """
        net = self.network
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != net.in_features:
            raise ValueError(f"input shape {x.shape}: expected [batch, timesteps, {net.in_features}]")
        if net.timesteps is not None and x.shape[1] != net.timesteps:
            raise ValueError(f"input has {x.shape[1]} time steps; the model expects {net.timesteps}")
        chunks = [x[i:i + self.CHUNK] for i in range(0, max(len(x), 1), self.CHUNK)]
        workers = min(len(chunks), os.cpu_count() or 1)
        # One BLAS thread per worker: BLAS's own threads on top of ours oversubscribe the cores,
        # and on one chunk its spinning threads cost more CPU than the small products save.
        with _blas().limit(limits=1, user_api="blas"):
            if workers == 1:
                parts = [self._run_chunk(chunk, trace) for chunk in chunks]
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    parts = list(pool.map(lambda c: self._run_chunk(c, trace), chunks))
        overflows: dict[str, int] = {}
        for part in parts:
            for point, n in part.overflows.items():
                overflows[point] = overflows.get(point, 0) + n
        result = EmulationResult(
            codes=np.concatenate([p.codes for p in parts]),
            y=np.concatenate([p.y for p in parts]), overflows=overflows,
            trace=None if not trace else
            {k: np.concatenate([p.trace[k] for p in parts]) for k in parts[0].trace})
        if warn and overflows:
            summary = ", ".join(f"{p}: {n}" for p, n in overflows.items())
            warnings.warn(f"fixed-point overflow (values saturated or wrapped) at {summary}; "
                          "widen the integer bits of those formats", FixedPointOverflowWarning,
                          stacklevel=3)
        return result

    def _run_chunk(self, x, trace: bool) -> EmulationResult:
        net = self.network
        ctr = _Counter(trace)
        codes, over = net.input_fmt.quantize(x)
        if over:
            ctr.overflows["input"] = over
        if ctr.trace is not None:
            ctr.trace["input"] = [codes]
        # Masked steps (rnnrtl.masking): recognised on the input codes, kept by the recurrent
        # layers, passed on through Dense layers and recurrent ones that return sequences.
        mask = masked_steps(codes, net.mask_code)
        for emu in self.layers:
            if isinstance(emu, _RecurrentEmu):
                codes = emu(codes, ctr, mask)
                mask = mask if emu.layer.return_sequences else None
            else:
                codes = emu(codes, ctr)
        last = net.layers[-1]
        y = net.output_fmt.to_float(codes)
        if isinstance(last, Dense) and last.activation.function == "softmax" \
                and last.activation.softmax is None:  # host softmax (tables: already probabilities)
            e = np.exp(y - y.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        tr = None
        if ctr.trace is not None:
            tr = {}
            # Points of recurrent layers are recorded once per step: stack them on a time axis
            # (even for a single step); input and Dense points are recorded once, whole.
            per_step = {p for layer in net.flat_layers if not isinstance(layer, Dense)
                        for p in layer.points}
            for point, values in ctr.trace.items():
                tr[point] = np.stack(values, axis=1) if point in per_step else values[0]
        return EmulationResult(codes=codes, y=y, overflows=dict(ctr.overflows), trace=tr)
