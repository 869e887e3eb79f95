"""Configuration: precision scopes as seen in the IR, validation messages, files, reuse checks."""

from __future__ import annotations

import json

import numpy as np

import pytest

import rnnrtl
from rnnrtl import ConfigError, FixedFormat
from rnnrtl.config import load_config
from rnnrtl.errors import ConfigWarning

keras = pytest.importorskip("keras")


def F(text):
    return FixedFormat.parse(text)


@pytest.fixture(scope="module")
def model():
    """Input(5, 3) -> LSTM(4) -> GRU(3) -> Dense(2, softmax), functional, input named 'seq'.

    Products: lstm 4·4·3 = 48 input, 4·4·4 = 64 recurrent; gru 3·3·4 = 36 input and 3·3 = 9 per recurrent unit;
    out 2·3 = 6."""
    inp = keras.Input((5, 3), name="seq")
    h = keras.layers.LSTM(4, return_sequences=True, name="lstm")(inp)
    h = keras.layers.GRU(3, name="gru")(h)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="out")(h))


def convert(model, cfg):
    return rnnrtl.convert(model, cfg)


def _formats(net):
    """Every named format of the network, by '<layer>.<tensor>' (config keys)."""
    lstm, gru, out = net.layer("lstm"), net.layer("gru"), net.layer("out")
    return {
        "seq.result": net.input_fmt,
        "lstm.weight": lstm.kernel.fmt, "lstm.recurrent_weight": lstm.recurrent.fmt,
        "lstm.bias": lstm.bias.fmt, "lstm.accum": lstm.gate_fmt, "lstm.state": lstm.state_fmt,
        "lstm.activation": lstm.recurrent_activation.out_fmt, "lstm.result": lstm.output_fmt,
        "gru.weight": gru.kernel.fmt, "gru.recurrent_weight": gru.recurrent.fmt, "gru.bias": gru.bias.fmt,
        "gru.recurrent_bias": gru.recurrent_bias.fmt, "gru.accum": gru.gate_fmt, "gru.recurrent": gru.rec_fmt,
        "gru.activation": gru.recurrent_activation.out_fmt, "gru.result": gru.output_fmt,
        "out.weight": out.kernel.fmt, "out.bias": out.bias.fmt, "out.accum": out.pre_fmt,
        "out.result": out.output_fmt,
    }


def _expect(overrides, base="fixed<16,6>", activation="fixed<18,2>"):
    keys = ["seq.result", "lstm.weight", "lstm.recurrent_weight", "lstm.bias", "lstm.accum", "lstm.state",
            "lstm.activation", "lstm.result", "gru.weight", "gru.recurrent_weight", "gru.bias",
            "gru.recurrent_bias", "gru.accum", "gru.recurrent", "gru.activation", "gru.result",
            "out.weight", "out.bias", "out.accum", "out.result"]
    want = {k: F(activation if k.endswith(".activation") else base) for k in keys}
    want.update({k: F(v) for k, v in overrides.items()})
    return want


# -- precision scopes -----------------------------------------------------------------------------

def test_default_formats(model):
    assert _formats(convert(model, None).network) == _expect({})


def test_top_level_string_sets_every_data_tensor(model):
    net = convert(model, {"precision": "fixed<12,4>"}).network
    assert _formats(net) == _expect({}, base="fixed<12,4>")   # table outputs keep fixed<18,2>
    lstm = net.layer("lstm")
    assert lstm.activation.out_fmt == lstm.state_activation.out_fmt == F("fixed<18,2>")


def test_top_level_per_tensor(model):
    net = convert(model, {"precision": {"default": "fixed<14,5>", "weight": "fixed<8,1>",
                                        "state": "ap_fixed<20,8>", "activation": "ufixed<16,1>"}}).network
    want = _expect({"lstm.weight": "fixed<8,1>", "gru.weight": "fixed<8,1>", "out.weight": "fixed<8,1>",
                    "lstm.state": "ap_fixed<20,8,AP_TRN,AP_WRAP>", "lstm.activation": "ufixed<16,1>",
                    "gru.activation": "ufixed<16,1>"}, base="fixed<14,5>")
    assert _formats(net) == want
    assert net.layer("lstm").state_fmt == FixedFormat(20, 8, True, "TRN", "WRAP")


