"""Bad or meaningless configurations (issue 17, items 5, 9, 10, 11): one ConfigError line, exit 2.

Each table row is a configuration file's bytes and the fragments its one-line error must contain;
through ``rnnrtl convert`` it must exit with status 2 and no traceback, through the Python API it
must raise :class:`rnnrtl.ConfigError`. Further tests: weight underflow counted, reported, warned
about and refused; a global reuse clamped per layer; hls4ml's own converter's dict accepted.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.config import load_config  # noqa: E402
from rnnrtl.errors import (ConfigError, ConfigWarning, HLS4MLConfigWarning,  # noqa: E402
                           WeightUnderflowWarning)
from rnnrtl.fixed import FixedFormat  # noqa: E402
from cli_helpers import assert_user_error as _assert_user_error  # noqa: E402
from cli_helpers import invoke as _invoke  # noqa: E402




@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``Input(5, 3) -> LSTM(4) -> Dense(2, relu) 'hidden' -> Dense(1) 'out'``, saved; 'out' has 2
    products, 'hidden' 8."""
    import keras
    root = tmp_path_factory.mktemp("badcfg")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 3), name="x"), keras.layers.LSTM(4, name="lstm"),
                              keras.layers.Dense(2, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="out")], name="tiny")
    model.save(root / "tiny.keras")
    return root, model


# -- the table: file contents -> fragments of the one-line error --------------------------------------

CASES = [
    # 9. input-file edge cases
    ("latin1.yaml", b"# r\xe9glages\nreuse: 2\n", ("latin1.yaml", "not UTF-8", "0xe9")),
    ("inf.yaml", b"tables:\n  sigmoid: {range: .inf}\n", ("tables.sigmoid.range = inf", "power of two")),
    ("nan.yaml", b"tables:\n  tanh: {range: .nan}\n", ("tables.tanh.range = nan", "power of two")),
    ("neg.yaml", b"tables:\n  tanh: {range: -.inf}\n", ("tables.tanh.range = -inf", "power of two")),
    ("str.yaml", b"tables:\n  tanh: {range: '4'}\n", ("tables.tanh.range = '4'", "power of two")),
    ("list.yaml", b"tables:\n  tanh: {range: [4]}\n", ("tables.tanh.range = [4]", "power of two")),
    ("huge.json", b'{"tables": {"tanh": {"range": 1' + b"0" * 400 + b"}}}",
     ("tables.tanh.range", "power of two")),
    ("far.yaml", b"tables:\n  tanh: {range: 8589934592}\n", ("range = 8589934592", "2**-32 to 2**32")),
    ("sizef.yaml", b"tables:\n  sigmoid: {size: 1024.0}\n", ("tables.sigmoid.size = 1024.0", "powers of two")),
    ("sizes.yaml", b"tables:\n  sigmoid: {size: '1024'}\n", ("tables.sigmoid.size = '1024'", "powers of two")),
    ("sizei.yaml", b"tables:\n  sigmoid: {size: .inf}\n", ("tables.sigmoid.size = inf", "powers of two")),
    ("sizel.yaml", b"layers:\n  lstm:\n    tables: {sigmoid: {size: [1024]}}\n",
     ("layers.lstm.tables.sigmoid.size = [1024]", "powers of two")),
    # 10. duplicate keys: PyYAML would keep the last one silently
    ("dup.yaml", b"reuse: 2\nmode: static\nreuse: 4\n", ("'reuse'", "line 3", "first on line 1", "twice")),
    ("dup2.yaml", b"layers:\n  lstm:\n    reuse: 2\n    pipeline: deep\n    reuse: 4\n",
     ("'reuse'", "line 5", "first on line 3")),
    ("dup3.yaml", b"layers:\n  out: {reuse: 1}\n  out: {reuse: 2}\n", ("'out'", "line 3", "twice")),
    ("dup.json", b'{"reuse": 2, "reuse": 4}', ("dup.json", "'reuse'", "twice")),
    # 10. keys that mean nothing on a Dense layer
    ("dint.yaml", b"layers:\n  out: {interleave: 2}\n",
     ("layers.out.interleave", "dense layer", "means nothing", "takes precision, reuse, reuse_input")),
    ("dmode.yaml", b"layers:\n  hidden: {mode: unrolled}\n", ("layers.hidden.mode", "dense layer")),
    ("drec.yaml", b"layers:\n  out: {reuse_recurrent: 2}\n", ("layers.out.reuse_recurrent", "dense")),
    # 10. ap_fixed's fifth parameter (saturation bits of AP_WRAP / AP_WRAP_SM): refused, not dropped
    ("satbits.yaml", b"precision: 'ap_fixed<16,6,AP_TRN,AP_WRAP,2>'\n",
     ("ap_fixed<16,6,AP_TRN,AP_WRAP,2>", "5th parameter N = 2", "saturation bits", "N = 0")),
    ("satbits2.yaml", b"layers:\n  lstm: {precision: {state: 'ap_fixed<18,8,AP_RND,AP_SAT,1>'}}\n",
     ("layers.lstm.precision.state", "5th parameter N = 1")),
    ("satbits3.yaml", b"precision: 'ap_fixed<16,6,3>'\n", ("malformed precision", "ap_fixed<16,6,3>")),
    # 10. a reuse the layer sets itself stays an error
    ("lreuse.yaml", b"layers:\n  out: {reuse: 4}\n", ("'out'", "reuse factor 4", "2 products", "1, 2")),
    # 5. a format whose LSB swallows every weight of a tensor
    ("lsb.yaml", b"precision: fixed<16,20>\n",
     ("layers.lstm.precision.weight", "fixed<16,20", "every nonzero value of lstm.kernel",
      "LSB 16", "e.g. fixed<16,")),
    ("lsb2.yaml", b"layers:\n  out: {precision: {weight: 'fixed<8,12>'}}\n",
     ("layers.out.precision.weight", "out.kernel", "fewer integer bits or more bits")),
]


