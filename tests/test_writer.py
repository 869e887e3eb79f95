"""``Design.write`` converts the circuit once and writes what Amaranth's two back ends would,
with identical units merged into one module (:mod:`rnnrtl.rtlil_dedup`).

The Verilog is produced from the RTLIL text of the one conversion (:func:`rnnrtl.writer.
rtlil_to_verilog`). For a design without identical units (nothing to merge) it must be byte for
byte ``amaranth.back.verilog.convert`` of the same design (built afresh here, so the comparison
also covers a second elaboration), and the RTLIL byte for byte ``amaranth.back.rtlil.convert``;
with identical units (interleaved x queues, unrolled stages) the RTLIL is that text merged, and the
Verilog yosys's conversion of it. The component graph is elaborated once per write.
"""

from __future__ import annotations

import json

import pytest

import rnnrtl

keras = pytest.importorskip("keras")


def _model(kind: str):
    layer = getattr(keras.layers, kind)(3, name="rec")
    model = keras.Sequential([keras.Input((4, 2)), layer, keras.layers.Dense(2, name="head")])
    return model


@pytest.mark.parametrize("kind,config", [
    ("LSTM", {"reuse": 2}),
    ("GRU", {"reuse": 1}),
    ("LSTM", {"reuse": 3, "pipeline": "deep"}),
    ("GRU", {"reuse": 2, "weights": "file"}),
])
def test_written_verilog_and_rtlil_are_amaranths(tmp_path, kind, config):
    from amaranth.back import rtlil, verilog
    from rnnrtl.rtlil_dedup import merge_identical
    model = _model(kind)
    paths = rnnrtl.convert(model, config).write(tmp_path, samples=2, rtlil=True)
    top = json.loads(paths["manifest"].read_text())["top"]
    fresh = rnnrtl.convert(model, config).hardware()
    il_text = rtlil.convert(fresh, name=top, emit_src=False)
    assert merge_identical(il_text).merged == 0
    expected = verilog.convert(fresh, name=top, emit_src=False)
    if config.get("weights") == "file":
        from rnnrtl.weights_file import move_to_files
        expected, _ = move_to_files(expected, top)
    assert paths["verilog"].read_text() == expected
    assert paths["rtlil"].read_text() == il_text


@pytest.mark.parametrize("config,merged", [
    ({"reuse": 2, "interleave": 2}, {"x_queue0", "x_queue1"}),
    ({"reuse": 2, "mode": "unrolled"}, {"matvec_input", "sigmoid_gates", "tanh_candidate"}),
])
def test_identical_units_are_written_once(tmp_path, config, merged):
    from amaranth.back import rtlil
    from rnnrtl.rtlil_dedup import merge_identical
    from rnnrtl.writer import rtlil_to_verilog
    model = _model("LSTM")
    paths = rnnrtl.convert(model, config).write(tmp_path, samples=2, rtlil=True)
    top = json.loads(paths["manifest"].read_text())["top"]
    result = merge_identical(rtlil.convert(rnnrtl.convert(model, config).hardware(), name=top,
                                           emit_src=False))
    assert result.merged > 0
    assert paths["rtlil"].read_text() == result.text
    assert paths["verilog"].read_text() == rtlil_to_verilog(result.text)
    shared = {name.rsplit(".", 1)[-1] for name, kept in result.modules.items()
              if list(result.modules.values()).count(kept) > 1}
    assert merged <= shared


def test_write_elaborates_the_top_once(tmp_path, monkeypatch):
    from rnnrtl.hw import network
    calls = []
    elaborate = network.AXIStreamTop.elaborate

    def counting(self, platform):
        calls.append(self)
        return elaborate(self, platform)

    monkeypatch.setattr(network.AXIStreamTop, "elaborate", counting)
    rnnrtl.convert(_model("LSTM"), {"reuse": 2}).write(tmp_path, samples=2, rtlil=True)
    assert len(calls) == 1
