"""``weights: file`` (``rnnrtl convert --weights-file``): the weights in ``$readmemh`` files.

Two models of the same shapes, layer names and formats but different weights (A and B) must give
byte-identical Verilog and different weight files; one Verilator build runs both, each with its
own files, bit-exact against its own emulator vectors; the timing is the inline design's; and the
settings whose circuit is made of the weight values are refused. The designs are test_sim's
tiny models (:func:`test_sim.make_model`, :func:`test_sim.write_case`): an LSTM + Dense at reuse 2
(shallow), a GRU + Dense at reuse 18 / 16 / 2 with the deep pipeline (per-multiplier counters,
operand stages, the weight ROM's second stage: R > 16), a GRU + Dense at reuse 1 and an unrolled
LSTM + Dense, whose stages share their MatVec modules and so their weight files.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import rnnrtl
from rnnrtl import verify
from rnnrtl.errors import ConfigError
from rnnrtl.weights_file import WEIGHTS_FOLDER

from cli_helpers import assert_user_error, invoke
from test_sim import Case, make_model, write_case

keras = pytest.importorskip("keras")

SAMPLES = 40

CASES = {
    "lstm_r2": Case(
        (("lstm", dict(units=3, name="lstm")), ("dense", dict(units=2, name="out"))),
        timesteps=4, features=3, config={"reuse": 2, "weights": "file"}),
    "gru_deep": Case(
        (("gru", dict(units=4, reset_after=True, name="gru")),
         ("dense", dict(units=2, activation="sigmoid", name="out"))),
        timesteps=4, features=3,
        config={"pipeline": "deep", "weights": "file",
                "layers": {"gru": {"reuse_input": 18, "reuse_recurrent": 16},
                           "out": {"reuse": 2}}}),
    "gru_r1": Case(
        (("gru", dict(units=3, reset_after=False, name="gru")),
         ("dense", dict(units=2, name="out"))),
        timesteps=4, features=2, config={"reuse": 1, "weights": "file"}),
    "unrolled": Case(
        (("lstm", dict(units=3, name="lstm")), ("dense", dict(units=2, name="out"))),
        timesteps=3, features=2, config={"mode": "unrolled", "reuse": 2, "weights": "file"}),
}
SEEDS = {"A": 0, "B": 1}


def inline(case: Case) -> Case:
    return dataclasses.replace(case, config={k: v for k, v in case.config.items() if k != "weights"})


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``get(name, model)`` -> ``(outdir, design)``: case ``name`` with model A's or B's weights,
    written once per module."""
    done = {}

    def get(name, which):
        if (name, which) not in done:
            outdir = tmp_path_factory.mktemp(f"{name}_{which}")
            design = write_case(name, CASES[name], outdir, samples=SAMPLES, seed=SEEDS[which])
            done[name, which] = (outdir, design)
        return done[name, which]

    return get


def manifest(outdir) -> dict:
    return json.loads((outdir / "manifest.json").read_text())


