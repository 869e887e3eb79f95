"""``rnnrtl.numerics.hls4ml_config``: hls4ml configuration dicts translated, or refused by name."""

from __future__ import annotations

import pytest

from rnnrtl.config import load_config
from rnnrtl.errors import ConfigError, HLS4MLConfigWarning
from rnnrtl.numerics.hls4ml_config import config_from_hls4ml, parse_hls4ml_precision


def test_config_from_hls4ml_mapping():
    cfg = config_from_hls4ml({"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 2},
                              "LayerName": {"lstm": {"Precision": {"accum": "ap_fixed<20,8>"},
                                                     "Static": False, "TableSize": 4096,
                                                     "table_t": "ap_fixed<18,4>"},
                                            "dense_softmax": {"implementation": "latency",
                                                              "exp_table_t": "ap_fixed<18,8,AP_RND,AP_SAT>",
                                                              "TableSize": 2048}}})
    assert cfg["numerics"] == "hls4ml" and cfg["reuse"] == 2
    assert cfg["precision"]["default"] == "fixed<16,6,TRN,WRAP>"   # hls4ml's fixed = ap_fixed
    lstm = cfg["layers"]["lstm"]
    assert lstm["mode"] == "unrolled" and lstm["tables"]["tanh"]["size"] == 4096
    assert lstm["precision"] == {"accum": "fixed<20,8,TRN,WRAP>", "table": "fixed<18,4,TRN,WRAP>"}
    assert cfg["layers"]["dense_softmax"]["softmax"] == {
        "implementation": "latency", "exp_table": "fixed<18,8,RND,SAT>", "table_size": 2048}
    assert load_config(cfg)["numerics"] == "hls4ml"


@pytest.mark.parametrize("hls, match", [
    ({"Model": {"Precision": "fixed<16,6>"}, "LayerType": {}}, "LayerType"),
    ({"Model": {"Precision": "fixed<16,6>"}, "SkipOptimizers": ["x"]}, "SkipOptimizers"),
    ({"Model": {"Precision": "float"}}, "Model.Precision"),
    ({"Model": {"Precision": "auto"}}, "explicit"),
    ({"Model": {"Precision": {"default": "fixed<16,6>", "maximum": "fixed<24,10>"}}}, "maximum"),
    ({"Model": {"Precision": "fixed<16,6>", "Strategy": "distributed_arithmetic"}}, "Strategy"),
    ({"Model": {"Precision": "fixed<16,6>", "Bogus": 1}}, "Model.Bogus"),
    ({"Model": {}, "LayerName": {"d_softmax": {"skip": True}}}, "skip"),
    ({"Model": {}, "LayerName": {"d": {"Precision": {"weight": "ap_int<8>"}}}}, "LayerName.d.Precision.weight"),
    ({"Model": {}, "LayerName": {"d": {"Precision": {"scale": "fixed<8,2>"}}}}, "'scale'"),
    ({"Model": {}, "LayerName": {"d": {"Unknown": 1}}}, "LayerName.d.Unknown"),
    ({"Model": {}, "Backend": "Quartus"}, "Backend"),
])
def test_config_from_hls4ml_refuses_what_it_cannot_honour(hls, match):
    with pytest.raises(ConfigError, match=match):
        config_from_hls4ml(hls)


def test_ignored_table_precision_warns():
    with pytest.warns(HLS4MLConfigWarning, match="table_t"):
        config_from_hls4ml({"Model": {}, "LayerName": {"lstm": {"Precision": {"table": "fixed<24,8>"}}}})


def test_precision_strings():
    assert parse_hls4ml_precision("fixed<16,6>", "p") == "fixed<16,6,TRN,WRAP>"
    assert parse_hls4ml_precision("ufixed<8,0,RND_CONV,SAT>", "p") == "ufixed<8,0,RND_CONV,SAT>"
    assert parse_hls4ml_precision("ap_fixed<18,8,AP_RND,AP_SAT,0>", "p") == "fixed<18,8,RND,SAT>"
