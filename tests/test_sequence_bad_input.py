"""Bad input around ``input: sequence`` (issue 20, item 1): one-line errors naming what is wrong.

Through ``rnnrtl convert`` each must exit with status 2 and no traceback; through the Python API
it raises the :class:`~rnnrtl.errors.RnnrtlError` subclass named. Vectors whose size does not
match the manifest's beats are a :class:`~rnnrtl.errors.FlowError` of the readers' check.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import verify  # noqa: E402
from rnnrtl.errors import ConfigError, FlowError, HardwareError  # noqa: E402
from cli_helpers import assert_user_error, invoke  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``fixed.keras``: Input(4, 3) -> GRU(2) -> Dense(1); ``variable.keras``: the same on
    Input(None, 3)."""
    import keras
    root = tmp_path_factory.mktemp("seqbad")
    for name, steps in (("fixed", 4), ("variable", None)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((steps, 3)), keras.layers.GRU(2, name="gru"),
                                  keras.layers.Dense(1, name="out")], name=name)
        model.save(root / f"{name}.keras")
    return root


@pytest.mark.parametrize("text,fragments", [
    ("input: parallel\n", ("input = 'parallel'", "step, sequence")),
    ("input: 3\n", ("input = 3", "step, sequence")),
    ("input: Sequence\n", ("input = 'Sequence'", "step, sequence")),
    ("layers:\n  gru: {input: sequence}\n", ("layers.gru", "unknown key 'input'")),
])
def test_bad_input_key(models, tmp_path, text, fragments):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    assert_user_error(invoke("convert", models / "fixed.keras", "-o", tmp_path / "out", "-c", cfg),
                      *fragments)
    with pytest.raises(ConfigError) as info:
        rnnrtl.convert(models / "fixed.keras", cfg)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["static", "unrolled"])
def test_sequence_needs_a_fixed_length(models, tmp_path, mode):
    """A whole sequence in one beat needs T; without it the error says how to give it."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"input: sequence\nmode: {mode}\n")
    result = invoke("convert", models / "variable.keras", "-o", tmp_path / "out", "-c", cfg)
    assert_user_error(result, "timesteps")
    design = rnnrtl.convert(models / "variable.keras", {"input": "sequence", "mode": mode})
    with pytest.raises((ConfigError, HardwareError)) as info:
        design.timing
    assert "timesteps" in str(info.value) and "\n" not in str(info.value)


def test_vectors_not_matching_a_sequence_beat(tmp_path):
    """The readers' check: x_codes [samples, T, F] must hold beats_per_sequence x lanes codes per
    sample (one beat of T x F lanes with input: sequence)."""
    lanes = [{"lane": k, "lsb": 8 * k, "width": 8, "signed": True} for k in range(12)]
    manifest = {"vectors": {"file": "vectors.npz", "samples": 2},
                "input": {"beats_per_sequence": 1, "lanes": lanes, "per_beat": "sequence"},
                "output": {"beats_per_sequence": 1, "lanes": lanes[:1]}}
    y = np.zeros((2, 1, 1), dtype=np.int64)
    np.savez(tmp_path / "vectors.npz", x_codes=np.zeros((2, 4, 3), dtype=np.int64), y_codes=y)
    assert verify.check_vectors(tmp_path, manifest) == 2
    np.savez(tmp_path / "vectors.npz", x_codes=np.zeros((2, 5, 3), dtype=np.int64), y_codes=y)
    with pytest.raises(FlowError) as info:
        verify.check_vectors(tmp_path, manifest)
    assert "x_codes" in str(info.value) and "[2, 1, 12]" in str(info.value)
