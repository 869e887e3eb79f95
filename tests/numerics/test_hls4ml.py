"""``rnnrtl.numerics.hls4ml``: ``numerics: hls4ml`` reproduces hls4ml 1.3.0's outputs bit for bit
(tests/fixtures/hls4ml-1.3).

Each anchor model is converted with the configuration equivalent to the one hls4ml was given, and
the emulator's outputs (and per-layer traces, where stored) must *equal* hls4ml's stored values —
no tolerance. ``docs/hls4ml.md`` explains every step of the arithmetic being matched.
"""

from __future__ import annotations

import copy
import warnings
import zlib

import numpy as np
import pytest

import rnnrtl
from rnnrtl import ir
from rnnrtl.config import load_config
from rnnrtl.errors import ConfigError, HLS4MLConfigWarning
from rnnrtl.frontend import from_keras

#: hls4ml computes these correctly (the x-… failure cases are hls4ml bugs, not reproduced).
MODELS = ["toptag-lstm", "toptag-gru", "digits-lstm", "digits-gru", "quickdraw-lstm",
          "x-digits-retseq-lstm", "x-digits-lstm-logits"]
#: quickdraw (LSTM(128), 100 steps) costs ~40 ms a sample with per-product rounding: a subset.
SUBSET = {"quickdraw-lstm": 48}


def model_config(precision="fixed<16,6>"):
    """What ``config_from_keras_model(model, granularity='model')`` returns."""
    return {"Model": {"Precision": {"default": precision}, "ReuseFactor": 1, "Strategy": "Latency",
                      "BramFactor": 1_000_000_000, "TraceOutput": False}}


def name_config(path, *, precision="auto", table_size=None, reuse=1, result=None):
    """A ``granularity='name'`` dict shaped like hls4ml's (Vivado backend), all types ``precision``
    ('auto' as hls4ml generates them); ``result`` forces every result type."""
    fm = from_keras(path)
    res = result or precision
    layers = {fm.input_name: {"Precision": {"result": res}}}
    for fl in fm.layers:
        entry = {"Precision": {"weight": precision, "bias": precision, "result": res,
                               "accum": precision}, "ReuseFactor": reuse, "Trace": False}
        if fl.kind != "dense":
            entry["Precision"].update(recurrent_weight=precision, recurrent_bias=precision,
                                      table="fixed<18,8>")
            entry.update(Static=True, TableSize=table_size or 1024)
        layers[fl.name] = entry
        if fl.kind == "dense" and fl.activation != "linear":
            act = {"Precision": {"result": res}, "ReuseFactor": reuse}
            if fl.activation == "softmax":
                act["Precision"].update(exp_table="fixed<18,8,RND,SAT>", inv_table="fixed<18,8,RND,SAT>",
                                        inv_inp="fixed<18,8,RND,SAT>", accum="fixed<18,8,RND,SAT>")
                act.update(implementation="stable", skip=False, TableSize=1024)
            else:
                act.update(TableSize=1024, Precision={"result": res, "table": "fixed<18,8>"})
            layers[f"{fl.name}_{fl.activation}"] = act
    cfg = model_config("fixed<16,6>")
    cfg["LayerName"] = layers
    return cfg


def p24_config(path):
    """``viv-name-p24_10-t4096``: every type ap_fixed<24,10>, RNN TableSize 4096 and
    Precision.table ap_fixed<24,8> — which hls4ml 1.3 ignores (so the tables stay ap_fixed<18,8>)."""
    cfg = name_config(path, precision="ap_fixed<24,10>", table_size=4096)
    cfg["Model"]["Precision"] = "ap_fixed<24,10>"
    for entry in cfg["LayerName"].values():
        if "table" in entry["Precision"] and "TableSize" in entry and entry["TableSize"] == 4096:
            entry["Precision"]["table"] = "ap_fixed<24,8>"
    return cfg


def rf4_config(path):
    """``viv-name-rf4-s0``: per-layer dict, 'auto' result types forced to fixed<16,6>, RF 4."""
    cfg = name_config(path, result="fixed<16,6>", reuse=4)
    for entry in cfg["LayerName"].values():
        if "Static" in entry:
            entry["Static"] = False
    return cfg


def emulate(hls4ml_dir, name, config, *, trace=False):
    data = np.load(hls4ml_dir / f"{name}_data.npz")
    x = data["x_test"][:SUBSET.get(name)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HLS4MLConfigWarning)
        design = rnnrtl.convert(hls4ml_dir / f"{name}.keras", config)
    assert design.network.numerics == "hls4ml"
    return design, design.run(x, trace=trace, warn=False), len(x)


