"""The ``rnnrtl`` command line, through click's CliRunner and once as the installed console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import demo as bundled  # noqa: E402
from rnnrtl.evaluation import decisions  # noqa: E402
from cli_helpers import assert_user_error as _assert_user_error  # noqa: E402
from cli_helpers import invoke as _invoke  # noqa: E402
from synth_helpers import check_pll  # noqa: E402

CONFIG = """\
precision: fixed<14,5>
reuse: 2
layers:
  lstm:
    precision:
      state: fixed<18,8>
"""


def _tiny_model(path, *, lambda_layer=False):
    """``Input(5, 3) -> [Lambda] -> LSTM(4) -> Dense(1, sigmoid)``, untrained (seeded), saved."""
    import keras
    keras.utils.set_random_seed(0)
    layers = [keras.Input((5, 3), name="x")]
    if lambda_layer:
        layers.append(keras.layers.Lambda(lambda t: 2.0 * t, name="double"))
    layers += [keras.layers.LSTM(4, name="lstm"),
               keras.layers.Dense(1, activation="sigmoid", name="out")]
    model = keras.Sequential(layers, name="tiny")
    model.save(path)
    return model



def _last_line(output):
    return [line for line in output.splitlines() if line.strip()][-1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A saved tiny model, its Keras outputs on a data file with inputs and labels only."""
    root = tmp_path_factory.mktemp("tiny")
    model = _tiny_model(root / "tiny.keras")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5, 3)).astype(np.float32)
    labels = rng.integers(0, 2, 64)
    np.savez(root / "data.npz", x_test=x, labels=labels)
    (root / "config.yaml").write_text(CONFIG)
    return {"root": root, "model": root / "tiny.keras", "data": root / "data.npz",
            "config": root / "config.yaml", "x": x, "labels": labels,
            "y_float": model.predict(x, verbose=0)}


@pytest.fixture(scope="module")
def converted(tiny):
    """``rnnrtl convert`` with a YAML configuration, a data file and a reuse sweep (run once)."""
    outdir = tiny["root"] / "out"
    result = _invoke("convert", tiny["model"], "-o", outdir, "-c", tiny["config"],
                     "--data", tiny["data"], "--sweep-reuse", "1,2")
    return result, outdir


def test_installed_entry_point_help():
    exe = Path(sys.executable).parent / "rnnrtl"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("convert", "report", "demo"):
        assert command in proc.stdout


def test_version():
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"rnnrtl {rnnrtl.__version__}"


