"""The steps the command line strings together, as plain functions (the CLI only sequences them).

* :func:`load_model` — a Keras model loaded once, safely (see :mod:`rnnrtl.frontend`);
* :func:`load_data` — a test set from an ``.npz`` (``x_test``, optional ``y_keras``, ``labels``);
* :func:`keras_outputs` — the Keras float outputs a fixed-point design is compared with;
* :func:`sweep_reuse` — the same model converted at several reuse factors;
* :func:`save_design` / :func:`load_saved` — a design directory as ``convert`` writes it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .design import Design, convert, load_design
from .frontend import load_keras
from .errors import FlowError

__all__ = ["FlowError", "TestData", "load_model", "load_data", "keras_outputs", "with_reuse",
           "sweep_reuse", "save_design", "load_saved", "DESIGN_NAME"]

#: ``<outdir>/design.json`` + ``design.npz``: the saved IR of a design directory.
DESIGN_NAME = "design"


@dataclass
class TestData:
    """A held-out data set: inputs, and optionally Keras float outputs and labels."""
    __test__ = False  # not a pytest class

    x: np.ndarray
    y_float: np.ndarray | None = None
    labels: np.ndarray | None = None


def load_model(path):
    """The Keras model at ``path`` (``.keras`` / ``.h5``), checked before anything in it is run.

    Raises :class:`~rnnrtl.UnsupportedModelError` for a missing file or an unsupported model.
    """
    return load_keras(Path(path))


def load_data(path, *, in_features: int | None = None, timesteps: int | None = None,
              out_features: int | None = None) -> TestData:
    """Read ``x_test`` (floats ``[batch, steps, features]``) and, when present, ``y_keras`` (Keras
    outputs on ``x_test``) and ``labels`` from an ``.npz``; shapes are checked against the model's
    input and output when ``in_features`` / ``timesteps`` / ``out_features`` are given."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"data file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise FlowError(f"data file {str(path)!r} is not a readable .npz ({e})") from None
    if "x_test" not in arrays:
        raise FlowError(f"data file {str(path)!r} has no 'x_test' array (it has: "
                        f"{', '.join(arrays) or 'nothing'}); expected x_test [batch, steps, features] "
                        "and optionally y_keras and labels")
    x = np.asarray(arrays["x_test"], dtype=np.float32)
    if x.ndim != 3 or (in_features is not None and x.shape[2] != in_features) or \
            (timesteps is not None and x.shape[1] != timesteps):
        want = f"[batch, {timesteps if timesteps is not None else 'steps'}, " \
               f"{in_features if in_features is not None else 'features'}]"
        raise FlowError(f"data file {str(path)!r}: x_test has shape {x.shape}; the model expects {want}")
    y = arrays.get("y_keras")
    labels = arrays.get("labels")
    for name, a in (("y_keras", y), ("labels", labels)):
        if a is not None and len(a) != len(x):
            raise FlowError(f"data file {str(path)!r}: {name} has {len(a)} rows, x_test has {len(x)}")
    if y is not None and out_features is not None and np.shape(y)[-1] != out_features:
        raise FlowError(f"data file {str(path)!r}: y_keras has shape {np.shape(y)}; the model has "
                        f"{out_features} outputs")
    return TestData(x=x, y_float=y, labels=labels)


def keras_outputs(model, x) -> np.ndarray:
    """The Keras float outputs of ``model`` on ``x``."""
    return np.asarray(model.predict(x, batch_size=256, verbose=0))


def with_reuse(config: dict, reuse: int) -> dict:
    """``config`` with the top-level reuse factor set to ``reuse`` (for input and recurrent
    products; top-level ``reuse_input`` / ``reuse_recurrent`` are dropped, per-layer overrides kept)."""
    out = copy.deepcopy(config)
    out["reuse"] = reuse
    out.pop("reuse_input", None)
    out.pop("reuse_recurrent", None)
    return out


def sweep_reuse(model, config: dict, factors) -> list[tuple[int, object, Design]]:
    """``[(reuse, design.timing, design)]``: ``model`` converted at each reuse factor."""
    out = []
    for reuse in factors:
        design = convert(model, with_reuse(config, reuse))
        out.append((reuse, design.timing, design))
    return out


def save_design(design: Design, outdir) -> Path:
    """Save the IR as ``<outdir>/design.json`` + ``.npz``; returns the JSON path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return design.save(outdir / DESIGN_NAME)[0]


def load_saved(outdir) -> Design:
    """The design saved in ``outdir`` by ``rnnrtl convert`` (:func:`save_design`).

    Weight overflow counts are not part of the IR; they are taken from ``report.json`` when the
    design does not carry them.
    """
    outdir = Path(outdir)
    path = outdir / f"{DESIGN_NAME}.json"
    if not path.is_file():
        raise FlowError(f"no saved design in {str(outdir)!r} (expected {path}); "
                        "write one with `rnnrtl convert MODEL -o OUTDIR`")
    try:
        design = load_design(outdir / DESIGN_NAME)
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise FlowError(f"cannot read the saved design {str(path)!r}: {e}") from None
    report = outdir / "report.json"
    if not design.weight_overflows and report.is_file():
        try:
            design.weight_overflows = dict(json.loads(report.read_text()).get("weight_overflows", {}))
        except (ValueError, AttributeError):
            pass
    return design
