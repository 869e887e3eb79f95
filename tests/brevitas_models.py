"""Small Brevitas models for the ``numerics: brevitas`` tests (tests/test_brevitas*.py) and the jet
training script (scripts/train_brevitas_jet.py).

:func:`lstm_model` builds ``QuantLSTM → QuantLinear + QuantReLU → QuantLinear + QuantSigmoid``
with fixed-point quantizers, batch_first, taking the last step; :func:`trained` runs a few
training steps on random data (which also sets the activation quantizers' scales from their
statistics, so they differ from their initial values) and leaves the model in eval mode."""

from __future__ import annotations

import numpy as np
import torch
from brevitas.core.scaling import ScalingImplType
from brevitas.inject.enum import FloatToIntImplType
from brevitas.nn import QuantIdentity, QuantLinear, QuantLSTM, QuantReLU, QuantSigmoid
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8BiasPerTensorFixedPointInternalScaling,
                            Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint)


class SigmoidQuant(Uint8ActPerTensorFixedPoint):
    """The LSTM's sigmoid outputs on one constant scale, 2^-8 (so i, f and o share one table)."""
    scaling_impl_type = ScalingImplType.CONST
    scaling_init = 1.0


class Int6ActPerTensorFixedPoint(Int8ActPerTensorFixedPoint):
    bit_width = 6


class FloorInt8ActPerTensorFixedPoint(Int8ActPerTensorFixedPoint):
    """Rounds down (``torch.floor``), where the others round half to even."""
    float_to_int_impl_type = FloatToIntImplType.FLOOR


class RoundToZeroInt8ActPerTensorFixedPoint(Int8ActPerTensorFixedPoint):
    """Rounds toward zero (``torch.trunc``)."""
    float_to_int_impl_type = FloatToIntImplType.ROUND_TO_ZERO


class JetLSTM(torch.nn.Module):
    """``QuantLSTM(units)`` on ``[batch, steps, features]``, its last step into
    ``QuantLinear(hidden) + QuantReLU`` and ``QuantLinear(outputs) + QuantSigmoid``.
    ``state_quant``: the LSTM's gate accumulator, tanh and cell-state quantizer (default
    ``act_quant``); ``output_bias_quant``: the last QuantLinear's bias quantizer."""

    def __init__(self, features=6, units=20, hidden=64, outputs=1, act_quant=Int8ActPerTensorFixedPoint,
                 input_identity=False, dropout=0.0, state_quant=None,
                 output_bias_quant=Int8BiasPerTensorFixedPointInternalScaling):
        super().__init__()
        common = dict(weight_quant=Int8WeightPerTensorFixedPoint,
                      bias_quant=Int8BiasPerTensorFixedPointInternalScaling)
        # A bias quantizer whose scale is the input's (Int32Bias) needs a quantized tensor in.
        tensors = dict(return_quant_tensor=output_bias_quant is Int32Bias)
        state_quant = act_quant if state_quant is None else state_quant   # (an injector is falsy)
        self.quant_in = QuantIdentity(act_quant=act_quant) if input_identity else None
        # the input quantizer shared with the LSTM's io_quant (one quantization of the input)
        io_quant = self.quant_in.act_quant if input_identity else act_quant
        self.lstm = QuantLSTM(features, units, batch_first=True, io_quant=io_quant,
                              gate_acc_quant=state_quant, sigmoid_quant=SigmoidQuant,
                              tanh_quant=state_quant, cell_state_quant=state_quant,
                              shared_intra_layer_gate_acc_quant=True, **common)
        self.drop = torch.nn.Dropout(dropout)
        self.fc1 = QuantLinear(units, hidden, bias=True, **common)
        self.relu = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, **tensors)
        self.fc2 = QuantLinear(hidden, outputs, bias=True, output_quant=act_quant,
                               **dict(common, bias_quant=output_bias_quant))
        self.out = QuantSigmoid(act_quant=Uint8ActPerTensorFixedPoint)

    def forward(self, x):
        if self.quant_in is not None:
            x = self.quant_in(x)
        seq, _ = self.lstm(x)
        x = self.drop(seq[:, -1])
        return self.out(self.fc2(self.relu(self.fc1(x))))


def lstm_model(seed=0, **kwargs) -> JetLSTM:
    torch.manual_seed(seed)
    return JetLSTM(**kwargs)


def inputs(n, steps, features, seed=0, scale=1.5) -> np.ndarray:
    """Random float32 sequences; ``scale`` large enough that some saturate the input quantizer."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, steps, features)) * scale).astype(np.float32)


def trained(model: torch.nn.Module, x, y=None, *, steps=5, lr=1e-2, batch=64, seed=0):
    """``steps`` Adam steps of binary cross-entropy on ``x`` (labels ``y``, random if ``None``);
    the model is left in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    model.eval()
    with torch.no_grad():
        outputs = model(xt[:1]).shape[-1]
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32)).reshape(len(xt), -1) if y is not None \
        else (torch.rand((len(xt), outputs), generator=gen) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (min(batch, len(xt)),), generator=gen)
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    model.eval()
    return model


def reference(model: torch.nn.Module, x) -> np.ndarray:
    """Brevitas' own quantized forward pass on ``x``, as float64."""
    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(x, dtype=np.float32)))
    return out.detach().to(torch.float64).numpy()
