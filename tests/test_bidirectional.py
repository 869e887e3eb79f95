# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components built only to read their figures are never elaborated.)
"""Tests of ``go_backwards`` and ``Bidirectional``: Keras semantics in the frontend and emulator,
and the hardware (:mod:`rnnrtl.hw.bidirectional`, :mod:`rnnrtl.hw.sequence_buffer`) bit-exact with
the emulator and cycle-exact with its timing model.

* Float agreement: emulator vs Keras within 0.05 at ``fixed<32,16>`` (the issue's tolerance), for
  ``go_backwards`` on every recurrent kind, every ``merge_mode``, a backward layer of another kind
  (and size), ``return_sequences`` both ways, stacked before and after other recurrent layers.
* Hardware: :class:`~rnnrtl.hw.network.NetworkCore` in Amaranth simulation under random idle
  input cycles and output back-pressure gives the emulator's codes beat for beat; at full rate its
  transfers are the beat-level model's, cycle for cycle (so latency and II are the manifest's).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl.fixed import FixedFormat, requantize  # noqa: E402
from rnnrtl.hw import timing as timing_model  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.hw.streamsim import recv_beats, send_beats  # noqa: E402

T, F = 4, 3


def _layers(name):
    import keras
    L = keras.layers
    lstm, gru, srnn = (lambda n, **kw: L.LSTM(n, name="lstm", **kw),
                       lambda n, **kw: L.GRU(n, name="gru", **kw),
                       lambda n, **kw: L.SimpleRNN(n, name="simple_rnn", **kw))
    seq = {"return_sequences": True}
    back = {"go_backwards": True}
    return {
        "srnn_back_seq": lambda: [L.SimpleRNN(3, **back, **seq, name="s1")],
        "lstm_back": lambda: [L.LSTM(3, **back, name="l1"), L.Dense(2, name="d1")],
        "gru_back_seq": lambda: [L.GRU(3, **back, **seq, name="g1"), L.Dense(2, name="d1")],
        "gru_rb_back": lambda: [L.GRU(3, **back, reset_after=False, name="g1")],
        "bi_concat": lambda: [L.Bidirectional(lstm(3), name="bi")],
        "bi_sum": lambda: [L.Bidirectional(gru(3), merge_mode="sum", name="bi")],
        "bi_ave": lambda: [L.Bidirectional(srnn(3), merge_mode="ave", name="bi")],
        "bi_mul": lambda: [L.Bidirectional(lstm(3), merge_mode="mul", name="bi")],
        "bi_seq_concat": lambda: [L.Bidirectional(lstm(3, **seq), name="bi")],
        "bi_seq_sum": lambda: [L.Bidirectional(gru(2, **seq), merge_mode="sum", name="bi"),
                               L.Dense(2, name="d1")],
        "bi_seq_mul": lambda: [L.Bidirectional(srnn(3, **seq), merge_mode="mul", name="bi")],
        "bi_seq_ave": lambda: [L.Bidirectional(lstm(2, **seq), merge_mode="ave", name="bi")],
        # a backward layer of another kind and size (concat; Keras 3 sizes the next layer's input
        # as twice the forward width, so a different size only works last)
        "bi_other_backward": lambda: [L.Bidirectional(lstm(3), backward_layer=gru(2, **back),
                                                      name="bi")],
        "bi_other_backward_seq": lambda: [L.Bidirectional(
            lstm(3, **seq), backward_layer=srnn(2, **back, **seq), name="bi")],
        # stacked: Bidirectional -> LSTM; GRU -> Bidirectional -> Dense
        "bi_then_lstm": lambda: [L.Bidirectional(gru(3, **seq), backward_layer=lstm(3, **back, **seq),
                                                 name="bi"), L.LSTM(2, name="l1")],
        "gru_bi_dense": lambda: [L.GRU(3, **seq, name="g1"), L.Bidirectional(lstm(2), name="bi"),
                                 L.Dense(2, activation="sigmoid", name="d1")],
        # the forward layer itself reading backwards, the backward one forwards
        "bi_forward_backwards": lambda: [L.Bidirectional(
            srnn(2, **back, **seq), backward_layer=srnn(2, **seq), merge_mode="sum", name="bi")],
    }[name]()


def _model(name, *, seed=1):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((T, F)), *_layers(name)])
    rng = np.random.default_rng(seed + 1)
    for w in model.weights:
        w.assign(rng.normal(0, 0.7, w.shape))
    return model


NAMES = ["srnn_back_seq", "lstm_back", "gru_back_seq", "gru_rb_back", "bi_concat", "bi_sum", "bi_ave",
         "bi_mul", "bi_seq_concat", "bi_seq_sum", "bi_seq_mul", "bi_seq_ave", "bi_other_backward",
         "bi_other_backward_seq", "bi_then_lstm", "gru_bi_dense", "bi_forward_backwards"]


# -- Keras semantics ---------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::rnnrtl.errors.RnnrtlWarning")
@pytest.mark.parametrize("name", NAMES)
def test_emulator_matches_keras(name):
    """max |emulated - Keras| <= 0.05 at fixed<32,16> on random inputs (the issue's tolerance)."""
    model = _model(name)
    x = np.random.default_rng(5).normal(0, 1, (64, T, F)).astype(np.float32)
    d = rnnrtl.convert(model, {"precision": "fixed<32,16>"})
    expected = model.predict(x, verbose=0)
    got = d.emulate(x)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 0.05


def test_go_backwards_reverses_by_keras_definition():
    """A go_backwards SimpleRNN with return_sequences equals, step by step, the plain recurrence
    run over the reversed input, in processing order (not re-reversed), as Keras defines it."""
    model = _model("srnn_back_seq")
    W, U, b = model.layers[0].get_weights()
    x = np.random.default_rng(6).normal(0, 1, (8, T, F))
    h, steps = np.zeros((8, 3)), []
    for t in reversed(range(T)):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        steps.append(h)
    got = rnnrtl.convert(model, {"precision": "fixed<32,16>"}).emulate(x)
    # (the tanh table's resolution: 1/256 over [-4, 4))
    assert np.abs(got - np.stack(steps, axis=1)).max() <= 0.01
    assert np.abs(got - model.predict(x, verbose=0)).max() <= 0.01


def test_ir_and_trace_name_both_directions(tmp_path):
    d = rnnrtl.convert(_model("bi_other_backward"))
    bi = d.network.layers[0]
    assert (bi.kind, bi.merge_mode, bi.units) == ("bidirectional", "concat", 5)
    assert (bi.forward.kind, bi.backward.kind) == ("lstm", "gru")
    assert (bi.forward.go_backwards, bi.backward.go_backwards) == (False, True)
    assert [l.name for l in d.network.flat_layers] == ["forward_lstm", "backward_gru"]
    _, trace = d.emulate(np.zeros((2, T, F)), trace=True)
    assert trace["forward_lstm.h"].shape == (2, T, 3)
    assert trace["backward_gru.h"].shape == (2, T, 2)
    assert trace["bi.out"].shape == (2, 5)
    # the IR round-trips through JSON + npz, the flags and the merge included
    from rnnrtl import ir
    ir.save(d.network, tmp_path / "net")
    back = ir.load(tmp_path / "net").layers[0]
    assert (back.merge_mode, back.backward.go_backwards, back.units) == ("concat", True, 5)


def test_merge_point_format_is_configurable():
    """The merge is the named point ``<layer>.out`` in the Bidirectional's ``result`` format; each
    direction is configured under its own Keras name."""
    cfg = {"layers": {"bi": {"precision": {"result": "fixed<10,4>"}},
                      "backward_gru": {"precision": {"result": "fixed<12,3>"}}}}
    d = rnnrtl.convert(_model("bi_sum"), cfg)
    fmts = d.network.point_formats()
    parse = FixedFormat.parse
    assert fmts["bi.out"] == parse("fixed<10,4>")
    assert fmts["backward_gru.h"] == parse("fixed<12,3>")
    assert fmts["forward_gru.h"] == parse("fixed<16,6>")


def _merge_by_hand(mode, hf, hb, ff, fb, fmt):
    """The merge written out in floats on exact values (every code here is exactly
    representable), rounded half up and saturated as ``fmt`` (default RND, SAT) says."""
    a, b = hf / 2.0 ** ff, hb / 2.0 ** fb
    value = {"sum": a + b, "ave": (a + b) / 2, "mul": a * b}[mode]
    code = np.floor(value * 2.0 ** fmt.frac_bits + 0.5)
    return np.clip(code, fmt.min_code, fmt.max_code).astype(np.int64)


@pytest.mark.parametrize("mode", ["sum", "ave", "mul"])
def test_merge_arithmetic(mode):
    from rnnrtl.emulator import merge
    d = rnnrtl.convert(_model(f"bi_{mode}"), {"layers": {
        "bi": {"precision": {"result": "fixed<8,3>"}},
        "forward_" + {"sum": "gru", "ave": "simple_rnn", "mul": "lstm"}[mode]:
            {"precision": {"result": "fixed<10,4>"}}}})
    bi = d.network.layers[0]
    rng = np.random.default_rng(0)
    ff, fb = bi.forward.output_fmt, bi.backward.output_fmt
    hf = rng.integers(ff.min_code, ff.max_code + 1, (200, bi.units))
    hb = rng.integers(fb.min_code, fb.max_code + 1, (200, bi.units))
    got = merge(bi, hf, hb, lambda point, c, frac, fmt: requantize(c, frac, fmt)[0])
    assert bi.output_fmt == FixedFormat.parse("fixed<8,3>")
    np.testing.assert_array_equal(got, _merge_by_hand(mode, hf, hb, ff.frac_bits, fb.frac_bits,
                                                      bi.output_fmt))


def test_trained_bidirectional_fixture(hls4ml_dir):
    """The hls4ml fixture Bidirectional(LSTM(16)) trained on digits converts; at the default 16-bit
    formats its decisions agree with Keras' on >= 99 % of held-out digits."""
    import keras
    from models import digits
    model = keras.models.load_model(hls4ml_dir / "x-digits-bidir-lstm.keras", compile=False)
    d = rnnrtl.convert(hls4ml_dir / "x-digits-bidir-lstm.keras")
    x = digits().x_test
    agree = (d.emulate(x).argmax(-1) == model.predict(x, verbose=0).argmax(-1)).mean()
    assert agree >= 0.99


# -- hardware ---------------------------------------------------------------------------------------

def _beats(design, sequences, seed=3):
    """Input beats and the emulator's output beats ``[(lanes, last)]``."""
    x = np.random.default_rng(seed).normal(0, 1, (sequences, T, F))
    result = design.run(x, trace=True, warn=False)
    xin, codes = result.trace["input"], np.asarray(result.codes)
    inputs = [(xin[b, t], t == T - 1) for b in range(sequences) for t in range(T)]
    if codes.ndim == 2:
        outputs = [(codes[b].tolist(), 1) for b in range(sequences)]
    else:
        outputs = [(codes[b, t].tolist(), int(t == T - 1)) for b in range(sequences) for t in range(T)]
    assert len({tuple(v) for v, _ in outputs}) == len(outputs), "pick another seed: equal beats"
    return inputs, outputs


def _simulate(core, inputs, count, *, idle=0.0, stall=0.0, seed=0):
    """Run ``core`` on ``inputs``; ``(output beats, input transfer cycles, output cycles)``."""
    got = {}

    async def source(ctx):
        got["in"] = await send_beats(ctx, core.i, inputs, rng=np.random.default_rng(seed), idle=idle)

    async def sink(ctx):
        got["out"] = await recv_beats(ctx, core.o, count, lanes=core.network.out_features,
                                      rng=np.random.default_rng(seed + 1), stall=stall,
                                      timeout=20_000)
        ctx.set(core.o.ready, 1)
        for _ in range(60):    # nothing more may come out
            _, _, valid = await ctx.tick().sample(core.o.valid)
            assert not valid, "an extra output beat"

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    beats, times = got["out"]
    return [(list(v), last) for v, last in beats], got["in"], times


HW_CASES = [
    ("srnn_back_seq", None), ("lstm_back", {"reuse": 2}), ("gru_back_seq", None),
    ("bi_concat", None), ("bi_sum", {"layers": {"backward_gru": {"reuse": 3}}}), ("bi_ave", None),
    ("bi_mul", {"layers": {"bi": {"precision": {"result": "fixed<8,3>"}}}}),
    ("bi_seq_concat", {"layers": {"bi": {"precision": {"result": "fixed<12,4>"}}}}),
    ("bi_seq_sum", None), ("bi_seq_mul", None), ("bi_other_backward", None),
    ("bi_other_backward_seq", None), ("bi_then_lstm", {"reuse": 2}), ("gru_bi_dense", None),
    ("bi_forward_backwards", None), ("lstm_back", {"layers": {"l1": {"interleave": 2}}}),
    ("bi_concat", {"layers": {"forward_lstm": {"interleave": 2}}}),
    ("bi_concat", {"pipeline": "deep"}),
    ("bi_concat", {"layers": {"backward_lstm": {"interleave": 2}}}),
    # mode: unrolled behind a reverser, and stacked behind an unrolled layer
    ("lstm_back", {"mode": "unrolled"}), ("bi_seq_concat", {"mode": "unrolled"}),
    ("gru_bi_dense", {"layers": {"g1": {"mode": "unrolled"}}}),
    # numerics: hls4ml reads a sequence backwards the same way (its arithmetic per step)
    ("gru_back_seq", {"numerics": "hls4ml", "reuse": 2}),
]


@pytest.mark.parametrize("name,config", HW_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HW_CASES)])
def test_hardware_bit_exact_and_timing_exact(name, config):
    d = rnnrtl.convert(_model(name), config)
    net, tm = d.network, d.timing
    out_beats = T if net.returns_sequence else 1
    # Random idle input cycles and output back-pressure: the emulator's codes, beat for beat.
    inputs, outputs = _beats(d, 3)
    got, _, _ = _simulate(NetworkCore(net), inputs, len(outputs), idle=0.3, stall=0.3)
    assert got == outputs
    # Full rate, output always ready: every transfer where the model says, for one sequence
    # (latency) and for enough back-to-back ones to reach the steady state (II).
    for n in (1, max(6, tm.ii_sequences)):
        core = NetworkCore(net)
        inputs = _beats(d, n)[0]
        _, t_in, t_out = _simulate(core, inputs, n * out_beats)
        assert timing_model.simulate(core.chain, n, T, out_beats) == (t_in, t_out)
        if n == 1:
            assert tm.latency == t_out[-1] - t_in[0]
        else:
            starts = t_in[::T]
            assert tm.ii == timing_model.steady_ii(starts, tm.ii_period)
    assert tm.multipliers == NetworkCore(net).multipliers


