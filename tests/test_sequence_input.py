# amaranth: UnusedElaboratable=no
# (components built only to read their figures are never elaborated)
"""``input: sequence`` (issue 20, item 1): a whole sequence per input beat.

Amaranth simulations of whole :class:`~rnnrtl.hw.network.NetworkCore` chains on small models with
random weights: every output beat equals the emulator's under random idle input cycles and
output back-pressure; at full rate every input and output transfer happens in the cycle the
timing model (:func:`rnnrtl.hw.timing.simulate` over ``core.chain``) says, and the latency and II
of :func:`~rnnrtl.hw.timing.network_timing` are the ones measured. The issue's contract is
checked on its own terms: an unrolled first layer without ``return_sequences`` takes a sequence
every ``reuse`` cycles (1 at reuse 1), whatever ``T``. Then the written core: the manifest's
``input`` section and the vectors, and two designs on Verilator (one unrolled at reuse 1, II 1
measured; one static).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from amaranth.back import rtlil  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import verify  # noqa: E402
from rnnrtl.hw.network import NetworkCore  # noqa: E402
from rnnrtl.hw.sequence_input import SerializedLayer  # noqa: E402
from rnnrtl.hw.timing import network_timing, simulate  # noqa: E402
from rnnrtl.hw.unrolled_sequence import SequenceUnrolledLayer  # noqa: E402

keras = pytest.importorskip("keras")

from sequence_chains import (F, GRU_BEFORE, GRU_HEAD, LSTM_DENSE, RNN_SEQ, T, model,  # noqa: E402
                             run_core, vectors)

SEQ = {"input": "sequence"}

STACKED = (("lstm", dict(units=3, return_sequences=True, name="lstm")),
           ("gru", dict(units=3, name="gru")), ("dense", dict(units=2, name="out")))
BIDIRECTIONAL = (("bidirectional", dict(layer=keras.layers.GRU(3), name="bi")),
                 ("dense", dict(units=2, name="out")))
MASKED = (("masking", dict(mask_value=0.0)), ("lstm", dict(units=3, name="lstm")),
          ("dense", dict(units=2, name="out")))

#: (layers, configuration (input: sequence added), the first layer's hardware class)
CASES = {
    "lstm-unrolled-r1": (LSTM_DENSE, {"mode": "unrolled"}, SequenceUnrolledLayer),
    "gru-unrolled-r2": (GRU_HEAD, {"mode": "unrolled", "reuse": 2}, SequenceUnrolledLayer),
    "gru-before-unrolled-r3-deep": (GRU_BEFORE, {"mode": "unrolled", "reuse": 3, "pipeline": "deep"},
                                    SequenceUnrolledLayer),
    "rnn-sequences-unrolled": (RNN_SEQ, {"mode": "unrolled"}, SequenceUnrolledLayer),
    "stacked-unrolled-mixed-reuse": (STACKED, {"mode": "unrolled", "layers": {"gru": {"reuse": 2}}},
                                     SequenceUnrolledLayer),
    "gru-static-r2": (GRU_HEAD, {"reuse": 2}, SerializedLayer),
    # supported behind the serializer (a step per beat into the unrolled shell): II >= T
    "bidirectional-unrolled": (BIDIRECTIONAL, {"mode": "unrolled"}, SerializedLayer),
    "masked-unrolled": (MASKED, {"mode": "unrolled"}, SerializedLayer),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    """``(name, design, core)`` of each case, built once."""
    spec, config, _ = CASES[request.param]
    design = rnnrtl.convert(model(spec), {**SEQ, **config})
    return request.param, design, NetworkCore(design.network)




def test_first_layer_hardware(case):
    name, _, core = case
    assert isinstance(core.layers[0], CASES[name][2])
    assert (core.in_lanes, core.in_beats) == (T * F, 1)


def test_bit_exact_under_random_stalls(case):
    _, design, core = case
    inputs, outputs = vectors(design, 4)
    got, _, _ = run_core(core, inputs, len(outputs), idle=0.4, stall=0.4)
    assert [(list(g), int(l)) for g, l in got] == [(list(e), int(l)) for e, l in outputs]


def test_full_rate_cycles_equal_the_timing_model(case):
    """Back to back, output always ready: every transfer in the model's cycle; the manifest's
    latency (one sequence into an idle core) and II (the spacing of entries in steady state)."""
    _, design, core = case
    timing = network_timing(core)
    count = max(6, timing.ii_sequences)
    inputs, outputs = vectors(design, count, seed=5)
    out_beats = len(outputs) // count
    _, t_in, t_out = run_core(core, inputs, len(outputs), idle=0.0, stall=0.0)
    m_in, m_out = simulate(core.chain, count, 1, out_beats)
    assert (t_in, t_out) == (m_in, m_out)
    assert t_out[out_beats - 1] - t_in[0] == timing.latency
    gaps = np.diff(t_in)
    assert gaps[-1] == timing.ii


@pytest.mark.parametrize("spec,reuse", [(LSTM_DENSE, 1), (GRU_HEAD, 2), (GRU_BEFORE, 3)])
def test_unrolled_ii_is_the_reuse(spec, reuse):
    """The issue's contract: a sequence per stage initiation interval (the reuse factor), not per
    T beats, for two lengths; the latency grows by D per step."""
    found = {}
    for steps in (3, 6):
        design = rnnrtl.convert(model(spec, timesteps=steps),
                                {**SEQ, "mode": "unrolled", "reuse": reuse})
        layer = design.hardware().core.layers[0]
        found[steps] = (design.timing.ii, design.timing.latency, layer.step_cycles)
    assert found[3][0] == found[6][0] == reuse
    assert found[6][1] - found[3][1] == 3 * found[6][2]


def test_static_keeps_its_ii():
    """The serializer feeds a static cell as fast as beats did: same II as input: step."""
    for spec in (LSTM_DENSE, RNN_SEQ):
        step = rnnrtl.convert(model(spec), {}).timing
        seq = rnnrtl.convert(model(spec), SEQ).timing
        assert seq.ii == step.ii
        assert seq.latency == step.latency + 1   # the beat is held a cycle before its first step


def test_input_step_is_the_default_circuit():
    """``input: step`` written out builds the very circuit of a configuration without the key."""
    keras_model = model(RNN_SEQ)
    texts = [rtlil.convert(rnnrtl.convert(keras_model, cfg).hardware(), name="top")
             for cfg in ({"reuse": 2}, {"reuse": 2, "input": "step"})]
    assert texts[0] == texts[1]


# -- Verilator: two designs ---------------------------------------------------------------------

SMALL_LSTM = (("lstm", dict(units=3, name="lstm")), ("dense", dict(units=2, name="out")))
SMALL_GRU = (("gru", dict(units=2, name="gru")), ("dense", dict(units=2, activation="relu", name="out")))
VERILATOR = {
    "unrolled_r1": (SMALL_LSTM, {"mode": "unrolled"}),
    "static_gru": (SMALL_GRU, {"reuse": 2}),
}


@pytest.fixture(scope="module", params=sorted(VERILATOR))
def simulated(request, tmp_path_factory):
    """Each design written (64 sequences) and run on Verilator once."""
    spec, config = VERILATOR[request.param]
    outdir = tmp_path_factory.mktemp(request.param)
    design = rnnrtl.convert(model(spec, seed=2), {**SEQ, **config})
    x = np.random.default_rng(4).standard_normal((64, T, F)) * 1.5
    design.write(outdir, x=x)
    summary = verify.simulate(outdir, seed=1, build_dir=tmp_path_factory.mktemp("build"),
                              backpressure=0.3, idle=0.3)
    return request.param, outdir, design, summary


@pytest.mark.slow
def test_manifest_input_section(simulated):
    """The manifest says what a beat holds; the vectors pass the readers' check."""
    _, outdir, design, _ = simulated
    manifest = json.loads((outdir / "manifest.json").read_text())
    section = manifest["input"]
    width = design.network.input_fmt.width
    assert section["per_beat"] == "sequence"
    assert (section["beats_per_sequence"], len(section["lanes"])) == (1, T * F)
    assert section["tdata_width"] == -(-T * F * width // 8) * 8
    assert [lane["lsb"] for lane in section["lanes"]] == [k * width for k in range(T * F)]
    assert (section["timesteps"], section["features"]) == (T, F)
    ports = {p["name"]: p["width"] for p in manifest["ports"]}
    assert ports["s_axis_tdata"] == section["tdata_width"]
    assert verify.check_vectors(outdir, manifest) == 64


@pytest.mark.slow
def test_verilator_bit_exact_and_timing(simulated):
    """Bit-exact under random stalls; latency and II measured = the manifest's (II 1 unrolled)."""
    name, outdir, design, summary = simulated
    assert summary.mismatches == 0, summary.first_mismatch
    timing = json.loads((outdir / "manifest.json").read_text())["timing"]
    assert (summary.latency, summary.ii) == (timing["latency"], timing["ii"])
    if name == "unrolled_r1":
        assert summary.ii == 1
    assert summary.passed, summary.problems


@pytest.mark.slow
def test_lint_clean_with_documented_waivers(simulated):
    _, outdir, _, _ = simulated
    report = verify.lint(outdir)
    assert report.clean, str(report)
