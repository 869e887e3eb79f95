"""The PyTorch frontend (rnnrtl.torch_frontend; issue 19, item 5).

* The mapping is exact: the FloatModel it produces, run by :func:`float_forward` below (Keras
  semantics written here from the Keras documentation, sharing nothing with the mapping), equals
  torch's own forward in float64.
* The fixed-point design tracks torch's float output: max |emulated - float| <= 0.05 at
  fixed<32,16> (hls4ml's test tolerance, as in issue 19's checks).
* ``.pt2`` files convert from the command line, with torch's float outputs for ``--data``; what
  cannot be followed is refused by name with exit status 2 and one line; a ``.pt`` pickle is
  refused unopened (unsafe ``.pt2`` archives: tests/test_torch_archive.py).
* One torch GRU on Verilator: RTL == emulator, cycles == manifest.
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import rnnrtl  # noqa: E402
from rnnrtl import flow  # noqa: E402
from rnnrtl.errors import UnsupportedModelError  # noqa: E402
from rnnrtl.torch_frontend import from_torch, torch_outputs  # noqa: E402
from cli_helpers import assert_user_error, invoke  # noqa: E402
from torch_models import (F, T, Boom, Net, sample_x, save_pt2, seeded, torch_forward,  # noqa: E402
                          trained_tagger)

WIDE = {"precision": {"default": "fixed<32,16>", "activation": "fixed<24,4>"},
        "tables": {"sigmoid": {"size": 4096}, "tanh": {"size": 4096}}}


# -- an independent float forward of a FloatModel (Keras semantics) --------------------------------

def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


_ACT = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda v: np.maximum(v, 0),
        "linear": lambda v: v}


def _softmax(v):
    e = np.exp(v - v.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _step(layer, x, state):
    """One step of a Keras recurrent layer: kernel [G*N, F] (gates LSTM i f c o, GRU z r h)."""
    n = layer.units
    act, rec = _ACT[layer.activation], _ACT.get(layer.recurrent_activation or "linear")
    b = np.zeros(layer.kernel.shape[0]) if layer.bias is None else layer.bias
    if layer.kind == "simplernn":
        h = act(layer.kernel @ x + layer.recurrent @ state[0] + b)
        return h, (h,)
    if layer.kind == "lstm":
        h, c = state
        g = layer.kernel @ x + layer.recurrent @ h + b
        i, f, cc, o = (g[k * n:(k + 1) * n] for k in range(4))
        c = rec(f) * c + rec(i) * act(cc)
        h = rec(o) * act(c)
        return h, (h, c)
    (h,) = state
    rb = np.zeros(3 * n) if layer.recurrent_bias is None else layer.recurrent_bias
    xi = layer.kernel @ x + b
    hi = layer.recurrent @ h + rb
    z = rec(xi[:n] + hi[:n])
    r = rec(xi[n:2 * n] + hi[n:2 * n])
    hh = act(xi[2 * n:] + r * hi[2 * n:])
    h = z * h + (1 - z) * hh
    return h, (h,)


def _run(layer, seq):
    """A recurrent layer over ``seq`` (a list of vectors): its outputs, in processing order."""
    state = tuple(np.zeros(layer.units) for _ in range(2 if layer.kind == "lstm" else 1))
    hs = []
    for v in seq:
        h, state = _step(layer, v, state)
        hs.append(h)
    return hs


def _bidirectional(layer, seq):
    """Keras' Bidirectional(merge_mode='concat'): the backward layer runs on the reversed sequence;
    with return_sequences its outputs are reversed back into time order."""
    fwd, bwd = _run(layer.forward, seq), _run(layer.backward, seq[::-1])
    if not layer.return_sequences:
        return np.concatenate([fwd[-1], bwd[-1]]), False
    return [np.concatenate([f, b]) for f, b in zip(fwd, bwd[::-1])], True


def float_forward(model, x):
    """``model`` (a FloatModel) on ``x`` [batch, steps, features], in float64."""
    outs = []
    for sample in np.asarray(x, dtype=np.float64):
        seq, is_seq = list(sample), True
        for layer in model.layers:
            if layer.kind == "dense":
                def dense(v, layer=layer):
                    y = layer.kernel @ v + (0 if layer.bias is None else layer.bias)
                    return _softmax(y) if layer.activation == "softmax" else _ACT[layer.activation](y)
                seq = [dense(v) for v in seq] if is_seq else dense(seq)
                continue
            if layer.kind == "bidirectional":
                seq, is_seq = _bidirectional(layer, seq)
                continue
            hs = _run(layer, seq)
            seq, is_seq = (hs, True) if layer.return_sequences else (hs[-1], False)
        outs.append(np.array(seq))
    return np.array(outs)


# -- models ----------------------------------------------------------------------------------------

CASES = {
    "lstm": dict(kind="lstm"),
    "gru": dict(kind="gru"),
    "rnn_tanh": dict(kind="rnn_tanh"),
    "rnn_relu": dict(kind="rnn_relu", head="sigmoid"),
    "lstm_2_layers": dict(kind="lstm", layers=2, head="tanh"),
    "gru_2_layers_time_first": dict(kind="gru", layers=2, batch_first=False),
    "lstm_time_first_sequence": dict(kind="lstm", batch_first=False, last=False, head="relu"),
    "gru_no_bias": dict(kind="gru", bias=False, head="softmax"),
    "lstm_no_bias_sequence": dict(kind="lstm", bias=False, last=False),
    "rnn_relu_sequence": dict(kind="rnn_relu", last=False, head="tanh"),
    "gru_h_n": dict(kind="gru", layers=2, take="h_n", head="softmax"),
    "lstm_h_n": dict(kind="lstm", take="h_n"),
    "gru_dropout": dict(kind="gru", layers=2, dropout=0.3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mapping_is_exact_and_emulator_tracks_torch(case):
    kw = CASES[case]
    module = seeded(Net(**kw))
    batch_first = kw.get("batch_first", True)
    x = sample_x()
    model = from_torch(module, (T, F))
    # exactness of the mapping: the FloatModel, run by an independent float forward, is torch
    y64 = torch_forward(module, x, batch_first)
    np.testing.assert_allclose(float_forward(model.float_model, x), y64, atol=1e-9, rtol=0)
    # layers as expected: one per recurrent layer, then the Linear
    kinds = [l.kind for l in model.float_model.layers]
    rnn_kind = {"lstm": "lstm", "gru": "gru"}.get(kw["kind"], "simplernn")
    assert kinds == [rnn_kind] * kw.get("layers", 1) + ["dense"]
    # the float reference of a TorchModel (the exported program, float32) is torch
    np.testing.assert_allclose(torch_outputs(model, x), y64, atol=1e-5)
    # the fixed-point design tracks torch
    design = rnnrtl.convert(module, WIDE, input_shape=(T, F))
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnrtl.FixedPointOverflowWarning)
        y = design.emulate(x)
    assert y.shape == y64.shape
    assert np.abs(y - y64).max() <= 0.05
    # and at the default 16-bit formats, within the Keras frontend tests' tolerance
    assert np.abs(rnnrtl.convert(module, None, input_shape=(T, F)).emulate(x) - y64).max() < 0.03


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_trained_tagger_decisions_agree_at_default_formats(kind):
    """Issue 19's check on trained models: decisions agree with torch float on >= 99 % of the
    held-out digits at the default 16-bit formats."""
    from models import digits
    module, accuracy = trained_tagger(kind)
    assert accuracy > 0.8, accuracy      # a trained model (chance: 0.1)
    x = digits().x_test
    y_float = torch_forward(module, x, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rnnrtl.FixedPointOverflowWarning)
        y = rnnrtl.convert(module, None, input_shape=(8, 8)).emulate(x)
    assert np.mean(y.argmax(-1) == y_float.argmax(-1)) >= 0.99


def test_gate_order_and_biases_mapped():
    """Checked on the tensors themselves: LSTM biases summed, GRU r z n -> z r h with the two
    biases kept apart (input and recurrent)."""
    lstm = seeded(Net(kind="lstm", units=2))
    layer = from_torch(lstm, (T, F)).float_model.layers[0]
    r = lstm.rnn
    np.testing.assert_array_equal(layer.kernel, r.weight_ih_l0.detach().double().numpy())
    np.testing.assert_allclose(layer.bias, (r.bias_ih_l0 + r.bias_hh_l0).detach().double().numpy(),
                               atol=1e-7)
    gru = seeded(Net(kind="gru", units=2))
    layer = from_torch(gru, (T, F)).float_model.layers[0]
    r = gru.rnn
    w = r.weight_hh_l0.detach().double().numpy()
    np.testing.assert_array_equal(layer.recurrent[0:2], w[2:4])   # z
    np.testing.assert_array_equal(layer.recurrent[2:4], w[0:2])   # r
    np.testing.assert_array_equal(layer.recurrent[4:6], w[4:6])   # n
    np.testing.assert_array_equal(layer.recurrent_bias[4:6], r.bias_hh_l0.detach().double().numpy()[4:6])
    np.testing.assert_array_equal(layer.bias[0:2], r.bias_ih_l0.detach().double().numpy()[2:4])
    assert layer.reset_after


def test_convert_accepts_an_exported_program_and_checks_input_shape():
    module = seeded(Net(kind="lstm"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "_flat_weights assigned during export"
        program = torch.export.export(module, (torch.zeros(1, T, F),))
    x = sample_x(8)
    a = rnnrtl.convert(program, WIDE).emulate(x)
    b = rnnrtl.convert(module, WIDE, input_shape=(T, F)).emulate(x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(UnsupportedModelError, match=r"input_shape=\(7, 3\)"):
        rnnrtl.convert(program, WIDE, input_shape=(7, 3))
    with pytest.raises(UnsupportedModelError, match="needs input_shape"):
        rnnrtl.convert(module, WIDE)


# -- bidirectional ---------------------------------------------------------------------------------



class BiNet(nn.Module):
    """A bidirectional ``kind`` then Linear: on the sequence, or on both final states."""

    def __init__(self, kind="gru", layers=1, batch_first=True, last=True, bias=True):
        super().__init__()
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](
            F, 4, num_layers=layers, batch_first=batch_first, bias=bias, bidirectional=True)
        self.fc = nn.Linear(8, 3)
        self.last, self.lstm = last, kind == "lstm"

    def forward(self, x):
        out, state = self.rnn(x)
        if not self.last:
            return self.fc(out)
        h = state[0] if self.lstm else state
        return torch.softmax(self.fc(torch.cat((h[-2], h[-1]), dim=-1)), dim=-1)


BI_CASES = {
    "gru_last": dict(kind="gru"),
    "lstm_last_2_layers": dict(kind="lstm", layers=2),
    "rnn_sequence_time_first": dict(kind="rnn", batch_first=False, last=False),
    "gru_2_layers_sequence_no_bias": dict(kind="gru", layers=2, last=False, bias=False),
}


@pytest.mark.parametrize("case", sorted(BI_CASES))
def test_bidirectional_mapping_is_exact_and_emulator_tracks_torch(case):
    kw = BI_CASES[case]
    module = seeded(BiNet(**kw))
    batch_first = kw.get("batch_first", True)
    x = sample_x()
    model = from_torch(module, (T, F))
    kinds = [l.kind for l in model.float_model.layers]
    assert kinds == ["bidirectional"] * kw.get("layers", 1) + ["dense"]
    y64 = torch_forward(module, x, batch_first)
    np.testing.assert_allclose(float_forward(model.float_model, x), y64, atol=1e-9, rtol=0)
    design = rnnrtl.convert(module, WIDE, input_shape=(T, F))
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnrtl.FixedPointOverflowWarning)
        y = design.emulate(x)
    assert np.abs(y - y64).max() <= 0.05


class BiLastStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True, bidirectional=True)

    def forward(self, x):
        out, h = self.rnn(x)
        return out[:, -1]


class BiWrongCat(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True, bidirectional=True)

    def forward(self, x):
        out, h = self.rnn(x)
        return torch.cat((h[-1], h[-2]), dim=-1)


@pytest.mark.parametrize("make, fragment", [
    (BiLastStep, "after one step only"), (BiWrongCat, "forward, then backward")])
def test_bidirectional_last_step_refused_unless_both_final_states(make, fragment):
    with pytest.raises(UnsupportedModelError, match=fragment):
        rnnrtl.convert(seeded(make()), None, input_shape=(T, F))


# -- refusals (API) --------------------------------------------------------------------------------

class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(F, F, 1)
        self.rnn = nn.GRU(F, 4, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(self.conv(x.transpose(1, 2)).transpose(1, 2))
        return out[:, -1]


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(x)
        return torch.cumsum(out[:, -1], dim=-1)


class InitialState(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True)
        self.h0 = nn.Parameter(torch.ones(1, 1, 4))

    def forward(self, x):
        out, _ = self.rnn(x, self.h0)
        return out[:, -1]


class ReturnsTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(F, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(x)


class Middle(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, 2])


class ActAfterRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(x)
        return torch.relu(out[:, -1])


class Packed(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 4, batch_first=True)

    def forward(self, x):
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        out, h = self.rnn(nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True))
        return h[-1]


REFUSED = {
    # name: (module factory, message fragments)
    "conv1d": (Conv, ("aten.conv1d", "conv (Conv1d)", "supported: nn.LSTM")),
    "custom_op": (Custom, ("aten.cumsum", "supported: nn.LSTM")),
    "bidirectional": (lambda: _bidi(), ("bidirectional=True",)),
    "proj_size": (lambda: _proj(), ("proj_size",)),
    "initial_state": (InitialState, ("initial state",)),
    "returns_tuple": (ReturnsTuple, ("returns", "outputs")),
    "middle_step": (Middle, ("select", "last step")),
    "activation_after_rnn": (ActAfterRnn, ("only directly after nn.Linear",)),
    "packed_sequence": (Packed, ("packed sequences", "not supported")),
}


class _Wrap(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)
        return out[:, -1]


def _bidi():
    return _Wrap(nn.LSTM(F, 4, batch_first=True, bidirectional=True))


def _proj():
    return _Wrap(nn.LSTM(F, 4, batch_first=True, proj_size=2))


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_by_name(case):
    make, fragments = REFUSED[case]
    with pytest.raises(UnsupportedModelError) as info:
        rnnrtl.convert(seeded(make()), None, input_shape=(T, F))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_keras_model_with_input_shape_refused():
    with pytest.raises(UnsupportedModelError, match="input_shape is for a PyTorch module"):
        rnnrtl.convert("model.keras", None, input_shape=(T, F))


# -- .pt2 files and the command line ---------------------------------------------------------------

def test_pt2_converts_from_the_command_line_with_torch_float_outputs(tmp_path):
    module = seeded(Net(kind="gru", head="softmax", layers=2))
    path = save_pt2(module, tmp_path / "tagger.pt2")
    x = sample_x(40)
    np.savez(tmp_path / "data.npz", x_test=x)
    result = invoke("convert", path, "-o", tmp_path / "out", "--data", tmp_path / "data.npz")
    assert result.exit_code == 0, result.output
    design = flow.load_saved(tmp_path / "out")
    assert design.network.out_features == 4 and design.network.timesteps == T
    # the report compared the design with torch's float outputs (computed here from the module)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    error = np.abs(design.emulate(x) - torch_forward(module, x, True)).max()
    assert report["max_abs_error"] == pytest.approx(error, abs=1e-5)
    assert report["samples"] == len(x)
    # and the loaded program is the module
    loaded = flow.load_model(path)
    np.testing.assert_allclose(flow.float_outputs(loaded, x), torch_forward(module, x, True), atol=1e-5)


def test_pt2_with_time_first_layout_and_sequence_output(tmp_path):
    """A batch_first=False program exported for a batch of 3 runs in chunks of 3 on rnnrtl's
    [batch, steps, features] data, and its sequence output comes back as [batch, steps, outputs]."""
    module = seeded(Net(kind="lstm", batch_first=False, last=False))
    path = save_pt2(module, tmp_path / "m.pt2", example=torch.zeros(T, 3, F))
    model = flow.load_model(path)
    assert model.batch == 3 and not model.batch_first
    x = sample_x(7)
    y = flow.float_outputs(model, x)
    assert y.shape == (7, T, 4)
    np.testing.assert_allclose(y, torch_forward(module, x, False), atol=1e-5)
    assert model.input_shape == (None, T, F) and model.output_shape == (None, T, 4)


def test_pt2_with_dynamic_batch(tmp_path):
    """Exported with a dynamic batch dimension: its shape expressions pass the check and the
    program runs on the whole data at once."""
    module = seeded(Net(kind="lstm", layers=2, head="sigmoid"))
    batch = torch.export.Dim("batch", min=1, max=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (torch.zeros(2, T, F),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp_path / "dyn.pt2"))
    model = flow.load_model(tmp_path / "dyn.pt2")
    assert model.batch is None
    x = sample_x(9)
    np.testing.assert_allclose(flow.float_outputs(model, x), torch_forward(module, x, True), atol=1e-5)


def test_decomposed_linear_and_softmax_with_the_recurrent_op_kept():
    """run_decompositions with the GRU kept out of its table: the initial state becomes
    aten.full(0), the Linear aten.addmm of a permuted weight, the softmax aten._softmax."""
    module = seeded(Net(kind="gru", layers=2, head="softmax"))
    table = torch.export.default_decompositions()
    for op in [op for op in table if "gru" in str(op)]:
        del table[op]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (torch.zeros(1, T, F),)).run_decompositions(table)
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert {"aten.full.default", "aten.addmm.default", "aten._softmax.default"} <= ops
    x = sample_x()
    model = from_torch(program)
    np.testing.assert_allclose(float_forward(model.float_model, x), torch_forward(module, x, True),
                               atol=1e-9, rtol=0)


def test_decomposed_program_refused_with_a_hint():
    module = seeded(Net(kind="gru"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (torch.zeros(1, T, F),)).run_decompositions()
    with pytest.raises(UnsupportedModelError, match="rnn .GRU.* decomposed into primitive ops"):
        rnnrtl.convert(program)


CLI_REFUSED = {
    "conv1d": (Conv, ("aten.conv1d", "conv (Conv1d)")),
    "custom_op": (Custom, ("aten.cumsum",)),
    "proj_size": (_proj, ("proj_size",)),
    "bidirectional": (_bidi, ("bidirectional=True",)),
}


@pytest.mark.parametrize("case", sorted(CLI_REFUSED))
def test_cli_refuses_unsupported_pt2(tmp_path, case):
    make, fragments = CLI_REFUSED[case]
    path = save_pt2(seeded(make()), tmp_path / f"{case}.pt2")
    result = invoke("convert", path, "-o", tmp_path / "out")
    assert_user_error(result, str(path), *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pickle_file_refused_without_unpickling(tmp_path, suffix):
    Boom.marker = str(tmp_path / "unpickled")
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(Boom()))
    result = invoke("convert", path, "-o", tmp_path / "out")
    assert_user_error(result, "torch pickle", "never unpickles", ".pt2")
    assert not (tmp_path / "unpickled").exists()
    # a torch.save zip renamed .pt2 is refused too, unopened by torch
    torch.save({"w": torch.zeros(2)}, tmp_path / "renamed.pt2")
    assert_user_error(invoke("convert", tmp_path / "renamed.pt2", "-o", tmp_path / "out"),
                      "not a PT2 archive")


def test_report_with_pt2_model_checks_shapes(tmp_path):
    module = seeded(Net(kind="gru"))
    path = save_pt2(module, tmp_path / "m.pt2")
    other = save_pt2(seeded(Net(kind="gru", outputs=3)), tmp_path / "other.pt2")
    assert invoke("convert", path, "-o", tmp_path / "out").exit_code == 0
    x = sample_x(10)
    np.savez(tmp_path / "d.npz", x_test=x)
    ok = invoke("report", tmp_path / "out", "--data", tmp_path / "d.npz", "--model", path)
    assert ok.exit_code == 0, ok.output
    assert_user_error(invoke("report", tmp_path / "out", "--data", tmp_path / "d.npz", "--model",
                             other), "output shape", "[batch, 3]")


# -- Verilator: a torch GRU, RTL == emulator -------------------------------------------------------

@pytest.mark.slow
def test_torch_gru_bit_exact_on_verilator_through_the_cli(tmp_path):
    """``rnnrtl convert model.pt2`` then ``rnnrtl simulate``: every output lane equal to the
    emulator's integers under random stalls, latency and II equal to the manifest's."""
    module = seeded(Net(kind="gru", units=4, outputs=2, head="sigmoid"))
    path = save_pt2(module, tmp_path / "gru.pt2")
    np.savez(tmp_path / "d.npz", x_test=sample_x(16))
    out = tmp_path / "out"
    converted = invoke("convert", path, "-o", out, "--data", tmp_path / "d.npz")
    assert converted.exit_code == 0, converted.output
    result = invoke("simulate", out, "--seed", 1, "--backpressure", 0.3, "--idle", 0.3)
    assert result.exit_code == 0, result.output
    timing = json.loads((out / "manifest.json").read_text())["timing"]
    assert "16 sequences, 0 mismatches" in result.output, result.output
    assert f"latency {timing['latency']} (manifest {timing['latency']})" in result.output
    assert f"II {timing['ii']} (manifest {timing['ii']})" in result.output
