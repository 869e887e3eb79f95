"""Bad or unusual input, as a demanding new user gives it: one line, exit 2, nothing lost.

Each case is an input and the fragments its one-line error must contain; the command must exit
with status 2, print no traceback, and leave the output folder as it was (absent, or untouched).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnrtl.outdir import MARKER, check_output_folder, staged_output  # noqa: E402
from rnnrtl.errors import FlowError  # noqa: E402
from cli_helpers import assert_user_error as _assert_user_error  # noqa: E402
from cli_helpers import invoke as _invoke  # noqa: E402




def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``Input(5, 3) -> LSTM(4) -> Dense(1, sigmoid)`` saved, and a binary model of 3 outputs."""
    import keras
    root = tmp_path_factory.mktemp("bad")
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((5, 3), name="x"), keras.layers.LSTM(4, name="lstm"),
                      keras.layers.Dense(1, activation="sigmoid", name="out")],
                     name="tiny").save(root / "tiny.keras")
    keras.Sequential([keras.Input((5, 3), name="x"),
                      keras.layers.LSTM(4, return_sequences=True, name="lstm"),
                      keras.layers.Dense(1, name="out")], name="seq").save(root / "seq.keras")
    return root


# -- 1. the output folder: never the current directory, never someone else's files ------------------

def test_empty_output_name_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("keep me")
    result = _invoke("convert", tiny / "tiny.keras", "-o", "")
    _assert_user_error(result, "current directory", "-o out/model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_current_directory_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _assert_user_error(_invoke("convert", tiny / "tiny.keras", "-o", "."), "current directory")


def test_folder_with_user_files_is_not_overwritten(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    result = _invoke("convert", tiny / "tiny.keras", "-o", out)
    _assert_user_error(result, "not empty and not an rnnrtl output", "notes.md")
    assert _snapshot(out) == {(out / "notes.md").relative_to(out): b"mine"}


def test_output_folder_that_is_a_file(tiny, tmp_path):
    (tmp_path / "f").write_text("x")
    _assert_user_error(_invoke("convert", tiny / "tiny.keras", "-o", tmp_path / "f"), "is a file")
    with pytest.raises(FlowError, match="existing file"):
        check_output_folder(tmp_path / "f")


def test_staged_output_replaces_an_earlier_output_whole_and_only_on_success(tmp_path):
    out = tmp_path / "out"
    with staged_output(out) as stage:
        (stage / "a.txt").write_text("first")
    assert (out / MARKER).is_file() and (out / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError):
        with staged_output(out) as stage:
            (stage / "b.txt").write_text("half")
            raise RuntimeError("failed half-way")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "a.txt"])
    with staged_output(out) as stage:
        (stage / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "b.txt"])
    assert [p.name for p in tmp_path.iterdir()] == ["out"]   # no staging folder left behind


def test_unwritable_parent_is_refused(tmp_path, monkeypatch):
    """(CI runs as root, who may write anywhere: the permission check itself is replaced.)"""
    import rnnrtl.outdir
    monkeypatch.setattr(rnnrtl.outdir.os, "access", lambda path, mode: False)
    with pytest.raises(FlowError, match="not writable"):
        check_output_folder(tmp_path / "new" / "out")


# -- 2. restrictions of the generator: one line, nothing half-written -------------------------------

@pytest.mark.parametrize("config, fragments", [
    ("interleave: 2\n", ("'lstm'", "interleave")),
    ("mode: unrolled\ninterleave: 2\n", ("unrolled", "interleave")),
])
def test_generator_restrictions_leave_nothing_behind(tiny, tmp_path, config, fragments):
    (tmp_path / "c.yaml").write_text(config)
    result = _invoke("convert", tiny / "seq.keras", "-o", tmp_path / "out", "-c", tmp_path / "c.yaml")
    _assert_user_error(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


# -- 6, 9. data files ---------------------------------------------------------------------------------

X = np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32)
Y = np.random.default_rng(1).uniform(0, 1, (8, 1))


def _nan_y():
    y = Y.copy()
    y[3, 0] = np.nan
    return y


