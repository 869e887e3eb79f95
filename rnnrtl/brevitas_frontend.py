"""Brevitas frontend: a quantization-aware PyTorch model (``brevitas.nn.QuantLSTM`` then
``QuantLinear`` layers) read from a live ``nn.Module``.

Brevitas trains a network whose forward pass is already fixed point when every quantizer has a
power-of-two scale (its ``…FixedPoint`` quantizers): a value is ``code · 2^-frac`` with ``code``
rounded by ``torch.round`` (half to even: ``RND_CONV``) and clamped to the quantizer's integer
range (saturation). This module reads such a model into a :class:`BrevitasModel`: float layers
whose weights are Brevitas' *quantized* weights (exact), each quantizer as a format, and each
quantized activation (``QuantSigmoid``, ``QuantTanh``) as its output code for *every* input code,
computed by the model's own quantizer module in float32, exactly as its forward pass computes it.
``numerics: brevitas`` (:mod:`rnnrtl.numerics.brevitas`) builds the IR; the arithmetic, and what
is refused, is in docs/numerics.md ("Brevitas").

Where Brevitas 0.13 quantizes (``brevitas/nn/quant_rnn.py``, ``quant_layer.py``; keep in sync):

* ``QuantLSTM`` (one layer, per step, gates i f g o): ``x = io(x)`` (input), per gate
  ``acc_k(W_k·x + U_k·h + b_k)``; ``i, f, o = sigmoid_quant(σ(·))``; ``g = tanh_quant(tanh(·))``;
  ``c = cs(cs(f·c) + cs(i·g))``; ``h = io(o · tanh_quant(tanh(c)))`` — the same ``io`` quantizer
  on the input and the output;
* ``QuantLinear``: ``output_quant(input_quant(x) @ W_q + b_q)``, then an activation module
  (``QuantReLU``, ``QuantSigmoid``, ``QuantTanh``: the function, then its quantizer;
  ``QuantIdentity``: a quantizer).

The chain of modules is found by running the model once on a random example with forward hooks:
every supported module must run once, in a chain (each one's input is the previous one's output,
or its last step after the ``QuantLSTM``), and the model's output must be the last one's. The same
run records the quantized weights and biases each layer used. No file is read: give the module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import UnsupportedModelError
from .fixed import FixedFormat, FixedPointError, Overflow, Rounding
from .frontend import FloatLayer, FloatModel
from .torch_ops import import_torch, sequence_shape

__all__ = ["BrevitasLayer", "BrevitasModel", "TableSpec", "is_brevitas_model", "from_brevitas",
           "LAYERS", "ACTIVATIONS", "PASSIVE"]

#: Brevitas modules read as layers, as activations after a ``QuantLinear``, and passive modules.
LAYERS = ("QuantLSTM", "QuantLinear")
ACTIVATIONS = ("QuantReLU", "QuantSigmoid", "QuantTanh", "QuantIdentity")
PASSIVE = ("Dropout", "Identity")
#: ``float_to_int_impl`` of a Brevitas integer quantizer -> rnnrtl's rounding.
_ROUNDING = {"RoundSte": Rounding.RND_CONV, "FloorSte": Rounding.TRN,
             "RoundToZeroSte": Rounding.TRN_ZERO}
#: Widest input of a quantized activation evaluated on every code (bits).
MAX_TABLE_BITS = 16
_SUPPORTED = ("supported: Brevitas fixed-point quantizers with one power-of-two scale per tensor "
              "and zero point 0 (Int8WeightPerTensorFixedPoint, Int8ActPerTensorFixedPoint, "
              "Uint8ActPerTensorFixedPoint, Int8BiasPerTensorFixedPointInternalScaling, Int32Bias "
              "on fixed-point inputs and weights, or their bit-width variants)")


@dataclass(frozen=True)
class TableSpec:
    """A quantized activation: ``out_codes[k]`` (codes with ``out_frac`` fractional bits) is its
    output for the ``k``-th code of ``in_fmt`` (from ``min_code`` up)."""
    function: str
    in_fmt: FixedFormat
    out_codes: np.ndarray = field(repr=False)
    out_frac: int
    out_fmt: FixedFormat
    where: str


@dataclass
class BrevitasLayer(FloatLayer):
    """A float layer read from Brevitas modules: ``kernel``, ``recurrent``, ``bias`` hold the
    quantized weights (exact); ``quant`` the datalane formats by role (LSTM: ``io``, ``gate``,
    ``c``; Dense: ``pre`` when the sum is quantized, ``out`` for a ``QuantReLU`` /
    ``QuantIdentity``); ``tables`` the quantized activations by role (LSTM: ``sigmoid``, ``g``,
    ``tanh_c``; Dense: ``out``)."""
    quant: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)


@dataclass
class BrevitasModel(FloatModel):
    """A :class:`~rnnrtl.frontend.FloatModel` of :class:`BrevitasLayer`; ``input_fmt`` quantizes
    the network input. Converted with ``numerics: brevitas``."""
    input_fmt: FixedFormat | None = None
    module: object = field(default=None, repr=False)
    #: The numerics profile this model's arithmetic needs (read by :func:`rnnrtl.quantize.quantize`).
    numerics: str = "brevitas"


def is_brevitas_model(model) -> bool:
    """Whether ``model`` is a torch module holding a Brevitas module. Never imports torch."""
    modules = getattr(model, "modules", None)
    if modules is None or type(model).__module__.split(".")[0] == "builtins":
        return False
    try:
        return any(type(m).__module__.split(".")[0] == "brevitas" for m in modules())
    except TypeError:
        return False


# -- quantizers ------------------------------------------------------------------------------------

def _tensor_quant(proxy):
    fused = getattr(proxy, "fused_activation_quant_proxy", None)
    return fused.tensor_quant if fused is not None else getattr(proxy, "tensor_quant", None)


def quant_format(proxy, where: str, tensor=None) -> FixedFormat:
    """The format of Brevitas quantizer ``proxy`` (a quant proxy module), its scale, zero point and
    width read from the proxy or from ``tensor``, a quantized tensor it produced (a bias, whose
    scale may be its input's: ``Int32Bias``, which cannot say it without an input). Refuses, by
    ``where``, a disabled quantizer and anything but a per-tensor power-of-two integer quantizer
    with zero point 0 rounding as rnnrtl can."""
    torch = import_torch()
    if proxy is None or not getattr(proxy, "is_quant_enabled", False):
        raise UnsupportedModelError(f"{where} is disabled (None): its values stay float; {_SUPPORTED}")
    tq = _tensor_quant(proxy)
    int_quant = getattr(tq, "int_quant", None)
    if int_quant is None or not hasattr(int_quant, "float_to_int_impl"):
        raise UnsupportedModelError(f"{where}: {type(tq).__name__} is not an integer quantizer; "
                                    f"{_SUPPORTED}")
    restricts = [type(m).__name__ for m in tq.modules() if type(m).__name__.endswith("RestrictValue")]
    if restricts and "PowerOfTwoRestrictValue" not in restricts:
        raise UnsupportedModelError(
            f"{where}: its scale is not restricted to powers of two "
            f"({', '.join(sorted(set(restricts)))}"
            f": a float scale, e.g. Int8ActPerTensorFloat); {_SUPPORTED}")
    rounding = _ROUNDING.get(type(int_quant.float_to_int_impl).__name__)
    if rounding is None:
        raise UnsupportedModelError(
            f"{where}: float_to_int_impl {type(int_quant.float_to_int_impl).__name__} is not "
            f"reproduced; supported: {', '.join(_ROUNDING)}")
    with torch.no_grad():
        if tensor is None:
            scale = proxy.scale()
            zero = proxy.zero_point() if hasattr(proxy, "zero_point") else None
            bits = proxy.bit_width()
        else:
            scale, zero, bits = tensor.scale, tensor.zero_point, tensor.bit_width
        scale = scale.detach().to(torch.float64).numpy()
    if scale.size != 1:
        raise UnsupportedModelError(f"{where}: {scale.size} scales (per channel); {_SUPPORTED}")
    if zero is not None and float(np.max(np.abs(zero.detach().numpy()))) != 0:
        raise UnsupportedModelError(f"{where}: zero point {zero.detach().numpy().ravel()[0]} is "
                                    f"not 0; {_SUPPORTED}")
    log = math.log2(float(scale.ravel()[0])) if float(scale.ravel()[0]) > 0 else math.nan
    if not log == int(log):
        raise UnsupportedModelError(f"{where}: scale {float(scale.ravel()[0])} is not a power of "
                                    f"two; {_SUPPORTED}")
    width, frac, signed = int(bits), -int(log), bool(int_quant.signed)
    narrow = bool(getattr(int_quant, "narrow_range", False))
    if narrow and not signed:
        raise UnsupportedModelError(f"{where}: an unsigned narrow-range quantizer is not "
                                    f"reproduced; {_SUPPORTED}")
    try:
        return FixedFormat(width, width - frac, signed, rounding,
                           Overflow.SAT_SYM if narrow else Overflow.SAT)
    except FixedPointError as e:
        raise UnsupportedModelError(f"{where} ({width} bits, scale 2^{-frac}) has no rnnrtl "
                                    f"format: {e}") from None


def _activation_kind(proxy) -> str:
    fused = getattr(proxy, "fused_activation_quant_proxy", None)
    impl = getattr(fused, "activation_impl", None)
    return "identity" if impl is None else type(impl).__name__.lower()


def _requantizer(proxy, where: str) -> FixedFormat:
    """The format of a quantizer that only requantizes (no activation function in front)."""
    kind = _activation_kind(proxy)
    if kind != "identity":
        raise UnsupportedModelError(f"{where}: applies {kind} before quantizing; expected a plain "
                                    "quantizer here")
    return quant_format(proxy, where)


def table_spec(function: str, proxy, in_fmt: FixedFormat, where: str) -> TableSpec:
    """Quantized activation ``proxy`` (its function, then its quantizer) on every code of
    ``in_fmt``, computed by the proxy itself on float32 values, as the model's forward pass does."""
    torch = import_torch()
    out_fmt = quant_format(proxy, where)
    if in_fmt.width > MAX_TABLE_BITS:
        raise UnsupportedModelError(
            f"{where}: its input has {in_fmt.width} bits; rnnrtl evaluates a quantized activation "
            f"on every input code, up to {MAX_TABLE_BITS} bits: quantize its input (an "
            "output_quant on the QuantLinear before it, e.g. Int8ActPerTensorFixedPoint)")
    every = np.arange(in_fmt.min_code, in_fmt.max_code + 1, dtype=np.float64)
    x = torch.from_numpy(np.ldexp(every, -in_fmt.frac_bits).astype(np.float32))
    fused = getattr(proxy, "fused_activation_quant_proxy", None) or proxy
    with torch.no_grad():
        y = fused(x)
    y = (y[0] if isinstance(y, tuple) else getattr(y, "value", y)).detach().to(torch.float64).numpy()
    scaled = np.ldexp(y, out_fmt.frac_bits)
    if not np.array_equal(scaled, np.round(scaled)):
        raise UnsupportedModelError(f"{where}: its outputs are not on its scale's grid")
    return TableSpec(function, in_fmt, np.round(scaled).astype(np.int64), out_fmt.frac_bits,
                     out_fmt, where)


# -- the chain, found by running the model ---------------------------------------------------------

@dataclass
class _Call:
    module: object
    name: str
    inputs: tuple
    kwargs: dict
    output: object
    captured: dict = field(default_factory=dict)   # quantized weights / biases: role -> tensor


def _value(t):
    from brevitas.quant_tensor import _unpack_quant_tensor
    return _unpack_quant_tensor(t)


def _modules(module, where_root: str):
    """The supported modules of ``module`` in definition order (Brevitas layers' insides left
    out); anything else is refused by name."""
    found, inside = [], []
    for name, m in module.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        cls = type(m).__name__
        ours = type(m).__module__.split(".")[0] == "brevitas"
        if ours and cls in LAYERS + ACTIVATIONS:
            found.append((name or where_root, m))
            inside.append(name)
        elif m is module and not ours or (cls in PASSIVE and type(m).__module__.startswith("torch.nn")):
            continue
        elif ours or not list(m.children()):
            raise UnsupportedModelError(
                f"module {name or where_root!r} ({cls}) is not supported in a Brevitas model; "
                f"supported: {', '.join(LAYERS)}, then {', '.join(ACTIVATIONS)} after a "
                f"QuantLinear (and {', '.join(PASSIVE)})")
    return found


def _run(module, modules, example):
    """Run ``module`` on ``example`` with hooks: the calls of ``modules`` in order, each with the
    quantized weights and biases it used, and the model's output."""
    torch = import_torch()
    calls, handles = [], []
    names = {id(m): n for n, m in modules}

    def layer_hook(m, args, kwargs, output):
        calls.append(_Call(m, names[id(m)], args, kwargs, output))

    def capture(owner, role):
        def hook(m, args, output):
            owner_calls[id(owner)][role] = output
        return hook

    owner_calls: dict = {}
    for name, m in modules:
        handles.append(m.register_forward_hook(layer_hook, with_kwargs=True))
        owner_calls[id(m)] = {}
        for role, sub in _weight_modules(m).items():
            if sub is not None:
                handles.append(sub.register_forward_hook(capture(m, role)))
    try:
        with torch.no_grad():
            out = module(example)
    finally:
        for h in handles:
            h.remove()
    for call in calls:
        call.captured = owner_calls[id(call.module)]
    return calls, out


_GATES = ("input", "forget", "cell", "output")   # Brevitas' gate names, in rnnrtl's order i f g o


def _weight_modules(m) -> dict:
    """The submodules whose outputs are a layer's quantized weights and biases, by role."""
    cls = type(m).__name__
    if cls == "QuantLinear":
        return {"kernel": m.weight_quant, "bias": m.bias_quant if m.bias is not None else None}
    if cls == "QuantLSTM":
        out = {}
        for layers in m.layers:
            for direction in layers:
                for gate in _GATES:
                    params = getattr(direction, f"{gate}_gate_params", None)
                    if params is None:
                        continue
                    out[f"{gate}.kernel"] = params.input_weight
                    out[f"{gate}.recurrent"] = params.hidden_weight
                    out[f"{gate}.bias"] = params.bias_quant if params.bias is not None else None
        return out
    return {}


def _np(t) -> np.ndarray:
    torch = import_torch()
    return _value(t).detach().to(torch.float64).numpy()


def _same(a, b) -> bool:
    torch = import_torch()
    a, b = _value(a), _value(b)
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
        and bool(torch.equal(a, b))


# -- layers ----------------------------------------------------------------------------------------

def _scale_of(t):
    return getattr(t, "scale", None)


def _weights(call: _Call, role: str, where: str, proxy) -> np.ndarray | None:
    """A quantized weight or bias tensor the run used (its quantizer checked)."""
    t = call.captured.get(role)
    if t is None:
        return None
    quant_format(proxy, where, t if _scale_of(t) is not None else None)
    return _np(t)


def _lstm(call: _Call, features: int, steps: int) -> BrevitasLayer:
    m, name = call.module, call.name
    if len(m.layers) != 1:
        raise UnsupportedModelError(f"layer {name!r}: num_layers={len(m.layers)}; supported: 1 "
                                    "(stack QuantLSTM modules instead)")
    if len(m.layers[0]) != 1:
        raise UnsupportedModelError(f"layer {name!r}: bidirectional=True is not supported; "
                                    "supported: one direction")
    layer = m.layers[0][0]
    cell = layer.cell
    if layer.cifg:
        raise UnsupportedModelError(f"layer {name!r}: coupled_input_forget_gates=True (CIFG) is not "
                                    "supported; supported: four gates")
    if not cell.batch_first:
        raise UnsupportedModelError(f"layer {name!r}: batch_first=False is not supported; "
                                    "supported: batch_first=True ([batch, steps, features])")
    if any(a is not None for a in call.inputs[1:]) or any(v is not None for v in call.kwargs.values()):
        raise UnsupportedModelError(f"layer {name!r}: an initial state passed in (hx, cx) is not "
                                    "supported; the state starts at zero")
    q = lambda attr: f"{name}.{attr}"  # noqa: E731
    io = _requantizer(cell.output_quant, q("io_quant"))
    c_fmt = _requantizer(cell.cell_state_quant, q("cell_state_quant"))
    accs = {g: _requantizer(getattr(cell, f"{g}_acc_quant"), q(f"{g}_acc_quant")) for g in _GATES}
    gate = accs["input"]
    if any(fmt != gate for fmt in accs.values()):
        got = ", ".join(f"{g}: {fmt}" for g, fmt in accs.items())
        raise UnsupportedModelError(
            f"layer {name!r}: the gate accumulator quantizers differ ({got}); rnnrtl's LSTM has one "
            "gate format: build the QuantLSTM with shared_intra_layer_gate_acc_quant=True (or gate "
            "accumulator quantizers with one fixed scale)")
    sig = {g: table_spec("sigmoid", getattr(cell, f"{g}_sigmoid_quant"), gate,
                         q(f"{g}_sigmoid_quant")) for g in ("input", "forget", "output")}
    first = sig["input"]
    for g, spec in sig.items():
        if spec.out_frac != first.out_frac or not np.array_equal(spec.out_codes, first.out_codes):
            raise UnsupportedModelError(
                f"layer {name!r}: {spec.where} ({spec.out_fmt}) computes another function than "
                f"{first.where} ({first.out_fmt}); rnnrtl's LSTM has one sigmoid table for i, f "
                "and o: give the three sigmoid quantizers one fixed scale")
    tables = {"sigmoid": first,
              "g": table_spec("tanh", cell.cell_tanh_quant, gate, q("cell_tanh_quant")),
              "tanh_c": table_spec("tanh", cell.hidden_state_tanh_quant, c_fmt,
                                   q("hidden_state_tanh_quant"))}
    parts = {}
    for role in ("kernel", "recurrent", "bias"):
        per_gate = []
        for g in _GATES:
            params = getattr(layer, f"{g}_gate_params")
            attr = {"kernel": "input_weight.weight_quant", "recurrent": "hidden_weight.weight_quant",
                    "bias": "bias_quant"}[role]
            proxy = params.bias_quant if role == "bias" else params.input_weight.weight_quant
            per_gate.append(_weights(call, f"{g}.{role}", q(f"{g}_gate_params.{attr}"), proxy))
        parts[role] = None if per_gate[0] is None else np.concatenate(per_gate)
    return BrevitasLayer(kind="lstm", name=name, in_features=features, units=int(layer.hidden_size),
                         kernel=parts["kernel"], recurrent=parts["recurrent"], bias=parts["bias"],
                         activation="tanh", recurrent_activation="sigmoid", return_sequences=True,
                         quant={"io": io, "gate": gate, "c": c_fmt}, tables=tables)


def _dense(call: _Call, features: int, act: _Call | None) -> BrevitasLayer:
    m, name = call.module, call.name
    kernel = _weights(call, "kernel", f"{name}.weight_quant", m.weight_quant)
    if kernel is None or kernel.ndim != 2 or kernel.shape[1] != features:
        raise UnsupportedModelError(f"layer {name!r}: weight of shape "
                                    f"{None if kernel is None else kernel.shape} on {features} "
                                    "features")
    if m.bias is not None and not m.bias_quant.is_quant_enabled:
        raise UnsupportedModelError(f"layer {name!r}: bias_quant is None (a float bias); {_SUPPORTED}")
    bias = _weights(call, "bias", f"{name}.bias_quant", m.bias_quant)
    quant, tables, activation = {}, {}, "linear"
    if m.input_quant.is_quant_enabled:
        quant["in"] = _requantizer(m.input_quant, f"{name}.input_quant")
    if m.output_quant.is_quant_enabled:
        quant["pre"] = _requantizer(m.output_quant, f"{name}.output_quant")
    if act is not None:
        a, where = act.module, f"{act.name}.act_quant"
        if a.input_quant.is_quant_enabled:
            raise UnsupportedModelError(f"layer {act.name!r}: input_quant is not supported on an "
                                        f"activation; quantize the sum with {name}'s output_quant")
        cls = type(a).__name__
        if cls == "QuantReLU":
            if _activation_kind(a.act_quant) != "relu":
                raise UnsupportedModelError(f"{where}: {_activation_kind(a.act_quant)} is not ReLU")
            activation, quant["out"] = "relu", quant_format(a.act_quant, where)
        elif cls == "QuantIdentity":
            quant["out"] = _requantizer(a.act_quant, where)
        else:
            activation = "sigmoid" if cls == "QuantSigmoid" else "tanh"
            if "pre" not in quant:
                raise UnsupportedModelError(
                    f"layer {act.name!r} ({cls}) reads {name}'s unquantized sum; rnnrtl evaluates "
                    "a quantized activation on every input code: give the QuantLinear an "
                    "output_quant (e.g. Int8ActPerTensorFixedPoint)")
            tables["out"] = table_spec(activation, a.act_quant, quant["pre"], where)
    return BrevitasLayer(kind="dense", name=name, in_features=features, units=int(kernel.shape[0]),
                         kernel=kernel, bias=bias, activation=activation, quant=quant, tables=tables)


def from_brevitas(module, input_shape, name: str | None = None) -> BrevitasModel:
    """Read a Brevitas model (a live ``nn.Module``; ``input_shape = (timesteps, features)``) into a
    :class:`BrevitasModel`. Raises :class:`~rnnrtl.errors.UnsupportedModelError` naming the module
    (and quantizer) for anything whose arithmetic rnnrtl does not reproduce bit for bit."""
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        raise UnsupportedModelError(f"expected a torch.nn.Module holding Brevitas layers, got "
                                    f"{type(module).__name__}")
    steps, features = sequence_shape(input_shape, "a Brevitas module")
    name = name or type(module).__name__
    modules = _modules(module, name)
    params = [p for p in module.parameters()]
    if any(p.dtype != torch.float32 for p in params):
        raise UnsupportedModelError(f"model {name!r}: parameters of dtype "
                                    f"{sorted({str(p.dtype) for p in params})}; supported: float32")
    was_training = module.training
    module.eval()
    try:
        gen = torch.Generator().manual_seed(0)
        example = torch.randn((2, steps, features), generator=gen, dtype=torch.float32)
        calls, out = _run(module, modules, example)
        return _chain(name, module, calls, example, out, steps, features)
    finally:
        module.train(was_training)


def _chain(name, module, calls, example, out, steps, features) -> BrevitasModel:
    """The layers of the run ``calls``, checked to form one chain from ``example`` to ``out``."""
    seen = {}
    for call in calls:
        if call.name in seen:
            raise UnsupportedModelError(f"module {call.name!r} runs more than once in the forward "
                                        "pass; supported: each module once, in a chain")
        seen[call.name] = call
    model = BrevitasModel(name=name, input_name="input", timesteps=steps, in_features=features,
                          module=module)
    prev, width, sequence, i = example, features, True, 0
    if calls and type(calls[0].module).__name__ == "QuantIdentity":
        head = calls[0]
        if not _same(head.inputs[0], example):
            raise UnsupportedModelError(f"module {head.name!r} does not read the model input")
        model.input_fmt = _requantizer(head.module.act_quant, f"{head.name}.act_quant")
        prev, i = head.output, 1
    while i < len(calls):
        call = calls[i]
        cls = type(call.module).__name__
        arg = call.inputs[0] if call.inputs else None
        if cls == "QuantLSTM":
            if model.layers or not sequence:
                raise UnsupportedModelError(f"layer {call.name!r}: rnnrtl reads one QuantLSTM, "
                                            "first in the model (then QuantLinear layers)")
            if not _same(arg, prev):
                raise UnsupportedModelError(f"layer {call.name!r} does not read the model input")
            layer = _lstm(call, width, steps)
            seq = call.output[0]
            prev, width = seq, layer.units
            model.layers.append(layer)
            i += 1
            continue
        if cls != "QuantLinear":
            raise UnsupportedModelError(f"module {call.name!r} ({cls}) must follow a QuantLinear; "
                                        f"supported: {', '.join(LAYERS)}")
        if not model.layers:
            raise UnsupportedModelError(f"layer {call.name!r}: the model must start with a "
                                        "QuantLSTM (after an optional QuantIdentity)")
        last = model.layers[-1]
        if last.kind == "lstm" and sequence and _same(arg, _value(prev)[:, -1]):
            last.return_sequences, sequence = False, False
        elif not _same(arg, prev):
            raise UnsupportedModelError(
                f"layer {call.name!r} does not read the output of {last.name!r}"
                f"{' or its last step (out[:, -1])' if last.kind == 'lstm' else ''}; supported: "
                "one chain of modules")
        act = None
        if i + 1 < len(calls) and type(calls[i + 1].module).__name__ in ACTIVATIONS:
            act = calls[i + 1]
            if not _same(act.inputs[0], call.output):
                raise UnsupportedModelError(f"module {act.name!r} does not read {call.name!r}'s output")
        model.layers.append(_dense(call, width, act))
        width = model.layers[-1].units
        prev = (act or call).output
        i += 2 if act else 1
    if not model.layers or model.layers[0].kind != "lstm":
        raise UnsupportedModelError(f"model {name!r} has no QuantLSTM; supported: a QuantLSTM, then "
                                    "QuantLinear layers")
    final = out[0] if isinstance(out, tuple) and len(model.layers) == 1 else out
    last = model.layers[-1]
    if last.kind == "lstm" and sequence and not _same(final, prev) and \
            _same(final, _value(prev)[:, -1]):
        last.return_sequences = False
    elif not _same(final, prev):
        raise UnsupportedModelError(f"model {name!r} does not return the output of its last module "
                                    f"({calls[-1].name!r}); supported: one chain of modules")
    if model.input_fmt is None:
        model.input_fmt = model.layers[0].quant["io"]
    return model