def test_per_layer_overrides(model):
    cfg = {"precision": {"default": "fixed<14,5>", "accum": "fixed<20,8>"},
           "layers": {"seq": {"precision": "fixed<10,2>"},
                      "lstm": {"precision": {"state": "fixed<18,8>", "recurrent_weight": "fixed<12,2>"}},
                      "gru": {"precision": "fixed<15,4>"},
                      "out": {"precision": {"default": "fixed<13,5>", "bias": "fixed<9,3>"}}}}
    net = convert(model, cfg).network
    want = _expect({"seq.result": "fixed<10,2>",
                    "lstm.accum": "fixed<20,8>", "lstm.state": "fixed<18,8>", "lstm.recurrent_weight": "fixed<12,2>",
                    **{f"gru.{k}": "fixed<15,4>" for k in ("weight", "recurrent_weight", "bias", "recurrent_bias",
                                                           "accum", "recurrent", "result")},
                    "out.weight": "fixed<13,5>", "out.accum": "fixed<13,5>", "out.result": "fixed<13,5>",
                    "out.bias": "fixed<9,3>"}, base="fixed<14,5>")
    assert _formats(net) == want
    # A layer's input format is the previous layer's result.
    assert net.layer("lstm").input_fmt == F("fixed<10,2>")
    assert net.layer("gru").input_fmt == F("fixed<14,5>")
    assert net.layer("out").input_fmt == F("fixed<15,4>")


def test_layer_string_leaves_table_outputs_like_top_level(model):
    """A precision string in a layer scope means what it means at top level: table outputs keep
    the activation default unless 'activation' is named."""
    top = _formats(convert(model, {"precision": "fixed<16,6>"}).network)
    scoped = _formats(convert(model, {"layers": {"lstm": {"precision": "fixed<16,6>"}}}).network)
    assert scoped == top
    named = convert(model, {"layers": {"lstm": {"precision": {"default": "fixed<16,6>",
                                                              "activation": "fixed<12,2>"}}}}).network
    assert named.layer("lstm").recurrent_activation.out_fmt == F("fixed<12,2>")
    assert named.layer("gru").recurrent_activation.out_fmt == F("fixed<18,2>")


def test_relu_output_uses_result_unless_activation_set():
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(3, name="lstm"),
                              keras.layers.Dense(5, activation="relu", name="hidden"), keras.layers.Dense(1)])
    net = convert(model, {"layers": {"hidden": {"precision": {"result": "fixed<12,5>"}}}}).network
    assert net.layer("hidden").activation.out_fmt == F("fixed<12,5>")
    net = convert(model, {"layers": {"hidden": {"precision": {"activation": "fixed<11,4>"}}}}).network
    assert net.layer("hidden").activation.out_fmt == F("fixed<11,4>")


def test_tables_per_layer(model):
    cfg = {"tables": {"sigmoid": {"size": 512}},
           "layers": {"gru": {"tables": {"sigmoid": {"size": 128, "range": 4}, "tanh": {"range": 2}}}}}
    net = convert(model, cfg).network
    lstm_sig, gru_sig = net.layer("lstm").recurrent_activation.table, net.layer("gru").recurrent_activation.table
    assert lstm_sig.geometry.size == 512 and len(lstm_sig.contents) == 512
    assert gru_sig.geometry.size == 128 and len(gru_sig.contents) == 128
    # bin = 2·range/size: lstm 16/512 = 2^-5, gru 8/128 = 2^-4; shift = log2(bin) + 10 fractional bits.
    assert (lstm_sig.geometry.shift, gru_sig.geometry.shift) == (5, 6)
    gru_tanh = net.layer("gru").activation.table
    assert gru_tanh.geometry.size == 2048 and gru_tanh.geometry.shift == log2_int(4 / 2048) + 10


def log2_int(v):
    import math
    k = round(math.log2(v))
    assert 2.0 ** k == v
    return k


# -- validation messages --------------------------------------------------------------------------

