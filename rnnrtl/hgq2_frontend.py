"""HGQ2 frontend: quantization-aware Keras 3 models (``hgq2``: ``QGRU``, ``QSimpleRNN``, ``QDense``).

HGQ2 trains a network whose forward pass is already fixed point: every tensor that matters goes
through a quantizer with ``k`` (keep the sign), ``i`` (integer bits, sign excluded) and ``f``
(fractional bits), a rounding and an overflow mode. This module reads a model (a live
``keras.Model`` or a ``.keras`` file) into a :class:`HgqModel`: the ordinary float layers of
:mod:`rnnrtl.frontend`, whose weights are HGQ2's *quantized* weights (exact dyadic values, each
weight with its own trained width), and, per layer, the datalane quantizers as :class:`QSpec`.
``numerics: hgq2`` (:mod:`rnnrtl.numerics.hgq2`) turns them into formats and tables; the
arithmetic reproduced, and what is refused, is in docs/numerics.md ("HGQ2").

Where HGQ2 quantizes (read from hgq 0.2's ``layers/``; keep in sync with that profile):

* ``QDense``: ``act(iq(x) @ kq(W) + bq(b))`` then ``oq`` when enabled;
* ``QSimpleRNN``: ``h = act(paq(iq(x) @ kq(W) + bq(b) + h @ rkq(U)))``;
* ``QGRU`` (per step, ``h`` the previous state): ``qh = sq(h)``;
  ``zr = praq(x_zr + qh @ U_zr + b'_zr)`` — ``praq`` a hard sigmoid: ``0.25·Q(x) + 0.5`` with
  ``Q`` saturating at ``±2``; ``rec = rhq(qh @ U_h + b'_h)``; ``hh = paq(x_h + r·rec)`` — ``paq``
  a hard tanh (``Q`` saturating at ``±1``); ``h' = z·qh + (1 − z)·hh``, *not* quantized: the next
  step's ``sq`` quantizes it, and so must whatever reads the layer's output.

A ``.keras`` file is checked and loaded by :mod:`rnnrtl.hgq2_load` (its JSON first, then Keras
with ``safe_mode=True``); :func:`rnnrtl.convert` reads a model with HGQ2 layers here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UnsupportedModelError
from .fixed import FixedFormat, FixedPointError, Overflow, Rounding
from .frontend import FloatLayer, FloatModel, check_model_path, reject_options
from .hgq2_load import HGQ_LAYERS, PASSIVE_LAYERS, is_hgq2_layer, is_hgq2_model, load_hgq2
from .numerics.exact import lossless

__all__ = ["QSpec", "HgqLayer", "HgqModel", "HGQ_LAYERS", "is_hgq2_model", "qspec", "from_hgq2"]

#: Activations whose result HGQ2 computes exactly (the hard ones are quantizers: paq / praq).
_EXACT_ACTIVATIONS = ("linear", "relu")
#: HGQ2 rounding modes (``S_*`` are stochastic in training only) -> rnnrtl's.
_ROUNDING = {"TRN": Rounding.TRN, "RND": Rounding.RND, "RND_CONV": Rounding.RND_CONV,
             "TRN_ZERO": Rounding.TRN_ZERO, "RND_ZERO": Rounding.RND_ZERO,
             "RND_MIN_INF": Rounding.RND_MIN_INF, "RND_INF": Rounding.RND_INF}
_OVERFLOW = {"WRAP": Overflow.WRAP, "SAT": Overflow.SAT, "SAT_SYM": Overflow.SAT_SYM}


@dataclass(frozen=True)
class QSpec:
    """One HGQ2 fixed-point datalane quantizer, the same for every element of its tensor:
    ``y = affine[0]·Q(x) + affine[1]`` where ``Q`` rounds ``x`` to ``f`` fractional bits and
    keeps it in ``[-k·2^i, 2^i − 2^-f]`` by ``overflow``. ``where`` names it in messages
    (``<layer>.<role>``, e.g. ``gru.sq``)."""
    k: int
    i: int
    f: int
    rounding: Rounding
    overflow: Overflow
    where: str
    affine: tuple[float, float] | None = None

    @property
    def fmt(self) -> FixedFormat:
        """``Q``'s output as an rnnrtl format (``k + i + f`` bits, ``k + i`` integer bits)."""
        try:
            return FixedFormat(self.k + self.i + self.f, self.k + self.i, bool(self.k),
                               self.rounding, self.overflow)
        except FixedPointError as e:
            raise UnsupportedModelError(f"quantizer {self.where} (k={self.k}, i={self.i}, "
                                        f"f={self.f}) has no rnnrtl format: {e}") from None

    def same(self, other: "QSpec | None") -> bool:
        """Whether ``other`` computes the same function (its name aside)."""
        return other is not None and (self.k, self.i, self.f, self.rounding, self.overflow,
                                      self.affine) == (other.k, other.i, other.f, other.rounding,
                                                       other.overflow, other.affine)

    def describe(self) -> str:
        aff = f", affine={self.affine}" if self.affine else ""
        return (f"{self.where} (k={self.k}, i={self.i}, f={self.f}, {self.rounding.value}, "
                f"{self.overflow.value}{aff})")