@pytest.mark.parametrize("name, text, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_config_file_is_one_line_exit_2(tiny, tmp_path, name, text, fragments):
    root, model = tiny
    path = tmp_path / name
    path.write_bytes(text)
    result = _invoke("convert", root / "tiny.keras", "-o", tmp_path / "out", "-c", path)
    _assert_user_error(result, *fragments)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError):
        rnnrtl.convert(model, path)


def test_yaml_merge_keys_are_not_duplicates(tiny, tmp_path):
    """``<<: *anchor`` merges keys a mapping may then override: valid YAML, not a duplicate."""
    root, model = tiny
    path = tmp_path / "merge.yaml"
    path.write_text("layers:\n  lstm: &base {pipeline: deep}\n  hidden:\n    <<: *base\n"
                    "    pipeline: shallow\n")
    cfg = load_config(path)
    assert cfg["layers"]["lstm"] == {"pipeline": "deep"}
    assert cfg["layers"]["hidden"] == {"pipeline": "shallow"}


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    """Editors on Windows write UTF-8 with a byte-order mark; JSON's parser would refuse it."""
    for name, text in (("bom.json", b'{"reuse": 2}'), ("bom.yaml", b"reuse: 2\n")):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text)
        assert load_config(tmp_path / name)["reuse"] == 2


@pytest.mark.parametrize("text, want", [
    ("ap_fixed<16,6,AP_RND,AP_SAT,0>", FixedFormat(16, 6, True, "RND", "SAT")),
    ("ap_fixed<16,6,AP_TRN,AP_WRAP,0>", FixedFormat(16, 6, True, "TRN", "WRAP")),
])
def test_fifth_parameter_zero_is_the_default(text, want):
    """N = 0 is what rnnrtl's wrap does, so it is accepted and means the same as leaving it out."""
    assert FixedFormat.parse(text) == want == FixedFormat.parse(text.rsplit(",", 1)[0] + ">")


# -- 5. weight underflow: counted, reported, warned about ------------------------------------------

def _independent_underflows(weights, fmt):
    """Nonzero weights that round-half-up (rnnrtl's ``fixed``) to code 0 of ``fmt``: those in
    ``[-LSB/2, LSB/2)``, the LSB being ``2**(I - W)``."""
    half = 2.0 ** (fmt.int_bits - fmt.width) / 2
    w = np.asarray(weights, dtype=np.float64)
    return int(np.count_nonzero((w != 0) & (w >= -half) & (w < half)))


def _all_underflows(model, formats):
    """``<layer>.<tensor>`` -> independent underflow count, for tensors that lose any; ``formats``:
    ``(layer, tensor)`` -> format, else ``fixed<16,6>``."""
    out = {}
    for layer in ("lstm", "hidden", "out"):
        names = ("kernel", "recurrent_kernel", "bias") if layer == "lstm" else ("kernel", "bias")
        for name, w in zip(names, model.get_layer(layer).get_weights()):
            fmt = FixedFormat.parse(formats.get((layer, name), "fixed<16,6>"))
            n = _independent_underflows(w, fmt)
            if n:
                out[f"{layer}.{name}"] = n
    return out


def test_underflow_is_counted_saved_reported_and_warned(tiny, tmp_path):
    root, model = tiny
    # LSB 1/4: the LSTM kernel's values below 1/8 are lost
    expected = _all_underflows(model, {("lstm", "kernel"): "fixed<10,8>"})
    lstm_kernel = model.get_layer("lstm").get_weights()[0]
    want = expected["lstm.kernel"]
    assert 0 < want < np.count_nonzero(lstm_kernel)               # some, not all
    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers:\n  lstm: {precision: {weight: 'fixed<10,8>'}}\n")
    with pytest.warns(WeightUnderflowWarning, match=r"lstm\.kernel: \d+ lost"):
        design = rnnrtl.convert(model, cfg)
    assert design.weight_underflows == expected
    assert design.weight_overflows == {}
    design.save(tmp_path / "saved")
    assert rnnrtl.load_design(tmp_path / "saved").weight_underflows == expected

    result = _invoke("convert", root / "tiny.keras", "-o", tmp_path / "out", "-c", cfg)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "report.json").read_text())
    assert summary["weight_underflows"] == expected
    report = (tmp_path / "out" / "report.md").read_text()
    assert "lost to underflow" in report
    assert f"{sum(expected.values())} in {len(expected)} tensors" in report
    assert f"| `lstm.kernel` | {want} |" in report


