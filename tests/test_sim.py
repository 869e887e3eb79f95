"""Generated cores on Verilator: bit-exact against the emulator under random stalls, measured latency
and II equal to the manifest, reset in mid-sequence, lint clean with the documented waivers.

Each design is converted, written and built once per session (:func:`designs`), then checked by
the three cocotb tests of ``sim/testbench.py`` through :func:`rnnrtl.verify.simulate`. Models are
tiny (T 4-6, 3-4 units) with random weights scaled up so that activations, saturation and the
tables' extremes are reached; inputs are scaled up too. The cases combine the features to cover
(cell kinds, GRU reset modes, stacking, sequence outputs, Dense heads, reuse 1 / divisor /
non-divisor / per-layer, interleave, mode unrolled, a non-byte lane width) into few designs, because each build
costs Verilator ~5-20 s; ``Case.covers`` says what each one is for. The whole file runs in about
two minutes on two busy cores.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field

import numpy as np
import pytest

import rnnrtl
from rnnrtl import verify

keras = pytest.importorskip("keras")

SAMPLES = 240  # random sequences per design (the brief: at least 200)


@dataclass(frozen=True)
class Case:
    layers: tuple        # (kind, keyword arguments) after the input
    timesteps: int
    features: int
    config: dict = field(default_factory=dict)
    x_scale: float = 2.0
    w_scale: float = 1.5
    covers: str = ""


def _layer(kind, kwargs):
    cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simplernn": keras.layers.SimpleRNN,
           "dense": keras.layers.Dense}[kind]
    return cls(**kwargs)


CASES = {
    "lstm_r1": Case(
        (("lstm", dict(units=4, recurrent_activation="hard_sigmoid", name="lstm")),
         ("dense", dict(units=3, activation="relu", name="hid")), ("dense", dict(units=2, name="out"))),
        timesteps=5, features=3, config={"reuse": 1},
        covers="LSTM (hard_sigmoid gates), Dense relu -> Dense linear head, reuse 1"),
    "gru_after_divisor": Case(
        (("gru", dict(units=4, reset_after=True, name="gru")),
         ("dense", dict(units=2, activation="sigmoid", name="out"))),
        timesteps=4, features=3, config={"reuse": 4},  # divides 36, 48 and 8 products
        covers="GRU reset_after=True, sigmoid head, reuse dividing every product count"),
    "gru_before_nondivisor": Case(
        (("gru", dict(units=3, reset_after=False, name="gru")),
         ("dense", dict(units=3, activation="softmax", name="out"))),
        timesteps=5, features=2, config={"reuse": 5, "precision": "fixed<10,4>"},  # 18, 27, 9
        x_scale=4.0,
        covers="GRU reset_after=False, softmax head, reuse 5 dividing none of 18/27/9, 10-bit lanes "
               "(tdata padded to bytes), saturating inputs"),
    "simplernn_per_layer": Case(
        (("simplernn", dict(units=4, name="rnn")),
         ("dense", dict(units=1, activation="sigmoid", name="out"))),
        timesteps=6, features=3,
        config={"layers": {"rnn": {"reuse_input": 3, "reuse_recurrent": 16}, "out": {"reuse": 3}}},
        covers="SimpleRNN, per-layer reuse_input 3 / reuse_recurrent 16 (one multiplier), Dense "
               "reuse 3 of 4 products"),
    "stacked_sequences": Case(
        (("lstm", dict(units=3, return_sequences=True, name="lstm")),
         ("gru", dict(units=4, return_sequences=True, name="gru")),
         ("dense", dict(units=2, name="out"))),
        timesteps=4, features=2, config={"layers": {"lstm": {"reuse": 2}, "gru": {"reuse": 7}}},
        covers="LSTM(return_sequences) -> GRU(return_sequences) -> per-step Dense: T output beats "
               "per sequence (tlast on the last), reuse 2 and 7 (non-divisor of 36/48)"),
    "interleaved": Case(
        (("lstm", dict(units=3, return_sequences=True, name="lstm")),
         ("gru", dict(units=3, name="gru")),
         ("dense", dict(units=2, activation="relu", name="hid")),
         ("dense", dict(units=1, activation="sigmoid", name="out"))),
        timesteps=5, features=2,
        config={"pipeline": "deep", "adder_fanin": 2,
                "layers": {"lstm": {"interleave": 1, "reuse": 3}, "gru": {"interleave": 3, "reuse": 5}}},
        covers="interleave 3 (a fractional II, averaged over the slots' pattern) behind a "
               "non-interleaved LSTM; reuse 3 and 5; pipeline deep with two-input adder stages"),
    "unrolled_stacked": Case(
        (("lstm", dict(units=2, return_sequences=True, name="lstm")),
         ("gru", dict(units=3, reset_after=True, name="gru")),
         ("dense", dict(units=2, name="out"))),
        timesteps=4, features=2,
        config={"mode": "unrolled", "layers": {"lstm": {"reuse": 2}, "gru": {"reuse": 3}}},
        covers="mode unrolled: an LSTM of 4 stages emitting every step (per-stage output queues "
               "read in order) into an unrolled GRU reset_after=True; reuse 2 and 3; II = D + 1"),
    "unrolled_into_interleaved": Case(
        (("gru", dict(units=2, reset_after=False, return_sequences=True, name="gru")),
         ("simplernn", dict(units=3, name="rnn")),
         ("dense", dict(units=1, activation="sigmoid", name="out"))),
        timesteps=5, features=3,
        config={"layers": {"gru": {"mode": "unrolled", "reuse": 2}, "rnn": {"interleave": 2}}},
        covers="unrolled GRU reset_after=False feeding a static SimpleRNN with interleave 2: "
               "a fast layer before a slow one (the II settles after a start-up transient), "
               "a two-sequence start pattern"),
    "unrolled_input_bound": Case(
        (("simplernn", dict(units=2, activation="relu", name="rnn")),
         ("dense", dict(units=2, activation="tanh", name="out"))),
        timesteps=6, features=2, config={"mode": "unrolled"},
        covers="unrolled SimpleRNN where the input sets the pace (II = T = 6 > D + 1)"),
}


def make_model(name: str, case: Case, seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((case.timesteps, case.features))] +
                             [_layer(kind, kw) for kind, kw in case.layers], name=name)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-case.w_scale, case.w_scale, w.shape) for w in model.get_weights()])
    return model


def write_case(name: str, case: Case, outdir, *, samples: int = SAMPLES, seed: int = 0):
    design = rnnrtl.convert(make_model(name, case, seed), case.config)
    x = np.random.default_rng(seed + 1).standard_normal((samples, case.timesteps, case.features))
    design.write(outdir, x=x * case.x_scale)
    return design


# -- one build and one simulation per design ------------------------------------------------------

@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    """Compiled cores, shared by every test of the session (keyed on the Verilog's hash)."""
    return tmp_path_factory.mktemp("sim_build")


@pytest.fixture(scope="session")
def designs(tmp_path_factory, build_root):
    """``get(name)`` -> ``(name, outdir, design, summary)``: each case written, built and
    simulated once per session, on first use."""
    done = {}

    def get(name):
        if name not in done:
            outdir = tmp_path_factory.mktemp(name)
            design = write_case(name, CASES[name], outdir)
            summary = verify.simulate(outdir, seed=1, build_dir=build_root, backpressure=0.3, idle=0.3)
            print(f"\n{name}: {summary}")
            done[name] = (name, outdir, design, summary)
        return done[name]

    return get


@pytest.fixture(scope="session", params=sorted(CASES))
def simulated(request, designs):
    """Each case in turn (see :func:`designs`)."""
    return designs(request.param)


@pytest.mark.slow
def test_bit_exact_under_random_stalls(simulated):
    name, _, _, summary = simulated
    stalls = summary.tests["random_stalls"]
    assert stalls["samples"] == SAMPLES, stalls
    assert summary.mismatches == 0, summary.first_mismatch
    assert stalls["passed"], stalls["problems"]


@pytest.mark.slow
def test_latency_and_ii_equal_the_manifest(simulated):
    _, outdir, design, summary = simulated
    timing = json.loads((outdir / "manifest.json").read_text())["timing"]
    assert (timing["latency"], timing["ii"]) == (design.timing.latency, design.timing.ii)
    assert summary.latency == timing["latency"], summary.tests["full_rate_timing"]
    assert summary.ii == timing["ii"], summary.tests["full_rate_timing"]
    assert summary.tests["full_rate_timing"]["passed"], summary.tests["full_rate_timing"]["problems"]


@pytest.mark.slow
def test_reset_in_mid_sequence(simulated):
    _, _, _, summary = simulated
    result = summary.tests["reset_mid_sequence"]
    assert result["passed"], result["problems"]
    assert summary.passed, summary.problems


@pytest.mark.slow
def test_lint_clean_with_documented_waivers(simulated):
    _, outdir, _, _ = simulated
    report = verify.lint(outdir)
    assert report.clean, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["stacked_sequences", "interleaved", "unrolled_stacked"])