def hex_files(outdir) -> dict:
    return {p.name: p.read_text() for p in sorted((outdir / WEIGHTS_FOLDER).glob("*.hex"))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verilog_different_weight_files(written, name):
    (a_dir, a), (b_dir, b) = written(name, "A"), written(name, "B")
    assert not np.array_equal(a.network.layers[0].kernel.codes, b.network.layers[0].kernel.codes)
    top = manifest(a_dir)["verilog"]
    assert (a_dir / top).read_bytes() == (b_dir / top).read_bytes()
    assert "$readmemh" in (a_dir / top).read_text()
    a_hex, b_hex = hex_files(a_dir), hex_files(b_dir)
    assert a_hex.keys() == b_hex.keys() and a_hex
    assert all(a_hex[f] != b_hex[f] for f in a_hex)
    listed = [e["file"] for e in manifest(a_dir)["weights"]["files"]]
    assert sorted(listed) == sorted(f"{WEIGHTS_FOLDER}/{f}" for f in a_hex)


def test_the_files_hold_the_weight_codes(written):
    """The Dense layer of lstm_r2 (2 x 3 weights, reuse 2: multipliers 0..2, product m*2+k in
    MAC cycle k, row-major), decoded from its files by the manifest's widths."""
    outdir, design = written("lstm_r2", "A")
    entries = {(e["layer"], e["matrix"], e["holds"]): e
               for e in manifest(outdir)["weights"]["files"]}
    assert {k[:2] for k in entries} == {("lstm", "kernel"), ("lstm", "recurrent"), ("out", "kernel")}
    layer = design.network.layer("out")

    def fields(entry, count):
        width = entry["width"] // count
        lines = (outdir / entry["file"]).read_text().split()
        assert len(lines) == entry["depth"]
        out = []
        for line in lines:
            word = int(line, 16)
            raw = [(word >> (f * width)) & ((1 << width) - 1) for f in range(count)]
            out.append([v - (1 << width) if v >> (width - 1) else v for v in raw])
        return out

    weights = fields(entries["out", "kernel", "weights"], 3)
    flat = [weights[k][m] for m in range(3) for k in range(2)]
    assert flat == [int(v) for v in layer.kernel.codes.reshape(-1)]
    assert fields(entries["out", "kernel", "bias"], 2) == [[int(v) for v in layer.bias.codes]]
    assert entries["out", "kernel", "weights"]["width"] == 3 * layer.kernel.fmt.width


def test_unrolled_stages_share_one_file_per_memory(written):
    """The three stages of the unrolled LSTM compute with the same kernel: its weights and bias
    are one file each, read by the one module of the stages' input MatVec (rnnrtl.rtlil_dedup),
    which the Verilog instantiates three times."""
    outdir, design = written("unrolled", "A")
    entries = manifest(outdir)["weights"]["files"]
    kernel = [e for e in entries if (e["layer"], e["matrix"]) == ("lstm", "kernel")]
    assert sorted(e["holds"] for e in kernel) == ["bias", "weights"]
    module = kernel[0]["module"]
    assert kernel[1]["module"] == module and ".stage." in module
    text = (outdir / manifest(outdir)["verilog"]).read_text()
    assert text.count(f"\\{module} ") == 1 + design.network.timesteps   # defined, used per stage


@pytest.mark.parametrize("name", sorted(CASES))
def test_timing_is_the_inline_designs(written, tmp_path, name):
    outdir, design = written(name, "A")
    flat = rnnrtl.convert(make_model(name, CASES[name], SEEDS["A"]), inline(CASES[name]).config)
    assert design.timing.to_dict() == flat.timing.to_dict()
    flat.write(tmp_path, samples=2)
    inline_manifest, file_manifest = manifest(tmp_path), manifest(outdir)
    for key in ("timing", "multipliers", "matrices", "ports"):
        assert file_manifest[key] == inline_manifest[key], key
    assert "weights" not in inline_manifest and not (tmp_path / WEIGHTS_FOLDER).exists()
    # the inline core's constants are in its Verilog, and it has no memory to read
    assert "$readmemh" not in (tmp_path / inline_manifest["verilog"]).read_text()


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("sim_build")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_one_build_runs_both_weights_bit_exact(written, build_root, name):
    (a_dir, _), (b_dir, _) = written(name, "A"), written(name, "B")
    first = verify.simulate(a_dir, build_dir=build_root, seed=1)
    assert first.passed and first.mismatches == 0, str(first)
    second = verify.simulate(b_dir, build_dir=build_root, seed=2)
    assert second.build_reused and second.build_dir == first.build_dir
    assert second.passed and second.mismatches == 0, str(second)
    # the files are what the core computes with: A's folder with B's files copied over A's
    # mismatches A's vectors, on the same build
    swapped = a_dir.parent / f"{a_dir.name}_swapped"
    swapped.mkdir()
    for item in ("manifest.json", "vectors.npz", manifest(a_dir)["verilog"]):
        (swapped / item).write_bytes((a_dir / item).read_bytes())
    (swapped / WEIGHTS_FOLDER).mkdir()
    for f, text in hex_files(b_dir).items():
        (swapped / WEIGHTS_FOLDER / f).write_text(text)
    wrong = verify.simulate(swapped, build_dir=build_root, samples=10, seed=3)
    assert wrong.build_reused and wrong.mismatches > 0


# -- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("config, key", [
    ({"multiplier": "lut"}, "multiplier"),
    ({"multiplier": "auto"}, "multiplier"),
    ({"multiplier_recurrent": "lut"}, "multiplier_recurrent"),
    ({"layers": {"out": {"multiplier_input": "lut"}}}, "layers.out.multiplier_input"),
])
def test_value_dependent_multipliers_are_refused(config, key):
    with pytest.raises(ConfigError) as e:
        rnnrtl.config.load_config({**config, "weights": "file"})
    assert str(e.value).startswith(f"{key} = ")
    assert "weights: file" in str(e.value) and "multiplier: dsp" in str(e.value)