@pytest.mark.parametrize("cfg, where, valid", [
    ({"precison": "fixed<16,6>"}, "'precison'", ["precision", "reuse", "layers", "tables"]),
    ({"layers": {"lstm": {"reuse_inputs": 2}}}, "layers.lstm", ["reuse_input", "reuse_recurrent", "precision"]),
    ({"tables": {"tanh": {"sizes": 64}}}, "'sizes'", ["size", "range"]),
    ({"precision": {"weights": "fixed<8,2>"}}, "'weights'", ["weight", "recurrent_weight", "default", "state"]),
])
def test_unknown_keys_list_valid_keys(cfg, where, valid):
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    message = str(info.value)
    assert "unknown key" in message and where in message
    assert all(v in message for v in valid), message


def test_unknown_table_function():
    with pytest.raises(ConfigError, match=r"no table for 'relu'.*sigmoid, tanh, hard_sigmoid"):
        load_config({"tables": {"relu": {"size": 64}}})


def test_unknown_layer_name(model):
    with pytest.raises(ConfigError) as info:
        convert(model, {"layers": {"lstn": {"reuse": 2}}})
    message = str(info.value)
    assert "'lstn'" in message and all(n in message for n in ("seq", "lstm", "gru", "out"))


@pytest.mark.parametrize("layer, key, kind", [("out", "state", "dense"), ("lstm", "recurrent", "lstm"),
                                              ("gru", "state", "gru"), ("seq", "weight", "input")])
def test_precision_key_not_valid_for_layer_kind(model, layer, key, kind):
    with pytest.raises(ConfigError) as info:
        convert(model, {"layers": {layer: {"precision": {key: "fixed<16,6>"}}}})
    message = str(info.value)
    assert f"layers.{layer}.precision" in message and f"'{key}'" in message and f"{kind} layer" in message
    assert "valid: default, " in message


@pytest.mark.parametrize("bad", ["fixed<16>", "float32", "fixed<16,6", "fix<16,6>", "fixed<0,0>",
                                 "fixed<64,8>", "fixed<1,1>", "ap_fixed<16,6,AP_ROUND>",
                                 "ap_fixed<16,6,AP_RND,AP_CLAMP>", 16, None])
@pytest.mark.parametrize("scope", ["top", "tensor", "layer"])
def test_bad_precision_strings_show_syntax(model, bad, scope):
    cfg = {"top": {"precision": bad}, "tensor": {"precision": {"state": bad}},
           "layer": {"layers": {"lstm": {"precision": {"accum": bad}}}}}[scope]
    with pytest.raises(ConfigError) as info:
        convert(model, cfg)
    message = str(info.value)
    assert "precision" in message
    if scope == "top" and not isinstance(bad, str):   # not a format, nor a mapping of formats
        assert "must be a format string or a mapping" in message
    else:
        assert "accepted syntax" in message and "fixed<W,I>" in message, message


@pytest.mark.parametrize("value", [0, -1, 2.5, 2.0, True, "2", None])
@pytest.mark.parametrize("key", ["reuse", "reuse_input", "reuse_recurrent"])
def test_reuse_must_be_a_whole_number(value, key):
    with pytest.raises(ConfigError, match=rf"{key} = .*must be a whole number >= 1"):
        load_config({key: value})
    with pytest.raises(ConfigError, match=rf"layers.lstm.{key} = .*must be a whole number >= 1"):
        load_config({"layers": {"lstm": {key: value}}})