@dataclass
class HgqLayer(FloatLayer):
    """A float layer read from an HGQ2 layer: ``kernel``, ``recurrent``, ``bias`` … hold HGQ2's
    quantized weights (exact); ``quant`` its datalane quantizers by HGQ2's role name (``iq``,
    ``sq``, ``paq``, ``praq``, ``rhq``); ``out_q`` the one quantizer HGQ2 applies to the
    layer's output before the next layer computes with it (the layer's ``oq`` and the next
    layer's ``iq``, which must agree), ``None`` when the output goes on unquantized."""
    quant: dict = field(default_factory=dict)
    out_q: QSpec | None = None


@dataclass
class HgqModel(FloatModel):
    """A :class:`~rnnrtl.frontend.FloatModel` of :class:`HgqLayer`; ``input_q`` quantizes the
    network input (the first layer's ``iq``). Converted with ``numerics: hgq2``."""
    input_q: QSpec | None = None
    #: The numerics profile this model's arithmetic needs (read by :func:`rnnrtl.quantize.quantize`).
    numerics: str = "hgq2"


# -- quantizers ------------------------------------------------------------------------------------

def _np(x) -> np.ndarray:
    from keras import ops
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def qspec(quantizer, where: str) -> QSpec:
    """The :class:`QSpec` of an HGQ2 ``Quantizer`` layer applied to a datalane tensor. Refuses a
    quantizer rnnrtl cannot reproduce, by name: not fixed point, scaled, per-element (lanes of
    different widths), zero bits, or an overflow / rounding mode rnnrtl has not."""
    inner = getattr(quantizer, "quantizer", None)
    q_type = getattr(getattr(quantizer, "config", None), "q_type", None)
    if inner is None or not hasattr(inner, "kif") or not hasattr(inner, "overflow_mode"):
        raise UnsupportedModelError(f"quantizer {where}: {q_type or type(inner).__name__} "
                                    "quantizers are not reproduced; supported: HGQ2's fixed-point "
                                    "quantizers (q_type 'kif' or 'kbi')")
    if getattr(quantizer, "scaler", None) is not None:
        raise UnsupportedModelError(f"quantizer {where}: scaler={quantizer.scaler} is not "
                                    "reproduced; supported: no scaler")
    k, i, f = (_np(v) for v in inner.kif)
    if not all(np.all(a == a.flat[0]) for a in (k, i, f)):
        raise UnsupportedModelError(
            f"quantizer {where}: per-element bit widths on a datalane tensor (k, i, f differ "
            f"between its elements: i in {int(i.min())}..{int(i.max())}, f in "
            f"{int(f.min())}..{int(f.max())}) are not supported; supported: one k, i, f per "
            "tensor (e.g. QuantizerConfig(place='datalane', heterogeneous_axis=())); per-weight "
            "widths of kernels and biases are supported")
    k, i, f = int(k.flat[0]), int(i.flat[0]), int(f.flat[0])
    rounding = str(inner.round_mode).upper().removeprefix("S_")  # stochastic in training only
    overflow = str(inner.overflow_mode).upper()
    if rounding not in _ROUNDING:
        raise UnsupportedModelError(f"quantizer {where}: round_mode {inner.round_mode!r} is not "
                                    f"reproduced; supported: {', '.join(_ROUNDING)}")
    if overflow not in _OVERFLOW:
        raise UnsupportedModelError(f"quantizer {where}: overflow_mode {inner.overflow_mode!r} is "
                                    f"not reproduced; supported: {', '.join(_OVERFLOW)}")
    if k + i + f <= 0:
        raise UnsupportedModelError(f"quantizer {where} has {k + i + f} bits (k={k}, i={i}, f={f}): "
                                    "every value becomes 0; not supported on a datalane tensor")
    affine = getattr(quantizer, "affine", None)
    affine = None if affine is None else (float(affine[0]), float(affine[1]))
    spec = QSpec(k, max(i, -f), f, _ROUNDING[rounding], _OVERFLOW[overflow], where, affine)
    spec.fmt  # noqa: B018  (refuses a quantizer without an rnnrtl format now, by name)
    return spec