@pytest.mark.parametrize("name", MODELS)
def test_viv_model_outputs_and_traces_bit_identical(hls4ml_dir, name):
    """'viv-model' (all ap_fixed<16,6>, 1024 × ap_fixed<18,8> tables): every output and every stored
    per-layer trace equals hls4ml's."""
    design, result, n = emulate(hls4ml_dir, name, model_config(), trace=True)
    ref = np.load(hls4ml_dir / f"{name}_hls4ml.npz")
    np.testing.assert_array_equal(result.y, ref["viv-model"][:n])
    checked = 0
    for key in ref.files:
        if not key.startswith("trace:"):
            continue
        layer = key[len("trace:"):]
        net = design.network
        if layer in [L.name for L in net.layers]:
            L = net.layer(layer)
            point, fmt = (f"{layer}.pre", L.pre_fmt) if isinstance(L, ir.Dense) \
                else (f"{layer}.h", L.output_fmt)
            codes = result.trace[point]
            if not isinstance(L, ir.Dense):
                codes = codes if L.return_sequences else codes[:, -1]
        else:  # '<dense>_<activation>': hls4ml's own activation layer = rnnrtl's Dense output
            dense = next(L for L in net.layers
                         if isinstance(L, ir.Dense) and layer == f"{L.name}_{L.activation.function}")
            codes, fmt = result.trace[f"{dense.name}.out"], dense.output_fmt
        np.testing.assert_array_equal(fmt.to_float(codes), ref[key][:n], err_msg=key)
        checked += 1
    assert checked == sum(k.startswith("trace:") for k in ref.files)


@pytest.mark.parametrize("name,key,make", [
    ("toptag-lstm", "viv-name-p24_10-t4096", p24_config),
    ("toptag-gru", "viv-name-p24_10-t4096", p24_config),
    ("digits-lstm", "viv-name-p24_10-t4096", p24_config),
    ("digits-gru", "viv-name-p24_10-t4096", p24_config),
    ("quickdraw-lstm", "viv-name-p24_10-t4096", p24_config),
    ("digits-lstm", "viv-model-p18_8", lambda path: model_config("ap_fixed<18,8>")),
    ("toptag-lstm", "viv-name-auto", name_config),
    ("digits-lstm", "viv-name-auto", name_config),
    ("digits-gru", "viv-name-auto", name_config),
    ("toptag-gru", "viv-name-rf4-s0", rf4_config),
    ("digits-lstm", "viv-name-rf4-s0", rf4_config),
    ("x-digits-retseq-lstm", "viv-name-rf4-s0", rf4_config),
    ("x-digits-lstm-logits", "viv-name-rf4-s0", rf4_config),
])
def test_other_hls4ml_configurations_bit_identical(hls4ml_dir, name, key, make):
    """Wider types and 4096-entry tables, <18,8> everywhere, hls4ml's 'auto' type inference (which
    breaks its softmax models: outputs at chance, reproduced), per-layer Resource/RF 4 configs."""
    _, result, n = emulate(hls4ml_dir, name, make(hls4ml_dir / f"{name}.keras"))
    np.testing.assert_array_equal(result.y, np.load(hls4ml_dir / f"{name}_hls4ml.npz")[key][:n])


def test_io_type_strategy_and_static_do_not_change_numbers(hls4ml_dir):
    ref = np.load(hls4ml_dir / "digits-gru_hls4ml.npz")
    for key in ("vitis-model", "viv-model-stream"):
        np.testing.assert_array_equal(ref[key], ref["viv-model"])
    cfg = model_config()
    cfg["Model"].update(Strategy="Resource", ReuseFactor=4)
    cfg["IOType"] = "io_stream"
    _, result, _ = emulate(hls4ml_dir, "digits-gru", cfg)
    np.testing.assert_array_equal(result.y, ref["viv-model"])


def test_profile_refusals(hls4ml_dir, gru_reset_before_model, simplernn_model):
    path = hls4ml_dir / "toptag-lstm.keras"
    cfg = model_config()
    cfg["LayerName"] = {"lstm": {"Precision": {"accum": "ap_fixed<16,6,AP_TRN,AP_SAT>"}}}
    with pytest.raises(ConfigError, match="WRAP"):
        rnnrtl.convert(path, cfg)
    with pytest.raises(ConfigError, match="reset_after=False"):
        rnnrtl.convert(gru_reset_before_model.model, model_config())
    with pytest.raises(ConfigError, match="simplernn"):
        rnnrtl.convert(simplernn_model.model, model_config())
    with pytest.raises(ConfigError, match="numerics: hls4ml"):
        rnnrtl.convert(path, {"layers": {"dense_1": {"precision": {"accum": "auto"}}}})
    with pytest.raises(ConfigError, match="'softmax' settings"):
        load_config({"layers": {"d": {"softmax": {"implementation": "stable"}}}})
    with pytest.raises(ConfigError, match="state"):   # rnnrtl-only tensor under hls4ml's names
        rnnrtl.convert(path, {"numerics": "hls4ml", "layers": {"lstm": {"precision": {"state": "ap_fixed<18,8>"}}}})


