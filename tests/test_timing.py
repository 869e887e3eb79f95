# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: the timing model builds components only to read their figures.)
"""Tests of ``rnnrtl.hw.timing`` and ``Design.timing``: the figures known before simulation are
the ones the Amaranth simulation of :class:`~rnnrtl.hw.network.NetworkCore` measures at its ports.

* latency: one sequence into an empty core, input offered at full rate, output always ready;
  cycles from the first input transfer to the last output transfer;
* II: sequences back to back under the same conditions; cycles between the first-beat transfers
  of consecutive sequences in steady state (averaged over the slot pattern of interleaved layers).

Both runs use one compiled simulation (:meth:`Simulator.reset` between them). The beat-level
model's whole transfer timeline is compared too, beat by beat, for static, interleaved and unrolled
layers. Also: unrolling and interleaving raise throughput as they claim; ``Design.hardware()`` and
``Design.timing`` refuse the schedules this rnnrtl cannot build (:class:`HardwareError`), and the
configuration refuses impossible ones.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.config import ConfigError  # noqa: E402
from rnnrtl.hw import timing as timing_model  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.errors import HardwareError  # noqa: E402
from rnnrtl.hw.streamsim import recv_beats, send_beats  # noqa: E402

T, F = 4, 3


def _layers(name):
    import keras
    L = keras.layers
    return {
        "lstm_dense": lambda: [L.LSTM(4, name="l1"), L.Dense(3, name="d1")],
        "stacked": lambda: [L.LSTM(4, return_sequences=True, name="l1"), L.GRU(3, name="g1"),
                            L.Dense(5, activation="relu", name="d1"),
                            L.Dense(2, activation="sigmoid", name="d2")],
        "gru_before_seq": lambda: [L.GRU(3, reset_after=False, return_sequences=True, name="g1"),
                                   L.Dense(2, activation="softmax", name="d1")],
        "simplernn_dense": lambda: [L.SimpleRNN(4, activation="relu", name="s1"),
                                    L.Dense(3, activation="tanh", name="d1")],
        "dense_only": lambda: [L.Dense(4, activation="relu", name="d1"), L.Dense(2, name="d2")],
        "two_recurrent_last": lambda: [L.GRU(3, return_sequences=True, name="g1"),
                                       L.LSTM(2, name="l1")],
        "lstm_softmax_seq": lambda: [L.LSTM(4, return_sequences=True, name="l1"),
                                     L.Dense(3, activation="softmax", name="d1")],
    }[name]()


def _design(name, config=None, *, seed=1):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((T, F)), *_layers(name)])
    rng = np.random.default_rng(seed + 1)
    for w in model.weights:
        w.assign(rng.normal(0, 0.7, w.shape))
    return rnnrtl.convert(model, config)


def _slot_period(core):
    """Interleaved layers start sequences slot by slot: the pattern of starts repeats over a
    multiple of this many sequences."""
    return math.lcm(*(getattr(hw, "slots", 1) for hw in core.layers))


def _measure(design):
    """Simulated transfer times: ``{sequences: (input cycles, output cycles)}`` for 1 sequence and
    for enough back-to-back sequences to reach a steady state, at full rate with the output
    always ready."""
    net = design.network
    core = NetworkCore(net)
    out_beats = T if net.returns_sequence else 1
    rng = np.random.default_rng(0)
    fmt = net.input_fmt
    runs, current = {}, {}

    async def source(ctx):
        n = current["n"]
        beats = [(rng.integers(fmt.min_code, fmt.max_code + 1, net.in_features), t == T - 1)
                 for _ in range(n) for t in range(T)]
        current["in"] = await send_beats(ctx, core.i, beats)

    async def sink(ctx):
        _, times = await recv_beats(ctx, core.o, current["n"] * out_beats,
                                    lanes=net.out_features, timeout=20_000)
        runs[current["n"]] = (current["in"], times)

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    # Enough sequences for the steady state (the model says how many; a fast layer feeding a slow
    # one runs at its own pace until the queues between them fill).
    for n in (1, max(8, 5 * design.timing.ii_period + 2, design.timing.ii_sequences)):
        if n != 1:
            sim.reset()   # the same compiled simulation, every signal back to its initial value
        current["n"] = n
        sim.run()
    return core, out_beats, runs


CASES = [
    ("lstm_dense", None),
    ("lstm_dense", {"reuse": 2}),
    ("lstm_dense", {"layers": {"l1": {"reuse_input": 48}}}),   # the projection sets the pace
    ("lstm_dense", {"reuse_input": 1, "reuse_recurrent": 12, "adder_fanin": 2}),
    ("lstm_dense", {"layers": {"l1": {"interleave": 2}}}),
    ("lstm_dense", {"layers": {"l1": {"interleave": 3, "reuse": 4}}}),
    ("stacked", None),
    ("stacked", {"reuse": 3, "adder_fanin": 8}),
    ("stacked", {"layers": {"g1": {"interleave": 2}}}),
    ("gru_before_seq", None),
    ("gru_before_seq", {"reuse": 4}),
    ("simplernn_dense", {"reuse": 5}),
    ("dense_only", None),
    ("dense_only", {"reuse": 3}),
    ("two_recurrent_last", {"layers": {"g1": {"reuse": 2}, "l1": {"reuse_recurrent": 3,
                                                                  "interleave": 2}}}),
    # mode: unrolled, alone, stacked (sequence outputs read round-robin), before static and
    # interleaved layers, and where the projection sets the pace
    ("lstm_dense", {"mode": "unrolled"}),
    ("lstm_dense", {"mode": "unrolled", "reuse": 3, "layers": {"d1": {"reuse": 4}}}),
    ("lstm_dense", {"mode": "unrolled", "layers": {"l1": {"reuse_input": 48}}}),
    ("stacked", {"mode": "unrolled", "layers": {"g1": {"reuse": 2}}}),
    ("stacked", {"layers": {"l1": {"mode": "unrolled"}}}),
    ("gru_before_seq", {"mode": "unrolled", "reuse": 2}),
    ("simplernn_dense", {"mode": "unrolled", "reuse_recurrent": 5}),
    ("two_recurrent_last", {"layers": {"g1": {"mode": "unrolled"}, "l1": {"interleave": 2}}}),
    # numerics: hls4ml: per-product casts change no cycle; a softmax head adds its unit's latency
    ("stacked", {"numerics": "hls4ml", "reuse": 2}),
    ("lstm_softmax_seq", {"numerics": "hls4ml"}),
    ("lstm_softmax_seq", {"numerics": "hls4ml", "reuse": 3,
                          "layers": {"d1_softmax": {"softmax": {"implementation": "argmax"}}}}),
    ("lstm_softmax_seq", {"numerics": "hls4ml", "mode": "unrolled", "pipeline": "deep"}),
    # pipeline: deep puts a credit link between layers (either side deep)
    ("stacked", {"pipeline": "deep", "reuse": 2}),
    ("lstm_dense", {"pipeline": "deep", "layers": {"l1": {"interleave": 2}}}),
    ("two_recurrent_last", {"layers": {"l1": {"pipeline": "deep", "reuse_recurrent": 3}}}),
]


def _id(case):
    name, config = case
    return f"{name}-{CASES.index(case)}"


@pytest.mark.parametrize("name,config", CASES, ids=[_id(c) for c in CASES])
def test_timing_matches_simulation(name, config):
    d = _design(name, config)
    tm = d.timing
    core, out_beats, runs = _measure(d)
    period = tm.ii_period
    assert period % _slot_period(core) == 0

    t_in, t_out = runs[1]
    assert tm.latency == t_out[-1] - t_in[0]

    (n, (t_in, t_out)), = [(n, r) for n, r in runs.items() if n != 1]
    starts = t_in[::T]
    gaps = np.diff(starts)
    # Steady state: the spacing pattern repeats every period; the II is its mean.
    assert gaps[-period:].tolist() == gaps[-2 * period:-period].tolist(), f"spacings {gaps}"
    assert tm.ii == timing_model.steady_ii(starts, period)
    assert tm.ii == pytest.approx((starts[-1] - starts[-1 - period]) / period, abs=1e-3)

    # The beat-level model predicts every transfer, not only these two figures.
    for n, (t_in, t_out) in runs.items():
        m_in, m_out = timing_model.simulate(core.chain, n, T, out_beats)
        assert (m_in, m_out) == (t_in, t_out), f"{n} sequences"

    assert tm.multipliers == core.multipliers == sum(l.multipliers for l in tm.layers)
    assert tm.timesteps == T
    steps = [getattr(hw, "step_cycles", None) for hw in core.layers]
    recurrent = [s for s in steps if s is not None]
    assert tm.cycles_per_step == (max(recurrent) if recurrent else core.layers[0].ii)


def test_layer_figures():
    d = _design("lstm_dense", {"reuse": 2})
    tm = d.timing
    assert [l.name for l in tm.layers] == ["l1", "d1"]
    assert [l.kind for l in tm.layers] == ["lstm", "dense"]
    assert tm.layers[0].cycles_per_step == tm.cycles_per_step
    # The LSTM's one beat per sequence meets an idle Dense: the latencies add up.
    assert tm.latency == tm.layers[0].latency + tm.layers[1].latency
    assert tm.to_dict()["layers"][1]["name"] == "d1"


def test_interleave_raises_throughput():
    """Interleaving K sequences in an LSTM's loop divides its II by about K."""
    ii = {k: _design("lstm_dense", {"layers": {"l1": {"interleave": k}}}).timing.ii
          for k in (1, 2, 4)}
    assert ii[1] > ii[2] > ii[4]
    assert ii[2] <= ii[1] / 2 + 1


