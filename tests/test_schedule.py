"""``rnnrtl.schedule``: matrix units and multiplier counts equal the hardware's own; reuse checks;
``adder_fanin`` rides on every layer's schedule and survives a save / load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rnnrtl
from rnnrtl import ir
from rnnrtl.schedule import MatrixUnit, Schedule, matrix_units, multipliers

keras = pytest.importorskip("keras")

T = 5


def _seeded(model, seed=3):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def every_kind():
    """Input(5, 3) -> LSTM(4) -> GRU(3, reset_after=False) -> GRU(5) -> SimpleRNN(3) -> Dense(2)."""
    return _seeded(keras.Sequential([
        keras.Input((T, 3), name="input"),
        keras.layers.LSTM(4, return_sequences=True, name="lstm"),
        keras.layers.GRU(3, reset_after=False, return_sequences=True, name="gru_before"),
        keras.layers.GRU(5, return_sequences=True, name="gru_after"),
        keras.layers.SimpleRNN(3, name="rnn"),
        keras.layers.Dense(2, activation="relu", name="out"),
    ], name="every_kind"))


@pytest.fixture(scope="module")
def softmax_model():
    """Input(5, 3) -> LSTM(4) -> Dense(3, softmax): under numerics: hls4ml, a table softmax."""
    return _seeded(keras.Sequential([
        keras.Input((T, 3), name="input"), keras.layers.LSTM(4, name="lstm"),
        keras.layers.Dense(3, activation="softmax", name="out")], name="softmax_model"))


def _check_against_hardware(design):
    timing = design.timing
    for layer, hw in zip(design.network.layers, timing.layers):
        assert hw.name == layer.name
        assert multipliers(layer, design.network.timesteps) == hw.multipliers, (layer.name, layer.schedule)
    assert sum(multipliers(L, design.network.timesteps) for L in design.network.layers) == timing.multipliers


@pytest.mark.parametrize("cfg", [
    {},
    {"reuse": 2},
    {"reuse_input": 3, "reuse_recurrent": 5},
    {"reuse": 6, "layers": {"lstm": {"reuse_input": 7, "reuse_recurrent": 16}}},
    {"reuse": 4, "mode": "unrolled"},
    {"reuse": 3, "pipeline": "deep", "layers": {"rnn": {"interleave": 2}}},
])
def test_multipliers_equal_the_hardware_counts(every_kind, cfg):
    _check_against_hardware(rnnrtl.convert(every_kind, cfg))


@pytest.mark.parametrize("cfg", [
    {"numerics": "hls4ml"},
    {"numerics": "hls4ml", "reuse": 4},
    {"numerics": "hls4ml", "reuse": 2, "layers": {"out_softmax": {"softmax": {"implementation": "argmax"}}}},
    {"numerics": "hls4ml", "reuse": 2, "layers": {"out_softmax": {"softmax": {"implementation": "latency"}}}},
])
def test_multipliers_with_a_table_softmax(softmax_model, cfg):
    _check_against_hardware(rnnrtl.convert(softmax_model, cfg))


def test_matrix_units_are_the_weight_matrices(every_kind):
    net = rnnrtl.convert(every_kind, {"reuse_input": 2, "reuse_recurrent": 3}).network
    for layer in net.layers:
        units = {u.name: u for u in matrix_units(layer)}
        assert units["kernel"] == MatrixUnit("kernel", "input", *layer.kernel.codes.shape, 2)
        if isinstance(layer, ir.GRU):
            N = layer.units
            assert units["recurrent_zr"] == MatrixUnit("recurrent_zr", "recurrent", 2 * N, N, 3)
            assert units["recurrent_h"] == MatrixUnit("recurrent_h", "recurrent", N, N, 3)
            assert layer.recurrent.codes.shape == (3 * N, N)
        elif isinstance(layer, ir.Dense):
            assert list(units) == ["kernel"]
        else:
            assert units["recurrent"] == MatrixUnit("recurrent", "recurrent", *layer.recurrent.codes.shape, 3)


def test_multiplier_count_is_products_over_reuse():
    unit = MatrixUnit("kernel", "input", 16, 5, 3)
    assert (unit.products, unit.multipliers) == (80, 27)
    assert MatrixUnit("kernel", "input", 4, 4, 16).multipliers == 1


def test_unrolled_needs_the_sequence_length(every_kind):
    layer = rnnrtl.convert(every_kind, {"mode": "unrolled"}).network.layer("lstm")
    assert multipliers(layer, T) == T * multipliers(rnnrtl.convert(every_kind).network.layer("lstm"))
    with pytest.raises(ValueError, match="sequence length"):
        multipliers(layer)


# -- adder fan-in -----------------------------------------------------------------------------------

def test_adder_fanin_rides_on_every_schedule(every_kind, tmp_path):
    design = rnnrtl.convert(every_kind, {"adder_fanin": 2})
    assert {L.schedule.adder_fanin for L in design.network.layers} == {2}
    assert rnnrtl.convert(every_kind).network.layers[0].schedule.adder_fanin == 4 == Schedule().adder_fanin
    design.save(tmp_path / "d")
    again = rnnrtl.load_design(tmp_path / "d")
    assert [L.schedule for L in again.network.layers] == [L.schedule for L in design.network.layers]


@pytest.mark.parametrize("fanin, expect", [(3, 3), (None, 4)])
def test_design_saved_before_adder_fanin_loads(every_kind, tmp_path, fanin, expect):
    """A design.json written before Schedule had ``adder_fanin``: the configuration's value (or the
    default when the configuration has none either) fills every layer's schedule."""
    design = rnnrtl.convert(every_kind, {"adder_fanin": fanin or 4})
    json_path, _ = design.save(tmp_path / "d")
    doc = json.loads(json_path.read_text())
    for layer in doc["network"]["layers"]:
        del layer["schedule"]["adder_fanin"]
    if fanin is None:
        del doc["network"]["config"]["adder_fanin"]
    else:
        doc["network"]["config"]["adder_fanin"] = fanin
    json_path.write_text(json.dumps(doc))
    loaded = rnnrtl.load_design(tmp_path / "d")
    assert {L.schedule.adder_fanin for L in loaded.network.layers} == {expect}
