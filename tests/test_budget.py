"""rnnrtl.budget: the generation cost estimated from the IR, the refusal of runaway designs before
any hardware is built (API and CLI, with ``force`` / ``--force``), and the interleave cap.

The three runaway cases of issue 17 (``LSTM(2000)`` at reuse 1, ``mode: unrolled`` with
``T = 200``, ``interleave: 1000``) must each be refused in seconds. Converting a Keras
``LSTM(2000)`` alone takes about a minute here (16 million weights through the quantizer), so that
case enlarges the IR layer of a small conversion with :func:`dataclasses.replace`: the estimate
reads sizes and schedules only (its documented contract), never the weight arrays.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
from click.testing import CliRunner

import rnnrtl
from rnnrtl import budget
from rnnrtl.cli import cli
from rnnrtl.errors import ConfigError, DesignTooLargeError, HardwareError, RnnrtlError

keras = pytest.importorskip("keras")

#: How far the estimate may be from a measured write (the module docstring's promise).
FACTOR = 3.0


def _model(kind="lstm", units=4, timesteps=8, features=8, name="m"):
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
             "simplernn": keras.layers.SimpleRNN}[kind]
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((timesteps, features)), layer(units, name="rnn"),
                             keras.layers.Dense(1, activation="sigmoid", name="out")], name=name)


@pytest.fixture(scope="module")
def small():
    """An LSTM(4) on 8 steps of 8 features, converted with default settings."""
    return rnnrtl.convert(_model())


def _resized(network, **sizes):
    """``network`` with its recurrent layer's sizes changed (the weights arrays are not)."""
    rnn = dataclasses.replace(network.layers[0], **sizes)
    out = dataclasses.replace(network.layers[1], in_features=rnn.units)
    return dataclasses.replace(network, layers=[rnn, out])


def _with(network, **schedule):
    rnn = network.layers[0]
    rnn = dataclasses.replace(rnn, schedule=dataclasses.replace(rnn.schedule, **schedule))
    return dataclasses.replace(network, layers=[rnn, network.layers[1]])


# -- the estimate ----------------------------------------------------------------------------------

def test_estimate_counts_weights_and_multipliers(small):
    est = budget.estimate(small.network)
    # LSTM(4) on 8 features: W [16, 8] and U [16, 4]; Dense(1) on 4: [1, 4].
    assert est.weights == 16 * 8 + 16 * 4 + 4
    # Reuse 1: one multiplier per weight, plus 3 elementwise products per LSTM unit.
    assert est.multipliers == est.weights + 3 * 4
    assert est.per_layer["rnn"] > est.per_layer["out"]
    assert est.largest == "rnn"


def test_estimate_grows_with_units_steps_and_slots(small):
    base = budget.estimate(small.network)
    bigger = budget.estimate(_resized(small.network, units=64))
    assert bigger.units > base.units and bigger.seconds > base.seconds
    assert bigger.memory_mb > base.memory_mb
    unrolled = budget.estimate(_with(small.network, mode="unrolled"))
    # Unrolled: one cell per time step (8 here), each weight dearer (the documented factor).
    assert unrolled.per_layer["rnn"] == pytest.approx(8 * budget.UNROLLED_WEIGHT
                                                      * base.per_layer["rnn"])
    assert unrolled.multipliers == 8 * (base.multipliers - 4) + 4     # Dense(1): 4 multipliers
    slots = [budget.estimate(_with(small.network, interleave=k)).units for k in (1, 2, 8, 64)]
    assert slots == sorted(slots) and len(set(slots)) == 4


def test_unrolled_without_a_length_asks_for_timesteps(small, tmp_path):
    """No fixed length: the estimate counts one cell, and the design's own error (a ConfigError
    saying to give timesteps) is what the user sees, not a ValueError."""
    network = dataclasses.replace(_with(small.network, mode="unrolled"), timesteps=None)
    est = budget.check(network)
    assert est.per_layer["rnn"] == budget.estimate(small.network).per_layer["rnn"]
    with pytest.raises(ConfigError, match="give timesteps"):
        rnnrtl.design.Design(network).write(tmp_path / "core")


def test_reuse_changes_multipliers_not_weights(small):
    base = budget.estimate(small.network)
    folded = budget.estimate(_with(small.network, reuse_input=4, reuse_recurrent=4))
    assert folded.weights == base.weights
    assert folded.multipliers < base.multipliers