@pytest.mark.parametrize("command", ["convert", "report", "demo"])
def test_every_command_explains_itself_with_an_example(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"rnnrtl {command}" in result.output


def test_convert_writes_design_and_report(converted, tiny):
    result, outdir = converted
    assert result.exit_code == 0, result.output
    for name in ("design.json", "design.npz", "report.md", "report.html", "report.json"):
        assert (outdir / name).is_file(), name
    design = rnnrtl.load_design(outdir / "design")
    lstm = design.network.layer("lstm")
    assert str(lstm.state_fmt) == "fixed<18,8,RND,SAT>"          # per-layer override
    assert str(lstm.gate_fmt) == "fixed<14,5,RND,SAT>"           # top-level precision
    assert (lstm.schedule.reuse_input, lstm.schedule.reuse_recurrent) == (2, 2)
    assert (outdir / "manifest.json").is_file() and (outdir / "vectors.npz").is_file()
    assert "| `lstm.c` | `fixed<18,8,RND,SAT>` |" in (outdir / "report.md").read_text()
    assert _last_line(result.output).startswith("tiny: 2 layers converted; decisions agree")


def test_convert_agreement_is_against_keras_float_computed_for_the_data(converted, tiny):
    result, outdir = converted
    design = rnnrtl.convert(tiny["model"], tiny["config"])
    y = design.emulate(tiny["x"])
    equal = int(np.sum(decisions(y) == decisions(tiny["y_float"])))
    summary = json.loads((outdir / "report.json").read_text())
    assert summary["agree"] == [equal, len(tiny["x"])]
    assert summary["accuracy_fixed"] == pytest.approx(np.mean(decisions(y) == tiny["labels"]))
    assert f"{100 * equal / len(y):.2f} % ({equal} of {len(y)})" in result.output


def test_convert_sweep_reuse(converted):
    result, outdir = converted
    summary = json.loads((outdir / "report.json").read_text())
    assert [row["reuse"] for row in summary["sweep"]] == [1, 2]
    assert all(row["identical_outputs"] == "yes" for row in summary["sweep"])
    assert "## Reuse sweep" in (outdir / "report.md").read_text()
    assert all(row["multipliers"] for row in summary["sweep"])
    assert summary["sweep"][0]["multipliers"] > summary["sweep"][1]["multipliers"]
    assert (outdir / "plots" / "sweep.png").is_file()


def test_report_rebuilds_from_the_saved_design(converted, tiny, tmp_path):
    _, outdir = converted
    copy = tmp_path / "copy"
    shutil.copytree(outdir, copy)
    (copy / "report.md").unlink()
    (copy / "report.html").unlink()
    result = _invoke("report", copy, "--data", tiny["data"], "--model", tiny["model"])
    assert result.exit_code == 0, result.output
    assert (copy / "report.html").is_file()
    before = json.loads((outdir / "report.json").read_text())
    after = json.loads((copy / "report.json").read_text())
    assert after["agree"] == before["agree"] and after["formats"] == before["formats"]
    assert _last_line(result.output).startswith("tiny: 2 layers reported")


def test_report_without_data(converted, tmp_path):
    _, outdir = converted
    copy = tmp_path / "copy"
    shutil.copytree(outdir, copy)
    result = _invoke("report", copy)
    assert result.exit_code == 0, result.output
    assert "## Fidelity" not in (copy / "report.md").read_text()


@pytest.mark.slow  # writes the Verilog of the demo model (yosys)
def test_demo_end_to_end(tmp_path):
    outdir = tmp_path / "demo"
    result = _invoke("demo", "-o", outdir)
    assert result.exit_code == 0, result.output
    for name in ("design.json", "report.md", "report.html", "plots/fidelity.png", "plots/roc.png"):
        assert (outdir / name).is_file(), name
    data = bundled.load_data()
    design = rnnrtl.convert(bundled.model_path("jets-lstm"))
    y = design.emulate(data["x_test"])
    equal = int(np.sum((y[:, 0] > 0.5) == (data["y_lstm"][:, 0] > 0.5)))
    n = len(y)
    assert f"{100 * equal / n:.2f} % ({equal} of {n})" in result.output
    accuracy = np.mean((y[:, 0] > 0.5) == data["labels"])
    assert f"/ {100 * accuracy:.2f} %" in result.output
    assert (outdir / "manifest.json").is_file()
    # The demo builds its core at reuse 4 (the default of --reuse); the emulated numbers above
    # do not depend on it, the timing does.
    timing = rnnrtl.convert(bundled.model_path("jets-lstm"), {"reuse": 4}).timing
    assert f"latency {timing.latency} cycles" in _last_line(result.output)
    assert "bit-exact, latency and II as promised" in result.output  # the Verilator check ran


# -- errors: one line, exit status 2 ---------------------------------------------------------------


def test_missing_model_file(tmp_path):
    result = _invoke("convert", tmp_path / "nothere.keras", "-o", tmp_path / "out")
    _assert_user_error(result, "nothere.keras", "does not exist")


def test_lambda_layer_is_refused_by_name(tmp_path):
    _tiny_model(tmp_path / "lambda.keras", lambda_layer=True)
    result = _invoke("convert", tmp_path / "lambda.keras", "-o", tmp_path / "out")
    _assert_user_error(result, "'double'", "Lambda", "never run")
    assert not (tmp_path / "out").exists()


def test_schedule_the_generator_cannot_build_is_one_line(tmp_path):
    """A HardwareError (interleave on a layer returning sequences) is a user error too."""
    import keras
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((5, 3), name="x"),
                      keras.layers.LSTM(4, return_sequences=True, name="lstm"),
                      keras.layers.Dense(1, name="out")], name="seq").save(tmp_path / "seq.keras")
    (tmp_path / "c.yaml").write_text("interleave: 2\n")
    result = _invoke("convert", tmp_path / "seq.keras", "-o", tmp_path / "out",
                     "-c", tmp_path / "c.yaml")
    _assert_user_error(result, "'lstm'", "interleave")


def test_bad_config_key_lists_the_valid_keys(tiny, tmp_path):
    (tmp_path / "bad.yaml").write_text("reus: 2\n")
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "-c", tmp_path / "bad.yaml")
    _assert_user_error(result, "'reus'", "valid keys: precision, reuse, reuse_input")


def test_bad_precision_string(tiny, tmp_path):
    (tmp_path / "bad.json").write_text('{"precision": "fixd<16,6>"}')
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "-c", tmp_path / "bad.json")
    _assert_user_error(result, "malformed precision 'fixd<16,6>'", "fixed<W,I>")


