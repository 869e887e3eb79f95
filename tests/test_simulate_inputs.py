"""``simulate`` on a damaged output folder, or asked for more samples than it holds: one line
(:class:`rnnrtl.errors.FlowError`, CLI exit status 2) naming the file and what to do, before any
simulator is built (issue 17, item 8).

One tiny design is written once; each case damages a copy of it.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import rnnrtl
from rnnrtl import verify
from rnnrtl.cli import cli

keras = pytest.importorskip("keras")

SAMPLES = 6


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3, 2)), keras.layers.SimpleRNN(2, name="rnn")],
                             name="tiny")
    outdir = tmp_path_factory.mktemp("written") / "core"
    rnnrtl.convert(model).write(outdir, samples=SAMPLES)
    return outdir


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _bad_json(folder):
    (folder / "manifest.json").write_text('{"top": "tiny", ')


def _not_utf8(folder):
    (folder / "manifest.json").write_bytes(b'{"top": "\xff\xfe"}')


def _incomplete(folder):
    m = _manifest(folder)
    del m["timing"]
    (folder / "manifest.json").write_text(json.dumps(m))


def _no_vectors_entry(folder):
    m = _manifest(folder)
    m["vectors"] = {}
    (folder / "manifest.json").write_text(json.dumps(m))


def _no_verilog(folder):
    (folder / _manifest(folder)["verilog"]).unlink()


def _no_vectors(folder):
    (folder / "vectors.npz").unlink()


def _vectors_not_npz(folder):
    (folder / "vectors.npz").write_text("not a zip file")


def _vectors_truncated(folder):
    data = (folder / "vectors.npz").read_bytes()
    (folder / "vectors.npz").write_bytes(data[:len(data) // 2])


def _vectors_lack_y_codes(folder):
    with np.load(folder / "vectors.npz") as v:
        x_codes = v["x_codes"]
    np.savez(folder / "vectors.npz", x_codes=x_codes)


def _vectors_wrong_shape(folder):
    with np.load(folder / "vectors.npz") as v:
        arrays = dict(v)
    arrays["x_codes"] = arrays["x_codes"][:, :-1]          # one time step short
    np.savez(folder / "vectors.npz", **arrays)


def _vectors_float_codes(folder):
    with np.load(folder / "vectors.npz") as v:
        arrays = dict(v)
    arrays["y_codes"] = arrays["y_codes"].astype(np.float64)
    np.savez(folder / "vectors.npz", **arrays)


def _fewer_vectors_than_recorded(folder):
    with np.load(folder / "vectors.npz") as v:
        arrays = {k: a[:2] for k, a in v.items()}
    np.savez(folder / "vectors.npz", **arrays)


DAMAGE = [
    (_bad_json, ("manifest.json", "not valid JSON", "rnnrtl convert")),
    (_not_utf8, ("manifest.json", "not valid JSON")),
    (_incomplete, ("manifest.json", "'timing'", "incomplete")),
    (_no_vectors_entry, ("manifest.json", "test vectors")),
    (_no_verilog, ("tiny.v", "missing", "rnnrtl convert")),
    (_no_vectors, ("vectors.npz", "missing")),
    (_vectors_not_npz, ("vectors.npz", "not a readable .npz")),
    (_vectors_truncated, ("vectors.npz", "not a readable .npz")),
    (_vectors_lack_y_codes, ("vectors.npz", "lacks", "y_codes")),
    (_vectors_wrong_shape, ("vectors.npz", "x_codes", "[6, 3, 2]")),
    (_vectors_float_codes, ("vectors.npz", "y_codes", "float64", "integers")),
    (_fewer_vectors_than_recorded, ("vectors.npz", "[2, 3, 2]", "[6, 3, 2]")),
]


@pytest.fixture
def copy(written, tmp_path):
    folder = tmp_path / "core"
    shutil.copytree(written, folder)
    return folder


@pytest.mark.parametrize("damage, fragments", DAMAGE, ids=[d.__name__[1:] for d, _ in DAMAGE])
def test_damaged_folder_is_one_flow_error(copy, damage, fragments):
    damage(copy)
    with pytest.raises(rnnrtl.FlowError) as info:
        verify.simulate(copy)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not (copy / "sim_build").exists()        # refused before building anything


@pytest.mark.parametrize("damage, fragments", DAMAGE[::3], ids=[d.__name__[1:] for d, _ in DAMAGE[::3]])
def test_damaged_folder_cli_exits_2_in_one_line(copy, damage, fragments):
    damage(copy)
    result = CliRunner().invoke(cli, ["simulate", str(copy)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert fragments[0] in result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("samples", [SAMPLES + 1, 10 ** 6])
def test_more_samples_than_stored_is_refused(copy, samples):
    result = CliRunner().invoke(cli, ["simulate", str(copy), "--samples", str(samples)])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    for fragment in (f"samples = {samples}", f"holds {SAMPLES} sequences", f"1..{SAMPLES}"):
        assert fragment in line, (fragment, line)
    with pytest.raises(rnnrtl.FlowError, match=f"holds {SAMPLES} sequences"):
        verify.simulate(copy, samples=samples)


def test_an_intact_folder_passes_the_checks(written):
    """The checks accept what Design.write wrote: the count is the manifest's."""
    manifest = rnnrtl.manifest.load_manifest(written, need_vectors=True)
    assert verify.check_vectors(written, manifest) == SAMPLES
