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

#: Benchmark model keys -> anchor names.
MODELS = {"jet-lstm": JET_LSTM, "jet-gru": JET_GRU, "big-lstm": BIG_LSTM}

#: Per-layer configurations aimed at the targets: model key -> (model key, configuration);
#: layer names as in the anchor models.
PRESETS = {
    # Recurrent product at reuse 27 (60 multipliers), the once-per-sequence Dense layers slow:
    # 140 + 8 + 1 = 149 multipliers <= 156; a deep pipeline and two-input adder stages for ECP5.
    "jet-ecp5": ("jet-lstm", {"reuse": 1, "pipeline": "deep", "adder_fanin": 2, "layers": {
        "lstm": {"reuse_input": 24, "reuse_recurrent": 27},
        "dense": {"reuse": 160}, "dense_1": {"reuse": 64}}}),
    # Fewer multipliers (60 cell products + 10 + 20 + 9 = 99): less crowding around the DSP rows.
    "jet-ecp5-r80": ("jet-lstm", {"reuse": 1, "pipeline": "deep", "adder_fanin": 2, "layers": {
        "lstm": {"reuse_input": 48, "reuse_recurrent": 80},
        "dense": {"reuse": 160}, "dense_1": {"reuse": 64}}}),
    # Issue 22's latency attempt: the recurrent products in LUTs at reuse 4 (no DSP), the other
    # matrices faster: 951 cycles (6.3 us at 150 MHz); does not fit the ECP5-85F (2.1x its LUT4s,
    # 2.2x its flip-flops: docs/benchmarks.md).
    "jet-ecp5-lut": ("jet-lstm", {"reuse": 1, "pipeline": "deep", "adder_fanin": 2, "layers": {
        "lstm": {"reuse_input": 8, "reuse_recurrent": 4, "multiplier_recurrent": "lut"},
        "dense": {"reuse": 40}, "dense_1": {"reuse": 16}}}),
    # Reuse 16 with two sequences interleaved: a job every 16 cycles, a step of each sequence
    # every 26, so II = 100 steps x 16 = 1,600 cycles with 4,645 multipliers. The Dense layers run
    # once per sequence, so they can reuse each multiplier hundreds of times.
    "big-vu9p": ("big-lstm", {"reuse": 1, "layers": {
        "lstm": {"reuse_input": 16, "reuse_recurrent": 16, "interleave": 2},
        "dense": {"reuse": 512}, "dense_1": {"reuse": 256}}}),
}


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


def print_check(design, against: str, mismatches: int, values: int, timing: str | None = None):
    """A quantization-aware training script's check: rnnrtl's mismatches against the training
    library's own forward pass (``against``), each layer's formats, and with ``timing`` (a label)
    the design's latency, II and multipliers."""
    net = design.network
    print(f"rnnrtl (numerics: {net.numerics}) vs {against} on 500 sequences: {mismatches} "
          f"mismatches of {values} output codes")
    for layer in net.layers:
        fmts = {p.split(".")[-1]: str(f) for p, f in layer.point_formats().items()}
        print(f"  {layer.name}: input {layer.input_fmt}, kernel {layer.kernel.fmt}, {fmts}")
    if timing is not None:
        t = design.timing
        print(f"{timing}: latency {t.latency} cycles, II {t.ii} cycles, {t.multipliers} multipliers")