def test_precision_too_wide(tiny, tmp_path):
    (tmp_path / "bad.yaml").write_text("precision: fixed<64,10>\n")
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "-c", tmp_path / "bad.yaml")
    _assert_user_error(result, "width 64")


def test_data_file_without_x_test(tiny, tmp_path):
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((2, 5, 3)))
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "--data", tmp_path / "bad.npz")
    _assert_user_error(result, "no 'x_test'", "inputs")


def test_data_of_the_wrong_shape(tiny, tmp_path):
    np.savez(tmp_path / "bad.npz", x_test=np.zeros((2, 5, 4)))
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "--data", tmp_path / "bad.npz")
    _assert_user_error(result, "(2, 5, 4)", "[batch, 5, 3]")


def test_report_of_a_directory_without_design(tmp_path):
    _assert_user_error(_invoke("report", tmp_path), "no saved design", "rnnrtl convert")


@pytest.mark.parametrize("value", ["0", "1,x", ","])
def test_bad_sweep_list(tiny, tmp_path, value):
    result = _invoke("convert", tiny["model"], "-o", tmp_path / "out", "--sweep-reuse", value)
    assert result.exit_code == 2 and "--sweep-reuse" in result.output


# -- build -----------------------------------------------------------------------------------------

def test_build_writes_vivado_project_without_vivado(converted, tmp_path):
    _, outdir = converted
    folder = tmp_path / "b"
    result = _invoke("build", outdir, "--target", "vu9p", "--no-run", "--build-dir", folder)
    assert result.exit_code == 0, result.output
    names = {p.name for p in folder.rglob("*")}
    assert any(n.endswith(".tcl") for n in names) and any(n.endswith(".xdc") for n in names), names
    assert "latency" in result.output


@pytest.mark.parametrize("seed", [None, "7"])
def test_build_passes_the_seed_to_nextpnr(converted, tmp_path, seed):
    """``--seed`` reaches nextpnr's command line in the ECP5 target's build script (1 by default)."""
    _, outdir = converted
    folder = tmp_path / "b"
    result = _invoke("build", outdir, "--target", "ulx3s_85f", "--no-run", "--build-dir", folder,
                     *(["--seed", seed] if seed else []))
    assert result.exit_code == 0, result.output
    script = next(folder.rglob("build_*.sh")).read_text()
    assert f"--seed {seed or 1} " in script


def test_build_clock_reaches_the_pll(converted, tmp_path):
    """``--clock-mhz`` sets the ULX3S core clock the PLL makes (150 MHz without it)."""
    _, outdir = converted
    for args, mhz in (([], 150), (["--clock-mhz", "112.5"], 112.5)):
        folder = tmp_path / str(mhz)
        result = _invoke("build", outdir, "--target", "ulx3s_85f", "--no-run",
                         "--build-dir", folder, *args)
        assert result.exit_code == 0, result.output
        check_pll(next(folder.rglob("*_ulx3s_85f.il")).read_text(), 25e6, mhz * 1e6)


@pytest.mark.parametrize("args, fragments", [
    (["--target", "ulx3s_85f", "--clock-mhz", "0"], ["--clock-mhz", "> 0"]),
    (["--target", "ulx3s_85f", "--clock-mhz", "-5"], ["--clock-mhz", "> 0"]),
    (["--target", "ulx3s_85f", "--clock-mhz", "fast"], ["--clock-mhz"]),
    (["--target", "ulx3s_85f", "--clock-mhz", "140"], ["--clock-mhz", "137.5 MHz or 150 MHz"]),
    (["--target", "ulx3s_85f", "--clock-mhz", "450"], ["--clock-mhz", "8 - 400 MHz"]),
    (["--target", "arty_a7", "--clock-mhz", "100"], ["--clock-mhz", "'arty_a7' has no PLL"]),
    (["--estimate", "ecp5", "--clock-mhz", "150"], ["--clock-mhz", "no board clock"]),
])
def test_build_refuses_bad_clocks(converted, tmp_path, args, fragments):
    _, outdir = converted
    _assert_user_error(_invoke("build", outdir, "--no-run", "--build-dir", tmp_path / "b", *args),
                       *fragments)


def test_build_needs_a_known_target(converted):
    _, outdir = converted
    _assert_user_error(_invoke("build", outdir, "--target", "nope"), "unknown target 'nope'", "vu9p")
    _assert_user_error(_invoke("build", outdir), "--target")


def test_simulate_and_build_need_a_written_design(tmp_path):
    for command in ("simulate", "build"):
        _assert_user_error(_invoke(command, tmp_path, *(["--estimate", "xc7"] if command == "build" else [])),
                           "no manifest.json")
