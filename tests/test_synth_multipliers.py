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
