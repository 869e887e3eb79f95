"""Keras 2 ``.h5`` files (read with h5py, never deserialised by Keras) and ``TimeDistributed(Dense)``.

The files under ``tests/fixtures/keras2/`` were written by real Keras 2 (``tf_keras`` 2.21, see
``scripts/make_keras2_fixtures.py``), with tf_keras' float outputs on fixed inputs beside them, so
these tests need no Keras 2. Refused options are checked on copies of a real file whose stored
JSON has one option changed.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.frontend import from_keras, load_keras  # noqa: E402
from cli_helpers import assert_user_error, invoke  # noqa: E402
import keras2_specs  # noqa: E402

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2"
NAMES = list(keras2_specs.SPECS)
#: The frontend tests' agreement bound between the emulator and Keras float (tests/test_frontend.py).
ATOL = 0.03


def _stored(name):
    with np.load(FIXTURES / f"{name}.npz") as npz:
        weights = [npz[f"weight_{k}"] for k in range(sum(key.startswith("weight_") for key in npz))]
        return npz["x"], npz["y"], weights


def _emulate(design, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnrtl.FixedPointOverflowWarning)
        return design.emulate(x)


def _saved(design, path):
    """The saved IR of ``design``: the JSON text and every array."""
    json_path, npz_path = design.save(path)
    with np.load(npz_path) as npz:
        return json_path.read_text(), {k: npz[k] for k in npz.files}


# -- the fixtures are what users have --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_a_keras2_file_keras3_refuses(name):
    path = FIXTURES / f"{name}.h5"
    with h5py.File(path, "r") as f:
        assert f.attrs["keras_version"].startswith("2.")
        config = f.attrs["model_config"]
        assert "model_weights" in f
    assert '"time_major": false' in config                  # Keras 2's legacy recurrent option
    # The symptom of issue 19: Keras 3 itself cannot load the file.
    with pytest.raises(Exception, match="time_major"):
        keras.models.load_model(path, compile=False)


# -- what converts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_keras2_file_converts_and_tracks_tf_keras(name):
    path = FIXTURES / f"{name}.h5"
    x, y_tf_keras, _ = _stored(name)
    design = rnnrtl.convert(path)
    y = _emulate(design, x)
    assert y.shape == y_tf_keras.shape
    assert np.abs(y - y_tf_keras).max() < ATOL
    # The float reference rnnrtl rebuilds computes what tf_keras computed.
    reference = from_keras(path).keras_model
    np.testing.assert_allclose(reference.predict(x, verbose=0), y_tf_keras, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_keras2_file_equals_the_same_model_in_keras3(name, tmp_path):
    path = FIXTURES / f"{name}.h5"
    x, _, weights = _stored(name)
    keras3 = keras2_specs.build(keras, name, keras2=False)
    keras3.set_weights(weights)
    expected = rnnrtl.convert(keras3)
    from_file = rnnrtl.convert(path)
    from_loaded = rnnrtl.convert(load_keras(path))      # the command line's path
    want = _saved(expected, tmp_path / "keras3")
    for k, design in enumerate((from_file, from_loaded)):
        got = _saved(design, tmp_path / f"keras2_{k}")
        assert got[0] == want[0]
        assert got[1].keys() == want[1].keys()
        for key in want[1]:
            assert np.array_equal(got[1][key], want[1][key]), key
        assert np.array_equal(design.run(x).codes, expected.run(x).codes)


def test_keras2_folding_and_names():
    model = from_keras(FIXTURES / "gru_reset_after.h5")
    assert [(l.kind, l.name, l.activation) for l in model.layers] == [
        ("gru", "gru", "tanh"), ("dense", "hidden", "relu"), ("dense", "out", "softmax")]
    assert model.layers[0].recurrent_bias is not None and model.timesteps == 8
    stacked = from_keras(FIXTURES / "stacked.h5")
    assert stacked.timesteps is None and stacked.input_name == "x"
    assert [(l.kind, l.name) for l in stacked.layers] == [("lstm", "lstm"), ("gru", "gru"),
                                                           ("dense", "per_step")]
    td = from_keras(FIXTURES / "time_distributed.h5")
    assert [(l.name, l.activation, l.bias is None) for l in td.layers] == [
        ("rnn", "tanh", True), ("td", "sigmoid", False)]


def test_cli_converts_a_keras2_file_with_data(tmp_path):
    x, y_tf_keras, _ = _stored("lstm")
    data = tmp_path / "data.npz"
    np.savez(data, x_test=x, labels=np.arange(len(x)) % 4)
    out = tmp_path / "out"
    result = invoke("convert", FIXTURES / "lstm.h5", "-o", out, "--data", data)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "report.json").read_text())
    # The float outputs the CLI computed (no y_keras given) are tf_keras' own.
    design = rnnrtl.convert(FIXTURES / "lstm.h5")
    expected = np.abs(design.emulate(x) - y_tf_keras).max()
    assert summary["max_abs_error"] == pytest.approx(expected, abs=1e-5)
    assert summary["max_abs_error"] < ATOL
    assert (out / "manifest.json").is_file()


# -- what is refused -------------------------------------------------------------------------------

def _edited(tmp_path, name, edit):
    """A copy of fixture ``name`` whose stored model configuration ``edit(config)`` changed."""
    path = tmp_path / f"{name}-edited.h5"
    shutil.copy(FIXTURES / f"{name}.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)
    return path


def _layer(config, name):
    return next(l for l in config["config"]["layers"] if l["config"]["name"] == name)


def _set(layer, **options):
    def edit(config):
        _layer(config, layer)["config"].update(options)
    return edit


def _wrap_activation(config):
    _layer(config, "per_step")["config"]["layer"] = {
        "class_name": "Activation", "config": {"name": "act", "activation": "relu"}}


def _inner_hard_sigmoid(config):
    _layer(config, "per_step")["config"]["layer"]["config"]["activation"] = "hard_sigmoid"


def _feed_from_input(config):
    _layer(config, "out")["inbound_nodes"] = [[["x", 0, 0, {}]]]


@pytest.mark.parametrize("name, edit, fragments", [
    ("lstm", _set("lstm", time_major=True), ["'lstm'", "time_major=True", "time_major=False"]),
    ("lstm", _set("lstm", stateful=True), ["'lstm'", "stateful=True", "stateful=False"]),
    ("lstm", _set("lstm", return_state=True), ["'lstm'", "return_state=True", "return_state=False"]),
    ("gru_reset_before", _set("gru", activation="elu"), ["'gru'", "activation='elu'", "tanh"]),
    ("stacked", _wrap_activation, ["'per_step'", "TimeDistributed(Activation)", "TimeDistributed(Dense)"]),
    ("stacked", _inner_hard_sigmoid, ["'per_step'", "activation='hard_sigmoid'", "Keras 2"]),
    ("simplernn", _feed_from_input, ["'out'", "not fed by the layer before it", "single-chain"]),
    ("lstm", _set("out", units=5), ["'out'", "(8, 5)", "inconsistent"]),
])
def test_refused_legacy_option_is_one_line_from_the_cli(tmp_path, name, edit, fragments):
    path = _edited(tmp_path, name, edit)
    out = tmp_path / "out"
    assert_user_error(invoke("convert", path, "-o", out), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("unroll", True), ("implementation", 1),
                                           ("dropout", 0.5), ("recurrent_dropout", 0.25)])
def test_legacy_options_without_effect_at_inference_are_accepted(tmp_path, option, value):
    path = _edited(tmp_path, "lstm", _set("lstm", **{option: value}))
    x, _, _ = _stored("lstm")
    assert np.array_equal(rnnrtl.convert(path).run(x).codes,
                          rnnrtl.convert(FIXTURES / "lstm.h5").run(x).codes)


def test_keras2_hard_sigmoid_is_refused():
    # Keras 2's hard_sigmoid is 0.2·x + 0.5, Keras 3's (rnnrtl's) x/6 + 0.5: never silently swapped.
    with pytest.raises(rnnrtl.UnsupportedModelError) as info:
        rnnrtl.convert(FIXTURES / "hard_sigmoid.h5")
    message = str(info.value)
    for fragment in ("'lstm'", "recurrent_activation='hard_sigmoid'", "Keras 2", "0.2·x + 0.5"):
        assert fragment in message


def test_keras2_lambda_is_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "lambda-ran"
    monkeypatch.setenv("RNNRTL_LAMBDA_MARKER", str(marker))
    assert_user_error(invoke("convert", FIXTURES / "lambda.h5", "-o", tmp_path / "out"),
                      "'sneaky'", "Lambda", "never run")
    with pytest.raises(rnnrtl.UnsupportedModelError, match="Lambda"):
        load_keras(FIXTURES / "lambda.h5")
    assert not marker.exists(), "the Lambda's code ran while rnnrtl inspected the file"


def test_keras1_file_and_missing_weights_are_refused(tmp_path):
    old = tmp_path / "old.h5"
    shutil.copy(FIXTURES / "lstm.h5", old)
    with h5py.File(old, "r+") as f:
        f.attrs["keras_version"] = "1.2.2"
    with pytest.raises(rnnrtl.UnsupportedModelError, match="Keras 1"):
        rnnrtl.convert(old)
    partial = tmp_path / "partial.h5"
    shutil.copy(FIXTURES / "lstm.h5", partial)
    with h5py.File(partial, "r+") as f:
        del f["model_weights"]["out"]
    with pytest.raises(rnnrtl.UnsupportedModelError, match="no weights stored for layer 'out'"):
        rnnrtl.convert(partial)


# -- TimeDistributed(Dense) in Keras 3 -------------------------------------------------------------

def _sequence_model(head):
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.LSTM(6, return_sequences=True, name="lstm"),
                              head], name="seq")
    return keras2_specs.seed_weights(model, seed=3)


@pytest.mark.parametrize("suffix", [None, ".keras", ".h5"])
def test_time_distributed_dense_is_a_dense_on_the_sequence(tmp_path, suffix):
    wrapped = _sequence_model(keras.layers.TimeDistributed(keras.layers.Dense(4, activation="relu"),
                                                           name="head"))
    plain = _sequence_model(keras.layers.Dense(4, activation="relu", name="head"))
    plain.set_weights(wrapped.get_weights())
    source = wrapped
    if suffix is not None:
        source = tmp_path / f"wrapped{suffix}"
        wrapped.save(source)
    design = rnnrtl.convert(source)
    got, want = _saved(design, tmp_path / "a"), _saved(rnnrtl.convert(plain), tmp_path / "b")
    assert got[0] == want[0] and all(np.array_equal(got[1][k], want[1][k]) for k in want[1])
    x = keras2_specs.inputs("lstm")
    assert np.abs(_emulate(design, x) - wrapped.predict(x, verbose=0)).max() < ATOL


@pytest.mark.parametrize("as_file", [False, True])
def test_time_distributed_of_anything_else_is_refused(tmp_path, as_file):
    source = _sequence_model(keras.layers.TimeDistributed(keras.layers.Activation("relu"), name="head"))
    if as_file:
        source.save(tmp_path / "m.keras")
        source = tmp_path / "m.keras"
    with pytest.raises(rnnrtl.UnsupportedModelError) as info:
        rnnrtl.convert(source)
    for fragment in ("'head'", "TimeDistributed(Activation)", "TimeDistributed(Dense)"):
        assert fragment in str(info.value)
