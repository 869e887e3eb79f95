#!/usr/bin/env python
"""Build the bundled demo models and data set in ``rnnrtl/demo/`` (offline, deterministic).

The demo task is a *toy jet tagger*: tell top-quark-like jets (signal) from QCD-like jets
(background) by reading the jet's constituents, hardest first, with a small recurrent network.
Nothing is downloaded; the jets come from the simplified, physics-inspired generator below.

Generator
---------
Each jet has a transverse momentum ``pT ~ U(400, 600)`` GeV and a pseudorapidity
``eta ~ U(-2, 2)``. Its energy flow is split between a few *prongs* (hard partons):

* **signal** (label 1): 3 prongs, like ``t -> b W(-> q q')``: the b takes a fraction
  ``z_b ~ Beta(2, 2.5)`` of the jet momentum and the W decay shares the rest as ``z ~ Beta(2, 2)``;
* **background** (label 0), QCD-like: half the jets have 1 prong (a single hard parton), half have
  2 prongs (a hard ``g -> q q`` / ``q -> q g`` splitting with a soft-peaked share ``z ~ Beta(1.2, 3)``).

Any jet may also get a soft, wide-angle gluon emission (an extra prong carrying ``z ~ U(0.03, 0.15)``),
so some background jets look 2- or 3-pronged and some soft-W signal jets look 2-pronged: that overlap,
together with the momentum-sharing and angle fluctuations, is what keeps the task from being trivial.

Prong axes are laid out in the (eta, phi) plane around the jet axis at a random opening scale
(``dR ~ 2 m / pT`` with a random mass scale, about 0.15-0.6) and random orientation. Each prong fragments
into ``1 + Poisson(lambda)`` particles, ``lambda`` growing with the log of the prong momentum (gluon-like
extra prongs fragment a bit more), with momentum fractions from a Dirichlet distribution (one or two
hard particles, a tail of soft ones) and a Gaussian angular spread that grows for softer particles.
Underlying event/pile-up adds ``Poisson(3)`` soft (``pT ~ Exp(1.5 GeV)``) particles uniformly inside
the jet cone. Detector effects smear each particle's pT by 5 % (plus a 0.2 GeV noise floor) and its
position by 0.01. Particles are then re-clustered around the pT-weighted jet axis within ``dR < 0.8``.

Features and layout
-------------------
Each jet is a sequence of ``N_STEPS = 20`` time steps (its constituents sorted by decreasing pT)
of ``N_FEATURES = 6`` features::

    log_pt     log(pT / GeV)
    deta       eta - eta_jet
    dphi       phi - phi_jet
    log_e      log(E / GeV), with E = pT cosh(eta) (massless particles)
    dr         sqrt(deta^2 + dphi^2)
    pt_frac    pT / (scalar sum of the jet's constituent pT)

Jets with fewer than 20 constituents are padded with all-zero rows at the end; jets with more keep
their 20 hardest. Features are then standardised per feature, ``(x - mean) / std``, with ``mean`` and
``std`` computed on the training set over every (jet, time step) entry, padding included, so the
transform is one plain affine map per feature (stored in the metadata).

Models and outputs
------------------
``jets-lstm``: ``Input(20, 6) -> LSTM(20) -> Dense(64, relu) -> Dense(1, sigmoid)`` and ``jets-gru``:
the same with ``GRU(20, reset_after=True)``; layers are named ``lstm``/``gru``, ``dense``, ``output``.
The script writes ``jets-lstm.keras``, ``jets-gru.keras`` and ``jets_data.npz`` (2000 held-out,
standardised test jets with labels, both models' float outputs and a JSON ``meta`` string) to
``rnnrtl/demo/``; :mod:`rnnrtl.demo` loads them.

Usage::

    python scripts/make_demo.py [--seed 20240601] [--out rnnrtl/demo]
"""

from __future__ import annotations

import os

# Quiet, CPU-only, deterministic TensorFlow: must be set before TensorFlow is imported.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

N_STEPS = 20
N_FEATURES = 6
FEATURE_NAMES = ["log_pt", "deta", "dphi", "log_e", "dr", "pt_frac"]
JET_RADIUS = 0.8

N_TRAIN = 20000
N_VAL = 4000
N_TEST = 2000
DEFAULT_SEED = 20240601

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "rnnrtl" / "demo"


# --------------------------------------------------------------------------------------------------
# Toy jet generator
# --------------------------------------------------------------------------------------------------