def test_heavy_backpressure_and_back_to_back_input(name, designs, build_root):
    """Output refused 85 % of the time, input never idle: queues fill, credits must hold (on the
    design with T output beats per sequence, on the interleaved one and on the unrolled one)."""
    _, outdir, _, _ = designs(name)
    summary = verify.simulate(outdir, samples=60, seed=11, build_dir=build_root,
                              backpressure=0.85, idle=0.0)
    assert summary.build_reused
    assert summary.passed, summary.problems


@pytest.mark.slow
def test_build_is_shared(designs, build_root):
    """A second simulation of the same Verilog reuses the build (and still passes)."""
    _, outdir, _, first = designs("lstm_r1")
    again = verify.simulate(outdir, samples=20, seed=7, build_dir=build_root)
    assert again.build_reused and again.build_seconds == 0.0
    assert again.build_dir == first.build_dir
    assert again.passed, again.problems



@pytest.mark.slow
def test_optimized_build_is_its_own_and_equal(designs, build_root):
    """``optimize=True`` compiles the model at Verilator's -Os in a folder of its own (the quick
    default is -O0, shared by the other tests), and the core passes the same checks."""
    _, outdir, _, first = designs("lstm_r1")
    fast = verify.simulate(outdir, samples=20, seed=3, build_dir=build_root, optimize=True)
    assert fast.build_dir != first.build_dir and fast.build_dir.name.endswith("-O")
    log = (fast.build_dir / "build.log").read_text()
    assert " -Os " in log and "-O0" not in log
    assert "-O0" in (first.build_dir / "build.log").read_text()
    assert fast.passed, fast.problems
    assert (fast.latency, fast.ii) == (first.latency, first.ii)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unrolled_stacked", "unrolled_into_interleaved"])
