"""The ATen ops the PyTorch frontend follows (:mod:`rnnrtl.torch_frontend`), shared with the
``.pt2`` check that refuses any other op before a file is loaded (:mod:`rnnrtl.torch_archive`), and
how an unsupported op is reported."""

from __future__ import annotations

from .errors import UnsupportedModelError

__all__ = ["SUPPORTED_OPS", "SUPPORTED_TEXT", "import_torch", "module_of", "unsupported_op",
           "sequence_shape"]

#: ATen ops (as ``torch.export`` names them) a program may hold; anything else is refused.
RNN_OPS = {"aten.lstm.input": "lstm", "aten.gru.input": "gru",
           "aten.rnn_tanh.input": "tanh", "aten.rnn_relu.input": "relu"}
ACTIVATION_OPS = {"aten.relu.default": "relu", "aten.sigmoid.default": "sigmoid",
                  "aten.tanh.default": "tanh"}
SOFTMAX_OPS = ("aten.softmax.int", "aten._softmax.default")
LINEAR_OPS = ("aten.linear.default", "aten.addmm.default", "aten.mm.default")
TRANSPOSE_OPS = ("aten.t.default", "aten.permute.default", "aten.transpose.int")
LAST_STEP_OPS = ("aten.select.int", "aten.slice.Tensor", "aten.squeeze.dim", "aten.squeeze.dims")
CAT_OPS = ("aten.cat.default",)   # torch.cat((h_n[-2], h_n[-1]), -1): a bidirectional last step
IDENTITY_OPS = ("aten.dropout.default", "aten.clone.default", "aten.alias.default",
                "aten.detach.default", "aten.contiguous.default")
STATE_OPS = ("aten.zeros.default", "aten.full.default", "aten.sym_size.int")
SUPPORTED_OPS = tuple(RNN_OPS) + tuple(ACTIVATION_OPS) + SOFTMAX_OPS + LINEAR_OPS + \
    TRANSPOSE_OPS + LAST_STEP_OPS + CAT_OPS + IDENTITY_OPS + STATE_OPS + ("_operator.getitem",)
SUPPORTED_TEXT = ("nn.LSTM / nn.GRU / nn.RNN (tanh or relu), nn.Linear, nn.ReLU / nn.Sigmoid / "
                  "nn.Tanh / nn.Softmax(dim=-1) after a Linear, nn.Dropout, and taking the last "
                  "step (out[:, -1], out[-1], h_n[-1]; bidirectional: torch.cat((h_n[-2], "
                  "h_n[-1]), -1))")


def import_torch():
    """``torch``, or an :class:`UnsupportedModelError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise UnsupportedModelError("a PyTorch model needs torch: pip install 'rnnrtl[torch]'") from None
    return torch


def sequence_shape(input_shape, what: str) -> tuple[int, int]:
    """``(timesteps, features)`` of a PyTorch model's ``input_shape``, two whole numbers >= 1;
    ``what`` names the model in the refusal (:class:`~rnnrtl.errors.UnsupportedModelError`)."""
    if input_shape is None:
        raise UnsupportedModelError(f"{what} needs input_shape=(timesteps, features): "
                                    "rnnrtl.convert(module, config, input_shape=(T, F))")
    try:
        steps, features = (int(d) for d in input_shape)
        if steps < 1 or features < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise UnsupportedModelError(f"input_shape={input_shape!r}: give (timesteps, features), two "
                                    "whole numbers >= 1") from None
    return steps, features


def module_of(stack: str) -> str:
    """``'name (type)'`` of the innermost module in an ``nn_module_stack`` string, or ``''``."""
    last = stack.split(";")[-1].split(",") if stack else []
    if len(last) >= 3 and last[1]:
        return f"{last[1]} ({last[-1].rsplit('.', 1)[-1]})"
    return ""


def unsupported_op(op: str, module: str) -> UnsupportedModelError:
    """The error for an op outside :data:`SUPPORTED_OPS`, naming it and the module (``module_of``)
    it came from, with a hint for packed sequences and decomposed recurrent layers."""
    what = f" in module {module}" if module else ""
    hint = ""
    if "pack" in op:
        hint = " (packed sequences are not supported: give the padded tensor)"
    elif module.endswith(("(LSTM)", "(GRU)", "(RNN)")):
        hint = (" (the recurrent layer was decomposed into primitive ops, as run_decompositions "
                "does: give the program as torch.export.export returns it)")
    return UnsupportedModelError(f"op {op}{what} is not supported{hint}; supported: "
                                 f"{SUPPORTED_TEXT}")