def _prong_layout(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Positions ``(n, 2)`` in (deta, dphi) of ``n`` prong axes at opening scale ``scale``."""
    if n == 1:
        return np.zeros((1, 2))
    phi0 = rng.uniform(0.0, 2.0 * np.pi)
    # Roughly evenly spread directions with jitter, at jittered radii.
    angles = phi0 + 2.0 * np.pi * np.arange(n) / n + rng.normal(0.0, 0.5, n)
    radii = scale * rng.uniform(0.3, 0.7, n)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _fragment(rng: np.random.Generator, pt: float, axis: np.ndarray, gluon: bool) -> tuple[np.ndarray, np.ndarray]:
    """Particles ``(pt, pos)`` of one prong of momentum ``pt`` (GeV) around ``axis``."""
    lam = max(0.5, (1.6 if gluon else 1.2) * np.log(pt / 5.0))
    n = 1 + rng.poisson(lam)
    frac = rng.dirichlet(np.full(n, 0.7))
    pts = pt * frac
    # Softer particles spread wider around the prong axis (bounded at 0.15).
    sigma = np.minimum(0.02 * (frac * n) ** -0.5, 0.15)
    pos = axis + rng.normal(0.0, 1.0, (n, 2)) * sigma[:, None]
    return pts, pos


def generate_jet(rng: np.random.Generator, signal: bool) -> np.ndarray:
    """One jet as a zero-padded ``(N_STEPS, N_FEATURES)`` float64 array of raw (unstandardised) features."""
    jet_pt = rng.uniform(400.0, 600.0)
    jet_eta = rng.uniform(-2.0, 2.0)

    # Momentum sharing between prongs.
    if signal:
        z_b = rng.beta(2.0, 2.5)
        z_w = rng.beta(2.0, 2.0)
        shares = [z_b, (1 - z_b) * z_w, (1 - z_b) * (1 - z_w)]
        mass = rng.normal(175.0, 20.0)
    elif rng.uniform() < 0.5:
        shares = [1.0]
        mass = rng.uniform(20.0, 120.0)
    else:
        z = rng.beta(1.2, 3.0)
        shares = [1.0 - z, z]
        mass = rng.uniform(60.0, 200.0)
    gluon = [False] * len(shares)
    if rng.uniform() < 0.35:  # soft wide-angle gluon emission
        z = rng.uniform(0.03, 0.15)
        shares = [s * (1 - z) for s in shares] + [z]
        gluon.append(True)
    shares = np.asarray(shares)

    scale = np.clip(2.0 * abs(mass) / jet_pt, 0.12, 0.6)
    axes = _prong_layout(rng, len(shares), scale)

    pts, pos = [], []
    for share, axis, g in zip(shares, axes, gluon):
        p, x = _fragment(rng, max(share * jet_pt, 2.0), axis, g)
        pts.append(p)
        pos.append(x)
    # Underlying event / pile-up: soft particles uniform in the cone.
    n_ue = rng.poisson(3.0)
    r = JET_RADIUS * np.sqrt(rng.uniform(0.0, 1.0, n_ue))
    a = rng.uniform(0.0, 2.0 * np.pi, n_ue)
    pts.append(rng.exponential(1.5, n_ue))
    pos.append(np.stack([r * np.cos(a), r * np.sin(a)], axis=1))
    pts = np.concatenate(pts)
    pos = np.concatenate(pos)

    # Detector smearing.
    pts = np.abs(pts * (1.0 + rng.normal(0.0, 0.05, pts.shape)) + rng.normal(0.0, 0.2, pts.shape)) + 1e-3
    pos = pos + rng.normal(0.0, 0.01, pos.shape)

    # Re-cluster around the pT-weighted axis, keep the cone, sort by decreasing pT.
    pos = pos - np.average(pos, axis=0, weights=pts)
    dr = np.hypot(pos[:, 0], pos[:, 1])
    keep = dr < JET_RADIUS
    pts, pos, dr = pts[keep], pos[keep], dr[keep]
    order = np.argsort(-pts, kind="stable")[:N_STEPS]
    total = pts.sum()
    pts, pos, dr = pts[order], pos[order], dr[order]

    out = np.zeros((N_STEPS, N_FEATURES))
    n = len(pts)
    out[:n, 0] = np.log(pts)
    out[:n, 1] = pos[:, 0]
    out[:n, 2] = pos[:, 1]
    out[:n, 3] = np.log(pts * np.cosh(jet_eta + pos[:, 0]))
    out[:n, 4] = dr
    out[:n, 5] = pts / total
    return out


def generate_dataset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` jets, half signal, shuffled: raw features ``(n, N_STEPS, N_FEATURES)`` and int labels ``(n,)``."""
    labels = np.zeros(n, dtype=np.int32)
    labels[: n // 2] = 1
    rng.shuffle(labels)
    x = np.stack([generate_jet(rng, bool(lab)) for lab in labels])
    return x, labels


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------

def build_model(kind: str):
    """The demo architecture with an ``"lstm"`` or ``"gru"`` recurrent layer, built-in layers only."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(N_STEPS, N_FEATURES), name="input")
    if kind == "lstm":
        h = layers.LSTM(20, name="lstm")(inputs)
    elif kind == "gru":
        h = layers.GRU(20, reset_after=True, name="gru")(inputs)
    else:
        raise ValueError(f"unknown recurrent layer kind {kind!r}")
    h = layers.Dense(64, activation="relu", name="dense")(h)
    outputs = layers.Dense(1, activation="sigmoid", name="output")(h)
    model = keras.Model(inputs, outputs, name=f"jets_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def train_model(kind: str, seed: int, data: dict, epochs: int) -> tuple[object, float]:
    """Train one model; returns ``(model, seconds)``. Keeps the weights of the best validation epoch."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(kind)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    t0 = time.perf_counter()
    model.fit(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]),
              epochs=epochs, batch_size=128, shuffle=True, callbacks=[stop], verbose=0)
    return model, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def _import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 silenced.

    TensorFlow's C++ runtime logs a few INFO lines (oneDNN notice, absl warning) at import time
    that ``TF_CPP_MIN_LOG_LEVEL`` does not catch; import errors still raise normally.
    """
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
            import keras  # noqa: F401  (its backend import also logs)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel("ERROR")  # e.g. retracing warnings when predicting with several models
    return tf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master random seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--epochs", type=int, default=30, help="maximum training epochs per model")
    args = parser.parse_args(argv)

    tf = _import_tensorflow_quietly()
    import keras

    tf.config.set_visible_devices([], "GPU")
    tf.config.experimental.enable_op_determinism()

    # Data: one generator stream per split so that changing a split size leaves the others intact.
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(args.seed).spawn(3)
    x_train, y_train = generate_dataset(np.random.default_rng(seeds[0]), N_TRAIN)
    x_val, y_val = generate_dataset(np.random.default_rng(seeds[1]), N_VAL)
    x_test, y_test = generate_dataset(np.random.default_rng(seeds[2]), N_TEST)
    n_const = (x_train[:, :, 0] != 0).sum(axis=1)
    print(f"generated {N_TRAIN} train / {N_VAL} validation / {N_TEST} test jets "
          f"({N_STEPS} steps x {N_FEATURES} features) in {time.perf_counter() - t0:.1f} s; "
          f"constituents per jet: mean {n_const.mean():.1f}, {np.mean(n_const < N_STEPS):.0%} padded")

    flat = x_train.reshape(-1, N_FEATURES)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)

    def standardise(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    data = {"x_train": standardise(x_train), "y_train": y_train,
            "x_val": standardise(x_val), "y_val": y_val}
    x_test = standardise(x_test)
    print(f"standardised test inputs span [{x_test.min():.2f}, {x_test.max():.2f}]")

    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    outputs = {}
    for i, kind in enumerate(("lstm", "gru")):
        name = f"jets-{kind}"
        model, seconds = train_model(kind, args.seed + i, data, args.epochs)
        y = model.predict(x_test, batch_size=256, verbose=0).astype(np.float32)
        acc = float(np.mean((y[:, 0] > 0.5) == (y_test == 1)))
        path = args.out / f"{name}.keras"
        model.save(path)
        reloaded = keras.models.load_model(path, safe_mode=True)
        y_re = reloaded.predict(x_test, batch_size=256, verbose=0)
        if not np.allclose(y_re, y, rtol=0, atol=1e-6):
            raise RuntimeError(f"{name}: reloaded model does not reproduce its outputs")
        results[name] = {"test_accuracy": round(acc, 4), "train_seconds": round(seconds, 1),
                         "params": int(model.count_params())}
        outputs[name] = y
        print(f"{name}: {model.count_params()} parameters, trained in {seconds:.1f} s, "
              f"test accuracy {acc:.4f} -> {path}")

    meta = {
        "description": "Toy jet tagging: 3-prong top-like jets (label 1) vs 1-/2-prong QCD-like jets "
                       "(label 0), generated by scripts/make_demo.py (see its docstring).",
        "generator": {
            "jet_pt_gev": [400.0, 600.0], "jet_eta": [-2.0, 2.0], "jet_radius": JET_RADIUS,
            "signal": "3 prongs: z_b ~ Beta(2, 2.5), W share ~ Beta(2, 2)",
            "background": "50% 1 prong, 50% 2 prongs with z ~ Beta(1.2, 3)",
            "extra_emission": "35% of all jets: soft wide-angle gluon prong, z ~ U(0.03, 0.15)",
            "underlying_event": "Poisson(3) particles, pT ~ Exp(1.5 GeV), uniform in the cone",
            "smearing": "pT 5% + 0.2 GeV, position 0.01",
            "ordering": "constituents sorted by decreasing pT, zero-padded to 20",
        },
        "seed": args.seed,
        "n_steps": N_STEPS,
        "n_features": N_FEATURES,
        "feature_names": FEATURE_NAMES,
        "standardisation": "x_std = (x - mean) / std per feature, stats over all training entries "
                           "(padding included); x_test is already standardised",
        "mean": mean.tolist(),
        "std": std.tolist(),
        "sizes": {"train": N_TRAIN, "validation": N_VAL, "test": N_TEST},
        "outputs": "y_lstm / y_gru: model.predict(x_test, batch_size=256), shape (n_test, 1), float32",
        "models": results,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
    }
    npz_path = args.out / "jets_data.npz"
    np.savez_compressed(npz_path, x_test=x_test, labels=y_test.astype(np.int32),
                        y_lstm=outputs["jets-lstm"], y_gru=outputs["jets-gru"],
                        meta=np.array(json.dumps(meta, indent=1)))
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {npz_path}; {args.out} now holds {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