def test_no_underflow_warning_for_the_default_format(tiny):
    """Rounding an odd tiny weight to 0 is ordinary rounding: counted, but no warning."""
    _, model = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightUnderflowWarning)
        design = rnnrtl.convert(model)
    assert design.weight_underflows == _all_underflows(model, {})


# -- 10. a global reuse too large for a layer: clamped there, with a warning -------------------------

def test_sweep_reuse_beyond_a_layers_products_is_clamped(tiny, tmp_path):
    root, _ = tiny
    with pytest.warns(ConfigWarning, match="layer 'out' uses reuse_input 2"):
        result = _invoke("convert", root / "tiny.keras", "-o", tmp_path / "out",
                         "--sweep-reuse", "1,2,4,8")
    assert result.exit_code == 0, result.output
    sweep = json.loads((tmp_path / "out" / "report.json").read_text())["sweep"]
    assert [row["reuse"] for row in sweep] == [1, 2, 4, 8]
    assert {row["identical_outputs"] for row in sweep} <= {True, None}


# -- 11. the dict hls4ml's own converter has used ---------------------------------------------------

@pytest.fixture(scope="module")
def hls4ml_used_dict(tiny, tmp_path_factory):
    """``config_from_keras_model``'s dict before and after ``convert_from_keras_model`` used it
    (hls4ml writes ``Model.BitExact`` into the caller's dict)."""
    import copy
    hls4ml = pytest.importorskip("hls4ml")
    _, model = tiny
    out = {}
    for granularity in ("model", "name"):
        cfg = hls4ml.utils.config_from_keras_model(model, granularity=granularity, backend="Vivado")
        fresh = copy.deepcopy(cfg)
        hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, backend="Vivado",
            output_dir=str(tmp_path_factory.mktemp(f"hls4ml-{granularity}")))
        out[granularity] = fresh, cfg
    return out


@pytest.mark.parametrize("granularity", ["model", "name"])
def test_dict_used_by_hls4ml_converter_is_accepted(tiny, hls4ml_used_dict, granularity):
    _, model = tiny
    fresh, used = hls4ml_used_dict[granularity]
    assert used != fresh and "BitExact" in used["Model"]      # what hls4ml 1.3 writes into it
    with warnings.catch_warnings():
        warnings.simplefilter("error", HLS4MLConfigWarning)    # BitExact None: nothing to say
        design = rnnrtl.convert(model, used)
    x = np.random.default_rng(0).normal(size=(16, 5, 3))
    assert np.array_equal(design.run(x).codes, rnnrtl.convert(model, fresh).run(x).codes)


@pytest.mark.parametrize("model_keys, outcome", [
    ({"BitExact": False}, None),
    ({"BitExact": True}, (HLS4MLConfigWarning, "BitExact = True is ignored")),
    ({"BitExact": "yes"}, (ConfigError, "BitExact = 'yes'")),
    ({"ChannelsLastConversion": "off", "TransposeOutputs": False}, None),
    ({"AllowDAFallback": True, "AllowV2Fallback": True}, None),
])
def test_model_keys_hls4ml_writes(tiny, model_keys, outcome):
    _, model = tiny
    cfg = {"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 1, **model_keys}}
    if outcome is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", HLS4MLConfigWarning)
            rnnrtl.convert(model, cfg)
    elif outcome[0] is ConfigError:
        with pytest.raises(ConfigError, match=outcome[1]):
            rnnrtl.convert(model, cfg)
    else:
        with pytest.warns(outcome[0], match=outcome[1]):
            rnnrtl.convert(model, cfg)


@pytest.mark.parametrize("layer_settings, fragments", [
    ({"lstm": {"TableSize": "abc"}}, ("LayerName.lstm.TableSize = 'abc'", "whole number")),
    ({"lstm": {"TableSize": 1024.5}}, ("LayerName.lstm.TableSize = 1024.5", "whole number")),
    ({"out_softmax": {"exp_table_size": None}}, ("exp_table_size = None",)),
    ({"lstm": {5: True}}, ("LayerName.lstm.5", "strings")),
])
def test_hls4ml_layer_settings_of_wrong_types(tiny, layer_settings, fragments):
    _, model = tiny
    with pytest.raises(ConfigError) as info:
        rnnrtl.convert(model, {"Model": {"Precision": "fixed<16,6>"}, "LayerName": layer_settings})
    for fragment in fragments:
        assert fragment in str(info.value)


def test_hls4ml_saturation_bits_refused(tiny):
    _, model = tiny
    with pytest.raises(ConfigError, match="saturation bits"):
        rnnrtl.convert(model, {"Model": {"Precision": "ap_fixed<16,6,AP_TRN,AP_WRAP,2>"}})
