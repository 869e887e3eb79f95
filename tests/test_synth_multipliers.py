"""rnnrtl.synth.multipliers: where a core's multipliers come from, and why yosys's DSP count
differs."""

import pytest

from rnnrtl.synth.multipliers import multiplier_inventory, multiplier_note
from synth_helpers import write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def test_multiplier_note(tiny):
    design, _ = tiny
    inv = multiplier_inventory(design.network)
    assert inv["shared"] == design.timing.multipliers      # reuse 3 everywhere: no constants
    assert inv["constant"] == 0
    assert "one DSP per multiplier" in multiplier_note(8, 8, "xc7", inv)
    assert "constant weight" in multiplier_note(10, 4, "xc7")
    assert "several DSPs" in multiplier_note(4, 8, "ecp5")


@pytest.mark.parametrize("kind, config", [
    ("gru", {"reuse": 2}), ("gru", {"reuse_input": 1, "reuse_recurrent": 3}),
    ("lstm", {"reuse_input": 2, "reuse_recurrent": 1}), ("simplernn", {"reuse": 5})])
def test_inventory_accounts_for_every_multiplier(kind, config):
    """Constant products (one multiplier each at reuse 1), shared and elementwise multipliers add
    up to the hardware's own count, GRU's two recurrent units included."""
    import keras

    import rnnrtl
    keras.utils.set_random_seed(3)
    layer = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM,
             "simplernn": keras.layers.SimpleRNN}[kind]
    model = keras.Sequential([keras.Input((4, 3)), layer(5, name="rnn"), keras.layers.Dense(2)])
    design = rnnrtl.convert(model, config)
    inv = multiplier_inventory(design.network)
    assert inv["constant"] + inv["shared"] + inv["elementwise"] == design.timing.multipliers