def test_unrolled_stages_share_their_modules(name, designs):
    """The stages of an unrolled layer repeat the same units: the written Verilog defines each
    distinct one once and instantiates it per stage, so it has fewer module definitions than
    submodule instances (and the simulations above check it bit for bit)."""
    _, outdir, _, summary = designs(name)
    top = json.loads((outdir / "manifest.json").read_text())["top"]
    text = (outdir / f"{top}.v").read_text()
    defined = set(re.findall(r"^module (\\\S+|\w+)", text, flags=re.M))
    instances = [kind for kind in re.findall(r"^  (\\\S+|\w+) +\S+ \($", text, flags=re.M)
                 if kind in defined]
    assert len(set(instances)) == len(defined) - 1            # every module but the top is used
    assert len(defined) < len(instances)
    stage_units = [kind for kind in instances if ".stage." in kind]
    assert len(stage_units) > len(set(stage_units)) > 0        # "<layer>.stage.<unit>", shared
    assert summary.passed, summary.problems


def test_optimized_build_is_chosen_by_simulated_cycles():
    from rnnrtl.simbuild import OPTIMIZE_ABOVE_CYCLES, want_optimized
    assert not want_optimized(OPTIMIZE_ABOVE_CYCLES)
    assert want_optimized(OPTIMIZE_ABOVE_CYCLES + 1)

# -- numerics: hls4ml on an hls4ml 1.3 anchor model ------------------------------------------------

#: digits-gru (GRU(32) -> Dense(10, softmax)), the smallest anchor, converted from the hls4ml config
#: of its 'viv-model' outputs (granularity='model', ap_fixed<16,6>) with ReuseFactor 16 to keep the
#: core small: hls4ml's numbers do not depend on the reuse factor (tests/numerics/test_hls4ml.py). Its build
#: is the slowest of this file (~2-3 min on two busy cores).
HLS4ML_ANCHOR = "digits-gru"
HLS4ML_ANCHOR_CONFIG = {"Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 16,
                                  "Strategy": "Latency"}}


@pytest.fixture(scope="session")
def hls4ml_anchor(tmp_path_factory, build_root, hls4ml_dir):
    """``(outdir, design, summary, hls4ml outputs)``: the anchor written with the first SAMPLES
    held-out inputs hls4ml was fed, built and simulated once."""
    from conftest import anchor
    path, data = anchor(HLS4ML_ANCHOR, hls4ml_dir)
    design = rnnrtl.convert(path, HLS4ML_ANCHOR_CONFIG)
    assert design.network.numerics == "hls4ml"
    outdir = tmp_path_factory.mktemp(HLS4ML_ANCHOR)
    design.write(outdir, x=data["x_test"][:SAMPLES])
    summary = verify.simulate(outdir, seed=1, build_dir=build_root, backpressure=0.3, idle=0.3)
    print(f"\n{HLS4ML_ANCHOR} (numerics: hls4ml): {summary}")
    ref = np.load(hls4ml_dir / f"{HLS4ML_ANCHOR}_hls4ml.npz")["viv-model"][:SAMPLES]
    return outdir, design, summary, ref