@pytest.mark.parametrize("name,layers,reuse", [
    ("lstm_dense", ["l1"], 1), ("lstm_dense", ["l1"], 4), ("gru_before_seq", ["g1"], 2),
    ("simplernn_dense", ["s1"], 3), ("stacked", ["l1", "g1"], 1)])
def test_unrolled_raises_throughput(name, layers, reuse):
    """Unrolling a recurrent layer (one cell per step) lets sequences overlap: the II drops from
    the static cell's T x step cycles to about max(T, step cycles), for T times the layer's
    multipliers, at the same latency (a sequence still takes its T steps one after another)."""
    static = _design(name, {"reuse": reuse}).timing
    unrolled = _design(name, {"reuse": reuse,
                              "layers": {layer: {"mode": "unrolled"} for layer in layers}}).timing
    for k, (s, u) in enumerate(zip(static.layers, unrolled.layers)):
        if s.name not in layers:
            assert u == s
            continue
        assert s.ii >= T * s.cycles_per_step            # static: one sequence at a time
        assert u.cycles_per_step == s.cycles_per_step   # the same cell in every stage
        assert u.ii <= max(T, u.cycles_per_step + 1) < s.ii
        assert u.latency == s.latency
        assert u.multipliers == T * s.multipliers
    assert unrolled.ii < static.ii and unrolled.latency == static.latency


