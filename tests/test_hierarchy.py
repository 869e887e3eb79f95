"""The written Verilog is hierarchical, with units named for what they are.

A user looking for an LSTM's recurrent products in Vivado's hierarchy view finds
``<top>.core.<layer>.matvec_recurrent``; each activation unit is ``<function>_<role>``. The
expected names below are written from the cells' structure (docs/architecture: an LSTM has an
input and a recurrent MatVec, a gate, candidate and state activation; a GRU splits its recurrent
MatVec into z/r and h), not read from the code under test.
"""

from __future__ import annotations

import re

import pytest

import rnnrtl

keras = pytest.importorskip("keras")

EXPECTED = {
    "LSTM": {"matvec_input", "matvec_recurrent", "sigmoid_gates", "tanh_candidate", "tanh_state",
             "out_queue", "x_queue0"},
    "GRU": {"matvec_input", "matvec_recurrent_zr", "matvec_recurrent_h", "sigmoid_gates",
            "tanh_candidate", "out_queue", "x_queue0"},
    "SimpleRNN": {"matvec_input", "matvec_recurrent", "tanh_output", "out_queue", "x_queue0"},
}


def _modules(design) -> set[str]:
    from amaranth.back import verilog
    text = verilog.convert(design.hardware(), name="top", emit_src=False)
    return {m.strip() for m in re.findall(r"^module \\?([^\s(]+)", text, flags=re.M)}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_units_are_modules_named_for_what_they_are(kind):
    layer = getattr(keras.layers, kind)(3, name="rec")
    model = keras.Sequential([keras.Input((4, 2)), layer, keras.layers.Dense(2, name="head")])
    modules = _modules(rnnrtl.convert(model, {"reuse": 2}))
    units = {m.split(".")[3] for m in modules if m.startswith("top.core.rec.")}
    assert units == EXPECTED[kind]
    head = {m.split(".")[3] for m in modules if m.startswith("top.core.head.")}
    assert {"matvec", "linear_output"} <= head
