"""Small Keras models and an Amaranth stream harness for whole-core tests with ``input: sequence``
(tests/test_sequence_input.py, tests/test_fast_pipeline.py): random-weight models of ``T`` steps of
``F`` features, the input/expected-output beats from the emulator, and a simulation of a
:class:`~rnnrtl.hw.network.NetworkCore` under random idle cycles and back-pressure."""

from __future__ import annotations

import keras
import numpy as np
from amaranth.sim import Simulator

from rnnrtl.hw.streamsim import recv_beats, send_beats

T, F = 4, 3


def layers(spec):
    """Keras layers from ``(kind, kwargs)`` pairs."""
    cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simplernn": keras.layers.SimpleRNN,
           "dense": keras.layers.Dense, "masking": keras.layers.Masking,
           "bidirectional": keras.layers.Bidirectional}
    out = []
    for kind, kw in spec:
        if kind == "bidirectional":  # a fresh inner layer per model
            kw = {**kw, "layer": kw["layer"].__class__.from_config(kw["layer"].get_config())}
        out.append(cls[kind](**kw))
    return out


def model(spec, *, seed=1, timesteps=T):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((timesteps, F)), *layers(spec)])
    rng = np.random.default_rng(seed + 1)
    for w in model.weights:
        w.assign(rng.normal(0, 0.7, w.shape))
    return model


LSTM_DENSE = (("lstm", dict(units=4, name="lstm")), ("dense", dict(units=2, name="out")))
GRU_HEAD = (("gru", dict(units=3, name="gru")), ("dense", dict(units=3, activation="relu", name="hid")),
            ("dense", dict(units=2, name="out")))
GRU_BEFORE = (("gru", dict(units=3, reset_after=False, name="gru")), ("dense", dict(units=2, name="out")))
RNN_SEQ = (("simplernn", dict(units=3, return_sequences=True, name="rnn")),
           ("dense", dict(units=2, name="out")))


def vectors(design, sequences, *, seed=3):
    """Input beats (one per sequence: its T x F codes step-major) and expected output beats."""
    x = np.random.default_rng(seed).normal(0, 1.5, (sequences, T, F))
    if design.network.mask_value is not None:  # padded sequences: masked steps at the end
        for b in range(1, sequences, 2):
            x[b, T - 1 - b % (T - 1):] = design.network.mask_value
    result = design.run(x, trace=True, warn=False)
    xin, codes = result.trace["input"], np.asarray(result.codes)
    inputs = [([int(v) for v in xin[b].reshape(-1)], True) for b in range(sequences)]
    if codes.ndim == 2:
        outputs = [(codes[b].tolist(), 1) for b in range(sequences)]
    else:
        outputs = [(codes[b, t].tolist(), int(t == T - 1)) for b in range(sequences) for t in range(T)]
    flat = [tuple(lanes) for lanes, _ in outputs]
    assert len(set(flat)) == len(flat), "pick another seed: two output beats are equal"
    return inputs, outputs


def run_core(core, inputs, count, *, idle, stall, seed=0, silence=60):
    """Simulate ``core``: ``(beats received, input transfer cycles, output transfer cycles)``;
    after the ``count`` beats the output must stay silent."""
    got, times = [], {}

    async def source(ctx):
        times["in"] = await send_beats(ctx, core.i, inputs, rng=np.random.default_rng(seed + 1),
                                       idle=idle)

    async def sink(ctx):
        beats, t = await recv_beats(ctx, core.o, count, lanes=core.network.out_features,
                                    rng=np.random.default_rng(seed + 2), stall=stall, timeout=20_000)
        got.extend(beats)
        times["out"] = t
        ctx.set(core.o.ready, 1)
        for cycle in range(silence):
            _, _, valid = await ctx.tick().sample(core.o.valid)
            assert not valid, f"an extra output beat {cycle} cycles after the expected ones"

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return got, times["in"], times["out"]