@pytest.mark.slow
def test_estimate_is_within_a_factor_of_a_measured_write(tmp_path):
    """One real write, timed in CPU seconds (this process's and its children's: yosys writes the
    Verilog), which a loaded machine changes far less than wall time: the estimate is within
    :data:`FACTOR` of it."""
    design = rnnrtl.convert(_model(units=8))
    est = budget.estimate(design.network)
    t0 = os.times()
    design.write(tmp_path / "core", samples=4)
    t1 = os.times()
    seconds = sum(b - a for a, b in zip(t0[:4], t1[:4]))
    assert seconds / FACTOR <= est.seconds <= seconds * FACTOR, (seconds, est)


# -- refusals --------------------------------------------------------------------------------------

def test_lstm2000_at_reuse_1_is_refused_at_once(small):
    network = _resized(small.network, units=2000)
    t0 = time.perf_counter()
    with pytest.raises(DesignTooLargeError) as info:
        budget.check(network)
    assert time.perf_counter() - t0 < 2
    message = str(info.value)
    for fragment in ("'m'", "GB", "limit", "'rnn'", "smaller", "--force", "force=True"):
        assert fragment in message, fragment
    # A HardwareError, and a user error: the CLI prints it as one line.
    assert isinstance(info.value, HardwareError) and isinstance(info.value, RnnrtlError)
    assert budget.estimate(network).memory_mb > budget.LIMIT_MB


def test_unrolled_200_steps_is_refused_by_write_before_anything_is_written(tmp_path):
    design = rnnrtl.convert(_model(units=16, timesteps=200), {"mode": "unrolled"})
    t0 = time.perf_counter()
    with pytest.raises(DesignTooLargeError, match=r"mode 'static'.*200"):
        design.write(tmp_path / "core")
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "core").exists()
    assert design._hardware is None          # no hardware was built


def test_interleave_1000_is_refused(small, tmp_path):
    design = rnnrtl.convert(_model(), {"interleave": 1000})
    t0 = time.perf_counter()
    for force in (False, True):         # a setting without use: refused even with force
        with pytest.raises(HardwareError, match=r"interleave 1000 gains nothing over \d+.*use "
                                                r"interleave 1\.\.\d+"):
            design.write(tmp_path / "core", force=force)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "core").exists()


@pytest.mark.parametrize("units, reuse", [(4, 1), (16, 4)])
def test_interleave_beyond_the_cap_gains_nothing(units, reuse):
    """At the cap the hardware's own II (its timing model) has reached its floor, ``T · J``
    cycles per sequence (T jobs, one every J cycles at best), and one slot more keeps it there;
    below the cap interleave does help."""
    network = rnnrtl.convert(_model(units=units), {"reuse": reuse}).network
    cap, D, J = budget.useful_interleave(network.layers[0])
    assert cap == 2 * -(-D // J) and 1 < cap < 1000

    def ii(k):
        return rnnrtl.design.Design(_with(network, interleave=k)).timing.ii

    floor = network.timesteps * J
    assert ii(cap // 2) < ii(1)
    assert ii(cap) == pytest.approx(floor)
    assert ii(cap + 1) == pytest.approx(floor)
    budget.check(_with(network, interleave=cap))
    with pytest.raises(HardwareError, match=f"use interleave 1..{cap}"):
        budget.check(_with(network, interleave=cap + 1))


def test_force_writes_beyond_the_limit(small, tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "LIMIT_SECONDS", 1)
    design = rnnrtl.design.Design(small.network)
    with pytest.raises(DesignTooLargeError, match="limit of 1 s"):
        design.write(tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    paths = design.write(tmp_path / "forced", samples=2, force=True)
    assert paths["verilog"].is_file()


# -- the command line ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "m.keras"
    _model().save(path)
    return path


@pytest.mark.parametrize("config, fragments", [
    ("mode: unrolled\n", ("mode 'static'", "--force")),
    ("interleave: 1000\n", ("interleave 1000 gains nothing", "use interleave 1..")),
], ids=["unrolled", "interleave"])
def test_cli_refuses_in_one_line_and_writes_nothing(model_file, tmp_path, monkeypatch, config,
                                                    fragments):
    if "unrolled" in config:
        monkeypatch.setattr(budget, "LIMIT_MB", 1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(model_file), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not out.exists()


@pytest.mark.slow
def test_cli_force_writes_a_design_beyond_the_limit(model_file, tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "LIMIT_MB", 1)
    out = tmp_path / "out"
    refused = CliRunner().invoke(cli, ["convert", str(model_file), "-o", str(out)])
    assert refused.exit_code == 2 and "--force" in refused.output
    forced = CliRunner().invoke(cli, ["convert", str(model_file), "-o", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "manifest.json").is_file()
    assert "estimated: about" in forced.output
