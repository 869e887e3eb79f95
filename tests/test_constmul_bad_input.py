# amaranth: UnusedElaboratable=no
"""Bad ``multiplier`` settings: one ConfigError line through ``rnnrtl convert`` (exit 2, no
traceback) naming the key, what is wrong and what is valid; a ConfigError through the API; and the
MatVec's own argument checks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.errors import ConfigError  # noqa: E402
from rnnrtl.fixed import IntType  # noqa: E402
from rnnrtl.hw import MatVec  # noqa: E402
from cli_helpers import assert_user_error, invoke  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``Input(5, 3) -> LSTM(4) 'lstm' -> Dense(2) 'out'``, saved (LSTM: 48 input, 64 recurrent
    products; Dense: 8)."""
    import keras
    root = tmp_path_factory.mktemp("badmul")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 3), name="x"), keras.layers.LSTM(4, name="lstm"),
                              keras.layers.Dense(2, name="out")], name="tiny")
    model.save(root / "tiny.keras")
    return root, model


CASES = [
    ("kind.yaml", b"multiplier: fpga\n",
     ("multiplier = 'fpga'", "valid multipliers are dsp, lut, auto")),
    ("kind-layer.yaml", b"layers:\n  lstm: {multiplier_recurrent: LUT}\n",
     ("layers.lstm.multiplier_recurrent = 'LUT'", "dsp, lut, auto")),
    ("kind-type.yaml", b"multiplier_input: 1\n", ("multiplier_input = 1", "dsp, lut, auto")),
    ("dense-recurrent.yaml", b"layers:\n  out: {multiplier_recurrent: lut}\n",
     ("layers.out.multiplier_recurrent", "no time steps or recurrent products")),
    ("lut-reuse.yaml", b"multiplier: lut\nlayers:\n  lstm: {reuse_recurrent: 32}\n",
     ("layer 'lstm'", "multiplier_recurrent 'lut' at reuse_recurrent 32", "reuse 1..16",
      "'dsp' / 'auto'")),
]


@pytest.mark.parametrize("name, text, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_multiplier_is_one_line_exit_2(tiny, tmp_path, name, text, fragments):
    root, model = tiny
    path = tmp_path / name
    path.write_bytes(text)
    result = invoke("convert", root / "tiny.keras", "-o", tmp_path / "out", "-c", path)
    assert_user_error(result, *fragments)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError):
        rnnrtl.convert(model, path)


def test_lut_at_large_reuse_from_the_top_level_is_refused_not_clamped(tiny):
    """A top-level reuse too large for LUT multipliers is refused, naming the layer: LUT
    multipliers are a choice of hardware, not a timing knob to fold silently."""
    _, model = tiny
    with pytest.raises(ConfigError, match=r"layer 'lstm': multiplier_input 'lut' at reuse_input 17"):
        rnnrtl.convert(model, {"multiplier": "lut", "reuse": 17,
                               "layers": {"out": {"reuse": 8}}})
    # auto at the same reuse is fine: it takes DSPs there
    d = rnnrtl.convert(model, {"multiplier": "auto", "reuse": 17, "layers": {"out": {"reuse": 8}}})
    assert d.network.layers[0].schedule.multiplier_input == "auto"


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(multiplier="LUT"), ValueError, r"multiplier 'LUT' is not one of dsp, lut, auto"),
    (dict(multiplier=None), ValueError, r"multiplier None"),
    (dict(adder_stages=1), TypeError, r"adder_stages must be a bool"),
    (dict(multiplier="lut", reuse=17), ValueError, r"multiplier 'lut' at reuse 17.*1\.\.16"),
])
def test_matvec_bad_multiplier_arguments(kwargs, error, match):
    args = dict(weights=np.ones((3, 8), dtype=int), weight_frac=0, x_type=IntType(4, True, 0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MatVec(**args)
