"""``rnnrtl explore`` (and ``precision: auto``) on bad input: one line, exit 2, nothing written."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cli_helpers import assert_user_error, invoke  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``Input(5, 3) -> LSTM(4) -> Dense(1, sigmoid)`` saved, with data holding its float outputs
    (no labels)."""
    import keras
    root = tmp_path_factory.mktemp("explore-bad")
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(40, 5, 3)).astype(np.float32)
    model = keras.Sequential([keras.Input((5, 3), name="x"), keras.layers.LSTM(4, name="lstm"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")], name="tiny")
    model.save(root / "tiny.keras")
    np.savez(root / "tiny.npz", x_test=x, y_keras=model(x).numpy())
    return root


def _explore(tiny, *args):
    return invoke("explore", tiny / "tiny.keras", "--data", tiny / "tiny.npz",
                  "--cache", tiny / "cache", *args)


@pytest.mark.parametrize("goal, fragments", [
    ("agreement=0.99", ["'agreement=0.99'", "is not 'metric>=X'", "agreement>=X"]),
    ("accuracy>=0.9", ["unknown metric 'accuracy'", "accuracy_drop<=X"]),
    ("agreement<=0.99", ["agreement takes a bound >= X"]),
    ("agreement>=99.5", ["agreement is a fraction 0..1"]),
    ("ii<=100", ["bound only the timing"]),
])
def test_bad_goal(tiny, tmp_path, goal, fragments):
    out = tmp_path / "out"
    assert_user_error(_explore(tiny, "-o", out, "--goal", goal), *fragments)
    assert not out.exists()


def test_missing_data(tiny, tmp_path):
    r = invoke("explore", tiny / "tiny.keras", "-o", tmp_path / "out")
    assert_user_error(r, "explore needs --data", "x_test")


def test_unreachable_scheduler(tiny, tmp_path):
    import socket
    with socket.socket() as s:          # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _explore(tiny, "-o", tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert_user_error(r, f"--scheduler tcp://127.0.0.1:{port}", "no Dask scheduler answers",
                      "dask scheduler")
    assert not (tmp_path / "out").exists()


def test_timing_goal_without_reuse(tiny, tmp_path):
    r = _explore(tiny, "-o", tmp_path / "out", "--goal", "agreement>=0.9,ii<=50", "--workers", "1")
    assert_user_error(r, "goal ii<=50 bounds the timing", "--reuse")


def test_auc_goal_without_labels(tiny, tmp_path):
    r = _explore(tiny, "-o", tmp_path / "out", "--goal", "auc_drop<=0.01", "--workers", "1")
    assert_user_error(r, "goal auc_drop<=0.01", "needs labels", "give labels in the data")


def test_hls4ml_numerics_are_not_searched(tiny, tmp_path):
    (tmp_path / "h.yaml").write_text("numerics: hls4ml\n")
    r = _explore(tiny, "-o", tmp_path / "out", "-c", tmp_path / "h.yaml", "--workers", "1")
    assert_user_error(r, "numerics: default", "numerics: hls4ml")


def test_foreign_output_folder(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert_user_error(_explore(tiny, "-o", out), "not empty and not an rnnrtl output")
    assert (out / "notes.txt").read_text() == "keep me"


def test_precision_auto_without_data(tiny, tmp_path):
    (tmp_path / "auto.yaml").write_text("precision: auto\n")
    r = invoke("convert", tiny / "tiny.keras", "-c", tmp_path / "auto.yaml", "-o", tmp_path / "out")
    assert_user_error(r, "precision: auto", "--data DATA.npz")
    assert not (tmp_path / "out").exists()
