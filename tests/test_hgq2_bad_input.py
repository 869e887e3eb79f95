"""numerics: hgq2 refuses, by layer and quantizer, what it would not reproduce bit for bit."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("hgq")

import hgq2_models as hm  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.errors import ConfigError, RnnrtlError, UnsupportedModelError  # noqa: E402


def _gru_then(next_iq=None, *, units=3, activation="linear", last=False, dense_oq=None):
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense, QGRU
    tie = hm._per_tensor(i0=1, f0=5, trainable=False, overflow_mode="SAT")
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((4, 2))
        h = QGRU(units, sq_conf=tie, name="gru")(inp)
        if not last:
            kw = {"enable_oq": True, "oq_conf": dense_oq} if dense_oq is not None else {}
            h = QDense(2, activation=activation, iq_conf=next_iq or tie, name="dense", **kw)(h)
            h = QDense(1, name="out")(h)
    return keras.Model(inp, h, name="bad")


def test_state_quantizer_not_tied_to_next_input():
    other = hm._per_tensor(i0=1, f0=4, trainable=False, overflow_mode="SAT")
    with pytest.raises(UnsupportedModelError, match=r"layer 'gru'.*gru\.sq.*dense\.iq"):
        rnnrtl.convert(_gru_then(other))


def test_gru_output_unquantized():
    with pytest.raises(UnsupportedModelError, match=r"layer 'gru'.*unquantized"):
        rnnrtl.convert(_gru_then(last=True))


def test_float_activation_refused():
    with pytest.raises(UnsupportedModelError, match=r"layer 'dense'.*activation='tanh'.*linear, relu"):
        rnnrtl.convert(_gru_then(activation="tanh"))


def test_output_and_input_quantizers_differ():
    oq = hm._per_tensor(i0=2, f0=9, trainable=False)      # finer than out.iq: requantized twice
    with pytest.raises(UnsupportedModelError, match=r"layer 'out'.*out\.iq.*dense\.oq"):
        rnnrtl.convert(_gru_then(dense_oq=oq))


def test_per_lane_datalane_widths_refused():
    import keras
    from hgq.layers import QDense, QSimpleRNN
    inp = keras.Input((4, 3))
    h = QSimpleRNN(3, name="rnn")(inp)                 # HGQ2's default: one width per lane
    model = keras.Model(inp, QDense(1, name="out")(h))
    iq = model.get_layer("rnn").cell.iq.quantizer
    iq._f.assign(np.arange(iq._f.shape[-1]).reshape(iq._f.shape).astype("float32") + 2)
    with pytest.raises(UnsupportedModelError,
                       match=r"quantizer rnn\.iq: per-element.*one k, i, f per tensor"):
        rnnrtl.convert(model)


def test_wrap_sm_refused():
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((4, 3))
        out = QDense(1, iq_conf=hm._per_tensor(i0=2, f0=3, overflow_mode="WRAP_SM"), name="d")(inp)
    with pytest.raises(UnsupportedModelError, match=r"quantizer d\.iq: overflow_mode 'WRAP_SM'"):
        rnnrtl.convert(keras.Model(inp, out))


def test_other_numerics_refused():
    with pytest.raises(ConfigError, match=r"numerics: hls4ml: model 'bad' is quantization-aware.*hgq2"):
        rnnrtl.convert(_gru_then(), {"numerics": "hls4ml"})


def test_precision_settings_refused():
    with pytest.raises(ConfigError, match=r"layers\.gru\.precision: numerics: hgq2 takes every format"):
        rnnrtl.convert(_gru_then(), {"layers": {"gru": {"precision": {"result": "fixed<8,2>"}}}})


def test_hgq2_numerics_needs_hgq2_model():
    import keras
    inp = keras.Input((4, 3))
    model = keras.Model(inp, keras.layers.GRU(2)(inp))
    with pytest.raises(ConfigError, match=r"numerics: hgq2 reproduces HGQ2 models.*no HGQ2 layers"):
        rnnrtl.convert(model, {"numerics": "hgq2"})


def test_keras_file_with_foreign_object_refused(tmp_path):
    """A .keras file naming an object from outside Keras and HGQ2 is refused before anything in it
    is deserialized."""
    path = tmp_path / "m.keras"
    _gru_then().save(path)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(data)
                layer = cfg["config"]["layers"][-1]
                layer["module"], layer["registered_name"] = "evil.payload", "evil>QDense"
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    with pytest.raises(UnsupportedModelError, match=r"object 'out' is a custom object.*evil"):
        rnnrtl.convert(bad)


def test_errors_are_rnnrtl_errors():
    assert issubclass(UnsupportedModelError, RnnrtlError) and issubclass(ConfigError, RnnrtlError)


def test_from_keras_points_to_the_hgq2_frontend():
    from rnnrtl.frontend import from_keras
    with pytest.raises(UnsupportedModelError, match=r"HGQ2 layers.*from_hgq2"):
        from_keras(_gru_then())


def test_sum_beyond_float32_refused():
    """HGQ2 sums in float32: a Dense whose products need more than 24 bits is not exact there."""
    import keras
    from hgq.config import QuantizerConfig, QuantizerConfigScope
    from hgq.layers import QDense
    with QuantizerConfigScope(place="datalane", heterogeneous_axis=()):
        inp = keras.Input((4, 3))
        out = QDense(2, iq_conf=hm._per_tensor(i0=6, f0=12),
                     kq_conf=QuantizerConfig("kbi", "weight", b0=16, i0=3), name="wide")(inp)
    with pytest.raises(UnsupportedModelError, match=r"layer 'wide': W·x \+ b: the sum needs \d+ "
                                                    r"significant bits.*float32"):
        rnnrtl.convert(keras.Model(inp, out))