@pytest.mark.parametrize("cfg, layer, products, divisors", [
    ({"layers": {"out": {"reuse": 7}}}, "out", 6, "1, 2, 3, 6"),
    ({"layers": {"lstm": {"reuse_input": 49}}}, "lstm", 48, "1, 2, 3, 4, 6, 8, 12, 16, 24, 48"),
    ({"layers": {"lstm": {"reuse_recurrent": 65}}}, "lstm", 64, "1, 2, 4, 8, 16, 32, 64"),
    # A GRU's recurrent products are two units (U_zr·h: 18, U_h: 9); the reuse applies to each.
    ({"layers": {"gru": {"reuse": 30}}}, "gru", 9, "1, 3, 9"),
    ({"reuse_recurrent": 28, "layers": {"gru": {"reuse_recurrent": 10}}}, "gru", 9, "1, 3, 9"),
])
def test_layer_reuse_larger_than_products_lists_divisors(model, cfg, layer, products, divisors):
    """A factor a layer sets itself is the user's explicit choice: invalid is an error."""
    with pytest.raises(ConfigError) as info:
        convert(model, cfg)
    message = str(info.value)
    assert f"'{layer}'" in message and f"{products} products" in message, message
    assert divisors in message and f"1..{products}" in message


@pytest.mark.parametrize("cfg, want, clamped", [
    ({"reuse": 7}, {"lstm": (7, 7), "gru": (7, 7), "out": (6, 1)}, {("out", "input", 6)}),
    ({"reuse_recurrent": 28}, {"lstm": (1, 28), "gru": (1, 9), "out": (1, 1)},
     {("gru", "recurrent", 9)}),
    ({"reuse": 50, "layers": {"lstm": {"reuse": 2}}}, {"lstm": (2, 2), "gru": (36, 9), "out": (6, 1)},
     {("gru", "input", 36), ("gru", "recurrent", 9), ("out", "input", 6)}),
])
def test_global_reuse_is_clamped_per_layer_with_a_warning(model, cfg, want, clamped):
    """A top-level factor (``--sweep-reuse 1,2,4,8``) too large for some layer's products is
    clamped there to the largest factor valid for its matrices (a GRU's recurrent knob: the smaller
    unit's 9), each clamp named in a warning; the numbers do not change (reuse is timing only)."""
    with pytest.warns(ConfigWarning) as record:
        design = convert(model, cfg)
    got = {l.name: (l.schedule.reuse_input, l.schedule.reuse_recurrent) for l in design.network.layers}
    assert got == want
    messages = [str(w.message) for w in record if w.category is ConfigWarning]
    assert len(messages) == len(clamped), messages
    for name, source, factor in clamped:
        assert any(f"layer {name!r} uses reuse_{source} {factor}" in m for m in messages), messages
    x = np.random.default_rng(0).normal(size=(4, 5, 3))
    assert np.array_equal(design.run(x).codes, convert(model, {}).run(x).codes)


def test_valid_reuse_is_kept_as_given(model):
    design = convert(model, {"reuse": 5, "layers": {"lstm": {"reuse_recurrent": 64}, "gru": {"reuse_input": 7}}})
    s = {l.name: (l.schedule.reuse_input, l.schedule.reuse_recurrent) for l in design.network.layers}
    assert s == {"lstm": (5, 64), "gru": (7, 5), "out": (5, 1)}
    assert design.config["reuse"] == 5


# -- files ----------------------------------------------------------------------------------------

