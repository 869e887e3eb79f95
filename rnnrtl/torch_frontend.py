"""PyTorch frontend: an ``nn.Module`` or a ``torch.export`` program file (``.pt2``) normalised into
the same :class:`~rnnrtl.frontend.FloatModel` a Keras model becomes.

**How the module graph is followed.** A module is exported with
``torch.export.export(module, (example,))``; the exported program's graph (ATen ops) is walked
node by node and must be a single chain: ``aten.lstm`` / ``aten.gru`` / ``aten.rnn_tanh`` /
``aten.rnn_relu`` (the ops ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` export to; any ``num_layers``,
``batch_first`` either way, ``bias`` either way), ``aten.linear`` (or ``aten.addmm`` / ``aten.mm``
of a transposed weight, as ``run_decompositions`` leaves it when the recurrent ops are kept out of
its table), and elementwise ``relu`` / ``sigmoid`` /
``tanh`` and ``softmax`` on the last dimension directly after a linear layer. The last step is
taken by ``out[:, -1]`` / ``out[:, -1:]`` (``out[-1]`` when ``batch_first=False``) or from the
final hidden state (``h_n[-1]``, ``h_n.squeeze(0)``); without one the whole sequence is returned.
``bidirectional=True`` becomes a Bidirectional layer (``merge_mode='concat'``, the backward
direction a ``go_backwards`` layer, its outputs aligned in time as PyTorch and Keras both return
them; :class:`rnnrtl.frontend.FloatBidirectional`); its last step is
``torch.cat((h_n[-2], h_n[-1]), -1)`` (both directions' final states, Keras'
``return_sequences=False``), while ``out[:, -1]`` is refused: its backward half has seen one step
only. Any other op is refused with its name and the module it came from. Refused by name as well:
``proj_size``, an initial state passed in, a program exported in training mode with dropout, and
several inputs or outputs. ``dropout`` of an exported (eval-mode) module acts only in training
and is accepted.

**The mapping** (exact, in float64, before quantization): matrices stay ``[outputs, inputs]`` as
PyTorch stores them. LSTM gates i f g o are Keras' i f c o; PyTorch's two biases ``b_ih + b_hh``
are summed here and the sum is quantized once. GRU gates r z n are reordered to Keras' z r h, and
PyTorch's GRU is Keras' ``reset_after=True`` GRU: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
``h' = (1 - z) * n + z * h``, so ``b_ih`` is the input bias and ``b_hh`` the recurrent bias, kept
apart. ``nn.RNN``'s two biases are summed like the LSTM's.

**Loading a .pt2 safely**: :func:`load_pt2` refuses a pickle unopened and has
:func:`rnnrtl.torch_archive.check_pt2` read the archive before ``torch.export.load`` does.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UnsupportedModelError
from .frontend import FloatBidirectional, FloatLayer, FloatModel
from .torch_archive import check_pt2
from .torch_ops import (ACTIVATION_OPS, CAT_OPS, IDENTITY_OPS, LAST_STEP_OPS, LINEAR_OPS, RNN_OPS,
                        SOFTMAX_OPS, STATE_OPS, SUPPORTED_OPS, SUPPORTED_TEXT, TRANSPOSE_OPS,
                        import_torch, sequence_shape, unsupported_op)


__all__ = ["TorchModel", "is_torch_model", "load_pt2", "from_torch",
           "torch_outputs"]

_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


@dataclass
class TorchModel:
    """A PyTorch model normalised for rnnrtl: its exported program (the float reference), the
    :class:`FloatModel` it maps to, and how rnnrtl's ``[batch, steps, features]`` data enters it.

    ``input_shape`` / ``output_shape`` follow Keras' convention (``(None, T, F)``, ``(None, K)`` or
    ``(None, T, K)``) so :func:`rnnrtl.flow.check_model_matches` reads either kind."""
    name: str
    program: object = field(repr=False)      # torch.export.ExportedProgram
    float_model: FloatModel = field(repr=False)
    batch_first: bool = True
    batch: int | None = None                 # the program's fixed batch size; None: any
    output_shape: tuple = ()

    @property
    def input_shape(self) -> tuple:
        return (None, self.float_model.timesteps, self.float_model.in_features)


def is_torch_model(model) -> bool:
    """Whether ``model`` is for this frontend: a torch object, a :class:`TorchModel`, or a path
    whose suffix is ``.pt2`` or a torch pickle's (refused by :func:`load_pt2`). Never imports torch."""
    if isinstance(model, TorchModel):
        return True
    if isinstance(model, (str, Path)):
        return Path(model).suffix.lower() in (".pt2",) + _PICKLE_SUFFIXES
    return type(model).__module__.split(".")[0] == "torch" or any(
        c.__module__.startswith("torch.nn") for c in type(model).__mro__[1:])


