# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components built only to read their properties are never
# elaborated.)
"""Tests of ``rnnrtl.hw.network``: whole :class:`NetworkCore` chains against the emulator.

Small stacked Keras models with random weights are converted and emulated; the core is simulated
with the stream helpers of :mod:`rnnrtl.hw.streamsim`, with random idle input cycles and output
back-pressure. Every output beat must equal the emulator's codes, with its ``last`` flag; no beat
may be lost, duplicated or reordered (the sequences' results all differ, and after the expected
beats the output must stay silent). A synchronous reset in the middle of a sequence must leave the
core as new: the next sequences give exactly the emulator's results.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.hdl import ClockDomain, Module  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.hw.streamsim import recv_beats, send_beats  # noqa: E402

T, F = 5, 3


def _stacked():
    """LSTM(4, return_sequences) -> GRU(3) -> Dense(5, relu) -> Dense(2, sigmoid)."""
    import keras
    return [keras.layers.LSTM(4, return_sequences=True, name="l1"),
            keras.layers.GRU(3, name="g1"),
            keras.layers.Dense(5, activation="relu", name="d1"),
            keras.layers.Dense(2, activation="sigmoid", name="d2")]


def _softmax_head():
    """GRU(4, reset_after=False) -> SimpleRNN(3) -> Dense(3, softmax)."""
    import keras
    return [keras.layers.GRU(4, reset_after=False, return_sequences=True, name="g1"),
            keras.layers.SimpleRNN(3, name="s1"),
            keras.layers.Dense(3, activation="softmax", name="out")]


def _sequence_out():
    """LSTM(3, return_sequences) -> Dense(2, softmax): one output beat per time step."""
    import keras
    return [keras.layers.LSTM(3, return_sequences=True, name="l1"),
            keras.layers.Dense(2, activation="softmax", name="out")]


NETWORKS = {"stacked": _stacked, "softmax_head": _softmax_head, "sequence_out": _sequence_out}


def _design(network, config=None, *, seed=1):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((T, F)), *NETWORKS[network]()])
    rng = np.random.default_rng(seed + 1)
    for w in model.weights:
        w.assign(rng.normal(0, 0.7, w.shape))
    return rnnrtl.convert(model, config)


def _emulate(design, sequences, *, seed=3):
    """Input beats ``[(lanes, last)]`` per sequence, and the expected output beats per sequence."""
    x = np.random.default_rng(seed).normal(0, 1, (sequences, T, F))
    result = design.run(x, trace=True, warn=False)
    xin = result.trace["input"]
    codes = np.asarray(result.codes)
    inputs = [[(xin[b, t], t == T - 1) for t in range(T)] for b in range(sequences)]
    if codes.ndim == 2:
        outputs = [[(codes[b].tolist(), 1)] for b in range(sequences)]
    else:
        outputs = [[(codes[b, t].tolist(), int(t == T - 1)) for t in range(T)]
                   for b in range(sequences)]
    # The check "nothing lost, duplicated or reordered" needs results that differ.
    flat = [tuple(lanes) for seq in outputs for lanes, _ in seq]
    assert len(set(flat)) == len(flat), "pick another seed: two output beats are equal"
    return inputs, outputs


async def _expect_silence(ctx, port, cycles):
    """With ready high, ``port`` must offer nothing for ``cycles`` cycles."""
    ctx.set(port.ready, 1)
    for cycle in range(cycles):
        _, _, valid = await ctx.tick().sample(port.valid)
        assert not valid, f"an extra output beat {cycle} cycles after the expected ones"
    ctx.set(port.ready, 0)


def _check(got, expected):
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert (list(g[0]), g[1]) == (list(e[0]), e[1]), f"beat {k}: hardware {g}, emulator {e}"


def _run(core, inputs, outputs, *, idle, stall, seed=0, silence=100):
    beats = [b for seq in inputs for b in seq]
    expected = [b for seq in outputs for b in seq]
    lanes = core.network.out_features
    got = []

    async def source(ctx):
        await send_beats(ctx, core.i, beats, rng=np.random.default_rng(seed + 1), idle=idle)

    async def sink(ctx):
        received, _ = await recv_beats(ctx, core.o, len(expected), lanes=lanes,
                                       rng=np.random.default_rng(seed + 2), stall=stall,
                                       timeout=20_000)
        got.extend(received)
        await _expect_silence(ctx, core.o, silence)

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    _check(got, expected)


CASES = [
    ("stacked", None),
    ("stacked", {"reuse": 2, "adder_fanin": 2}),
    ("stacked", {"layers": {"l1": {"reuse_input": 3, "reuse_recurrent": 5},
                            "g1": {"reuse_recurrent": 4}, "d1": {"reuse": 7}}}),
    ("stacked", {"layers": {"g1": {"interleave": 2}}}),
    ("softmax_head", None),
    ("softmax_head", {"reuse": 3, "precision": "fixed<12,5>"}),
    ("softmax_head", {"layers": {"s1": {"interleave": 3, "reuse": 2}}}),
    ("sequence_out", None),
    ("sequence_out", {"reuse": 2, "adder_fanin": 8}),
]


@pytest.mark.parametrize("network,config", CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_network_bit_exact(network, config):
    d = _design(network, config)
    core = NetworkCore(d.network)
    inputs, outputs = _emulate(d, 4)
    _run(core, inputs, outputs, idle=0.3, stall=0.3)


#: Finer softmax inverse tables than hls4ml's default (whose 1/sum has steps of 1/4 here), so that
#: the per-step probabilities differ from beat to beat, as the check for lost beats needs.
_FINE_INV = {"inv_inp": "ap_fixed<18,2,AP_RND,AP_SAT>", "inv_table": "ap_fixed<18,2,AP_RND,AP_SAT>"}

HLS4ML_CASES = [
    # network, config (numerics: hls4ml added), input seed giving distinct output beats
    ("stacked", {"reuse": 2}, 3),
    ("stacked", {"precision": {"default": "ap_fixed<14,4>", "accum": "ap_fixed<12,2,AP_RND_CONV>"}}, 3),
    ("sequence_out", {"precision": "ap_fixed<14,4>", "layers": {"out_softmax": {"softmax": _FINE_INV}}},
     5),
    ("sequence_out", {"precision": "ap_fixed<12,4>", "reuse": 3, "layers": {"out_softmax": {
        "softmax": {"implementation": "latency", **_FINE_INV}}}}, 3),
]


@pytest.mark.parametrize("network,config,seed", HLS4ML_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(HLS4ML_CASES)])
def test_network_bit_exact_hls4ml(network, config, seed):
    """numerics: hls4ml through whole networks (casts wrapping in the narrow case; hls4ml's
    softmax, stable and latency, on every time step), under random stalls."""
    d = _design(network, {"numerics": "hls4ml", **config})
    core = NetworkCore(d.network)
    inputs, outputs = _emulate(d, 4, seed=seed)
    _run(core, inputs, outputs, idle=0.3, stall=0.3)


@pytest.mark.parametrize("network", ["stacked", "sequence_out"])
def test_network_heavy_backpressure(network):
    """Output ready only 20 % of cycles, input always offered: every internal queue fills."""
    d = _design(network, {"reuse": 2})
    core = NetworkCore(d.network)
    inputs, outputs = _emulate(d, 6, seed=7)
    _run(core, inputs, outputs, idle=0.0, stall=0.8, seed=4)


async def _send_for(ctx, port, beats, cycles):
    """Offer ``beats`` at full rate for ``cycles`` cycles at most; the number transferred."""
    sent = 0
    for _ in range(cycles):
        if sent == len(beats):
            break
        lanes, last = beats[sent]
        ctx.set(port.valid, 1)
        ctx.set(port.payload, {"data": [int(v) for v in lanes], "last": int(last)})
        _, _, ready = await ctx.tick().sample(port.ready)
        sent += int(ready)
    ctx.set(port.valid, 0)
    return sent


@pytest.mark.parametrize("network,config,cycles", [
    ("stacked", None, 3), ("stacked", None, 150), ("sequence_out", None, 8),
    ("sequence_out", None, 150), ("softmax_head", {"layers": {"s1": {"interleave": 2}}}, 40)])
def test_network_reset_mid_sequence(network, config, cycles):
    """For ``cycles`` cycles the input offers sequence A then the first 3 beats of B, while the
    output is never ready (so results of A are still inside, and the input may back up); then the
    sync domain is reset for 2 cycles. Sequences C and D sent afterwards must give exactly their
    own results, and nothing else may come out."""
    d = _design(network, config)
    core = NetworkCore(d.network)
    inputs, outputs = _emulate(d, 4, seed=11)
    before = inputs[0] + inputs[1][:3]
    after = inputs[2] + inputs[3]
    expected = outputs[2] + outputs[3]

    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    m.submodules.core = core
    state = {"reset_done": False}
    got = []

    async def source(ctx):
        state["sent"] = await _send_for(ctx, core.i, before, cycles)
        await ctx.tick().repeat(3)
        ctx.set(cd.rst, 1)
        for _ in range(2):  # (tick().repeat() raises DomainReset while the reset is high)
            await ctx.tick()
        ctx.set(cd.rst, 0)
        state["reset_done"] = True
        await send_beats(ctx, core.i, after, rng=np.random.default_rng(5), idle=0.3)

    async def sink(ctx):
        ctx.set(core.o.ready, 0)
        while not state["reset_done"]:
            await ctx.tick()
        received, _ = await recv_beats(ctx, core.o, len(expected), lanes=d.network.out_features,
                                       rng=np.random.default_rng(6), stall=0.3, timeout=5000)
        got.extend(received)
        await _expect_silence(ctx, core.o, 100)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert state["sent"] % T != 0, "the reset should fall in the middle of a sequence"
    _check(got, expected)
