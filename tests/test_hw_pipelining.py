"""Tests of ``rnnrtl.hw.pipelining``: the presets as data, decoded once, and their documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnrtl.errors import HardwareError
from rnnrtl.hw.pipelining import DEEP, FAST, PRESETS, SHALLOW, Pipelining, preset_table
from rnnrtl.ir import Schedule

ROOT = Path(__file__).resolve().parent.parent


def test_presets_by_name():
    assert Pipelining.of(Schedule()) is SHALLOW
    assert Pipelining.of(Schedule(pipeline="deep")) is DEEP
    assert Pipelining.of(Schedule(pipeline="fast")) is FAST
    assert set(PRESETS) == {"shallow", "deep", "fast"}


def test_unknown_preset_is_refused():
    with pytest.raises(HardwareError, match=r"pipeline 'deeper' .*shallow, deep, fast"):
        Pipelining.of(Schedule(pipeline="deeper"))


def test_shallow_adds_nothing():
    """Every count of ``shallow`` is the component's minimum (activation latency 1, no stage)."""
    assert SHALLOW.activation == 1
    assert all(getattr(SHALLOW, f) in (0, False) for f in
               ("start", "counter_start", "operands", "product", "copy", "enable_copies",
                "elementwise", "rounding", "loop_start_chain", "release", "link",
                "one_stage_trees"))


def test_fast_removes_cycles_only():
    """``fast`` adds no register anywhere ``shallow`` has none, and takes the tables' cycle and
    the adder trees' inner stages away."""
    assert FAST.activation == 0 and FAST.one_stage_trees
    assert all(getattr(FAST, f) == getattr(SHALLOW, f) for f in
               ("start", "counter_start", "operands", "product", "copy", "enable_copies",
                "elementwise", "rounding", "loop_start_chain", "release", "link"))


def test_config_accepts_every_preset():
    from rnnrtl.config import PIPELINES
    assert set(PIPELINES) == set(PRESETS)


def test_presets_are_frozen():
    with pytest.raises(AttributeError):
        DEEP.start = 2


def test_docs_table_is_generated_from_the_data():
    assert preset_table() in (ROOT / "docs" / "pipelining.md").read_text()
