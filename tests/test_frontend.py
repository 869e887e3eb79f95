"""The Keras frontend: what is refused (with a message naming the layer, the option and what is
supported, and without running any code from the file) and what converts."""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings

import numpy as np
import pytest

import rnnrtl
from rnnrtl.frontend import SUPPORTED_LAYERS, from_keras

keras = pytest.importorskip("keras")

SEQ = (8, 8)


def _x(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n,) + SEQ)


def _close_to_keras(model, design=None, atol=0.03, x=None):
    """Convert (unless given) and check the emulator tracks Keras float."""
    design = design or rnnrtl.convert(model)
    x = _x() if x is None else x
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnrtl.FixedPointOverflowWarning)
        y = design.emulate(x)
    y_keras = model.predict(x, verbose=0)
    assert y.shape == y_keras.shape
    assert np.abs(y - y_keras).max() < atol
    return design


def _refused(model_or_path, *fragments):
    with pytest.raises(rnnrtl.UnsupportedModelError) as info:
        rnnrtl.convert(model_or_path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# -- code in model files is never run -------------------------------------------------------------

def _lambda_model(marker):
    """A model whose Lambda writes ``marker`` whenever it is executed."""
    fn = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), t)[1]")
    inp = keras.Input(SEQ, name="input")
    h = keras.layers.Lambda(fn, name="sneaky")(inp)
    h = keras.layers.LSTM(4, name="lstm")(h)
    return keras.Model(inp, keras.layers.Dense(2, name="out")(h))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_refused_without_running_it(tmp_path, suffix):
    marker = tmp_path / "lambda-ran"
    model = _lambda_model(marker)
    assert marker.exists()                        # building the model ran it: the marker works
    path = tmp_path / f"lambda{suffix}"
    model.save(path)
    marker.unlink()
    message = _refused(path, "'sneaky'", "Lambda", "never run")
    assert "LSTM" in message                      # says what is supported
    assert not marker.exists(), "the Lambda's code ran while rnnrtl inspected the file"
    # Loading it the unsafe way would run it (so the marker check above can fail).
    if suffix == ".keras":
        loaded = keras.models.load_model(path, safe_mode=False, compile=False)
        loaded.predict(_x(2), verbose=0)
        assert marker.exists()


EVIL_MODULE = """
import pathlib
import keras

pathlib.Path({imported!r}).write_text("imported")


@keras.saving.register_keras_serializable(package="rnnrtl_test_evil")
class Evil(keras.layers.Layer):
    def call(self, x):
        pathlib.Path({called!r}).write_text("called")
        return x
"""


def test_custom_layer_refused_without_importing_or_running_it(tmp_path, monkeypatch):
    imported, called = tmp_path / "imported", tmp_path / "called"
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "rnnrtl_test_evil_layer.py").write_text(
        textwrap.dedent(EVIL_MODULE.format(imported=str(imported), called=str(called))))
    monkeypatch.syspath_prepend(str(module_dir))
    evil = importlib.import_module("rnnrtl_test_evil_layer")
    inp = keras.Input(SEQ, name="input")
    h = keras.layers.LSTM(4, name="lstm")(evil.Evil(name="evil")(inp))
    model = keras.Model(inp, keras.layers.Dense(2, name="out")(h))
    path = tmp_path / "custom.keras"
    model.save(path)
    assert imported.exists() and called.exists()
    imported.unlink()
    called.unlink()
    monkeypatch.delitem(sys.modules, "rnnrtl_test_evil_layer")
    _refused(path, "'evil'", "custom object", "never run", "Supported layers")
    assert not imported.exists(), "the custom layer's module was imported"
    assert not called.exists(), "the custom layer's code ran"
    assert "rnnrtl_test_evil_layer" not in sys.modules


# -- unsupported layers and options ---------------------------------------------------------------

def _seq(*layers, input_shape=SEQ, **input_kw):
    return keras.Sequential([keras.Input(input_shape, **input_kw), *layers])