def load_pt2(path) -> TorchModel:
    """A ``.pt2`` file (``torch.export.save``) checked by :func:`check_pt2`, loaded with
    ``torch.export.load`` and normalised. A pickle (``.pt``, ``.pth``, ...) is refused unopened."""
    path = Path(path)
    where = f"model file {str(path)!r}"
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise UnsupportedModelError(
            f"{where} is a torch pickle ({path.suffix}); rnnrtl never unpickles model files: "
            "export the model with torch.export.save(torch.export.export(model, (x,)), "
            "'model.pt2') and give the .pt2 file")
    if path.suffix.lower() != ".pt2":
        raise UnsupportedModelError(f"{where}: unknown PyTorch file type {path.suffix!r}; give a "
                                    ".pt2 file written by torch.export.save")
    check_pt2(path)
    torch = import_torch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(path)
    except Exception as e:  # noqa: BLE001 — torch raises many kinds for a damaged archive
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsupportedModelError(f"{where}: torch.export.load refused it: {first}") from None
    try:
        return from_torch(program, name=_identifier(path.stem))
    except UnsupportedModelError as e:
        raise UnsupportedModelError(f"{where}: {e}") from None


# -- the graph walk --------------------------------------------------------------------------------

@dataclass
class _Value:
    """What a graph value is, as far as the chain goes.

    ``kind``: ``"input"`` (the model input), ``"seq"`` (a sequence, time on ``time_dim``),
    ``"last"`` (one vector per sample: the last step), ``"rnn"`` (an RNN op's tuple), ``"h_n"`` (its
    final hidden states ``[layers, batch, units]``), ``"h_dir"`` (one direction's final state of a
    bidirectional layer), ``"other"`` (an unused output such as c_n).
    ``tip``: how many layers the chain had when the value was made (a value is used only at the tip)."""
    kind: str
    tip: int
    time_dim: int | None = None
    rnn: object = None      # the recurrent layer of an "rnn" / "h_n" / "seq" value
    keepdim: bool = False   # "last" taken by a slice: the step dimension is kept (size 1)
    direction: str = ""     # "h_dir" (one direction's final state): "forward" or "backward"


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text).strip("_") or "model"
    return name if not name[0].isdigit() else f"m_{name}"