# -- Verilator: the written core through rnnrtl.verify (what `rnnrtl simulate` runs) ----------------

SIM_CASES = {
    # name: (model, config)
    "gru_back_seq": ("gru_back_seq", {"reuse": 2}),
    "bi_then_lstm": ("bi_then_lstm", {"reuse": 3}),
    "bi_seq_mul": ("bi_seq_mul", {"layers": {"bi": {"precision": {"result": "fixed<10,3>"}}}}),
    "bi_seq_unrolled": ("bi_seq_concat", {"mode": "unrolled"}),   # two-bank reversers
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SIM_CASES))
def test_verilator_bit_exact_timing_exact(name, tmp_path_factory):
    """go_backwards, Bidirectional stacked with return_sequences, and the merge arithmetic on
    Verilator: every output code equals the emulator's under random stalls, the measured latency
    and II equal the manifest's, a reset mid-sequence leaves the core as new, lint is clean."""
    import json
    from rnnrtl import verify
    model, config = SIM_CASES[name]
    outdir = tmp_path_factory.mktemp(name)
    d = rnnrtl.convert(_model(model), config)
    d.write(outdir, x=np.random.default_rng(7).normal(0, 1.5, (200, T, F)))
    manifest = json.loads((outdir / "manifest.json").read_text())
    buffered = [l for l in manifest["timing"]["layers"] if l.get("buffer_bits")]
    assert buffered and all(l["buffer_latency"] > 0 for l in buffered)
    summary = verify.simulate(outdir, seed=1, build_dir=tmp_path_factory.getbasetemp() / "build",
                              backpressure=0.3, idle=0.3)
    assert summary.mismatches == 0, summary.first_mismatch
    assert (summary.latency, summary.ii) == (d.timing.latency, d.timing.ii)
    assert summary.passed, summary.problems
    assert verify.lint(outdir).clean


