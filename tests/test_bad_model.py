"""Issue 17, the model-file side: damaged model files, names Verilog cannot hold, sequences of
no fixed length, and ``report --model`` with another network.

Each bad input is a row of a table: the command must exit with status 2, print one line with the
given fragments and no traceback, and leave no output folder behind. API-level checks beside them
prove the documented exception (and, for what is now accepted, the numbers and the timing).
"""

import json
import os
import shutil
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.errors import ConfigError, RnnrtlError, UnsupportedModelError  # noqa: E402
from rnnrtl.hw.network import hardware_names  # noqa: E402
from cli_helpers import assert_user_error as _assert_user_error  # noqa: E402
from cli_helpers import invoke as _invoke  # noqa: E402

keras = pytest.importorskip("keras")




def _lstm(steps, name="m", layer_names=("lstm", "out"), seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((steps, 3), name="x"),
                             keras.layers.LSTM(4, name=layer_names[0]),
                             keras.layers.Dense(2, name=layer_names[1])], name=name)


def _rewrite_zip(src, dst, config_bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = config_bytes if item.filename == "config.json" else zin.read(item.filename)
            zout.writestr(item, data)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good models (fixed length 5, variable length, names with spaces) and damaged files."""
    import h5py
    root = tmp_path_factory.mktemp("models")
    fixed = _lstm(5, "tiny")
    fixed.save(root / "tiny.keras")
    fixed.save(root / "tiny.h5")
    var = _lstm(None, "var")
    var.set_weights(fixed.get_weights())
    var.save(root / "var.keras")
    keras.utils.set_random_seed(1)
    keras.Sequential([keras.Input((4, 3), name="x"),
                      keras.layers.GRU(3, return_sequences=True, name="my gru"),
                      keras.layers.LSTM(3, name="my-gru"),
                      keras.layers.Dense(1, name="my_gru")], name="spaced model").save(root / "space.keras")
    keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(4), keras.layers.Dense(2)],
                     name="two_features").save(root / "other_in.keras")
    # damaged files
    _rewrite_zip(root / "tiny.keras", root / "latin1.keras", "{\"name\": \"caf\xe9\"}".encode("latin-1"))
    _rewrite_zip(root / "tiny.keras", root / "notjson.keras", b"{this is not json")
    _rewrite_zip(root / "tiny.keras", root / "list.keras", b"[1, 2, 3]")
    (root / "text.keras").write_text("I am not a zip file\n")
    (root / "empty.keras").write_bytes(b"")
    (root / "empty.h5").write_bytes(b"")
    (root / "text.h5").write_text("not HDF5 either\n")
    for name, value in (("notjson.h5", "{model_config: broken"), ("latin1.h5", b"\xff\xfe{}")):
        shutil.copy(root / "tiny.h5", root / name)
        with h5py.File(root / name, "r+") as f:
            f.attrs["model_config"] = np.bytes_(value) if isinstance(value, bytes) else value
    (root / "folder.keras").mkdir()
    (root / "unrolled.yaml").write_text("mode: unrolled\n")
    (root / "interleave.yaml").write_text("interleave: 2\n")
    (root / "steps0.yaml").write_text("timesteps: 0\n")
    (root / "steps_float.yaml").write_text("timesteps: 2.5\n")
    (root / "steps6.yaml").write_text("timesteps: 6\n")
    np.savez(root / "seven.npz", x_test=np.random.default_rng(0).standard_normal((8, 7, 3)))
    np.savez(root / "five.npz", x_test=np.random.default_rng(0).standard_normal((8, 5, 3)))
    return root


# -- the table: input -> exit 2, fragments of the one line -------------------------------------------

BAD = [
    # 9. model files that are not what their name says
    (["convert", "{r}/notjson.h5"], ["notjson.h5", "model_config", "not JSON"]),
    (["convert", "{r}/latin1.h5"], ["latin1.h5", "model_config", "not UTF-8"]),
    (["convert", "{r}/latin1.keras"], ["latin1.keras", "config.json", "not UTF-8"]),
    (["convert", "{r}/notjson.keras"], ["notjson.keras", "config.json", "not JSON"]),
    (["convert", "{r}/list.keras"], ["list.keras", "JSON list"]),
    (["convert", "{r}/text.keras"], ["text.keras", "not a .keras archive"]),
    (["convert", "{r}/empty.keras"], ["empty.keras", "empty"]),
    (["convert", "{r}/empty.h5"], ["empty.h5", "not an HDF5 file", "empty"]),
    (["convert", "{r}/text.h5"], ["text.h5", "not an HDF5 file"]),
    (["convert", "{r}/folder.keras"], ["folder.keras", "directory"]),
    # 3. a variable length where a fixed one is needed, and lengths that contradict
    (["convert", "{r}/var.keras"], ["'var'", "variable sequence length", "--timesteps N"]),
    (["convert", "{r}/var.keras", "-c", "{r}/unrolled.yaml"],
     ["mode: unrolled", "variable sequence length", "timesteps"]),
    (["convert", "{r}/var.keras", "-c", "{r}/interleave.yaml"],
     ["interleave: 2", "variable sequence length", "timesteps"]),
    (["convert", "{r}/tiny.keras", "--timesteps", "6"], ["timesteps = 6", "fixed sequence length of 5"]),
    (["convert", "{r}/tiny.keras", "-c", "{r}/steps6.yaml"], ["timesteps = 6", "length of 5"]),
    (["convert", "{r}/var.keras", "-c", "{r}/steps0.yaml"], ["timesteps = 0", "whole number >= 1"]),
    (["convert", "{r}/var.keras", "-c", "{r}/steps_float.yaml"], ["timesteps = 2.5", ">= 1"]),
    (["convert", "{r}/var.keras", "--timesteps", "0"], ["--timesteps", "0"]),
    (["convert", "{r}/var.keras", "--timesteps", "6", "--data", "{r}/seven.npz"],
     ["7 time steps", "timesteps = 6"]),
]


@pytest.mark.parametrize("args,fragments", BAD, ids=[" ".join(a[:2]).replace("{r}/", "") + f"-{k}"
                                                     for k, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_line(files, tmp_path, args, fragments):
    out = tmp_path / "out"
    result = _invoke(*[a.format(r=files) for a in args], "-o", out)
    _assert_user_error(result, *fragments)
    assert not out.exists()
    assert not list(tmp_path.iterdir())     # no staged folder left behind either


@pytest.mark.parametrize("name", ["notjson.h5", "latin1.h5", "latin1.keras", "notjson.keras",
                                  "list.keras", "text.keras", "empty.keras", "empty.h5", "text.h5",
                                  "folder.keras", "missing.keras"])
def test_bad_model_file_api(files, name):
    with pytest.raises(UnsupportedModelError, match=name.replace(".", r"\.")):
        rnnrtl.convert(files / name)


# -- 3. variable-length models -----------------------------------------------------------------------

def test_variable_length_emulates_any_length_like_its_fixed_twins(files):
    """The same weights at a variable length give, at every length, the numbers the model with
    that fixed length gives: the length changes nothing but how long the loop runs."""
    var = rnnrtl.convert(files / "var.keras")
    assert var.timesteps is None
    fixed_model = keras.models.load_model(files / "var.keras")
    for steps in (1, 3, 8):
        x = np.random.default_rng(steps).standard_normal((6, steps, 3))
        twin = _lstm(steps, "var")
        twin.set_weights(fixed_model.get_weights())
        expected = rnnrtl.convert(twin).emulate(x)
        np.testing.assert_array_equal(var.emulate(x), expected)
        # and close to Keras float
        assert np.max(np.abs(var.emulate(x) - fixed_model.predict(x, verbose=0))) < 0.05


@pytest.mark.parametrize("config", [{}, {"mode": "unrolled"}, {"reuse": 2, "interleave": 2}])
def test_timesteps_gives_the_timing_of_the_fixed_length_model(files, config):
    steps = 4
    twin = _lstm(steps, "var")
    twin.set_weights(keras.models.load_model(files / "var.keras").get_weights())
    expected = rnnrtl.convert(twin, config).timing
    design = rnnrtl.convert(files / "var.keras", {**config, "timesteps": steps})
    assert design.timesteps == steps
    got = design.timing
    assert (got.latency, got.ii, got.multipliers, got.timesteps) == \
        (expected.latency, expected.ii, expected.multipliers, steps)
    # the emulator still takes any length
    assert design.emulate(np.zeros((2, steps + 3, 3))).shape == (2, 2)


@pytest.mark.parametrize("config,fragment", [({}, "the timing"), ({"mode": "unrolled"}, "mode: unrolled"),
                                             ({"interleave": 2}, "interleave: 2")])
def test_variable_length_without_timesteps_is_a_config_error(files, config, fragment):
    design = rnnrtl.convert(files / "var.keras", config)
    with pytest.raises(ConfigError, match="give timesteps") as info:
        design.timing
    assert fragment in str(info.value)


def test_contradicting_timesteps_refused(files):
    with pytest.raises(ConfigError, match="fixed sequence length of 5"):
        rnnrtl.convert(files / "tiny.keras", {"timesteps": 6})
    assert rnnrtl.convert(files / "tiny.keras", {"timesteps": 5}).timing.timesteps == 5


def test_convert_variable_length_with_timesteps(files, tmp_path):
    out = tmp_path / "out"
    result = _invoke("convert", files / "var.keras", "-o", out, "--timesteps", 6,
                     "--data", files / "seven.npz")
    # data of another length than the hardware's is refused (it would be the test vectors) ...
    assert result.exit_code == 2
    result = _invoke("convert", files / "var.keras", "-o", out, "--timesteps", 6)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["timing"]["timesteps"] == 6
    assert manifest["input"]["beats_per_sequence"] == 6
    vectors = np.load(out / "vectors.npz")
    assert vectors["x"].shape[1:] == (6, 3)
    saved = rnnrtl.load_design(out / "design")
    assert saved.network.timesteps is None and saved.timesteps == 6
    assert saved.timing.latency == manifest["timing"]["latency"]


@pytest.mark.slow
def test_variable_length_core_passes_verilator(files, tmp_path):
    """Static hardware is the same for every length: the core written with --timesteps runs its
    vectors bit-exactly on Verilator, at the manifest's latency and II."""
    pytest.importorskip("cocotb")
    from rnnrtl.verify import verilator_bin
    if verilator_bin() is None:
        pytest.skip("no Verilator (rnnrtl.verify.verilator_bin)")
    out = tmp_path / "out"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("reuse: 4\n")
    result = _invoke("convert", files / "var.keras", "-o", out, "--timesteps", 3, "-c", cfg)
    assert result.exit_code == 0, result.output
    result = _invoke("simulate", out, "--samples", 20)
    assert result.exit_code == 0, result.output
    assert "0 mismatches" in result.output


# -- 7. names Verilog cannot hold ---------------------------------------------------------------------

def test_hardware_names_are_identifiers_unique_and_clean_ones_kept():
    assert hardware_names(["lstm", "dense_1", "1x"]) == ["lstm", "dense_1", "1x"]
    names = hardware_names(["my gru", "my-gru", "my_gru", "a.b", "", "é"])
    assert names[2] == "my_gru"                             # clean: kept
    assert len(set(names)) == len(names)
    assert all(n and all(c.isascii() and (c.isalnum() or c == "_") for c in n) for n in names)


def test_layer_names_with_spaces_convert(files, tmp_path):
    out = tmp_path / "out"
    result = _invoke("convert", files / "space.keras", "-o", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    names = manifest["names"]
    assert names["top"] == {"spaced_model": "spaced model"}
    assert sorted(names["layers"].values()) == ["my gru", "my-gru", "my_gru"]
    assert len(names["layers"]) == 3
    assert names["layers"]["my_gru"] == "my_gru"
    verilog = (out / f"{manifest['top']}.v").read_text()
    # yosys read it back (the Verilog is written through yosys); no name holds a space
    assert "my gru" not in verilog and "my-gru" not in verilog
    for generated in names["layers"]:
        assert generated in verilog


# -- 9. report --model with another network ----------------------------------------------------------

@pytest.fixture(scope="module")
def saved(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("saved") / "tiny"
    result = _invoke("convert", files / "tiny.keras", "-o", out)
    assert result.exit_code == 0, result.output
    return out


def test_report_model_input_differs(files, saved):
    before = (saved / "report.md").read_bytes()
    result = _invoke("report", saved, "--data", files / "five.npz", "--model", files / "other_in.keras")
    _assert_user_error(result, "other_in.keras", "input shape [batch, 5, 2]", "[batch, 5, 3]")
    assert (saved / "report.md").read_bytes() == before


def test_report_model_output_count_differs(files, saved, tmp_path):
    keras.utils.set_random_seed(2)
    path = tmp_path / "three_out.keras"
    keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(3)],
                     name="three").save(path)
    result = _invoke("report", saved, "--data", files / "five.npz", "--model", path)
    _assert_user_error(result, "three_out.keras", "output shape [batch, 3]", "[batch, 2]")


def test_report_model_checked_even_with_y_keras(files, saved, tmp_path):
    data = tmp_path / "with_y.npz"
    x = np.random.default_rng(0).standard_normal((8, 5, 3))
    np.savez(data, x_test=x, y_keras=np.zeros((8, 2)))
    result = _invoke("report", saved, "--data", data, "--model", files / "other_in.keras")
    _assert_user_error(result, "input shape [batch, 5, 2]")
    assert _invoke("report", saved, "--data", data, "--model", files / "tiny.keras").exit_code == 0


def test_report_model_api(files):
    from rnnrtl import flow
    design = rnnrtl.convert(files / "tiny.keras")
    flow.check_model_matches(flow.load_model(files / "tiny.keras"), design)
    with pytest.raises(RnnrtlError, match=r"input shape \[batch, 5, 2\]"):
        flow.check_model_matches(flow.load_model(files / "other_in.keras"), design)
    # a variable-length model matches a design of a fixed length with its features
    flow.check_model_matches(flow.load_model(files / "var.keras"), design)


def test_no_length_asked_for_what_no_length_builds():
    """Interleave with return_sequences is refused for what it is, not for a missing length."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(3, return_sequences=True,
                                                                        name="l1")])
    design = rnnrtl.convert(model, {"interleave": 2})
    with pytest.raises(rnnrtl.HardwareError, match="return_sequences"):
        design.hardware()
