"""``rnnrtl.numerics``: the profile interface, and configuration resolved from what a profile declares."""

from __future__ import annotations

import numpy as np
import pytest

import rnnrtl
from rnnrtl import numerics
from rnnrtl.config import layer_config, load_config
from rnnrtl.errors import ConfigError
from rnnrtl.fixed import FixedFormat
from rnnrtl.numerics.default import DefaultProfile


def F(text):
    return FixedFormat.parse(text)


def test_registry():
    assert list(numerics.PROFILES) == ["default", "hls4ml", "hgq2", "brevitas"]
    for name, profile in numerics.PROFILES.items():
        assert profile.name == name and isinstance(profile, numerics.Profile)
        assert profile.precision_keys["input"] == ("result",)
        F(profile.default_precision)
    with pytest.raises(ConfigError, match="valid: default, hls4ml"):
        numerics.profile("hls5ml")


def test_defaults_come_from_the_profile():
    default, hls = load_config(None), load_config({"numerics": "hls4ml"})
    assert default["precision"] == "fixed<16,6>" and hls["precision"] == "ap_fixed<16,6>"
    assert default["tables"]["tanh"]["size"] == 2048 and hls["tables"]["tanh"]["size"] == 1024
    lstm = layer_config(hls, "lstm", "lstm")
    assert lstm.fmt("table") == F("ap_fixed<18,8>") and lstm.fmt("result") == F("ap_fixed<16,6>")
    assert layer_config(default, "lstm", "lstm").fmt("activation") is None   # chosen by function


def test_own_default_is_set_by_its_own_key_only():
    """A tensor with a default of its own (hls4ml's ``table``, rnnrtl's ``activation``) ignores every
    ``default``; its key wins, the layer's over the top level's."""
    cfg = load_config({"numerics": "hls4ml", "precision": {"default": "ap_fixed<16,6>", "table": "ap_fixed<18,4>"},
                       "layers": {"lstm": {"precision": "ap_fixed<20,8>"},
                                  "gru": {"precision": {"table": "ap_fixed<14,3>"}}}})
    assert layer_config(cfg, "lstm", "lstm").fmt("table") == F("ap_fixed<18,4>")
    assert layer_config(cfg, "lstm", "lstm").fmt("result") == F("ap_fixed<20,8>")
    assert layer_config(cfg, "gru", "gru").fmt("table") == F("ap_fixed<14,3>")
    cfg = load_config({"precision": {"activation": "fixed<12,2>"}, "layers": {"lstm": {"precision": "fixed<20,8>"}}})
    assert layer_config(cfg, "lstm", "lstm").fmt("activation") == F("fixed<12,2>")


def test_model_default_is_the_profiles_when_precision_names_none():
    cfg = load_config({"numerics": "hls4ml", "precision": {"weight": "ap_fixed<8,2>"}})
    lstm = layer_config(cfg, "lstm", "lstm")
    assert lstm.model_default == F("ap_fixed<16,6>") == lstm.fmt("result")
    assert lstm.fmt("weight") == F("ap_fixed<8,2>")


def test_options_belong_to_their_profile():
    with pytest.raises(ConfigError, match="'softmax' settings describe hls4ml's softmax tables; they need "
                                          "numerics: hls4ml"):
        load_config({"softmax": {"implementation": "stable"}})
    with pytest.raises(ConfigError, match=r"implementation = 'legacy': valid: stable, latency, argmax \(hls4ml"):
        load_config({"numerics": "hls4ml", "softmax": {"implementation": "legacy"}})
    with pytest.raises(ConfigError, match="table_size = 1000: valid sizes"):
        load_config({"numerics": "hls4ml", "softmax": {"table_size": 1000}})
    cfg = load_config({"numerics": "hls4ml", "softmax": {"table_size": 512},
                       "layers": {"d_softmax": {"softmax": {"exp_table": "ap_fixed<16,6>"}}}})
    assert layer_config(cfg, "d_softmax", "activation").options["softmax"] == {
        "table_size": 512, "exp_table": F("ap_fixed<16,6>")}
    assert layer_config(load_config(None), "d", "dense").options == {}


def test_a_new_profile_needs_no_change_elsewhere(monkeypatch):
    """A profile registered under a new name is parsed, resolved and driven like the others: here
    rnnrtl's arithmetic with weights truncated instead of rounded."""
    keras = pytest.importorskip("keras")

    class Truncating(DefaultProfile):
        name = "trunc"

        def weight_codes(self, values, fmt):
            return np.floor(np.ldexp(np.asarray(values, dtype=np.float64), fmt.frac_bits)).astype(np.int64), 0

    monkeypatch.setitem(numerics.PROFILES, "trunc", Truncating())
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(3, name="lstm"),
                              keras.layers.Dense(1, name="out")])
    design = rnnrtl.convert(model, {"numerics": "trunc"})
    assert design.network.numerics == "trunc"
    kernel = model.get_layer("lstm").get_weights()[0].T
    assert np.array_equal(design.network.layer("lstm").kernel.codes, np.floor(np.ldexp(kernel, 10)))
    assert design.run(np.zeros((2, 4, 2)), warn=False).codes.shape == (2, 1)
