"""numerics: brevitas refuses, with one clear error naming the module and what is supported,
every Brevitas model whose arithmetic it does not reproduce bit for bit."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("brevitas") and pytest.importorskip("torch")

import brevitas_models as bm  # noqa: E402
from brevitas.nn import QuantLinear, QuantLSTM, QuantSigmoid  # noqa: E402
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8ActPerTensorFloat,  # noqa: E402
                            Int8BiasPerTensorFixedPointInternalScaling,
                            Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint)
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.errors import ConfigError, UnsupportedModelError  # noqa: E402

T, F = 5, 3
FIXED = dict(weight_quant=Int8WeightPerTensorFixedPoint,
             bias_quant=Int8BiasPerTensorFixedPointInternalScaling, io_quant=Int8ActPerTensorFixedPoint,
             gate_acc_quant=Int8ActPerTensorFixedPoint, sigmoid_quant=bm.SigmoidQuant,
             tanh_quant=Int8ActPerTensorFixedPoint, cell_state_quant=Int8ActPerTensorFixedPoint,
             shared_intra_layer_gate_acc_quant=True)


class Net(torch.nn.Module):
    """A QuantLSTM (options overriding :data:`FIXED`), its last step into ``head``."""

    def __init__(self, head=None, **options):
        super().__init__()
        torch.manual_seed(0)
        self.lstm = QuantLSTM(F, 4, batch_first=options.pop("batch_first", True),
                              **{**FIXED, **options})
        self.head = head

    def forward(self, x):
        seq, _ = self.lstm(x)
        last = seq[:, -1] if self.lstm.layers[0][0].cell.batch_first else seq[-1]
        return self.head(last) if self.head is not None else last


def _refused(model, *words, error=UnsupportedModelError, config=None):
    with pytest.raises(error) as info:
        rnnrtl.convert(model, config, input_shape=(T, F))
    text = str(info.value)
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("options, words", [
    (dict(io_quant=Int8ActPerTensorFloat), ("lstm.io_quant", "powers of two", "FixedPoint")),
    (dict(weight_quant=Int8WeightPerChannelFixedPoint),
     ("input_gate_params.input_weight.weight_quant", "per channel")),
    (dict(bidirectional=True), ("bidirectional=True", "one direction")),
    (dict(num_layers=2), ("num_layers=2", "supported: 1")),
    (dict(coupled_input_forget_gates=True), ("coupled_input_forget_gates", "four gates")),
    (dict(batch_first=False), ("batch_first=False", "batch_first=True")),
    (dict(cell_state_quant=None), ("lstm.cell_state_quant", "disabled")),
], ids=["float-scale", "per-channel", "bidirectional", "two-layers", "cifg", "batch-second",
        "float-cell-state"])
def test_lstm_options_refused(options, words):
    _refused(Net(**options), *words)


def test_gate_accumulators_that_differ_are_refused():
    net = Net(shared_intra_layer_gate_acc_quant=False)
    net.train()
    with torch.no_grad():   # training-mode passes set the scales from their statistics
        for seed in range(3):
            net(torch.from_numpy(bm.inputs(64, T, F, seed=seed, scale=0.5)))
    net.eval()
    cell = net.lstm.layers[0][0].cell
    with torch.no_grad():
        scales = {float(getattr(cell, f"{g}_acc_quant").scale()) for g in
                  ("input", "forget", "cell", "output")}
    assert len(scales) > 1     # (else this model would be supported)
    _refused(net, "gate accumulator quantizers differ", "shared_intra_layer_gate_acc_quant=True")


def test_float_module_in_chain_refused():
    _refused(Net(head=torch.nn.Linear(4, 1)), "'head'", "Linear", "QuantLinear")


def test_float_bias_refused():
    head = QuantLinear(4, 1, bias=True, weight_quant=Int8WeightPerTensorFixedPoint)
    _refused(Net(head=head), "head", "bias_quant is None")


def test_sigmoid_on_an_unquantized_sum_refused():
    head = torch.nn.Sequential(QuantLinear(4, 1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint),
                               QuantSigmoid(act_quant=Uint8ActPerTensorFixedPoint))
    _refused(Net(head=head), "head.1", "output_quant")


class NotAChain(Net):
    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.head(seq[:, -1] * 2)


def test_not_a_chain_refused():
    head = QuantLinear(4, 1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint)
    _refused(NotAChain(head=head), "'head'", "does not read the output of 'lstm'")


def test_formats_from_the_model_only():
    _refused(Net(), "precision", error=ConfigError,
             config={"layers": {"lstm": {"precision": {"state": "fixed<16,6>"}}}})
    _refused(Net(), "numerics: hgq2", "brevitas", error=ConfigError, config={"numerics": "hgq2"})


def test_input_shape_needed():
    with pytest.raises(UnsupportedModelError, match="input_shape"):
        rnnrtl.convert(Net())