def _weights(tensor) -> np.ndarray:
    """HGQ2's quantized weight tensor (each value exact in float32) as float64."""
    return _np(tensor)


# -- layers ----------------------------------------------------------------------------------------

def _activation(layer, attr: str = "activation") -> str:
    fn = getattr(layer, attr)
    name = getattr(fn, "__name__", str(fn))
    name = "linear" if name in ("linear", "identity", "None") else name
    if name not in _EXACT_ACTIVATIONS:
        raise UnsupportedModelError(
            f"layer {layer.name!r}: {attr}={name!r} is not reproduced bit for bit (HGQ2 evaluates "
            f"it in float32); supported: {', '.join(_EXACT_ACTIVATIONS)} — HGQ2's hard sigmoid / "
            "hard tanh are its quantizers (the QGRU defaults: activation='linear' with paq, "
            "recurrent_activation='linear' with praq)")
    return name


def _iq(layer, cell) -> QSpec | None:
    return qspec(cell.iq, f"{layer.name}.iq") if cell.enable_iq else None


def _dense(layer, features: int) -> HgqLayer:
    act = _activation(layer)
    quant = {"iq": _iq(layer, layer)}
    if layer.enable_oq:
        quant["oq"] = qspec(layer.oq, f"{layer.name}.oq")
    bias = _weights(layer.qbias) if layer.use_bias else None
    kernel = _weights(layer.qkernel)
    if kernel.ndim != 2 or kernel.shape[0] != features:
        raise UnsupportedModelError(f"layer {layer.name!r}: QDense kernel of shape {kernel.shape} "
                                    f"on {features} features is not supported (a 2-D kernel only)")
    return HgqLayer(kind="dense", name=layer.name, in_features=features, units=int(layer.units),
                    kernel=kernel.T, bias=bias, activation=act, quant=quant)


def _recurrent(layer, features: int) -> HgqLayer:
    cfg = layer.get_config()
    reject_options(layer.name, cfg)
    cell, name = layer.cell, layer.name
    quant = {"iq": _iq(layer, cell)}
    common = dict(name=name, in_features=features, units=int(cell.units),
                  kernel=_weights(cell.qkernel).T, recurrent=_weights(cell.qrecurrent_kernel).T,
                  return_sequences=bool(layer.return_sequences),
                  go_backwards=bool(layer.go_backwards))
    if type(layer).__name__ == "QSimpleRNN":
        act = _activation(cell)
        quant["paq"] = qspec(cell.paq, f"{name}.paq")
        if cell.enable_sq:
            quant["sq"] = qspec(cell.sq, f"{name}.sq")
        bias = _weights(cell.qbias) if cell.use_bias else None
        return HgqLayer(kind="simplernn", bias=bias, activation=act, quant=quant, **common)
    _activation(cell)
    _activation(cell, "recurrent_activation")
    for role in ("sq", "praq", "rhq", "paq"):
        quant[role] = qspec(getattr(cell, role), f"{name}.{role}")
    bias = recurrent_bias = None
    if cell.use_bias:
        b = _weights(cell.qbias)
        bias, recurrent_bias = (b[0], b[1]) if cell.reset_after else (b, None)
    return HgqLayer(kind="gru", bias=bias, recurrent_bias=recurrent_bias, activation="linear",
                    recurrent_activation="linear", reset_after=bool(cell.reset_after), quant=quant,
                    **common)


