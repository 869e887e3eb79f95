"""The steps the command line strings together, as plain functions (the CLI only sequences them).

* :func:`load_model` — a Keras model or a PyTorch ``.pt2`` program loaded once, safely (see
  :mod:`rnnrtl.frontend`, :mod:`rnnrtl.torch_frontend`);
* :func:`load_data` — a test set from an ``.npz`` (``x_test``, optional ``y_keras``, ``labels``);
* :func:`float_outputs` — the float outputs (Keras, or the exported PyTorch program) a
  fixed-point design is compared with;
* :func:`check_model_matches` — a Keras model given for a saved design has its shapes;
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
from .frontend import check_model_path, load_keras
from .errors import FlowError

__all__ = ["FlowError", "TestData", "load_model", "load_data", "keras_outputs", "float_outputs",
           "check_model_matches", "with_reuse",
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
    """The model at ``path``, checked before anything in it is run: a Keras model (``.keras`` /
    ``.h5``) or a :class:`~rnnrtl.torch_frontend.TorchModel` (a ``torch.export`` program, ``.pt2``;
    a torch pickle such as ``.pt`` is refused unopened).

    Raises :class:`~rnnrtl.UnsupportedModelError` for a missing file or an unsupported model.
    """
    from .torch_frontend import is_torch_model, load_pt2
    path = Path(path)
    check_model_path(path)  # before Keras is imported: that alone takes seconds
    if is_torch_model(path):
        return load_pt2(path)
    return load_keras(path)


def load_data(path, *, in_features: int | None = None, timesteps: int | None = None,
              out_features: int | None = None) -> TestData:
    """Read ``x_test`` (floats ``[batch, steps, features]``) and, when present, ``y_keras`` (Keras
    outputs on ``x_test``) and ``labels`` from an ``.npz``; shapes are checked against the model's
    input and output when ``in_features`` / ``timesteps`` / ``out_features`` are given."""
    path = Path(path)
    where = f"data file {str(path)!r}"
    if not path.is_file():
        raise FlowError(f"{where} does not exist")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise FlowError(f"{where} is not a readable .npz ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise FlowError(f"{where} holds a single array (.npy); save the data with "
                        "np.savez(path, x_test=x, y_keras=y, labels=labels)")
    try:
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as e:
        raise FlowError(f"{where} is not a readable .npz ({e})") from None
    if "x_test" not in arrays:
        raise FlowError(f"{where} has no 'x_test' array (it has: "
                        f"{', '.join(arrays) or 'nothing'}); expected x_test [batch, steps, features] "
                        "and optionally y_keras and labels")
    x = _finite(arrays["x_test"], "x_test", where)
    if x.ndim != 3 or (in_features is not None and x.shape[2] != in_features) or \
            (timesteps is not None and x.shape[1] != timesteps):
        want = f"[batch, {timesteps if timesteps is not None else 'steps'}, " \
               f"{in_features if in_features is not None else 'features'}]"
        raise FlowError(f"{where}: x_test has shape {x.shape}; the model expects {want}")
    if len(x) == 0 or x.shape[1] == 0:
        raise FlowError(f"{where}: x_test has shape {x.shape}: no sequences to evaluate")
    y = arrays.get("y_keras")
    labels = arrays.get("labels")
    for name, a in (("y_keras", y), ("labels", labels)):
        if a is not None and (a.ndim == 0 or len(a) != len(x)):
            rows = "no rows" if a.ndim == 0 else f"{len(a)} rows"
            raise FlowError(f"{where}: {name} has {rows}, x_test has {len(x)}")
    if y is not None:
        y = _finite(y, "y_keras", where)
        if out_features is not None and y.shape[-1] != out_features:
            raise FlowError(f"{where}: y_keras has shape {y.shape}; the model has "
                            f"{out_features} outputs")
    if labels is not None:
        labels = _class_labels(labels, out_features, where)
    return TestData(x=x, y_float=y, labels=labels)


def _finite(a, name: str, where: str) -> np.ndarray:
    """``a`` (``x_test`` as float32), refusing non-numeric arrays and NaN / infinity."""
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise FlowError(f"{where}: {name} holds {a.dtype} values; it must hold numbers")
    bad = ~np.isfinite(np.asarray(a, dtype=np.float64))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FlowError(f"{where}: {name} has {int(bad.sum())} NaN or infinite values "
                        f"(the first at index {first}); every value must be a finite number")
    return np.asarray(a, dtype=np.float32) if name == "x_test" else a


def _class_labels(labels, out_features: int | None, where: str) -> np.ndarray:
    """Integer class labels: 0/1 for one output, ``0 .. outputs-1`` for several; one-hot rows
    (as many columns as classes) are turned into class indices."""
    if not (np.issubdtype(labels.dtype, np.number) or labels.dtype == bool):
        raise FlowError(f"{where}: labels hold {labels.dtype} values; give integer class labels")
    classes = None if out_features is None else max(2, out_features)
    valid = "0 or 1 (one output)" if classes == 2 else f"0 .. {classes - 1}" if classes else "0 .. n-1"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 2:
        one_hot = np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()
        if not one_hot or (classes is not None and labels.shape[1] != classes):
            raise FlowError(f"{where}: labels have shape {labels.shape}; give one class label per "
                            f"sample ({valid}) or one-hot rows of {classes or 'n'} columns")
        labels = labels.argmax(axis=1)
    if labels.ndim != 1:
        raise FlowError(f"{where}: labels have shape {labels.shape}; give one class label per sample")
    if not np.isfinite(labels.astype(np.float64)).all() or (labels != np.round(labels)).any():
        raise FlowError(f"{where}: labels are not whole numbers; give class labels {valid}")
    labels = labels.astype(np.int64)
    if classes is not None and ((labels < 0) | (labels >= classes)).any():
        bad = sorted(set(labels[(labels < 0) | (labels >= classes)].tolist()))[:5]
        raise FlowError(f"{where}: labels {bad} are out of range; the model's classes are {valid}")
    return labels


def keras_outputs(model, x) -> np.ndarray:
    """The Keras float outputs of ``model`` on ``x``."""
    return np.asarray(model.predict(x, batch_size=256, verbose=0))


def float_outputs(model, x) -> np.ndarray:
    """The float outputs of ``model`` (as :func:`load_model` returns it) on ``x``: Keras' for a
    Keras model, the exported program's for a PyTorch one (in rnnrtl's ``[batch, ...]`` layout)."""
    from .torch_frontend import TorchModel, torch_outputs
    if isinstance(model, TorchModel):
        return torch_outputs(model, x)
    return keras_outputs(model, x)


def _shape(dims) -> str:
    return "[" + ", ".join("batch" if k == 0 else "any" if d is None else str(d)
                           for k, d in enumerate(dims)) + "]"


def check_model_matches(model, design: Design, where: str = "model"):
    """Refuse a Keras ``model`` whose input or output shape is not ``design``'s (its float outputs
    would be compared with another network's), naming both shapes."""
    net = design.network
    want_in = (None, net.timesteps, net.in_features)
    want_out = (None, net.timesteps, net.out_features) if net.returns_sequence else \
        (None, net.out_features)
    has_in, has_out = model.input_shape, model.output_shape
    if isinstance(has_in, list) or isinstance(has_out, list):
        raise FlowError(f"{where} has several inputs or outputs; the design "
                        f"{design.name!r} has input {_shape(want_in)} and output {_shape(want_out)}")
    for what, has, want in (("input", tuple(has_in), want_in), ("output", tuple(has_out), want_out)):
        same = len(has) == len(want) and all(
            a is None or b is None or a == b for a, b in zip(has[1:], want[1:])) and has[-1] == want[-1]
        if not same:
            raise FlowError(f"{where} has {what} shape {_shape(has)}; the design {design.name!r} "
                            f"has {what} shape {_shape(want)}: give the model the design was "
                            "converted from")


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