class _Walker:
    """Turns an exported program's graph into float layers (see the module docstring)."""

    def __init__(self, program, name: str):
        self.program, self.name = program, name
        self.layers: list[FloatLayer] = []
        self.values: dict = {}
        self.weights: dict = {}            # node -> np.ndarray (parameters, constants, transposes)
        self.batch_first: bool | None = None
        self.names: set[str] = set()

    # -- helpers
    def fail(self, node, text: str):
        module = _module_of_node(node)
        raise UnsupportedModelError(f"{node.name}{f' in module {module}' if module else ''}: {text}")

    def layer_name(self, node, suffix: str = "") -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else node.name
        base = _identifier(str(path) + suffix)
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def value(self, node, node_user) -> _Value:
        if node not in self.values:
            self.fail(node_user, f"its input {getattr(node, 'name', node)!r} is not a value "
                                 "rnnrtl follows; supported: " + SUPPORTED_TEXT)
        v = self.values[node]
        if v.tip != len(self.layers) and v.kind != "rnn":
            self.fail(node_user, "the model is not a single chain (it uses a value from before the "
                                 "previous layer); supported: one chain of " + SUPPORTED_TEXT)
        return v

    def array(self, node, user) -> np.ndarray:
        if node not in self.weights:
            self.fail(user, f"{getattr(node, 'name', node)!r} is not a parameter of the model; "
                            "weights must be parameters or constants")
        return self.weights[node]

    # -- the walk
    def run(self) -> FloatModel:
        torch = import_torch()
        from torch.export.graph_signature import InputKind
        sig = self.program.graph_signature
        specs = {s.arg.name: s for s in sig.input_specs}
        user_inputs = [s for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
        if len(user_inputs) != 1:
            raise UnsupportedModelError(
                f"model {self.name!r} takes {len(user_inputs)} inputs; rnnrtl supports one input "
                "sequence (initial states passed in are not supported: the state starts at zero)")
        if len(sig.output_specs) != 1:
            raise UnsupportedModelError(
                f"model {self.name!r} returns {len(sig.output_specs)} outputs; rnnrtl supports "
                "one output tensor (return the sequence or the last step, not the RNN's tuple)")
        state = dict(self.program.state_dict)
        state.update(self.program.constants)
        shape = None
        for node in self.program.graph.nodes:
            if node.op == "placeholder":
                spec = specs[node.name]
                if spec.kind == InputKind.USER_INPUT:
                    val = node.meta.get("val")
                    shape = tuple(val.shape) if val is not None else None
                    if shape is None or len(shape) != 3:
                        raise UnsupportedModelError(
                            f"model {self.name!r}: input shape {shape} is not a 3-d sequence; "
                            "rnnrtl expects [batch, steps, features] (or [steps, batch, features] "
                            "with batch_first=False)")
                    self.values[node] = _Value("input", 0)
                else:
                    tensor = state.get(spec.target)
                    if isinstance(tensor, torch.Tensor):
                        self.weights[node] = tensor.detach().to(torch.float64).numpy()
            elif node.op == "call_function":
                self.call(node, str(node.target))
            elif node.op == "output":
                self.output(node)
            else:
                raise UnsupportedModelError(f"model {self.name!r}: graph node {node.name!r} "
                                            f"({node.op}) is not supported")
        return self.finish(shape)

    def call(self, node, op: str):
        args = node.args
        if op in STATE_OPS:   # zeros (an initial state of 0), or a size for one
            zeros = op == "aten.zeros.default" or (op == "aten.full.default" and args[1] == 0)
            self.values[node] = _Value("zeros" if zeros else "size", -1)
        elif op in RNN_OPS:
            self.rnn(node, RNN_OPS[op])
        elif getattr(node.target, "__name__", "") == "getitem":
            src = args[0]
            v = self.values.get(src)
            if v is None or v.kind != "rnn":
                self.fail(node, "indexing is supported only on an RNN's output tuple")
            if args[1] == 0:
                self.values[node] = _Value("seq", v.tip, time_dim=v.time_dim, rnn=v.rnn)
            elif args[1] == 1:
                self.values[node] = _Value("h_n", v.tip, rnn=v.rnn)
            else:
                self.values[node] = _Value("other", v.tip, rnn=v.rnn)
        elif op in TRANSPOSE_OPS:
            w = self.array(args[0], node)
            if op == "aten.permute.default" and list(args[1]) != [1, 0]:
                self.fail(node, f"permute{tuple(args[1])} of a weight is not a transpose")
            self.weights[node] = w.T
        elif op in LAST_STEP_OPS:
            self.last_step(node, op)
        elif op in CAT_OPS:
            self.cat(node)
        elif op in LINEAR_OPS:
            self.linear(node, op)
        elif op in ACTIVATION_OPS or op in SOFTMAX_OPS:
            self.activation(node, op)
        elif op in IDENTITY_OPS:
            if op == "aten.dropout.default" and len(args) > 2 and args[2]:
                self.fail(node, "dropout in training mode; export the module after module.eval()")
            self.values[node] = self.value(args[0], node)
        else:
            raise unsupported_op(op.removeprefix("torch.ops."), _module_of_node(node))

    def rnn(self, node, kind: str):
        x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first = node.args
        v = self.value(x, node)
        if train and dropout:
            self.fail(node, f"dropout={dropout} in training mode; export the module after "
                            "module.eval()")
        states = hx if isinstance(hx, (list, tuple)) else [hx]
        if any(getattr(self.values.get(h), "kind", None) != "zeros" for h in states):
            self.fail(node, "an initial state passed in (hx) is not supported; the state starts at "
                            "zero")
        if v.kind == "input":
            if self.batch_first is not None and self.batch_first != bool(batch_first):
                self.fail(node, "recurrent layers disagree on batch_first")
            self.batch_first = bool(batch_first)
        elif v.kind != "seq":
            self.fail(node, "a recurrent layer needs a sequence input; feed it the whole "
                            "sequence, not the last step")
        time_dim = 1 if batch_first else 0
        if v.kind == "seq" and v.time_dim != time_dim:
            self.fail(node, "its batch_first does not match the layout of its input sequence")
        if self.batch_first is None:
            self.batch_first = bool(batch_first)
        per_layer = 4 if has_biases else 2
        dirs = 2 if bidirectional else 1
        if len(params) != per_layer * num_layers * dirs:
            self.fail(node, f"{len(params)} weight tensors for {num_layers} layers: proj_size is "
                            "not supported (LSTM with a projection); use proj_size=0")
        features = self.layers[-1].units if self.layers else None
        for layer in range(num_layers):
            name = self.layer_name(node, f"_l{layer}" if num_layers > 1 else "")
            parts = []
            for d, suffix in zip(range(dirs), ("_forward", "_backward") if dirs == 2 else ("",)):
                first = per_layer * (dirs * layer + d)
                p = [self.array(t, node) for t in params[first:first + per_layer]]
                b_ih, b_hh = (p[2], p[3]) if has_biases else (None, None)
                gates = {"lstm": 4, "gru": 3}.get(kind, 1)
                units = p[1].shape[1]
                if p[1].shape[0] != gates * units or p[0].shape[0] != gates * units:
                    self.fail(node, f"weight shapes {p[0].shape} / {p[1].shape} do not fit "
                                    f"{kind}: proj_size is not supported; use proj_size=0")
                if features is not None and p[0].shape[1] != features:
                    self.fail(node, f"layer {layer} takes {p[0].shape[1]} features, its input "
                                    f"has {features}")
                sub = self.layer_name(node, f"_l{layer}{suffix}") if suffix else name
                parts.append(_recurrent_layer(kind, sub, p[0], p[1], b_ih, b_hh))
            if dirs == 2:
                forward, backward = parts
                backward.go_backwards = True   # PyTorch's reverse direction, outputs in time order
                self.layers.append(FloatBidirectional(
                    name=name, in_features=forward.in_features, units=2 * units, forward=forward,
                    backward=backward, merge_mode="concat", return_sequences=True))
            else:
                self.layers.append(parts[0])
            features = self.layers[-1].units
        self.values[node] = _Value("rnn", len(self.layers), time_dim=time_dim, rnn=self.layers[-1])

    def last_step(self, node, op: str):
        v = self.value(node.args[0], node)
        dims = [a for a in node.args[1:2]] if op != "aten.squeeze.dims" else list(node.args[1])
        dim = dims[0] if len(dims) == 1 else None
        steps = self.timesteps(node)
        if v.kind == "seq" and v.rnn is self.layers[-1] and dim is not None and \
                _is_bidirectional(v.rnn) and op in ("aten.select.int", "aten.slice.Tensor") and \
                dim % 3 == v.time_dim:
            self.fail(node, "the last step of a bidirectional=True layer's output sequence holds "
                            "its backward direction after one step only; take both directions' "
                            "final states, torch.cat((h_n[-2], h_n[-1]), -1), or the whole sequence")
        if v.kind == "h_n" and v.rnn is self.layers[-1] and _is_bidirectional(v.rnn) and \
                op == "aten.select.int" and dim is not None and dim % 3 == 0:
            count = 2 * self._rnn_layers(v.rnn)
            direction = {-2: "forward", count - 2: "forward", -1: "backward",
                         count - 1: "backward"}.get(node.args[2])
            if direction is None:
                self.fail(node, f"h_n[{node.args[2]}] is not the last layer's final state; take "
                                "torch.cat((h_n[-2], h_n[-1]), -1)")
            self.values[node] = _Value("h_dir", len(self.layers), rnn=v.rnn, direction=direction)
            return
        if v.kind == "seq" and v.rnn is self.layers[-1] and dim is not None:
            dim = dim % 3
            if op == "aten.select.int" and dim == v.time_dim and node.args[2] in (-1, steps - 1):
                self.values[node] = self.take_last(v, keepdim=False)
                return
            if op == "aten.slice.Tensor" and dim == v.time_dim and node.args[2] in (-1, steps - 1) \
                    and (len(node.args) < 4 or node.args[3] >= steps) and \
                    (len(node.args) < 5 or node.args[4] == 1):
                self.values[node] = self.take_last(v, keepdim=True)
                return
        if v.kind == "h_n" and v.rnn is self.layers[-1] and dim is not None and dim % 3 == 0:
            count = self._rnn_layers(v.rnn)
            if op == "aten.select.int" and node.args[2] in (-1, count - 1):
                self.values[node] = self.take_last(v, keepdim=False)
                return
            if op.startswith("aten.squeeze") and count == 1:
                self.values[node] = self.take_last(v, keepdim=False)
                return
        if v.kind == "last" and op == "aten.slice.Tensor" and node.args[1] == 0 and \
                node.args[2] in (0, None) and (len(node.args) < 4 or node.args[3] >= 2 ** 62):
            self.values[node] = v  # x[:, ...]: every sample (export writes it as a slice of dim 0)
            return
        if v.kind == "seq" and op == "aten.slice.Tensor" and node.args[1] % 3 != v.time_dim and \
                node.args[2] in (0, None) and (len(node.args) < 4 or node.args[3] >= 2 ** 62):
            self.values[node] = v  # a full slice of the batch dimension
            return
        self.fail(node, f"{op.removeprefix('aten.')}{tuple(node.args[1:])} is not supported; take "
                        "the last step (out[:, -1] with batch_first=True, out[-1] without, "
                        "h_n[-1]) or the whole sequence")

    def cat(self, node):
        """``torch.cat((h_n[-2], h_n[-1]), -1)`` of a bidirectional layer: its last step."""
        tensors, dim = node.args[0], node.args[1] if len(node.args) > 1 else 0
        values = [self.value(t, node) for t in tensors]
        if [v.kind for v in values] != ["h_dir", "h_dir"] or values[0].rnn is not values[1].rnn \
                or [v.direction for v in values] != ["forward", "backward"] or dim not in (-1, 1):
            self.fail(node, "torch.cat is supported only as torch.cat((h_n[-2], h_n[-1]), -1) of a "
                            "bidirectional layer (forward, then backward)")
        self.values[node] = self.take_last(values[0], keepdim=False)

    def _rnn_layers(self, last: FloatLayer) -> int:
        """How many layers the RNN op ending in ``last`` holds (its ``h_n`` has as many rows)."""
        for node, v in self.values.items():
            if v.kind == "rnn" and v.rnn is last:
                return node.args[4]
        return 1

    def timesteps(self, node) -> int:
        for n, v in self.values.items():
            if v.kind == "input":
                return int(n.meta["val"].shape[1 if self.batch_first else 0])
        return -1

    def take_last(self, v: _Value, keepdim: bool) -> _Value:
        for layer in (v.rnn, getattr(v.rnn, "forward", None), getattr(v.rnn, "backward", None)):
            if layer is not None:
                layer.return_sequences = False
        return _Value("last", len(self.layers), keepdim=keepdim)

    def linear(self, node, op: str):
        args = node.args
        if op == "aten.linear.default":
            x, w = args[0], self.array(args[1], node)
            b = self.array(args[2], node) if len(args) > 2 and args[2] is not None else None
        elif op == "aten.addmm.default":
            if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
                self.fail(node, "addmm with alpha or beta other than 1 is not supported")
            b, x, w = self.array(args[0], node), args[1], self.array(args[2], node).T
        else:
            x, w, b = args[0], self.array(args[1], node).T, None
        v = self.value(x, node)
        if v.kind not in ("seq", "last", "input"):
            self.fail(node, "nn.Linear must take the whole sequence or its last step")
        if w.ndim != 2 or (b is not None and b.shape != (w.shape[0],)):
            self.fail(node, f"weight shape {w.shape} is not [outputs, inputs]")
        features = self.layers[-1].units if self.layers else None
        if features is not None and w.shape[1] != features:
            self.fail(node, f"takes {w.shape[1]} features, its input has {features}")
        self.layers.append(FloatLayer(kind="dense", name=self.layer_name(node), in_features=w.shape[1],
                                      units=w.shape[0], kernel=w, bias=b, activation="linear"))
        self.values[node] = _Value(v.kind, len(self.layers), time_dim=v.time_dim, keepdim=v.keepdim)

    def activation(self, node, op: str):
        v = self.value(node.args[0], node)
        prev = self.layers[-1] if self.layers else None
        if prev is None or prev.kind != "dense" or prev.activation != "linear":
            self.fail(node, "an activation is supported only directly after nn.Linear")
        if op in SOFTMAX_OPS:
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            if dim is None or dim % node.args[0].meta["val"].dim() != \
                    node.args[0].meta["val"].dim() - 1:
                self.fail(node, f"softmax over dim {dim} is not supported; use dim=-1 (the features)")
            prev.activation = "softmax"
        else:
            prev.activation = ACTIVATION_OPS[op]
        self.values[node] = v

    def output(self, node):
        (outs,) = node.args
        out = outs[0] if isinstance(outs, (list, tuple)) else outs
        v = self.values.get(out)
        if v is None or v.kind not in ("seq", "last") or v.tip != len(self.layers):
            what = {"rnn": "an RNN's tuple", "h_n": "the final hidden state h_n",
                    "other": "the final cell state"}.get(getattr(v, "kind", None), "this value")
            raise UnsupportedModelError(
                f"model {self.name!r} returns {what}; rnnrtl supports a model that returns the "
                "sequence or its last step after " + SUPPORTED_TEXT)
        self.out = v

    def finish(self, shape) -> FloatModel:
        if not any(l.kind != "dense" for l in self.layers):
            raise UnsupportedModelError(f"model {self.name!r} has no nn.LSTM, nn.GRU or nn.RNN; "
                                        "supported: " + SUPPORTED_TEXT)
        for layer in self.layers:
            if layer.activation == "softmax" and layer is not self.layers[-1]:
                raise UnsupportedModelError(f"layer {layer.name!r}: softmax is supported on the "
                                            "final layer only")
        steps, features = (shape[1], shape[2]) if self.batch_first else (shape[0], shape[2])
        model = FloatModel(name=self.name, input_name="input", timesteps=int(steps),
                           in_features=int(features), layers=self.layers)
        self.batch = shape[0] if self.batch_first else shape[1]
        return model


def _is_bidirectional(layer) -> bool:
    return isinstance(layer, FloatBidirectional)


def _module_of_node(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, ty = list(stack.values())[-1]
    ty = getattr(ty, "__name__", str(ty)).rsplit(".", 1)[-1]
    return f"{path} ({ty})" if path else ""


def _recurrent_layer(kind, name, w_ih, w_hh, b_ih, b_hh) -> FloatLayer:
    """One PyTorch recurrent layer in Keras' form (see the module docstring for the mapping)."""
    units = w_hh.shape[1]
    common = dict(name=name, in_features=w_ih.shape[1], units=units, return_sequences=True)
    if kind == "gru":
        order = np.r_[units:2 * units, 0:units, 2 * units:3 * units]   # r z n -> z r h
        return FloatLayer(kind="gru", kernel=w_ih[order], recurrent=w_hh[order],
                          bias=None if b_ih is None else b_ih[order],
                          recurrent_bias=None if b_hh is None else b_hh[order],
                          activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                          **common)
    bias = None if b_ih is None else b_ih + b_hh     # one bias, quantized once
    if kind == "lstm":                                 # i f g o == Keras' i f c o
        return FloatLayer(kind="lstm", kernel=w_ih, recurrent=w_hh, bias=bias, activation="tanh",
                          recurrent_activation="sigmoid", **common)
    return FloatLayer(kind="simplernn", kernel=w_ih, recurrent=w_hh, bias=bias, activation=kind,
                      **common)


def from_torch(model, input_shape=None, name: str | None = None) -> TorchModel:
    """A :class:`TorchModel` from an ``nn.Module`` (exported here with an example of
    ``input_shape = (timesteps, features)``), a ``torch.export.ExportedProgram``, a ``.pt2`` path,
    or a :class:`TorchModel` (returned as it is)."""
    if isinstance(model, TorchModel):
        return model
    if isinstance(model, (str, Path)):
        loaded = load_pt2(model)
        if input_shape is not None:
            _check_shape(loaded, input_shape)
        return loaded
    torch = import_torch()
    if isinstance(model, torch.nn.Module):
        program = _export(torch, model, input_shape)
        name = name or _identifier(type(model).__name__)
    elif isinstance(model, torch.export.ExportedProgram):
        program = model
        name = name or "model"
    else:
        raise UnsupportedModelError(f"expected a torch.nn.Module, a torch.export.ExportedProgram "
                                    f"or a .pt2 path, got {type(model).__name__}")
    _check_ops(program)
    walker = _Walker(program, name)
    float_model = walker.run()
    out = walker.out
    units = float_model.layers[-1].units
    output_shape = (None, float_model.timesteps, units) if out.kind == "seq" else (None, units)
    result = TorchModel(name=name, program=program, float_model=float_model,
                        batch_first=walker.batch_first, batch=_static(walker.batch),
                        output_shape=output_shape)
    if input_shape is not None and not isinstance(model, torch.nn.Module):
        _check_shape(result, input_shape)
    return result


def _static(dim):
    return int(dim) if isinstance(dim, int) else None


def _check_shape(model: TorchModel, input_shape):
    if tuple(input_shape) != model.input_shape[1:]:
        raise UnsupportedModelError(f"input_shape={tuple(input_shape)} but the program takes "
                                    f"sequences of shape (timesteps, features) = {model.input_shape[1:]}")


def _check_ops(program):
    for node in program.graph.nodes:
        if node.op == "call_function":
            op = str(node.target)
            if op not in SUPPORTED_OPS and getattr(node.target, "__name__", "") != "getitem":
                raise unsupported_op(op, _module_of_node(node))


def _export(torch, module, input_shape):
    """``torch.export.export`` of ``module`` in eval mode with a zero example of one sequence."""
    steps, features = sequence_shape(input_shape, "a torch.nn.Module")
    rnns = [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]
    batch_first = rnns[0].batch_first if rnns else True
    example = torch.zeros((1, steps, features) if batch_first else (steps, 1, features))
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "_flat_weights assigned during export": harmless
            return torch.export.export(module, (example,))
    except Exception as e:  # noqa: BLE001 — export reports untraceable code in many ways
        if _packed_in(e.__traceback__, torch):
            raise UnsupportedModelError(
                f"module {type(module).__name__}: packed sequences (pack_padded_sequence) are not "
                "supported; give the recurrent layer the padded [batch, steps, features] tensor "
                "(every sequence is run for all its steps)") from None
        raise UnsupportedModelError(f"module {type(module).__name__}: torch.export could not trace "
                                    f"it with input shape {tuple(example.shape)}: "
                                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        module.train(was_training)


def _packed_in(tb, torch) -> bool:
    """Whether a frame of the traceback ``tb`` held a ``PackedSequence`` (export fails on one)."""
    packed = torch.nn.utils.rnn.PackedSequence
    while tb is not None:
        if any(isinstance(v, packed) for v in tb.tb_frame.f_locals.values()):
            return True
        tb = tb.tb_next
    return False


def torch_outputs(model: TorchModel, x) -> np.ndarray:
    """The float outputs of ``model``'s exported program on ``x`` (``[batch, steps, features]``),
    in rnnrtl's layout: ``[batch, outputs]`` or ``[batch, steps, outputs]``. A program exported for
    a fixed batch size runs on chunks of that size (the last one padded with zeros)."""
    torch = import_torch()
    x = np.asarray(x, dtype=np.float32)
    run = model.program.module()
    chunk = model.batch or len(x)
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            pad = chunk - len(part)
            if pad:
                part = np.concatenate([part, np.zeros((pad,) + part.shape[1:], np.float32)])
            t = torch.from_numpy(np.ascontiguousarray(part))
            if not model.batch_first:
                t = t.transpose(0, 1)
            y = run(t)
            y = y.detach().numpy().astype(np.float64)
            if len(model.output_shape) == 3 and not model.batch_first:
                y = np.swapaxes(y, 0, 1)
            outs.append(y.reshape((chunk,) + tuple(model.output_shape[1:]))[:len(x) - start])
    return np.concatenate(outs)