YAML_TEXT = """\
# a comment
precision:
  default: fixed<14,5>
  state: fixed<18,8>
reuse: 2
tables:
  tanh: {size: 1024}
layers:
  gru:
    precision: {recurrent: "ap_fixed<12,4,AP_RND,AP_SAT>"}
    reuse_recurrent: 3
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_config_files_load(model, tmp_path, suffix):
    import yaml
    path = tmp_path / f"cfg{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(yaml.safe_load(YAML_TEXT), indent=2))
    else:
        path.write_text(YAML_TEXT)
    for source in (path, str(path)):
        cfg = load_config(source)
        assert cfg["reuse"] == 2 and cfg["tables"]["tanh"] == {"size": 1024, "range": 4}
        assert cfg["layers"]["gru"]["reuse_recurrent"] == 3
    net = convert(model, path).network
    assert net.layer("lstm").state_fmt == F("fixed<18,8>")
    assert net.layer("gru").rec_fmt == F("ap_fixed<12,4,AP_RND,AP_SAT>")
    assert net.layer("out").output_fmt == F("fixed<14,5>")
    assert (net.layer("gru").schedule.reuse_input, net.layer("gru").schedule.reuse_recurrent) == (2, 3)
    assert net.layer("lstm").activation.table.geometry.size == 1024


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    txt = tmp_path / "cfg.txt"
    txt.write_text("reuse: 2")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.json"):
        load_config(txt)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("precision: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'reuse': 2}")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(bad_json)
    listy = tmp_path / "list.yaml"
    listy.write_text("- reuse\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert load_config(empty) == load_config(None)
    bad_value = tmp_path / "badvalue.yaml"
    bad_value.write_text("reuse: 0\n")
    with pytest.raises(ConfigError, match="whole number"):
        load_config(bad_value)


# -- tables, mode, interleave ---------------------------------------------------------------------

@pytest.mark.parametrize("spec, fragment", [
    ({"size": 1000}, "powers of two 16..65536"),
    ({"size": 8}, "powers of two 16..65536"),
    ({"size": 2 ** 17}, "powers of two 16..65536"),
    ({"size": 1024.0}, "powers of two"),
    ({"size": "1024"}, "powers of two"),
    ({"range": 3}, "power of two"),
    ({"range": 0}, "power of two"),
    ({"range": -4}, "power of two"),
    ({"range": True}, "power of two"),
    ({"range": "8"}, "power of two"),
])
def test_bad_table_sizes_and_ranges(spec, fragment):
    with pytest.raises(ConfigError) as info:
        load_config({"tables": {"sigmoid": spec}})
    assert "tables.sigmoid" in str(info.value) and fragment in str(info.value)
    with pytest.raises(ConfigError):
        load_config({"layers": {"lstm": {"tables": {"tanh": spec}}}})


def test_good_table_specs():
    cfg = load_config({"tables": {"sigmoid": {"size": 16, "range": 0.5}, "tanh": {"size": 65536}}})
    assert cfg["tables"]["sigmoid"] == {"size": 16, "range": 0.5}
    assert cfg["tables"]["tanh"] == {"size": 65536, "range": 4}
    assert cfg["tables"]["hard_sigmoid"] == {"size": 1024, "range": 4}


@pytest.mark.parametrize("cfg, fragment", [
    ({"mode": "foo"}, "valid modes are static, unrolled"),
    ({"layers": {"lstm": {"mode": "pipelined"}}}, "valid modes are static, unrolled"),
    ({"interleave": 0}, "interleave = 0: must be a whole number >= 1"),
    ({"interleave": 1.5}, "interleave = 1.5: must be a whole number >= 1"),
    ({"layers": {"gru": {"interleave": -2}}}, "layers.gru.interleave = -2"),
    ({"pipeline": "faster"}, "pipeline = 'faster': valid pipelines are shallow, deep, fast"),
    ({"layers": {"lstm": {"pipeline": True}}}, "layers.lstm.pipeline = True: valid pipelines"),
    ({"numerics": "hls5ml"}, "valid: default"),
    ({"layers": ["lstm"]}, "'layers' must map"),
    ({"layers": {"lstm": 2}}, "layers.lstm must be a mapping"),
    ({"precision": ["fixed<16,6>"]}, "format string or a mapping"),
])
def test_mode_interleave_and_shape_validation(cfg, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert fragment in str(info.value)


def test_mode_and_interleave_reach_the_schedule(model):
    net = convert(model, {"mode": "unrolled", "interleave": 2,
                          "layers": {"gru": {"mode": "static", "interleave": 3}}}).network
    assert (net.layer("lstm").schedule.mode, net.layer("lstm").schedule.interleave) == ("unrolled", 2)
    assert (net.layer("gru").schedule.mode, net.layer("gru").schedule.interleave) == ("static", 3)


def test_pipeline_reaches_the_schedule(model):
    net = convert(model, {"pipeline": "deep", "layers": {"gru": {"pipeline": "shallow"}}}).network
    assert net.layer("lstm").schedule.pipeline == "deep"
    assert net.layer("gru").schedule.pipeline == "shallow"
    assert convert(model, None).network.layer("lstm").schedule.pipeline == "shallow"


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="must be a dict or a path"):
        load_config(["reuse", 2])
    with pytest.raises(ConfigError, match="must be a dict or a path"):
        load_config(2)