def test_unknown_weights_value_is_refused():
    with pytest.raises(ConfigError, match="weights = 'rom': valid values are inline, file"):
        rnnrtl.config.load_config({"weights": "rom"})


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    make_model("tiny", CASES["lstm_r2"], 0).save(path)
    return path


def test_cli_refuses_lut_with_weights_file(keras_file, tmp_path):
    config = tmp_path / "lut.yaml"
    config.write_text("multiplier: lut\n")
    result = invoke("convert", keras_file, "-o", tmp_path / "out", "-c", config, "--weights-file")
    assert_user_error(result, "multiplier = 'lut' with weights: file", "multiplier: dsp")
    assert not (tmp_path / "out").exists()


def test_cli_weights_file_flag(keras_file, tmp_path):
    result = invoke("convert", keras_file, "-o", tmp_path / "out", "--weights-file")
    assert result.exit_code == 0, result.output
    written = manifest(tmp_path / "out")
    assert written["config"]["weights"] == "file"
    assert all((tmp_path / "out" / e["file"]).is_file() for e in written["weights"]["files"])


# -- synthesis flows ---------------------------------------------------------------------------

def test_vivado_project_carries_the_weight_files(written, tmp_path):
    from rnnrtl.platforms import TARGETS
    from rnnrtl.synth.build import build
    outdir, _ = written("lstm_r2", "A")
    result = build(outdir, TARGETS["vu9p"], outdir=tmp_path, run=False)
    folder = result.files["tcl"].parent
    tcl, ip = result.files["tcl"].read_text(), result.files["ip_tcl"].read_text()
    for entry in manifest(outdir)["weights"]["files"]:
        assert (folder / entry["file"]).read_text() == (outdir / entry["file"]).read_text()
        assert f'add_files "{entry["file"]}"' in tcl
        assert f"add_files -norecurse ./{entry['file']}" in ip


def test_a_missing_weight_file_is_named(written, tmp_path):
    from rnnrtl.errors import FlowError
    from rnnrtl.synth.core import read_core
    outdir, _ = written("gru_r1", "A")
    copy = tmp_path / "core"
    copy.mkdir()
    for item in ("manifest.json", manifest(outdir)["verilog"]):
        (copy / item).write_bytes((outdir / item).read_bytes())
    first = manifest(outdir)["weights"]["files"][0]["file"]
    with pytest.raises(FlowError, match=f"{first}.*is missing"):
        read_core(copy).read_commands(tmp_path)


@pytest.mark.slow
def test_yosys_estimate_reads_the_verilog_and_its_weight_files(written, tmp_path):
    """No RTLIL beside the core: yosys reads the Verilog, its $readmemh from the estimate's
    folder; the multipliers are DSPs (the file's weights are not constants yosys could fold)."""
    from rnnrtl.synth.build import build
    outdir, design = written("lstm_r2", "A")
    assert "rtlil" not in manifest(outdir)
    result = build(outdir, None, outdir=tmp_path, estimate="xc7")
    assert result.estimate.resources["dsp"] == design.timing.multipliers