@pytest.mark.slow
def test_hls4ml_anchor_rtl_equals_hls4ml(hls4ml_anchor):
    """The RTL's outputs equal the vectors (every lane code, under random stalls), and the vectors'
    codes are hls4ml 1.3.0's own outputs: the generated core computes what hls4ml computes."""
    outdir, design, summary, ref = hls4ml_anchor
    vectors = np.load(outdir / "vectors.npz")
    y_codes = vectors["y_codes"].reshape(SAMPLES, -1)
    hls4ml_codes, over = design.network.output_fmt.quantize(ref)   # hls4ml's values are codes
    assert over == 0
    np.testing.assert_array_equal(y_codes, hls4ml_codes)
    assert len(np.unique(y_codes.argmax(axis=1))) == 10           # real outputs, every class
    stalls = summary.tests["random_stalls"]
    assert stalls["samples"] == SAMPLES >= 200
    assert summary.mismatches == 0, summary.first_mismatch
    assert summary.passed, summary.problems


@pytest.mark.slow
def test_hls4ml_anchor_timing_and_lint(hls4ml_anchor):
    outdir, design, summary, _ = hls4ml_anchor
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert manifest["numerics"] == "hls4ml" and manifest["output_activation"] is None
    assert (summary.latency, summary.ii) == (design.timing.latency, design.timing.ii)
    report = verify.lint(outdir)
    assert report.clean, str(report)


# -- the checker catches what it should -----------------------------------------------------------

