# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components built only to read their properties, or refused by
# their constructor, are never elaborated.)
"""Tests of ``rnnrtl.hw.dense`` and ``rnnrtl.hw.cells``: each layer kind alone against the emulator.

A tiny Keras model holding one layer is converted (:func:`rnnrtl.convert`) and emulated; its IR
layer is built as hardware and simulated with the stream helpers of :mod:`rnnrtl.hw.streamsim`.
Each simulation runs two phases back to back on the same circuit:

1. a few sequences at full rate (input always offered, output always ready), from which the
   per-step cycle count, the II and the latency are measured at the ports only;
2. more sequences with random idle input cycles and random output back-pressure.

Every output beat of both phases must equal the emulator's codes exactly, with its ``last`` flag.
Multiplier counts are checked against the formula, for every reuse factor of small shapes.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.hw.cells import GRUCell, LSTMCell, SimpleRNNCell  # noqa: E402
from rnnrtl.hw.network import hardware_layer  # noqa: E402
from rnnrtl.hw.static import StaticLayer  # noqa: E402
from rnnrtl.hw.unrolled import UnrolledLayer  # noqa: E402
from rnnrtl.hw.streamsim import recv_beats, send_beats  # noqa: E402

T, F, N = 4, 3, 3          # time steps, input features, units
FULL_RATE_SEQS = 3          # phase 1
STALLED_SEQS = 3            # phase 2
IDLE, STALL = 0.3, 0.4
TIMEOUT = 10_000             # cycles; a deadlock fails fast

NARROW = {"default": "ap_fixed<10,4>", "activation": "ap_fixed<10,2>"}  # AP_TRN, AP_WRAP
WIDE = "fixed<24,10>"


# -- helpers ---------------------------------------------------------------------------------------

def _keras_layer(kind, *, units=N, return_sequences=False, use_bias=True, activation=None):
    import keras
    common = {"name": "layer", "use_bias": use_bias}
    if kind == "dense":
        return keras.layers.Dense(units, activation=activation or "linear", **common)
    rs = {"return_sequences": return_sequences}
    if kind == "lstm":
        return keras.layers.LSTM(units, **rs, **common)
    if kind == "gru":
        return keras.layers.GRU(units, reset_after=True, **rs, **common)
    if kind == "gru_before":
        return keras.layers.GRU(units, reset_after=False, **rs, **common)
    if kind == "simplernn":
        return keras.layers.SimpleRNN(units, activation=activation or "tanh", **rs, **common)
    raise ValueError(kind)


def _model(kind, *, timesteps=T, features=F, seed=2, **layer_kwargs):
    """A one-layer Keras model with random weights (std 0.8)."""
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((timesteps, features)), _keras_layer(kind, **layer_kwargs)])
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0, 0.8, w.shape))
    return model


def _design(kind, config=None, **kwargs):
    return rnnrtl.convert(_model(kind, **kwargs), config)


def _hardware(design):
    return hardware_layer(design.network.layers[0],
                          timesteps=design.network.timesteps)


def _expected_beats(codes):
    """``(lanes, last)`` per output beat of a batch, as the hardware must emit them."""
    if codes.ndim == 2:            # one result per sequence
        return [(row.tolist(), 1) for row in codes]
    B, steps, _ = codes.shape
    return [(codes[b, t].tolist(), int(t == steps - 1)) for b in range(B) for t in range(steps)]


def _run_two_phases(hw, design, *, seed=0, stalled=STALLED_SEQS, idle=IDLE, stall=STALL):
    """Simulate phase 1 (full rate) then phase 2 (stalls); return (measured, expected, got)."""
    B = FULL_RATE_SEQS + stalled
    steps = design.network.timesteps
    rng = np.random.default_rng(seed + 100)
    x = rng.normal(0, 1, (B, steps, design.network.in_features))
    result = design.run(x, trace=True, warn=False)
    xin = result.trace["input"]
    beats = [(xin[b, t], t == steps - 1) for b in range(B) for t in range(steps)]
    expected = _expected_beats(np.asarray(result.codes))
    per_seq = len(expected) // B
    split_in, split_out = FULL_RATE_SEQS * steps, FULL_RATE_SEQS * per_seq
    lanes = design.network.out_features
    out = {}

    async def source(ctx):
        out["t_in"] = await send_beats(ctx, hw.i, beats[:split_in])
        await send_beats(ctx, hw.i, beats[split_in:], rng=np.random.default_rng(seed + 1), idle=idle)

    async def sink(ctx):
        got, out["t_out"] = await recv_beats(ctx, hw.o, split_out, lanes=lanes, timeout=TIMEOUT)
        more, _ = await recv_beats(ctx, hw.o, len(expected) - split_out,
                                   rng=np.random.default_rng(seed + 2), stall=stall, lanes=lanes,
                                   timeout=TIMEOUT * (1 + stalled // 4))
        out["got"] = got + more

    sim = Simulator(hw)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return out, expected


def _check_exact(got, expected):
    assert len(got) == len(expected)
    bad = [k for k, (g, e) in enumerate(zip(got, expected)) if list(g[0]) != list(e[0]) or g[1] != e[1]]
    assert not bad, (f"{len(bad)} of {len(expected)} beats differ; first at beat {bad[0]}: "
                     f"hardware {got[bad[0]]}, emulator {expected[bad[0]]}")


# -- recurrent layers ------------------------------------------------------------------------------

RECURRENT_KINDS = {
    "lstm": {"kind": "lstm"},
    "gru": {"kind": "gru"},
    "gru_before": {"kind": "gru_before"},
    "simplernn_tanh": {"kind": "simplernn", "activation": "tanh"},
    "simplernn_relu": {"kind": "simplernn", "activation": "relu"},
}

# Product counts with N = F = 3: LSTM 36 (input and recurrent); GRU 27 (the hardware splits the
# recurrent ones into U_zr 18 and U_h 9); SimpleRNN 9.
_RECURRENT_CASES = []
for _name in RECURRENT_KINDS:
    for _rs in (True, False):
        _RECURRENT_CASES.append((_name, {}, _rs, {}))
_RECURRENT_CASES += [
    # reuse dividing every product count, and not dividing them
    ("lstm", {"reuse": 4}, True, {}),
    ("lstm", {"reuse": 5}, False, {}),
    ("gru", {"reuse": 3}, True, {}),
    ("gru", {"reuse": 4}, False, {}),
    ("gru_before", {"reuse": 3}, False, {}),
    ("gru_before", {"reuse": 4}, True, {}),
    ("simplernn_tanh", {"reuse": 3}, True, {}),
    ("simplernn_relu", {"reuse": 2}, False, {}),
    # separate input / recurrent reuse, both ways round
    ("lstm", {"reuse_input": 2, "reuse_recurrent": 7}, True, {}),
    ("lstm", {"reuse_input": 12, "reuse_recurrent": 1}, True, {}),
    ("gru", {"reuse_input": 9, "reuse_recurrent": 2}, True, {}),
    ("gru_before", {"reuse_input": 1, "reuse_recurrent": 5}, False, {}),
    ("simplernn_tanh", {"reuse_input": 9, "reuse_recurrent": 1}, True, {}),
    ("simplernn_relu", {"reuse_input": 1, "reuse_recurrent": 9}, True, {}),
    # no bias
    ("lstm", {}, True, {"use_bias": False}),
    ("gru", {"reuse": 2}, False, {"use_bias": False}),
    ("gru_before", {}, True, {"use_bias": False}),
    ("simplernn_tanh", {}, True, {"use_bias": False}),
    # formats: narrow ap_fixed (truncation, wrap-around), wide
    ("lstm", {"precision": NARROW}, True, {}),
    ("gru", {"precision": NARROW, "reuse": 2}, True, {}),
    ("gru_before", {"precision": NARROW}, True, {}),
    ("simplernn_relu", {"precision": NARROW}, True, {}),
    ("lstm", {"precision": WIDE, "reuse": 3}, True, {}),
    ("gru", {"precision": WIDE}, False, {}),
    ("simplernn_tanh", {"precision": WIDE}, True, {}),
    # interleaved sequences (return_sequences=False only)
    ("lstm", {"interleave": 2}, False, {}),
    ("gru", {"interleave": 3, "reuse": 2}, False, {}),
    ("gru_before", {"interleave": 2, "reuse_recurrent": 3}, False, {}),
    ("simplernn_relu", {"interleave": 4}, False, {}),
    # adder tree fan-in
    ("lstm", {"adder_fanin": 2}, True, {}),
    ("gru", {"adder_fanin": 2, "reuse": 2}, True, {}),
    ("gru_before", {"adder_fanin": 8}, True, {}),
    ("lstm", {"adder_fanin": 8, "reuse": 3}, False, {}),
    ("simplernn_tanh", {"adder_fanin": 2}, True, {}),
    # deep pipeline (activation units of latency 7), alone and with reuse / interleave
    ("lstm", {"pipeline": "deep"}, True, {}),
    ("lstm", {"pipeline": "deep", "reuse": 3, "interleave": 2}, False, {}),
    ("gru", {"pipeline": "deep", "reuse": 2}, True, {}),
    ("gru", {"pipeline": "deep", "interleave": 4}, False, {}),
    ("gru", {"interleave": 4}, False, {}),   # U_h·h (one tree stage) waits for U_zr·h (two)
    ("gru_before", {"pipeline": "deep"}, True, {}),
    ("gru_before", {"pipeline": "deep", "interleave": 3, "reuse_recurrent": 2}, False, {}),
    ("simplernn_tanh", {"pipeline": "deep", "reuse": 2}, True, {}),
    ("simplernn_relu", {"pipeline": "deep", "interleave": 2}, False, {}),
    # fast pipeline (tables read combinationally, one-stage trees), reuse 1 and 2, interleaved
    ("lstm", {"pipeline": "fast"}, True, {}),
    ("lstm", {"pipeline": "fast", "reuse": 2, "interleave": 2}, False, {}),
    ("gru", {"pipeline": "fast"}, True, {}),
    ("gru", {"pipeline": "fast", "reuse_recurrent": 2}, False, {}),
    ("gru_before", {"pipeline": "fast"}, True, {}),
    ("gru_before", {"pipeline": "fast", "reuse": 2, "interleave": 3}, False, {}),
    ("simplernn_relu", {"pipeline": "fast"}, True, {}),
]


def _case_id(case):
    name, config, rs, kwargs = case
    parts = [name, "seq" if rs else "last"]
    for key, value in {**config, **kwargs}.items():
        if key == "precision":
            value = "narrow" if value is NARROW else "wide"
        parts.append(f"{key}={value}")
    return "-".join(parts)


def _recurrent_multipliers(layer):
    """The documented count: projection + recurrent products (each MatVec ``ceil(P/R)``) + tail."""
    Rx, Rh = layer.schedule.reuse_input, layer.schedule.reuse_recurrent
    G, n, f = layer.GATES, layer.units, layer.in_features
    projection = math.ceil(G * n * f / Rx)
    if layer.kind == "gru":  # U_zr and U_h are separate MatVecs, each with reuse R_h
        recurrent = math.ceil(2 * n * n / Rh) + math.ceil(n * n / Rh)
    else:
        recurrent = math.ceil(G * n * n / Rh)
    tail = {"lstm": 3, "gru": 3, "simplernn": 0}[layer.kind] * n
    return projection + recurrent + tail


@pytest.mark.parametrize("case", _RECURRENT_CASES, ids=_case_id)
def test_recurrent_layer(case):
    name, config, rs, kwargs = case
    _check_recurrent(_design(**RECURRENT_KINDS[name], **kwargs, return_sequences=rs, config=config), rs)


def _check_recurrent(d, rs):
    layer = d.network.layers[0]
    hw = _hardware(d)
    assert type(hw) is StaticLayer
    assert type(hw.cell) is {"lstm": LSTMCell, "gru": GRUCell, "simplernn": SimpleRNNCell}[layer.kind]
    assert hw.multipliers == _recurrent_multipliers(layer)

    out, expected = _run_two_phases(hw, d)
    _check_exact(out["got"], expected)
    if hw.slots > 1:  # interleaved timing: tests/test_timing.py compares it with the model
        return

    # Phase 1, at full rate: one job every step_cycles, unless the multipliers' initiation
    # interval (job_spacing: R_x or R_h) is the longer.
    per_step = max(hw.step_cycles, hw.job_spacing)
    t_in, t_out = out["t_in"], out["t_out"]
    gaps = np.diff(t_out)
    if rs:
        first = hw.projection_latency + hw.output_latency
        expected_gaps = {per_step}
    else:
        first = hw.projection_latency + (T - 1) * per_step + hw.output_latency
        expected_gaps = {T * per_step}
    assert t_out[0] - t_in[0] == first
    assert set(gaps.tolist()) == expected_gaps, f"step_cycles {hw.step_cycles}, gaps {gaps}"


# -- unrolled recurrent layers (mode: unrolled) -------------------------------------------------------

# (kind, config, return_sequences, model keyword arguments); N = F = 3 unless set, T = 4 unless set.
_UNROLLED_CASES = [
    ("lstm", {}, False, {}),
    ("lstm", {"reuse": 3}, True, {}),
    ("lstm", {"reuse_input": 12}, True, {}),            # the projection (Lx > D + 1) sets the II
    ("gru", {}, True, {"units": 2, "features": 2}),
    ("gru", {"reuse": 4}, False, {}),
    ("gru_before", {}, False, {"units": 2, "features": 2}),
    ("gru_before", {"reuse": 2}, True, {}),
    ("simplernn_tanh", {}, True, {}),
    ("simplernn_relu", {"reuse_recurrent": 4}, False, {"timesteps": 3, "units": 2}),
    ("lstm", {"precision": NARROW}, True, {"units": 2, "features": 2}),
    ("gru", {"reuse": 2}, True, {"timesteps": 1}),      # one stage: first and last
    ("simplernn_tanh", {}, True, {"timesteps": 6, "units": 2, "features": 2}),  # II = T
    ("lstm", {"pipeline": "deep"}, True, {}),
    ("gru", {"pipeline": "deep", "reuse": 2}, False, {}),
    ("lstm", {"pipeline": "fast"}, True, {}),
    ("gru", {"pipeline": "fast", "reuse": 2}, False, {}),
    ("gru_before", {"pipeline": "fast"}, True, {}),
    ("simplernn_tanh", {"pipeline": "fast", "reuse": 2}, False, {}),
]


def _unrolled_id(case):
    name, config, rs, kwargs = case
    return _case_id((name, config, rs, kwargs)) + "-unrolled"


@pytest.mark.parametrize("case", _UNROLLED_CASES, ids=_unrolled_id)
def test_unrolled_layer(case):
    from rnnrtl.hw import timing as timing_model
    name, config, rs, kwargs = case
    d = _design(**RECURRENT_KINDS[name], **kwargs, return_sequences=rs,
                config={**config, "mode": "unrolled"})
    layer = d.network.layers[0]
    steps = d.network.timesteps
    hw = _hardware(d)
    assert type(hw) is UnrolledLayer and len(hw.stages) == steps
    assert hw.multipliers == steps * _recurrent_multipliers(layer)  # one cell per time step

    out, expected = _run_two_phases(hw, d)
    _check_exact(out["got"], expected)

    # Phase 1, at full rate: measured latency and II are the layer's figures, and the beat-level
    # timing model predicts every transfer.
    t_in, t_out = out["t_in"], out["t_out"]
    per_seq = steps if rs else 1
    assert t_out[per_seq - 1] - t_in[0] == hw.latency
    assert set(np.diff(t_in[::steps]).tolist()) == {hw.ii}, t_in
    model = timing_model.simulate([hw], FULL_RATE_SEQS, steps, per_seq)
    assert model == (t_in, t_out)
    assert (d.timing.latency, d.timing.ii) == (hw.latency, hw.ii)
    # Sequences overlap: a new one starts before the previous one has left (when T > 1).
    if steps > 1:
        assert hw.ii < hw.latency


@pytest.mark.parametrize("stall", [0.0, 0.85])
def test_unrolled_queues_under_heavy_backpressure(stall):
    """Twenty sequences back to back (no idle input) into an unrolled LSTM emitting every step,
    its output refused 85 % of the time (or never): the stages' queues fill and empty, credits
    must hold, beats must stay in order."""
    d = _design("lstm", return_sequences=True, units=2, features=2,
                config={"mode": "unrolled", "reuse": 2})
    out, expected = _run_two_phases(_hardware(d), d, stalled=20, idle=0.0, stall=stall)
    _check_exact(out["got"], expected)


# -- dense layers ----------------------------------------------------------------------------------

_DENSE_CASES = [
    ("relu", {}, {}),
    ("linear", {}, {}),
    ("sigmoid", {}, {}),
    ("tanh", {}, {}),
    ("softmax", {}, {}),
    ("relu", {"reuse": 3}, {}),          # 9 products: a divisor
    ("sigmoid", {"reuse": 4}, {}),       # not a divisor
    ("linear", {"reuse": 9}, {}),        # one multiplier
    ("relu", {}, {"use_bias": False}),
    ("tanh", {"reuse": 2}, {"use_bias": False}),
    ("relu", {"precision": NARROW}, {}),
    ("sigmoid", {"precision": NARROW, "reuse": 2}, {}),
    ("softmax", {"precision": WIDE}, {}),
    ("linear", {"precision": WIDE, "adder_fanin": 2}, {}),
    ("tanh", {"adder_fanin": 8}, {}),
    ("relu", {"adder_fanin": 2, "reuse": 2}, {}),
    ("sigmoid", {"pipeline": "deep"}, {}),
    ("relu", {"pipeline": "deep", "reuse": 2}, {}),
    ("linear", {"pipeline": "deep", "precision": NARROW}, {}),
    ("sigmoid", {"pipeline": "fast"}, {}),
    ("relu", {"pipeline": "fast", "reuse": 2}, {}),
]


def _dense_id(case):
    activation, config, kwargs = case
    return _case_id((activation, config, True, kwargs)).replace("-seq", "")


@pytest.mark.parametrize("case", _DENSE_CASES, ids=_dense_id)
def test_dense_layer(case):
    activation, config, kwargs = case
    _check_dense(_design("dense", config, activation=activation, **kwargs))


def _check_dense(d):
    layer = d.network.layers[0]
    hw = _hardware(d)
    R = layer.schedule.reuse_input
    assert hw.ii == R
    # a softmax with tables (numerics: hls4ml) multiplies each exp by the inverse of the sum
    tables = layer.activation.softmax is not None and layer.activation.softmax.implementation != "argmax"
    assert hw.multipliers == math.ceil(layer.units * layer.in_features / R) + tables * layer.units

    out, expected = _run_two_phases(hw, d)
    _check_exact(out["got"], expected)

    # Phase 1, output always ready: every beat is offered (and taken) latency cycles after its
    # acceptance, and acceptances are at least R cycles apart.
    t_in, t_out = np.array(out["t_in"]), np.array(out["t_out"])
    assert (t_out - t_in == hw.latency).all(), (t_in, t_out)
    assert np.diff(t_in).min() >= R


@pytest.mark.parametrize("reuse", [1, 3])
def test_dense_full_rate(reuse):
    d = _design("dense", {"reuse": reuse}, activation="relu")
    hw = _hardware(d)
    out, expected = _run_two_phases(hw, d)
    _check_exact(out["got"], expected)
    assert set(np.diff(out["t_in"]).tolist()) == {hw.ii}
    assert set(np.diff(out["t_out"]).tolist()) == {hw.ii}


# -- numerics: hls4ml (per-product casts, sums through the accumulator, hls4ml's tables) ------------

#: ap_fixed types (truncate, wrap) as hls4ml's; narrow enough that products and sums wrap.
H_NARROW = {"default": "ap_fixed<10,4>", "accum": "ap_fixed<10,2,AP_RND>"}
H_CONV = {"default": "ap_fixed<9,3>", "accum": "ap_fixed<10,2,AP_RND_CONV>",
          "result": "ap_fixed<8,3>"}

_HLS4ML_RECURRENT_CASES = [
    # name, config (numerics: hls4ml added), return_sequences, Keras kwargs, must overflow
    ("lstm", {}, True, {}, False),
    ("lstm", {"reuse": 5}, False, {}, False),
    ("lstm", {"precision": H_NARROW, "reuse": 4}, True, {}, True),
    ("lstm", {"precision": H_CONV, "reuse_input": 2, "reuse_recurrent": 7}, True, {}, True),
    ("lstm", {"interleave": 2, "reuse": 3}, False, {}, False),
    ("lstm", {"tables": {"sigmoid": {"size": 64}, "tanh": {"size": 4096}}}, True,
     {"activation": "relu"}, False),
    ("gru", {}, True, {}, False),
    ("gru", {"precision": H_NARROW, "reuse": 2}, False, {}, True),
    ("gru", {"precision": H_CONV, "reuse_input": 9, "reuse_recurrent": 4}, True, {}, True),
    ("gru", {"precision": "ap_fixed<24,10>", "interleave": 3}, False, {"use_bias": False}, False),
    ("gru", {"adder_fanin": 2, "reuse": 3}, True, {}, False),
    ("lstm", {"pipeline": "deep", "precision": H_NARROW}, True, {}, True),
    ("gru", {"pipeline": "deep", "interleave": 2, "precision": H_CONV}, False, {}, True),
]


def _hls4ml_id(case):
    name, config, rs, kwargs, _ = case
    parts = [name, "seq" if rs else "last"]
    for key, value in {**config, **kwargs}.items():
        if key == "precision":
            value = {id(H_NARROW): "narrow", id(H_CONV): "conv"}.get(id(value), value)
        if key == "tables":
            value = "sizes"
        parts.append(f"{key}={value}")
    return "-".join(parts)


def _overflows(d):
    x = np.random.default_rng(100).normal(0, 1, (FULL_RATE_SEQS + STALLED_SEQS, T, d.network.in_features))
    return d.run(x, warn=False).overflows


@pytest.mark.parametrize("case", _HLS4ML_RECURRENT_CASES, ids=_hls4ml_id)
def test_recurrent_layer_hls4ml(case):
    """LSTM and GRU under numerics: hls4ml: the hardware equals the emulator (which equals hls4ml
    1.3, tests/numerics/test_hls4ml.py), bit for bit, at full rate and under random stalls."""
    name, config, rs, kwargs, wraps = case
    d = _design(name, {"numerics": "hls4ml", **config}, return_sequences=rs, **kwargs)
    assert d.network.layers[0].product_fmt is not None
    assert bool(_overflows(d)) == wraps   # the narrow cases do wrap (in the emulator's count)
    _check_recurrent(d, rs)


@pytest.mark.parametrize("case", [
    ("lstm", {"precision": H_NARROW}, True),
    ("gru", {"reuse": 2, "precision": H_CONV}, False),
], ids=lambda c: _hls4ml_id((*c, {}, None)) + "-unrolled")
def test_unrolled_layer_hls4ml(case):
    """mode: unrolled (hls4ml's non-static) under numerics: hls4ml: each stage's cell casts as the
    static cell does; bit-exact under stalls, figures as the timing model says."""
    name, config, rs = case
    d = _design(name, {"numerics": "hls4ml", "mode": "unrolled", **config}, return_sequences=rs,
                units=2, features=2)
    assert _overflows(d)
    hw = _hardware(d)
    assert type(hw) is UnrolledLayer
    out, expected = _run_two_phases(hw, d)
    _check_exact(out["got"], expected)
    assert (d.timing.latency, d.timing.ii) == (hw.latency, hw.ii)


_HLS4ML_DENSE_CASES = [
    # activation, config, Keras kwargs
    ("linear", {}, {}),
    ("relu", {"reuse": 4}, {}),
    ("sigmoid", {"reuse": 3}, {}),
    ("tanh", {"precision": H_NARROW}, {}),
    ("relu", {"precision": H_CONV, "reuse": 2}, {}),
    ("softmax", {}, {}),
    ("softmax", {"reuse": 5}, {}),
    ("softmax", {"precision": H_NARROW, "layers": {"layer_softmax": {"softmax": {
        "implementation": "latency", "table_size": 256}}}}, {}),
    ("softmax", {"layers": {"layer_softmax": {"precision": {
        "accum": "ap_fixed<18,8,AP_RND,AP_SAT>", "result": "ap_ufixed<10,0,AP_RND,AP_SAT>"}}}}, {}),
    ("softmax", {"layers": {"layer_softmax": {"softmax": {"implementation": "argmax"}}}}, {}),
    ("sigmoid", {"precision": "ap_fixed<24,10>", "adder_fanin": 2}, {"use_bias": False}),
    ("softmax", {"pipeline": "deep", "reuse": 2}, {}),
    ("tanh", {"pipeline": "deep", "precision": H_NARROW}, {}),
]


@pytest.mark.parametrize("case", _HLS4ML_DENSE_CASES,
                         ids=lambda c: _hls4ml_id((c[0], c[1], True, c[2], None)).replace("-seq", ""))
def test_dense_layer_hls4ml(case):
    """Dense under numerics: hls4ml, including hls4ml's softmax tables (stable, latency, argmax)."""
    activation, config, kwargs = case
    d = _design("dense", {"numerics": "hls4ml", **config}, activation=activation, **kwargs)
    assert d.network.layers[0].product_fmt is not None
    _check_dense(d)


# -- multiplier counts over every reuse factor (no simulation) ----------------------------------------

@pytest.mark.parametrize("name", ["lstm", "gru", "gru_before", "simplernn_tanh"])
def test_recurrent_multipliers_every_reuse(name):
    kind = RECURRENT_KINDS[name]
    n, f = 2, 3
    G = {"lstm": 4, "gru": 3, "gru_before": 3, "simplernn": 1}[kind["kind"]]
    # GRU: the hardware needs R_h <= N·N (its U_h MatVec); see test_gru_reuse_recurrent_above_n_squared.
    max_rh = n * n if kind["kind"].startswith("gru") else G * n * n
    model = _model(**kind, units=n, features=f)
    for rx in range(1, G * n * f + 1):
        rh = (rx - 1) % max_rh + 1
        d = rnnrtl.convert(model, {"reuse_input": rx, "reuse_recurrent": rh})
        layer = d.network.layers[0]
        hw = _hardware(d)
        assert hw.multipliers == _recurrent_multipliers(layer), (rx, rh)
        assert hw.projection.ii == rx
        assert all(mv.ii == rh for mv in hw.cell.loop_matvecs)


def test_dense_multipliers_every_reuse():
    model = _model("dense", units=4, features=3, activation="relu")
    for r in range(1, 13):
        d = rnnrtl.convert(model, {"reuse": r})
        assert _hardware(d).multipliers == math.ceil(12 / r)


def test_gru_reuse_recurrent_above_n_squared():
    # A GRU's recurrent products are two units; the reuse factor applies to each, so N·N bounds a
    # layer's own reuse_recurrent (a top-level one too large for it is clamped, with a warning).
    from rnnrtl.errors import ConfigWarning
    model = _model("gru", units=2, features=3)
    name = model.layers[-1].name
    with pytest.raises(rnnrtl.ConfigError, match="valid: any whole number 1..4"):
        rnnrtl.convert(model, {"layers": {name: {"reuse_recurrent": 8}}})
    with pytest.warns(ConfigWarning):
        design = rnnrtl.convert(model, {"reuse_recurrent": 8})
    assert design.network.layers[0].schedule.reuse_recurrent == 4