# -- what a backward direction costs ------------------------------------------------------------------

def test_buffer_cost_in_the_timing():
    """A static go_backwards layer buffers T input beats (one bank); a Bidirectional queues T
    input beats for its forward direction too, and with return_sequences T backward and T forward
    output beats. The latency they add is at least the sequence's collection (T cycles) and is
    reported per layer; the II stays the forward-only layer's."""
    d = rnnrtl.convert(_model("lstm_back"))
    layer = d.timing.layers[0]
    w = d.network.input_fmt.width
    assert layer.buffer_bits == T * F * w
    assert layer.buffer_latency >= T - 1
    assert "buffer_bits" not in d.timing.to_dict()["layers"][1]       # the Dense has none
    seq = rnnrtl.convert(_model("bi_seq_concat"))
    bi = seq.network.layers[0]
    beat = bi.forward.units * bi.forward.output_fmt.width
    assert seq.timing.layers[0].buffer_bits == \
        T * F * w + T * (F * w + 1) + T * beat + T * (beat + 1)
    import keras
    keras.utils.set_random_seed(1)
    plain = rnnrtl.convert(keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(3)]))
    assert d.timing.layers[0].ii == plain.timing.ii
    unrolled = rnnrtl.convert(_model("lstm_back"), {"mode": "unrolled"}).timing.layers[0]
    assert unrolled.buffer_bits == 2 * T * F * w       # two banks: II not doubled
    plain_unrolled = rnnrtl.convert(keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(3)]),
                                    {"mode": "unrolled"})
    assert unrolled.ii == plain_unrolled.timing.ii