@pytest.mark.parametrize("make, name, cls", [
    (lambda: keras.layers.Conv1D(4, 3, padding="same", name="conv"), "conv", "Conv1D"),
    (lambda: keras.layers.LayerNormalization(name="norm"), "norm", "LayerNormalization"),
])
@pytest.mark.parametrize("as_file", [False, True])
def test_unsupported_layers_refused(tmp_path, make, name, cls, as_file):
    model = _seq(make(), keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(2, name="out"))
    source = model
    if as_file:
        source = tmp_path / "m.keras"
        model.save(source)
    message = _refused(source, f"'{name}'", cls, "not supported", "supported layers")
    assert all(s in message for s in SUPPORTED_LAYERS)


def test_return_state_fixture_refused(hls4ml_dir, tmp_path):
    message = _refused(hls4ml_dir / "x-digits-lstm-retstate.keras", "'lstm_7'", "return_state=True",
                       "return_state=False")
    assert "not supported" in message
    # ...and a model object built here.
    inp = keras.Input(SEQ)
    out, _, _ = keras.layers.LSTM(4, return_state=True, name="stateful_out")(inp)
    _refused(keras.Model(inp, keras.layers.Dense(2)(out)), "'stateful_out'", "return_state=True",
             "return_state=False")


def test_stateful_refused(tmp_path):
    model = _seq(keras.layers.GRU(4, stateful=True, name="keeps_state"), keras.layers.Dense(2),
                 input_shape=SEQ, batch_size=4)
    _refused(model, "'keeps_state'", "stateful=True", "stateful=False")
    path = tmp_path / "stateful.keras"
    model.save(path)
    _refused(path, "'keeps_state'", "stateful=True", "stateful=False")


@pytest.mark.parametrize("where", ["dense", "lstm", "recurrent"])
def test_unsupported_activation_refused(where):
    if where == "dense":
        layers = [keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(2, activation="elu", name="odd")]
    elif where == "lstm":
        layers = [keras.layers.LSTM(4, activation="elu", name="odd"), keras.layers.Dense(2)]
    else:
        layers = [keras.layers.GRU(4, recurrent_activation="elu", name="odd"), keras.layers.Dense(2)]
    key = "recurrent_activation" if where == "recurrent" else "activation"
    message = _refused(_seq(*layers), "'odd'", f"{key}='elu'", "not supported")
    assert all(a in message for a in ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear"))


def test_softmax_refused_on_a_non_final_layer():
    model = _seq(keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(6, activation="softmax", name="early"),
                 keras.layers.Dense(2, name="out"))
    _refused(model, "'early'", "softmax", "final layer")
    model = _seq(keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(6, name="d"),
                 keras.layers.Activation("softmax", name="early_act"), keras.layers.Dense(2, name="out"))
    _refused(model, "'early_act'", "softmax", "final layer")
    model = _seq(keras.layers.SimpleRNN(4, activation="softmax", name="rnn_sm"), keras.layers.Dense(2))
    _refused(model, "'rnn_sm'", "softmax")


def test_missing_file_and_wrong_suffix(tmp_path):
    missing = tmp_path / "nope.keras"
    _refused(missing, str(missing), "does not exist")
    other = tmp_path / "model.onnx"
    other.write_bytes(b"\x00not a keras model")
    _refused(other, "'.onnx'", ".keras", ".h5")
    bad = tmp_path / "broken.keras"
    bad.write_text("not a zip file")
    _refused(bad, "broken.keras", "not a .keras archive")
    with pytest.raises(rnnrtl.UnsupportedModelError, match="keras.Model or a .keras/.h5 path"):
        rnnrtl.convert(42)


# -- what converts --------------------------------------------------------------------------------

def _seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-0.8, 0.8, size=w.shape).astype(np.float32) for w in ws])
    return model


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_use_bias_false_converts(kind):
    extra = {"reset_after": False} if kind == "GRU" else {}
    model = _seeded(_seq(getattr(keras.layers, kind)(5, use_bias=False, name="rnn", **extra),
                         keras.layers.Dense(3, use_bias=False, name="out")))
    design = _close_to_keras(model)
    assert design.network.layer("rnn").bias is None and design.network.layer("out").bias is None
    if kind == "GRU":
        assert design.network.layer("rnn").recurrent_bias is None


