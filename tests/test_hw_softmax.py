# amaranth: UnusedElaboratable=no
# (Amaranth's own linter switch: components refused by their constructor are never elaborated.)
"""Tests of ``rnnrtl.hw.softmax``: the SoftmaxUnit against :meth:`SoftmaxTable.apply` (the emulator's
softmax, itself equal to hls4ml 1.3's, tests/numerics/test_hls4ml.py).

Tables are built by :func:`rnnrtl.hls4ml.softmax_table` as the hls4ml profile builds them. Vectors
are random codes over the whole input range plus ties and extremes, fed with random idle cycles
and back to back; the latency is read from the component.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from rnnrtl.fixed import FixedFormat
from rnnrtl.hls4ml import softmax_table
from rnnrtl.hw.softmax import SoftmaxUnit
from units import run_valid_unit


def _fmt(text):
    return FixedFormat.parse(text)


CASES = [
    # id, lanes, logits format, output format, softmax_table keyword arguments
    ("stable-10", 10, "ap_fixed<16,6>", "ap_fixed<16,6>", dict(accum="ap_fixed<16,6>")),
    ("stable-3-sat-accum", 3, "ap_fixed<12,5>", "ap_ufixed<10,0,AP_RND,AP_SAT>",
     dict(accum="ap_fixed<18,8,AP_RND,AP_SAT>")),
    ("stable-5-small-tables", 5, "ap_fixed<10,4>", "ap_fixed<10,2>",
     dict(accum="ap_fixed<10,3>", table_size=64, inv_table="ap_fixed<12,6,AP_RND,AP_SAT>")),
    ("latency-6", 6, "ap_fixed<10,4>", "ap_fixed<12,2>",
     dict(implementation="latency", accum="ap_fixed<14,6>", table_size=256)),
    ("stable-1", 1, "ap_fixed<8,3>", "ap_fixed<8,2>", dict(accum="ap_fixed<12,4>")),
    ("argmax-4", 4, "ap_fixed<8,3>", "ap_fixed<8,2>", dict(implementation="argmax",
                                                            accum="ap_fixed<16,6>")),
]


@pytest.mark.parametrize("idle", [0.0, 0.4], ids=["back-to-back", "idle"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_softmax_unit_equals_apply(case, idle):
    name, lanes, in_f, out_f, kwargs = case
    in_fmt, out_fmt = _fmt(in_f), _fmt(out_f)
    sm = softmax_table(in_fmt=in_fmt, out_fmt=out_fmt, **kwargs)
    rng = random.Random(f"{name}-{idle}")
    lo, hi = in_fmt.min_code, in_fmt.max_code
    vectors = [[rng.randint(lo, hi) for _ in range(lanes)] for _ in range(40)]
    vectors += [[rng.randint(lo // 16, hi // 16) for _ in range(lanes)] for _ in range(40)]
    vectors += [[lo] * lanes, [hi] * lanes, [lo, hi] * (lanes // 2) + [0] * (lanes % 2),
                [0] * lanes, [3] * (lanes - 1) + [5]]
    dut = SoftmaxUnit(softmax=sm, lanes=lanes)
    assert dut.multipliers == (0 if sm.implementation == "argmax" else lanes)
    got = [o for (o,) in run_valid_unit(dut, vectors, rng, idle=idle, garbage=(-3, 3))]
    want = sm.apply(np.array(vectors, dtype=np.int64))
    np.testing.assert_array_equal(np.array(got), want)
    distinct = len({tuple(w) for w in want.tolist()})  # the vectors reach many outputs
    assert distinct == lanes if sm.implementation == "argmax" else distinct > min(10, lanes - 1)


def test_bad_arguments():
    sm = softmax_table(in_fmt=_fmt("ap_fixed<8,3>"), out_fmt=_fmt("ap_fixed<8,2>"), accum="ap_fixed<12,4>")
    with pytest.raises(ValueError, match=r"lanes 0"):
        SoftmaxUnit(softmax=sm, lanes=0)
    with pytest.raises(TypeError, match=r"SoftmaxTable"):
        SoftmaxUnit(softmax="stable", lanes=2)