# -- refused, with the layer's name ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    import zipfile
    import keras
    root = tmp_path_factory.mktemp("bad")
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((None, 3)), keras.layers.Bidirectional(
        keras.layers.LSTM(2, name="lstm"), name="bi")], name="var").save(root / "var_bi.keras")
    keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(2, go_backwards=True, name="g")],
                     name="var2").save(root / "var_back.keras")
    _model("bi_concat").save(root / "bi.keras")
    with zipfile.ZipFile(root / "bi.keras") as zin, \
            zipfile.ZipFile(root / "bi_lambda.keras", "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b'"class_name": "LSTM"', b'"class_name": "ConvLSTM1D"')
            zout.writestr(item, data)
    (root / "hls4ml.yaml").write_text("numerics: hls4ml\n")
    return root


BAD = [
    (["convert", "{r}/var_bi.keras"], ["'var'", "variable sequence length", "--timesteps N"]),
    (["convert", "{r}/var_back.keras"], ["'var2'", "variable sequence length", "timesteps"]),
    (["convert", "{r}/bi_lambda.keras"], ["ConvLSTM1D", "not supported"]),
    (["convert", "{r}/bi.keras", "-c", "{r}/hls4ml.yaml"], ["'bi'", "hls4ml", "bidirectional"]),
]


@pytest.mark.parametrize("args,fragments", BAD, ids=[a[1].replace("{r}/", "") + f"-{k}"
                                                     for k, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_line(bad_files, tmp_path, args, fragments):
    from cli_helpers import assert_user_error, invoke
    out = tmp_path / "out"
    assert_user_error(invoke(*[a.format(r=bad_files) for a in args], "-o", out), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("make,fragments", [
    (lambda L: L.Bidirectional(L.LSTM(2, name="lstm"), merge_mode=None, name="bi"),
     ["'bi'", "merge_mode=None", "concat, sum, ave, mul"]),
    (lambda L: L.Bidirectional(L.LSTM(2, return_state=True, name="lstm"), name="bi"),
     ["forward_lstm", "return_state=True", "not supported"]),
])
def test_refused_wrappers(make, fragments):
    import keras
    from rnnrtl.errors import UnsupportedModelError
    model = keras.Sequential([keras.Input((T, F)), make(keras.layers)]) \
        if "return_state" not in fragments[1] else _functional(make)
    with pytest.raises(UnsupportedModelError) as e:
        rnnrtl.convert(model)
    assert all(f in str(e.value) for f in fragments), str(e.value)


def _functional(make):
    import keras
    inp = keras.Input((T, F))
    out = make(keras.layers)(inp)
    return keras.Model(inp, out[0])


# -- the sequence reverser alone ------------------------------------------------------------------------

@pytest.mark.parametrize("banks", [1, 2])
@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.4, 0.4)])
def test_sequence_reverser(banks, idle, stall):
    """Sequences of different lengths (at most ``depth``) come out reversed, ``last`` on each one's
    first beat, under random idle input and back-pressure; every transfer is where the model
    says (its model driven with the same valid/ready pattern)."""
    from rnnrtl.hw.sequence_buffer import SequenceReverser
    fmt = FixedFormat.parse("fixed<6,3>")
    hw = SequenceReverser(fmt, 2, depth=5, banks=banks)
    rng = np.random.default_rng(1)
    lengths = [5, 1, 3, 5, 2, 4]
    seqs = [[rng.integers(fmt.min_code, fmt.max_code + 1, 2).tolist() for _ in range(n)]
            for n in lengths]
    beats = [(v, t == len(s) - 1) for s in seqs for t, v in enumerate(s)]
    expected = [(v, int(t == len(s) - 1)) for s in seqs for t, v in enumerate(reversed(s))]
    trace, got = [], []

    async def bench(ctx):
        model, sent, cycle = hw.timing_model(), 0, 0
        while len(got) < len(expected):
            offer = sent < len(beats) and not (idle and rng.random() < idle)
            ready = not (stall and rng.random() < stall)
            ctx.set(hw.i.valid, int(offer))
            if offer:
                ctx.set(hw.i.payload, {"data": beats[sent][0], "last": int(beats[sent][1])})
            ctx.set(hw.o.ready, int(ready))
            _, _, i_ready, o_valid, payload = await ctx.tick().sample(hw.i.ready, hw.o.valid,
                                                                       hw.o.payload)
            m_take, m_last = model.tick(cycle, offer, offer and beats[sent][1], ready)
            trace.append(((offer and bool(i_ready), o_valid and ready), (m_take, m_last is not None)))
            if offer and i_ready:
                sent += 1
            if o_valid and ready:
                got.append(([int(payload.data[k]) for k in range(2)], int(payload.last)))
            cycle += 1
            assert cycle < 2000

    sim = Simulator(hw)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected
    assert all(a == b for a, b in trace), "the model and the hardware disagree on a transfer"
    assert hw.bits == banks * 5 * 2 * 6


@pytest.mark.slow
def test_cli_convert_report_simulate(tmp_path):
    """The command line end to end on a stacked Bidirectional with return_sequences: `rnnrtl
    convert` writes the core and its report (both directions in the layer table, go_backwards
    named), `rnnrtl simulate` runs it on Verilator with no mismatch."""
    from cli_helpers import invoke
    _model("bi_then_lstm").save(tmp_path / "bi.keras")
    out = tmp_path / "out"
    result = invoke("convert", tmp_path / "bi.keras", "-o", out)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "forward_gru" in report and "backward_lstm" in report and "go_backwards" in report
    result = invoke("simulate", out, "--samples", 30)
    assert result.exit_code == 0, result.output
    assert "0 mismatches" in result.output


@pytest.mark.parametrize("name", ["bi_mul", "bi_then_lstm"])
def test_multiplier_inventory_accounts_for_both_directions(name):
    """rnnrtl.synth's inventory of multipliers adds up to the hardware's count: both directions'
    units, and a 'mul' merge's lane products."""
    from rnnrtl.synth.multipliers import multiplier_inventory
    d = rnnrtl.convert(_model(name), {"reuse": 2})
    inv = multiplier_inventory(d.network)
    assert inv["constant"] + inv["shared"] + inv["elementwise"] == d.timing.multipliers


def test_merge_overflow_is_reported_at_its_point():
    """A merge format too narrow for the sum saturates, counted at ``<layer>.out`` (the overflow
    report's name), with a FixedPointOverflowWarning; the directions' own points do not overflow."""
    from rnnrtl.errors import FixedPointOverflowWarning
    d = rnnrtl.convert(_model("bi_sum"), {"layers": {"bi": {"precision": {"result": "fixed<6,1>"}}}})
    with pytest.warns(FixedPointOverflowWarning, match="bi.out"):
        d.emulate(np.random.default_rng(0).normal(0, 2, (64, T, F)))
    assert d.overflows.get("bi.out", 0) > 0
    assert not any(p.startswith(("forward_gru.", "backward_gru.")) and p.endswith(".h")
                   for p in d.overflows)