def test_hardware_is_built_once_per_design(tmp_path, monkeypatch):
    """``Design.timing`` reads the figures of the very components ``Design.hardware()`` returns,
    and ``Design.write`` builds that graph once for its Verilog, RTLIL and timing."""
    from rnnrtl.hw import network
    built = []
    init = network.NetworkCore.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(network.NetworkCore, "__init__", counting_init)
    d = _design("lstm_dense", {"pipeline": "deep"})
    d.write(tmp_path, samples=2, rtlil=True)
    assert len(built) == 1 and d.hardware().core is built[0]
    assert d.timing.multipliers == built[0].multipliers


# -- schedules the hardware cannot build, and impossible configurations ----------------------------------

@pytest.mark.parametrize("name,config,match", [
    ("lstm_dense", {"mode": "unrolled", "interleave": 2},
     r"layer 'l1': mode 'unrolled' with interleave 2: interleave applies to mode 'static' only"),
    ("stacked", {"layers": {"g1": {"mode": "unrolled", "interleave": 3}}},
     r"layer 'g1': mode 'unrolled' with interleave 3.*use interleave 1 with 'unrolled'"),
    ("stacked", {"interleave": 2}, r"layer 'l1': interleave 2 needs return_sequences=False"),
])
def test_unsupported_schedule(name, config, match):
    d = _design(name, config)
    y = d.run(np.zeros((1, T, F)), warn=False)   # the emulator works for every schedule
    assert y.codes.shape[0] == 1
    with pytest.raises(HardwareError, match=match):
        d.hardware()
    with pytest.raises(HardwareError, match=match):
        d.timing


def test_unrolled_needs_a_fixed_sequence_length():
    import keras
    model = keras.Sequential([keras.Input((None, F)), *_layers("lstm_dense")])
    d = rnnrtl.convert(model, {"mode": "unrolled"})
    assert d.run(np.zeros((2, 7, F)), warn=False).codes.shape == (2, 3)  # the emulator runs
    match = r"variable sequence length.*layer 'l1' with mode: unrolled needs a fixed one: give " \
            r"timesteps"
    with pytest.raises(ConfigError, match=match):
        d.hardware()
    with pytest.raises(ConfigError, match=match):
        d.timing


@pytest.mark.parametrize("config,match", [
    # (a top-level reuse too large for a layer is clamped for it; a layer's own is refused)
    ({"mode": "unrolled", "layers": {"l1": {"reuse": 49}}},
     r"layer 'l1' input products: reuse factor 49 is invalid for 48 products; valid: any whole "
     r"number 1..48"),
    ({"mode": "unrolled", "layers": {"l1": {"reuse_recurrent": 0}}},
     r"layers\.l1\.reuse_recurrent = 0: must be a whole number >= 1"),
    ({"interleave": 0}, r"interleave = 0: must be a whole number >= 1"),
    ({"interleave": -1}, r"interleave"),
    ({"layers": {"l1": {"interleave": 0}}}, r"layers\.l1\.interleave"),
    ({"mode": "pipelined"}, r"mode = 'pipelined': valid modes are static, unrolled"),
    ({"layers": {"l1": {"mode": "bogus"}}}, r"layers\.l1\.mode"),
])
def test_bad_schedule_config(config, match):
    import keras
    model = keras.Sequential([keras.Input((T, F)), *_layers("lstm_dense")])
    with pytest.raises(ConfigError, match=match):
        rnnrtl.convert(model, config)
