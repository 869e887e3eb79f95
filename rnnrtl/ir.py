"""The quantized intermediate representation: what the emulator and the hardware both consume.

Every value that is requantized has a named :class:`~rnnrtl.fixed.FixedFormat` here; weights are
integer codes; activation tables are integer arrays. The numbers are fixed when the IR is built
(:mod:`rnnrtl.quantize`); neither consumer computes any of them again.

Named points (``<layer>.<point>``, as in traces and overflow reports) per layer kind — the exact
arithmetic between them is in ``docs/numerics.md``:

* ``input`` — the network input, quantized from float.
* Dense: ``pre`` (``W·x + b`` requantized, the activation's input), ``out`` (the result).
* SimpleRNN: ``pre``, ``h``.
* LSTM: ``gate`` (the four gate pre-activations i f g o), ``i f g o`` (table outputs),
  ``c`` (cell state), ``tanh_c``, ``h``.
* GRU: ``gate`` (z, r pre-activations), ``z r``, ``rec`` (``U_h·h + b_rh`` with
  ``reset_after``, ``r ⊙ h`` without), ``cand`` (candidate pre-activation), ``hh``
  (candidate), ``h``.
* Bidirectional: the points of its two recurrent layers (each under its own name, e.g.
  ``forward_lstm.h``), then ``out``, the merge in the layer's output format (``result``): ``concat``
  requantizes each direction's ``h`` into it (an identity when the formats agree); ``sum``
  requantizes ``h_f + h_b``; ``ave`` the same sum read with one more fractional bit (one exact
  right shift, rounded as the format says); ``mul`` the product ``h_f · h_b``.

A recurrent layer with ``go_backwards`` reads its input sequence from the last step to the first
and, with ``return_sequences``, outputs its results in that (processing) order, as Keras does.

Each layer states its points' formats (:meth:`Dense.point_formats` …,
:meth:`Network.point_formats`). A layer's :class:`~rnnrtl.schedule.Schedule` (how it is folded in
time; re-exported here) never changes a number.

The IR round-trips through JSON plus an ``.npz`` for the arrays (:func:`save` / :func:`load`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .activations import SoftmaxTable, Table, TableGeometry
from .fixed import FixedFormat, IntType, Rounding
from .masking import mask_code
from .schedule import DEFAULT_ADDER_FANIN, Schedule

__all__ = ["Weights", "Activation", "Schedule", "Dense", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
           "MERGE_MODES", "Network",
           "matvec_type", "save", "load", "load_extra", "IR_VERSION"]

IR_VERSION = 1


@dataclass
class Weights:
    """An integer weight tensor in format ``fmt`` (matrices are ``[outputs, inputs]``)."""
    fmt: FixedFormat
    codes: np.ndarray = field(repr=False)

    @property
    def int_type(self) -> IntType:
        return self.fmt.int_type


@dataclass
class Activation:
    """An activation from codes with ``in_frac`` fractional bits to codes of ``out_fmt``.

    ``function`` is a Keras name. Table functions carry their :class:`Table` (whose output format
    is ``out_fmt``); ``relu`` and ``linear`` are requantizations (``relu`` zeroes negatives first);
    ``softmax`` is applied by the host to the layer's integer logits (see ``docs/numerics.md``),
    unless ``softmax`` holds integer tables (``numerics: hls4ml``, docs/hls4ml.md): then the layer
    outputs the probabilities ``softmax.apply(pre)`` in ``out_fmt``.
    """
    function: str
    in_frac: int
    out_fmt: FixedFormat
    table: Table | None = None
    softmax: SoftmaxTable | None = None


@dataclass
class _Layer:
    name: str
    in_features: int
    units: int
    input_fmt: FixedFormat
    output_fmt: FixedFormat
    schedule: Schedule

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    @property
    def points(self) -> tuple[str, ...]:
        """The named points of this layer, in computation order."""
        return tuple(f"{self.name}.{p}" for p in self.POINTS)

    def point_formats(self) -> dict[str, FixedFormat]:
        """The format of each named point (``<layer>.<point>``), in computation order.

        Keep in sync with the requantizations of :mod:`rnnrtl.emulator` (docs/numerics.md,
        "Operation order per layer")."""
        fmts = self._point_formats()
        return {f"{self.name}.{p}": fmts[p] for p in self.POINTS}

    def _point_formats(self) -> dict[str, FixedFormat]:
        raise NotImplementedError


@dataclass
class Dense(_Layer):
    """``out = act(requant_pre(W·x + b))``; applied to every time step of a sequence input."""
    kernel: Weights
    bias: Weights | None
    pre_fmt: FixedFormat
    activation: Activation
    #: ``numerics: hls4ml`` (docs/hls4ml.md): every product of a weight matrix with a vector, every
    #: bias, and the GRU ``r·rec`` product is requantized into this format before summing; the sum
    #: is requantized into it (the accumulator, WRAP) and then into the point's format. ``None``:
    #: exact sums (docs/numerics.md).
    product_fmt: FixedFormat | None = None
    POINTS = ("pre", "out")

    def _point_formats(self):
        return {"pre": self.pre_fmt, "out": self.output_fmt}

    @property
    def pre_type(self) -> IntType:
        return matvec_type(self.input_fmt, self.kernel, self.bias)


@dataclass
class _Recurrent(_Layer):
    kernel: Weights          # [G·N, F]
    recurrent: Weights       # [G·N, N]
    bias: Weights | None     # [G·N]
    return_sequences: bool
    #: Read the input sequence from its last step to its first (Keras ``go_backwards``); the
    #: outputs keep the processing order.
    go_backwards: bool = field(default=False, kw_only=True)


@dataclass
class SimpleRNN(_Recurrent):
    """``h = requant_h(act(requant_pre(W·x + U·h + b)))``."""
    pre_fmt: FixedFormat
    activation: Activation
    POINTS = ("pre", "h")
    GATES = 1

    def _point_formats(self):
        return {"pre": self.pre_fmt, "h": self.output_fmt}


@dataclass
class LSTM(_Recurrent):
    """Keras LSTM, gates in Keras order i, f, g (candidate), o."""
    gate_fmt: FixedFormat
    recurrent_activation: Activation  # i, f, o
    activation: Activation            # g
    state_fmt: FixedFormat            # c
    state_activation: Activation      # act(c)
    #: ``numerics: hls4ml`` (docs/hls4ml.md): every product of a weight matrix with a vector, every
    #: bias, and the GRU ``r·rec`` product is requantized into this format before summing; the sum
    #: is requantized into it (the accumulator, WRAP) and then into the point's format. ``None``:
    #: exact sums (docs/numerics.md).
    product_fmt: FixedFormat | None = None
    #: ``numerics: brevitas`` (docs/numerics.md, "Brevitas"): ``f·c`` and ``i·g`` are each
    #: requantized into ``state_fmt`` before their sum is (``c = q_c(q_c(f·c) + q_c(i·g))``);
    #: ``False``: one rounding of the exact sum.
    state_terms: bool = False
    POINTS = ("gate", "i", "f", "g", "o", "c", "tanh_c", "h")
    GATES = 4

    def _point_formats(self):
        sig = self.recurrent_activation.out_fmt
        return {"gate": self.gate_fmt, "i": sig, "f": sig, "g": self.activation.out_fmt, "o": sig,
                "c": self.state_fmt, "tanh_c": self.state_activation.out_fmt, "h": self.output_fmt}


@dataclass
class GRU(_Recurrent):
    """Keras GRU, gates in Keras order z, r, h; ``reset_after`` as in Keras."""
    recurrent_bias: Weights | None   # [3N], reset_after only
    reset_after: bool
    gate_fmt: FixedFormat             # z, r and candidate pre-activations
    recurrent_activation: Activation  # z, r
    activation: Activation            # candidate
    rec_fmt: FixedFormat              # U_h·h + b_rh (reset_after) or r ⊙ h (reset_before)
    #: ``numerics: hls4ml`` (docs/hls4ml.md): every product of a weight matrix with a vector, every
    #: bias, and the GRU ``r·rec`` product is requantized into this format before summing; the sum
    #: is requantized into it (the accumulator, WRAP) and then into the point's format. ``None``:
    #: exact sums (docs/numerics.md).
    product_fmt: FixedFormat | None = None
    POINTS = ("gate", "z", "r", "rec", "cand", "hh", "h")
    GATES = 3

    def _point_formats(self):
        sig = self.recurrent_activation.out_fmt
        return {"gate": self.gate_fmt, "z": sig, "r": sig, "rec": self.rec_fmt, "cand": self.gate_fmt,
                "hh": self.activation.out_fmt, "h": self.output_fmt}


#: Keras ``Bidirectional`` merge modes rnnrtl builds.
MERGE_MODES = ("concat", "sum", "ave", "mul")


@dataclass
class Bidirectional:
    """Keras ``Bidirectional``: two recurrent layers reading the same input, merged.

    ``forward`` and ``backward`` are complete recurrent IR layers (named as Keras names them,
    ``forward_<layer>`` / ``backward_<layer>``), each with its own ``go_backwards`` (the backward
    one's is set). With ``return_sequences`` the backward layer's outputs are re-reversed before
    the merge (output step ``t`` pairs ``forward``'s step ``t`` with ``backward``'s result for
    input step ``t``), as Keras does. ``units`` is the merged width: ``forward.units +
    backward.units`` for ``concat``, else the common width. The merge is the point ``out`` in
    ``output_fmt`` (see the module docstring)."""
    name: str
    in_features: int
    units: int
    input_fmt: FixedFormat
    output_fmt: FixedFormat
    forward: _Recurrent
    backward: _Recurrent
    merge_mode: str
    return_sequences: bool
    POINTS = ("out",)

    def __post_init__(self):
        if self.merge_mode not in MERGE_MODES:
            raise ValueError(f"layer {self.name!r}: merge_mode {self.merge_mode!r}; valid: "
                             f"{', '.join(MERGE_MODES)}")
        f, b = self.forward.units, self.backward.units
        if self.merge_mode != "concat" and f != b:
            raise ValueError(f"layer {self.name!r}: merge_mode {self.merge_mode!r} needs directions "
                             f"of equal width, got {f} and {b}")
        if self.units != (f + b if self.merge_mode == "concat" else f):
            raise ValueError(f"layer {self.name!r}: {self.units} units do not match the merge")

    @property
    def kind(self) -> str:
        return "bidirectional"

    @property
    def directions(self) -> tuple:
        return (self.forward, self.backward)

    @property
    def schedule(self) -> Schedule:
        """The forward layer's schedule (each direction has its own)."""
        return self.forward.schedule

    @property
    def points(self) -> tuple[str, ...]:
        return self.forward.points + self.backward.points + (f"{self.name}.out",)

    def point_formats(self) -> dict[str, FixedFormat]:
        out = {**self.forward.point_formats(), **self.backward.point_formats()}
        out[f"{self.name}.out"] = self.output_fmt
        return out


@dataclass
class Network:
    """A chain of layers from the quantized input to the output."""
    name: str
    timesteps: int | None
    in_features: int
    input_fmt: FixedFormat
    layers: list
    numerics: str = "default"
    config: dict = field(default_factory=dict)
    #: Keras ``Masking(mask_value)`` before the first layer (:mod:`rnnrtl.masking`), or ``None``.
    mask_value: float | None = None

    @property
    def mask_code(self) -> int | None:
        """The input code that marks a masked step (every feature equal to it), or ``None``."""
        if self.mask_value is None:
            return None
        return mask_code(self.mask_value, self.input_fmt)

    @property
    def out_features(self) -> int:
        return self.layers[-1].units

    @property
    def output_fmt(self) -> FixedFormat:
        return self.layers[-1].output_fmt

    @property
    def returns_sequence(self) -> bool:
        """Whether the output has one vector per time step (some layer keeps the sequence)."""
        seq = True
        for layer in self.layers:
            if isinstance(layer, (_Recurrent, Bidirectional)):
                seq = layer.return_sequences
        return seq

    @property
    def flat_layers(self) -> list:
        """The layers with each :class:`Bidirectional` replaced by its two recurrent layers: every
        layer that owns weights and a schedule, in order."""
        return [sub for layer in self.layers
                for sub in (layer.directions if isinstance(layer, Bidirectional) else (layer,))]

    @property
    def points(self) -> tuple[str, ...]:
        return ("input",) + tuple(p for layer in self.layers for p in layer.points)

    def point_formats(self) -> dict[str, FixedFormat]:
        """The format of every named point (``input``, ``<layer>.<point>``), in computation order."""
        out = {"input": self.input_fmt}
        for layer in self.layers:
            out.update(layer.point_formats())
        return out

    def layer(self, name: str):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers: {[l.name for l in self.layers]}")


def matvec_type(in_fmt: FixedFormat, weights: Weights, bias: Weights | None = None,
                extra: IntType | None = None) -> IntType:
    """The exact type of ``W·x (+ b) (+ extra)`` at full width, from the actual weight codes.

    Each output row's range is the sum over its weights of the extreme products, so the type is as
    narrow as these weights allow while holding every possible input. Used to size the hardware
    accumulators and to check that the numpy half is exact.
    """
    w = np.asarray(weights.codes, dtype=object)
    xlo, xhi = in_fmt.min_code, in_fmt.max_code
    hi_terms = np.maximum(w * xlo, w * xhi)
    lo_terms = np.minimum(w * xlo, w * xhi)
    prod_frac = in_fmt.frac_bits + weights.fmt.frac_bits
    frac = prod_frac
    if bias is not None:
        frac = max(frac, bias.fmt.frac_bits)
    if extra is not None:
        frac = max(frac, extra.frac)
    hi = hi_terms.sum(axis=1) << (frac - prod_frac)
    lo = lo_terms.sum(axis=1) << (frac - prod_frac)
    if bias is not None:
        b = np.asarray(bias.codes, dtype=object) << (frac - bias.fmt.frac_bits)
        hi, lo = hi + b, lo + b
    if extra is not None:
        hi = hi + (extra.max_value << (frac - extra.frac))
        lo = lo + (extra.min_value << (frac - extra.frac))
    return IntType.for_range(int(min(lo.min(), 0)), int(max(hi.max(), 0)), frac, True)


# -- serialization ---------------------------------------------------------------------------------

_CLASSES = {cls.__name__: cls for cls in
            (Weights, Activation, Schedule, Dense, SimpleRNN, LSTM, GRU, Bidirectional, Network, Table,
             TableGeometry, SoftmaxTable)}


def _encode(obj, arrays: dict, path: str):
    if isinstance(obj, np.ndarray):
        arrays[path] = obj
        return {"$array": path}
    if isinstance(obj, FixedFormat):
        return {"$fixed": str(obj)}
    if isinstance(obj, enum.Enum):
        return {"$enum": type(obj).__name__, "value": obj.value}
    if dataclasses.is_dataclass(obj):
        out = {"$type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = _encode(getattr(obj, f.name), arrays, f"{path}.{f.name}" if path else f.name)
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        return {k: _encode(v, arrays, f"{path}.{k}") for k, v in obj.items()}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$array" in obj:
        return np.asarray(arrays[obj["$array"]])
    if "$fixed" in obj:
        return FixedFormat.parse(obj["$fixed"])
    if "$enum" in obj:
        return {"Rounding": Rounding}[obj["$enum"]](obj["value"])
    if "$type" in obj:
        cls = _CLASSES[obj["$type"]]
        kwargs = {k: _decode(v, arrays) for k, v in obj.items() if k != "$type"}
        return cls(**kwargs)
    return {k: _decode(v, arrays) for k, v in obj.items()}


def save(network: Network, path, *, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``<path>.json`` and ``<path>.npz``; returns both paths. ``extra``: JSON-able facts
    kept beside the network (read back by :func:`load_extra`)."""
    path = Path(path)
    arrays: dict = {}
    doc = {"ir_version": IR_VERSION, "network": _encode(network, arrays, ""), "extra": extra or {}}
    json_path, npz_path = path.with_suffix(".json"), path.with_suffix(".npz")
    json_path.write_text(json.dumps(doc, indent=1))
    np.savez_compressed(npz_path, **arrays)
    return json_path, npz_path


def load(path) -> Network:
    """Read a network written by :func:`save` (``path`` with or without suffix)."""
    path = Path(path)
    doc = json.loads(path.with_suffix(".json").read_text())
    if doc.get("ir_version") != IR_VERSION:
        raise ValueError(f"{path}: IR version {doc.get('ir_version')!r}, this rnnrtl reads {IR_VERSION}")
    _fill_adder_fanin(doc["network"])
    with np.load(path.with_suffix(".npz")) as arrays:
        return _decode(doc["network"], dict(arrays))


def _fill_adder_fanin(network: dict):
    """Networks saved before ``Schedule.adder_fanin`` existed kept the fan-in in their configuration
    only: give every layer's schedule that value (or the default)."""
    fanin = network.get("config", {}).get("adder_fanin", DEFAULT_ADDER_FANIN)
    for layer in network.get("layers", []):
        layer.get("schedule", {}).setdefault("adder_fanin", fanin)


def load_extra(path) -> dict:
    """The ``extra`` facts saved with a network by :func:`save`."""
    return json.loads(Path(path).with_suffix(".json").read_text()).get("extra", {})