def test_input_under_hls4ml_name(hls4ml_dir):
    """hls4ml names a Sequential model's input after its hidden Keras InputLayer ('input_layer_3'
    for digits-gru); rnnrtl calls it 'input'. Both names reach the input's precision."""
    path = hls4ml_dir / "digits-gru.keras"
    for key in ("input_layer_3", "input"):
        cfg = model_config()
        cfg["LayerName"] = {key: {"Precision": {"result": "ap_fixed<12,4>"}}}
        assert str(rnnrtl.convert(path, cfg).network.input_fmt) == "fixed<12,4,TRN,WRAP>"
    cfg["LayerName"]["input_layer_3"] = {"Precision": {"result": "ap_fixed<12,4>"}}
    with pytest.raises(ConfigError, match="both name the input"):
        rnnrtl.convert(path, cfg)


def test_hand_written_profile_equals_translated_dict(hls4ml_dir):
    """``numerics: hls4ml`` with defaults is hls4ml's granularity='model' default."""
    _, a, n = emulate(hls4ml_dir, "digits-lstm", {"numerics": "hls4ml"})
    np.testing.assert_array_equal(a.y, np.load(hls4ml_dir / "digits-lstm_hls4ml.npz")["viv-model"][:n])


def test_ir_round_trip_keeps_hls4ml_numerics(hls4ml_dir, tmp_path):
    design, result, _ = emulate(hls4ml_dir, "digits-gru", model_config())
    design.save(tmp_path / "d")
    again = rnnrtl.load_design(tmp_path / "d")
    L = again.network.layers[0]
    assert str(L.product_fmt) == "fixed<16,6,TRN,WRAP>"
    assert again.network.layers[-1].activation.softmax.implementation == "stable"
    x = np.load(hls4ml_dir / "digits-gru_data.npz")["x_test"]
    np.testing.assert_array_equal(again.run(x, warn=False).y, result.y)


#: Inputs per comparison with the installed hls4ml (the issue: at least 1,000).
HLS4ML_INPUTS = 1000


def _wide_name_config(hls4ml, model):
    """hls4ml's own granularity='name' dict, edited as a user would: default ap_fixed<20,8>, RNN
    tables of 2048 ap_fixed<18,7> entries, Dense results explicit (their accumulators stay 'auto',
    inferred by hls4ml and by rnnrtl alike)."""
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    cfg["Model"]["Precision"]["default"] = "ap_fixed<20,8>"
    for name, entry in cfg["LayerName"].items():
        if "TableSize" in entry and "Static" in entry:        # the LSTM / GRU
            entry["TableSize"] = 2048
            entry["table_t"] = "ap_fixed<18,7>"
        if name.endswith(("_relu", "_sigmoid", "_softmax")) or name.startswith("dense"):
            entry["Precision"]["result"] = "ap_fixed<20,8>"
    return cfg


@pytest.mark.parametrize("name", ["toptag-lstm", "toptag-gru", "digits-lstm", "digits-gru"])
@pytest.mark.parametrize("precision", ["ap_fixed<16,6>", "name-ap_fixed<20,8>"])
def test_against_installed_hls4ml(hls4ml_dir, tmp_path, name, precision):
    """The same Keras LSTM / GRU model compiled by a real hls4ml 1.3.0 (g++ ``compile()`` +
    ``predict()``, Vivado io_parallel) and converted by rnnrtl from the same hls4ml configuration
    dict: bit-identical outputs on 1,000 random inputs (wide enough to reach the tables' ends and
    wrap-around), at hls4ml's default ap_fixed<16,6> and at a per-layer ap_fixed<20,8> with other
    tables. Skipped when hls4ml (``pip install 'rnnrtl[hls4ml]'``) or g++ is missing."""
    hls4ml = pytest.importorskip("hls4ml", reason="hls4ml not installed (pip install 'rnnrtl[hls4ml]')")
    import shutil
    if shutil.which("g++") is None:
        pytest.skip("hls4ml's emulation needs g++")
    from rnnrtl.numerics.hls4ml_numbers import HLS4ML_VERSION
    assert hls4ml.__version__ == HLS4ML_VERSION, "numerics: hls4ml reproduces this hls4ml release"
    import keras
    model = keras.models.load_model(hls4ml_dir / f"{name}.keras")
    if precision == "ap_fixed<16,6>":
        hls_cfg = hls4ml.utils.config_from_keras_model(model, granularity="model", backend="Vivado")
        assert hls_cfg["Model"]["Precision"]["default"] == "fixed<16,6>"
    else:
        hls_cfg = _wide_name_config(hls4ml, model)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=copy.deepcopy(hls_cfg), output_dir=str(tmp_path / "prj"), backend="Vivado",
        io_type="io_parallel")
    hls_model.compile()
    x = np.random.default_rng(zlib.crc32(f"{name} {precision}".encode())).normal(
        0.0, 2.0, (HLS4ML_INPUTS,) + tuple(model.input_shape[1:])).astype(np.float32)
    y_hls = np.asarray(hls_model.predict(np.ascontiguousarray(x))).reshape(len(x), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HLS4MLConfigWarning)
        design = rnnrtl.convert(model, copy.deepcopy(hls_cfg))
    y = design.run(x, warn=False).y
    assert len(np.unique(y_hls, axis=0)) > 100      # not a saturated, constant output
    np.testing.assert_array_equal(y, y_hls)
