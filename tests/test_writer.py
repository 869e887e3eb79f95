"""``Design.write`` converts the circuit once and writes what Amaranth's two back ends would.

The Verilog is produced from the RTLIL text of the one conversion (:func:`rnnrtl.writer.
rtlil_to_verilog`): it must be byte for byte ``amaranth.back.verilog.convert`` of the same design
(built afresh here, so the comparison also covers a second elaboration), and the RTLIL byte for
byte ``amaranth.back.rtlil.convert``; the component graph is elaborated once per write.
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
    model = _model(kind)
    paths = rnnrtl.convert(model, config).write(tmp_path, samples=2, rtlil=True)
    top = json.loads(paths["manifest"].read_text())["top"]
    fresh = rnnrtl.convert(model, config).hardware()
    expected = verilog.convert(fresh, name=top, emit_src=False)
    if config.get("weights") == "file":
        from rnnrtl.weights_file import move_to_files
        expected, _ = move_to_files(expected, top)
    assert paths["verilog"].read_text() == expected
    assert paths["rtlil"].read_text() == rtlil.convert(fresh, name=top, emit_src=False)


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