def test_gru_reset_after_biases_split():
    model = _seeded(_seq(keras.layers.GRU(5, reset_after=True, name="rnn"), keras.layers.Dense(3)))
    design = _close_to_keras(model)
    b = model.layers[0].get_weights()[2]
    layer = design.network.layer("rnn")
    assert layer.reset_after and layer.bias.codes.shape == (15,) and layer.recurrent_bias.codes.shape == (15,)
    np.testing.assert_allclose(layer.bias.fmt.to_float(layer.bias.codes), b[0], atol=2 ** -10)
    np.testing.assert_allclose(layer.recurrent_bias.fmt.to_float(layer.recurrent_bias.codes), b[1], atol=2 ** -10)


def test_dropout_and_activation_layers_fold():
    model = _seeded(_seq(keras.layers.Dropout(0.3), keras.layers.LSTM(6, name="lstm"),
                         keras.layers.Dropout(0.5, name="drop"), keras.layers.Dense(8, name="hidden"),
                         keras.layers.Activation("relu", name="relu"), keras.layers.Dense(4, name="logits"),
                         keras.layers.Activation("softmax", name="sm")))
    design = _close_to_keras(model)
    net = design.network
    assert [l.name for l in net.layers] == ["lstm", "hidden", "logits"]
    assert net.layer("hidden").activation.function == "relu"
    assert net.layer("logits").activation.function == "softmax"
    np.testing.assert_allclose(design.emulate(_x()).sum(-1), 1.0, atol=1e-9)


def test_activation_layer_after_a_non_dense_is_refused():
    model = _seq(keras.layers.LSTM(6, name="lstm"), keras.layers.Activation("relu", name="act"))
    _refused(model, "'act'", "only directly after a Dense")


def test_stacked_lstm_gru_with_sequences_and_sequence_dense():
    model = _seeded(_seq(keras.layers.LSTM(6, return_sequences=True, name="l1"),
                         keras.layers.GRU(5, return_sequences=True, name="g2"),
                         keras.layers.Dense(3, activation="tanh", name="per_step")))
    design = _close_to_keras(model)
    net = design.network
    assert [(l.kind, l.units) for l in net.layers] == [("lstm", 6), ("gru", 5), ("dense", 3)]
    assert net.returns_sequence
    assert design.emulate(_x(3)).shape == (3, 8, 3)
    # Stacked, the last recurrent layer returning its final state only.
    model = _seeded(_seq(keras.layers.LSTM(6, return_sequences=True), keras.layers.GRU(5),
                         keras.layers.Dense(2, activation="sigmoid")), seed=3)
    design = _close_to_keras(model)
    assert not design.network.returns_sequence


def test_repeat_vector_refused():
    model = _seq(keras.layers.LSTM(6, name="l1"), keras.layers.RepeatVector(3, name="rep"),
                 keras.layers.GRU(5, name="g2"))
    _refused(model, "'rep'", "RepeatVector")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("api", ["sequential", "functional"])
def test_files_and_apis_convert(tmp_path, suffix, api):
    if api == "sequential":
        model = _seq(keras.layers.GRU(6, name="gru"), keras.layers.Dense(4, activation="softmax", name="out"))
    else:
        inp = keras.Input(SEQ, name="input")
        out = keras.layers.Dense(4, activation="softmax", name="out")(keras.layers.GRU(6, name="gru")(inp))
        model = keras.Model(inp, out)
    _seeded(model, seed=5)
    from_object = _close_to_keras(model)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    from_file = rnnrtl.convert(path)
    x = _x()
    assert np.array_equal(from_file.run(x).codes, from_object.run(x).codes)
    assert [l.name for l in from_file.network.layers] == ["gru", "out"]
    assert from_keras(path).in_features == 8 and from_keras(path).timesteps == 8


def test_variable_length_input_converts():
    model = _seeded(keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)]))
    design = rnnrtl.convert(model)
    assert design.network.timesteps is None
    for steps in (1, 5):
        x = np.random.default_rng(steps).uniform(-1, 1, size=(4, steps, 3))
        np.testing.assert_allclose(design.emulate(x), model.predict(x, verbose=0), atol=0.02)


def test_non_sequence_input_refused():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    _refused(model, "sequence")
