"""Shared helpers for the benchmark scripts (thin clients of the rnnrtl API)."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT / "tests" / "fixtures" / "hls4ml-1.3"

#: Anchor models by the shape the issues name them by.
JET_LSTM = "toptag-lstm"          # LSTM(20) on 20x6 -> Dense(64, relu) -> Dense(1, sigmoid)
JET_GRU = "toptag-gru"            # GRU(20), same shape
BIG_LSTM = "quickdraw-lstm"       # LSTM(128) on 100x3 -> Dense(256, relu) -> Dense(5, softmax)
FIDELITY_MODELS = ("toptag-lstm", "toptag-gru", "digits-lstm", "digits-gru", "quickdraw-lstm")


def anchor(name):
    """``(model_path, data, hls4ml_outputs)`` of an hls4ml-1.3 anchor model."""
    import numpy as np
    data = dict(np.load(ANCHORS / f"{name}_data.npz"))
    hls = dict(np.load(ANCHORS / f"{name}_hls4ml.npz"))
    return ANCHORS / f"{name}.keras", data, hls


def decisions(y):
    """Binary decisions (> 0.5) for one output, the argmax for several."""
    return (y[..., 0] > 0.5).astype(int) if y.shape[-1] == 1 else y.argmax(-1)


def console():
    """A rich console wide enough for the benchmark tables even when output is piped."""
    from rich.console import Console
    return Console(width=160)