DATA_CASES = {
    "nan in y_keras": (dict(x_test=X, y_keras=_nan_y()), ("y_keras", "NaN", "(3, 0)")),
    "inf in x_test": (dict(x_test=np.where(X > 2, np.inf, X)), ("x_test", "NaN or infinite")),
    "float labels": (dict(x_test=X, labels=np.linspace(0, 1, 8)), ("not whole numbers", "0 or 1")),
    "label 2 on a binary model": (dict(x_test=X, labels=np.array([0, 1, 2, 0, 1, 0, 1, 0])),
                                  ("[2]", "out of range", "0 or 1")),
    "string labels": (dict(x_test=X, labels=np.array(list("abababab"))), ("<U1", "integer class")),
    "empty x_test": (dict(x_test=np.zeros((0, 5, 3))), ("(0, 5, 3)", "no sequences")),
    "string x_test": (dict(x_test=np.full((8, 5, 3), "a")), ("x_test", "must hold numbers")),
    "labels of other length": (dict(x_test=X, labels=np.zeros(3, int)), ("labels has 3 rows", "8")),
    "one-hot of the wrong width": (dict(x_test=X, labels=np.eye(3)[np.arange(8) % 3]),
                                   ("shape (8, 3)", "one-hot rows of 2 columns")),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_file(tiny, tmp_path, case):
    arrays, fragments = DATA_CASES[case]
    np.savez(tmp_path / "d.npz", **arrays)
    result = _invoke("convert", tiny / "tiny.keras", "-o", tmp_path / "out", "--data", tmp_path / "d.npz")
    _assert_user_error(result, "d.npz", *fragments)
    assert not (tmp_path / "out").exists()


def test_npy_given_as_data(tiny, tmp_path):
    np.save(tmp_path / "x.npy", X)
    result = _invoke("convert", tiny / "tiny.keras", "-o", tmp_path / "out", "--data", tmp_path / "x.npy")
    _assert_user_error(result, "single array (.npy)", "np.savez")


def test_one_hot_labels_become_classes(tiny, tmp_path):
    """Two one-hot columns for a single sigmoid output are classes 0 / 1, not dropped."""
    from rnnrtl.flow import load_data
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    np.savez(tmp_path / "d.npz", x_test=X, labels=np.eye(2)[labels])
    data = load_data(tmp_path / "d.npz", in_features=3, timesteps=5, out_features=1)
    assert data.labels.tolist() == labels.tolist()


# -- 10. command-line values ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0"])
def test_clock_must_be_a_finite_positive_number(tiny, tmp_path, value):
    result = _invoke("convert", tiny / "tiny.keras", "-o", tmp_path / "out", "--clock-mhz", value)
    assert result.exit_code == 2 and "clock frequency" in result.output
    assert not (tmp_path / "out").exists()


# -- 8. damaged output folders --------------------------------------------------------------------

@pytest.fixture(scope="module")
def written(tiny, tmp_path_factory):
    """A design written by `rnnrtl convert` (Verilog, manifest, vectors)."""
    out = tmp_path_factory.mktemp("written") / "out"
    result = _invoke("convert", tiny / "tiny.keras", "-o", out)
    assert result.exit_code == 0, result.output
    return out


def _damaged(written, tmp_path, damage):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(written, out)
    damage(out)
    return out


DAMAGE = {
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{not json"), ("not valid JSON",)),
    "manifest truncated": (lambda d: (d / "manifest.json").write_text('{"top": "tiny"}'),
                           ("lacks 'verilog'", "rnnrtl convert")),
    "manifest a list": (lambda d: (d / "manifest.json").write_text("[1, 2]"), ("not a JSON object",)),
    "manifest not UTF-8": (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe{"), ("not valid JSON",)),
    "Verilog deleted": (lambda d: (d / "tiny.v").unlink(), ("tiny.v", "missing")),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_build_on_a_damaged_folder(written, tmp_path, case):
    damage, fragments = DAMAGE[case]
    out = _damaged(written, tmp_path, damage)
    result = _invoke("build", out, "--target", "vu9p", "--no-run")
    _assert_user_error(result, *fragments)
