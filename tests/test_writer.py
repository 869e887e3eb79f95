"""``Design.write`` converts the circuit once and writes what Amaranth's two back ends would,
with identical units merged into one module (:mod:`rnnrtl.rtlil_dedup`).

The written RTLIL is ``amaranth.back.rtlil.convert`` of the same design (built afresh here, so the
comparison also covers a second elaboration) with identical units merged (activation lanes,
interleaved x queues, unrolled stages), and the Verilog yosys's conversion of that text
(:func:`rnnrtl.writer.rtlil_to_verilog`, which on an unmerged text is byte for byte
``amaranth.back.verilog.convert``). The component graph is elaborated once per write.
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


@pytest.mark.parametrize("kind,config,shared", [
    ("LSTM", {"reuse": 2}, {"requantize0", "requantize1"}),
    ("GRU", {"reuse": 1}, {"requantize0", "requantize1"}),
    ("LSTM", {"reuse": 3, "pipeline": "deep"}, {"requantize0", "requantize1"}),
    ("GRU", {"reuse": 2, "weights": "file"}, {"requantize0", "requantize1"}),
    ("LSTM", {"reuse": 2, "interleave": 2}, {"x_queue0", "x_queue1"}),
    ("LSTM", {"reuse": 2, "mode": "unrolled"}, {"matvec_input", "sigmoid_gates", "tanh_candidate"}),
])
def test_written_verilog_and_rtlil_are_amaranths_merged(tmp_path, kind, config, shared):
    """The written RTLIL is Amaranth's with identical units merged, the Verilog yosys's
    conversion of it (with ``weights: file``, its memories moved to files); ``shared``: units
    (last path component) that are among the merged ones."""
    from amaranth.back import rtlil
    from rnnrtl.rtlil_dedup import merge_identical
    from rnnrtl.writer import rtlil_to_verilog
    model = _model(kind)
    paths = rnnrtl.convert(model, config).write(tmp_path, samples=2, rtlil=True)
    top = json.loads(paths["manifest"].read_text())["top"]
    fresh = rnnrtl.convert(model, config).hardware()
    result = merge_identical(rtlil.convert(fresh, name=top, emit_src=False))
    assert result.merged > 0
    expected = rtlil_to_verilog(result.text)
    if config.get("weights") == "file":
        from rnnrtl.weights_file import move_to_files
        expected, _ = move_to_files(expected, top)
    assert paths["verilog"].read_text() == expected
    assert paths["rtlil"].read_text() == result.text
    kept = list(result.modules.values())
    merged_units = {name.rsplit(".", 1)[-1] for name, module in result.modules.items()
                    if kept.count(module) > 1}
    assert shared <= merged_units


def test_rtlil_to_verilog_is_amaranths_verilog():
    """Without merging, the Verilog of the RTLIL text is byte for byte ``verilog.convert``'s."""
    from amaranth.back import rtlil, verilog
    from rnnrtl.writer import rtlil_to_verilog
    model = _model("GRU")
    fresh = rnnrtl.convert(model, {"reuse": 2}).hardware()
    il_text = rtlil.convert(fresh, name="top", emit_src=False)
    assert rtlil_to_verilog(il_text) == verilog.convert(rnnrtl.convert(model, {"reuse": 2}).hardware(),
                                                        name="top", emit_src=False)


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


def test_fewer_full_collections_puts_the_thresholds_back():
    """The conversion's collector setting: a high oldest-generation threshold inside, the young
    ones untouched, and the thresholds of before restored even when the block raises."""
    import gc
    from rnnrtl.writer import FULL_COLLECTION_THRESHOLD, fewer_full_collections
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="inside"):
        with fewer_full_collections():
            inside = gc.get_threshold()
            raise RuntimeError("inside")
    assert inside[:2] == before[:2]
    assert inside[2] == max(before[2], FULL_COLLECTION_THRESHOLD) > 10
    assert gc.get_threshold() == before


def test_vectors_of_another_length_are_refused_before_the_conversion(tmp_path, monkeypatch):
    """Test vectors are checked first: a length the timing is not for raises at once, before
    the (minutes-long, for a large core) conversion, and nothing is written."""
    import numpy as np
    from rnnrtl import writer
    from rnnrtl.errors import ConfigError

    def no_conversion(top, name):
        raise AssertionError("converted before the vectors were checked")

    monkeypatch.setattr(writer, "to_rtlil", no_conversion)
    with pytest.raises(ConfigError, match="5 time steps.*timesteps = 4"):
        rnnrtl.convert(_model("GRU"), {"reuse": 2}).write(tmp_path / "out", x=np.zeros((2, 5, 2)))
    assert not list((tmp_path / "out").glob("*.v"))