def _copy_design(outdir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(outdir, copy, ignore=shutil.ignore_patterns("sim_build"))
    return copy


@pytest.mark.slow
def test_a_wrong_expected_code_is_reported_with_its_place(designs, tmp_path, build_root):
    _, outdir, _, _ = designs("stacked_sequences")
    copy = _copy_design(outdir, tmp_path)
    vectors = dict(np.load(copy / "vectors.npz"))
    y = vectors["y_codes"]
    sample, beat, lane = 5, y.shape[1] - 1, 1
    good = int(y[sample, beat, lane])
    y[sample, beat, lane] = good + 1
    np.savez_compressed(copy / "vectors.npz", **vectors)
    summary = verify.simulate(copy, samples=10, seed=3, build_dir=build_root)
    assert summary.build_reused  # same Verilog, same build
    assert not summary.passed and summary.mismatches == 1
    assert summary.first_mismatch.startswith(
        f"sample {sample}, beat {beat}, lane {lane}: expected {good + 1}, got {good}")


@pytest.mark.slow
def test_a_wrong_manifest_timing_is_reported(designs, tmp_path, build_root):
    _, outdir, _, _ = designs("gru_after_divisor")
    copy = _copy_design(outdir, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["timing"]["latency"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    summary = verify.simulate(copy, samples=5, build_dir=build_root)
    assert not summary.passed and summary.mismatches == 0
    assert any("measured latency" in p for p in summary.problems), summary.problems


def test_unrolled_cases_are_unrolled_and_faster():
    """The unrolled cases build what they claim: their recurrent layers are unrolled, and their
    II is below what the same design reaches in static mode (no simulation)."""
    for name in ("unrolled_stacked", "unrolled_into_interleaved", "unrolled_input_bound"):
        case = CASES[name]
        design = rnnrtl.convert(make_model(name, case), case.config)
        assert any(layer.schedule.mode == "unrolled" for layer in design.network.layers), name
        static = {**case.config, "mode": "static",
                  "layers": {k: {**v, "mode": "static"} for k, v in case.config.get("layers", {}).items()}}
        assert design.timing.ii < rnnrtl.convert(make_model(name, case), static).timing.ii, name


# -- pieces that need no simulator ----------------------------------------------------------------

def test_lane_codec_round_trip_and_sign_extension():
    pytest.importorskip("cocotb")
    from rnnrtl.sim.core import LaneCodec
    stream = {"tdata_width": 32, "lanes": [
        {"lsb": 0, "width": 10, "signed": True}, {"lsb": 10, "width": 10, "signed": True},
        {"lsb": 20, "width": 8, "signed": False}]}
    codec = LaneCodec(stream)
    for codes in ([-512, 511, 255], [0, -1, 0], [-1, 0, 128]):
        word = codec.pack(codes)
        assert 0 <= word < 1 << 28
        assert codec.unpack(word) == codes
    assert codec.unpack(0x3FF) == [-1, 0, 0]
    with pytest.raises(ValueError, match="lane 0: code 512 does not fit 10 bits"):
        codec.pack([512, 0, 0])


def test_scoreboard_reports_mismatch_tlast_duplicate_and_loss():
    pytest.importorskip("cocotb")
    from rnnrtl.sim.core import Beat
    from rnnrtl.sim.scoreboard import Scoreboard
    expected = [Beat(0, 0, [1, -2], False), Beat(0, 1, [3, 4], True),
                Beat(1, 0, [5, 6], False), Beat(1, 1, [7, 8], True)]
    board = Scoreboard()
    board.expect(expected)
    board([1, -2], False, 10)
    board([3, 4], False, 11)           # tlast missing
    board([5, 9], False, 12)           # lane 1 wrong
    assert board.lost().startswith("1 output beats never arrived, the first being sample 1, beat 1")
    board([7, 8], True, 13)
    board([7, 8], True, 14)           # one too many
    assert board.first_mismatch == "sample 0, beat 1: tlast expected 1, got 0 (cycle 11)"
    assert board.errors[1].startswith("sample 1, beat 0, lane 1: expected 6, got 9")
    assert board.errors[2].startswith("unexpected output beat [7, 8] (tlast=1) at cycle 14")
    assert board.mismatches == 2 and board.lost() is None


def test_steady_ii_finds_the_slots_pattern():
    pytest.importorskip("cocotb")
    from fractions import Fraction

    from rnnrtl.sim.scoreboard import same_ii, steady_ii
    starts = [0, 5, 10, 39, 47, 84, 92, 129, 137, 174]      # gaps 5 5 29 8 37 8 37 8 37
    ii, period = steady_ii(starts, None)
    assert (ii, period) == (Fraction(45, 2), 2) and same_ii(ii, 22.5)
    assert steady_ii([0, 28, 68, 108, 148], None) == (40, 1)
    assert not same_ii(Fraction(41), 40)


def test_the_testbench_is_found_with_its_pieces():
    """simulate copies the testbench's folder as a package: the pieces it imports are beside it."""
    path = verify.testbench_path()
    assert path.name == "testbench.py"
    for piece in ("core.py", "stream.py", "scoreboard.py"):
        assert (path.parent / piece).is_file(), piece


def test_simulate_needs_a_written_design(tmp_path):
    with pytest.raises(rnnrtl.FlowError, match="holds no manifest.json"):
        verify.simulate(tmp_path)


@pytest.mark.slow
def test_board_verilog_is_the_same_circuit(designs, build_root, tmp_path):
    """What an ECP5 board build gives yosys (:func:`rnnrtl.synth.rom_split.rom_split_verilog`: the
    tables' many-port ROMs replicated, yosys's leftovers removed) is the core, bit for bit and cycle
    for cycle under stalls on Verilator, and yosys's ``check`` finds no undriven wire in it (on
    the deep design: its tables' output registers are what ``memory -nomap`` takes apart)."""
    from rnnrtl.synth.core import read_core
    from rnnrtl.synth.rom_split import rom_split_verilog
    from rnnrtl.synth.yosys import run_yosys
    _, outdir, _, _ = designs("interleaved")
    core = read_core(outdir)
    split = rom_split_verilog(core, tmp_path / "rom_split")
    memories = re.compile(r"^\s*reg \[\d+:0\] \S+ \[\d+:0\];", re.M)
    assert len(memories.findall(split.read_text())) > len(memories.findall(core.verilog.read_text()))
    run_yosys([f"read_verilog {split}", f"hierarchy -top {core.top}", "proc",
               "tee -q -o check.txt check"], split.parent, "check", "check.log")
    check = (split.parent / "check.txt").read_text()
    assert "Checking module" in check and "no driver" not in check, check[-2000:]
    board = tmp_path / "board"
    shutil.copytree(outdir, board)
    (board / core.verilog.name).write_text(split.read_text())
    summary = verify.simulate(board, samples=60, seed=5, build_dir=build_root)
    assert not summary.build_reused          # a build of the other Verilog
    assert summary.mismatches == 0, summary.first_mismatch
    assert summary.passed, summary.problems
