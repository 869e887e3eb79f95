"""rnnrtl.flow: data files, reuse sweeps and design directories, as the command line uses them."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import flow  # noqa: E402
from rnnrtl.config import load_config  # noqa: E402


@pytest.fixture(scope="module")
def toptag(hls4ml_dir):
    return flow.load_model(hls4ml_dir / "toptag-lstm.keras"), dict(np.load(hls4ml_dir / "toptag-lstm_data.npz"))


def test_load_data_reads_the_optional_arrays(tmp_path):
    x = np.zeros((3, 4, 2), np.float32)
    np.savez(tmp_path / "a.npz", x_test=x)
    np.savez(tmp_path / "b.npz", x_test=x, y_keras=np.ones((3, 1)), labels=np.array([0, 1, 1]))
    a = flow.load_data(tmp_path / "a.npz", in_features=2, timesteps=4)
    assert a.y_float is None and a.labels is None and a.x.shape == (3, 4, 2)
    b = flow.load_data(tmp_path / "b.npz")
    assert b.y_float.shape == (3, 1) and b.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("arrays, match", [
    ({"inputs": np.zeros((3, 4, 2))}, "no 'x_test'"),
    ({"x_test": np.zeros((3, 4))}, r"shape \(3, 4\)"),
    ({"x_test": np.zeros((3, 4, 5))}, r"expects \[batch, 4, 2\]"),
    ({"x_test": np.zeros((3, 4, 2)), "labels": np.zeros(2)}, "labels has 2 rows, x_test has 3"),
    ({"x_test": np.zeros((3, 4, 2)), "y_keras": np.zeros((3, 2))}, "y_keras has shape .* 1 outputs"),
])
def test_load_data_refuses_unusable_files(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(flow.FlowError, match=match):
        flow.load_data(tmp_path / "bad.npz", in_features=2, timesteps=4, out_features=1)


def test_load_data_missing_or_unreadable(tmp_path):
    with pytest.raises(flow.FlowError, match="does not exist"):
        flow.load_data(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("not an npz")
    with pytest.raises(flow.FlowError, match="not a readable .npz"):
        flow.load_data(tmp_path / "text.npz")


def test_with_reuse_keeps_per_layer_overrides():
    config = load_config({"reuse_input": 4, "layers": {"lstm": {"reuse_recurrent": 8}}})
    out = flow.with_reuse(config, 2)
    assert out["reuse"] == 2 and "reuse_input" not in out
    assert out["layers"]["lstm"] == {"reuse_recurrent": 8}
    assert config["reuse_input"] == 4                       # the original is untouched


def test_sweep_reuse_changes_the_schedule_not_the_numbers(toptag):
    model, data = toptag
    sweep = flow.sweep_reuse(model, load_config(None), [1, 4])
    assert [r for r, _, _ in sweep] == [1, 4]
    assert [d.network.layers[0].schedule.reuse_input for _, _, d in sweep] == [1, 4]
    x = data["x_test"][:64]
    codes = [d.run(x).codes for _, _, d in sweep]
    np.testing.assert_array_equal(codes[0], codes[1])


def test_saved_design_round_trip_and_weight_overflows(toptag, tmp_path):
    model, _ = toptag
    design = rnnrtl.convert(model, {"precision": {"weight": "fixed<8,-1>"}})
    assert design.weight_overflows
    flow.save_design(design, tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"weight_overflows": design.weight_overflows}))
    loaded = flow.load_saved(tmp_path)
    assert loaded.weight_overflows == design.weight_overflows
    assert [str(l.output_fmt) for l in loaded.network.layers] == \
        [str(l.output_fmt) for l in design.network.layers]


def test_load_saved_without_design(tmp_path):
    with pytest.raises(flow.FlowError, match="no saved design"):
        flow.load_saved(tmp_path)
    (tmp_path / "design.json").write_text("{}")
    with pytest.raises(flow.FlowError, match="cannot read the saved design"):
        flow.load_saved(tmp_path)


def test_keras_outputs(toptag):
    model, data = toptag
    np.testing.assert_allclose(flow.keras_outputs(model, data["x_test"][:32]), data["y_keras"][:32],
                               rtol=1e-5, atol=1e-6)