def _output_quantizer(layer: HgqLayer, nxt: HgqLayer | None) -> QSpec | None:
    """The one quantizer between ``layer``'s output and ``nxt``'s arithmetic: ``layer``'s ``oq``
    and ``nxt``'s ``iq`` (the same function twice is once, and so is an ``iq`` that keeps every
    value ``oq`` gives); two that differ otherwise are refused."""
    chain = [q for q in (layer.quant.get("oq"), nxt.quant.get("iq") if nxt else None) if q]
    if len(chain) == 2 and chain[0].affine is None and lossless(chain[0].fmt, chain[1].fmt):
        return chain[0]     # the input quantizer keeps every value of the output quantizer's
    if len(chain) == 2 and not chain[0].same(chain[1]):
        raise UnsupportedModelError(
            f"layer {nxt.name!r}: its input quantizer {chain[1].describe()} requantizes the output "
            f"quantizer {chain[0].describe()} of {layer.name!r}; rnnrtl requantizes once between "
            "layers: disable one of them (enable_oq=False or enable_iq=False) or make them equal")
    return chain[0] if chain else None


def from_hgq2(model) -> HgqModel:
    """Read an HGQ2 model (a ``keras.Model`` or a ``.keras`` path) into an :class:`HgqModel`.

    Raises :class:`~rnnrtl.errors.UnsupportedModelError` naming the layer (and quantizer) for
    anything whose arithmetic rnnrtl does not reproduce bit for bit."""
    import keras
    if isinstance(model, (str, os.PathLike)):
        check_model_path(Path(model))
    km = load_hgq2(model)
    layers = list(km.layers)
    for layer in layers:
        cls = type(layer).__name__
        if cls not in HGQ_LAYERS + PASSIVE_LAYERS:
            raise UnsupportedModelError(
                f"layer {layer.name!r} of type {cls} is not supported in an HGQ2 model; supported: "
                f"{', '.join(HGQ_LAYERS)} (and {', '.join(PASSIVE_LAYERS)})")
        if cls in HGQ_LAYERS and not is_hgq2_layer(layer):
            raise UnsupportedModelError(f"layer {layer.name!r}: class {cls} is not HGQ2's")
    if not isinstance(km, keras.Sequential):
        for prev, layer in zip(layers, layers[1:]):
            inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            if len(inputs) != 1 or inputs[0] is not prev.output:
                raise UnsupportedModelError(
                    f"layer {layer.name!r} is not fed by the layer before it ({prev.name!r}); only "
                    "single-chain models (Sequential or linear functional) are supported")
    shape = km.input_shape
    if isinstance(shape, list) or len(shape) != 3:
        raise UnsupportedModelError(f"input shape {shape} is not [batch, timesteps, features]; "
                                    "rnnrtl expects a sequence input")
    input_name = layers[0].name if type(layers[0]).__name__ == "InputLayer" else "input"
    out = HgqModel(name=km.name, input_name=input_name, timesteps=shape[1],
                   in_features=int(shape[2]), keras_model=km)
    features, sequence = out.in_features, True
    for layer in layers:
        cls = type(layer).__name__
        if cls in PASSIVE_LAYERS:
            continue
        if cls == "QDense":
            hl = _dense(layer, features)
        else:
            if not sequence:
                raise UnsupportedModelError(f"layer {layer.name!r}: a recurrent layer needs a "
                                            "sequence input; set return_sequences=True before it")
            hl = _recurrent(layer, features)
            sequence = hl.return_sequences
        out.layers.append(hl)
        features = hl.units
    if not out.layers:
        raise UnsupportedModelError("the model has no QGRU, QSimpleRNN or QDense layer")
    first = out.layers[0]
    if first.quant.get("iq") is None:
        raise UnsupportedModelError(f"layer {first.name!r}: the first layer must quantize the network "
                                    "input (enable_iq=True); rnnrtl's input is fixed point")
    out.input_q = first.quant["iq"]
    for layer, nxt in zip(out.layers, out.layers[1:] + [None]):
        layer.out_q = _output_quantizer(layer, nxt)
    return out
