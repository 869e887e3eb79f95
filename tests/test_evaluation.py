"""rnnrtl.evaluation: decisions, agreement, named-point formats and value ranges, ROC."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import evaluation  # noqa: E402
from conftest import anchor  # noqa: E402




@pytest.mark.parametrize("name", ["toptag-lstm", "toptag-gru", "x-digits-gru-resetbefore",
                                  "x-digits-simplernn", "x-digits-retseq-lstm"])
def test_point_formats_name_every_traced_point(name, hls4ml_dir):
    path, data = anchor(name, hls4ml_dir)
    design = rnnrtl.convert(path)
    _, trace = design.emulate(data["x_test"][:4], trace=True)
    formats = evaluation.point_formats(design.network)
    assert list(formats) == list(design.network.points)
    assert set(formats) == set(trace)
    for point, codes in trace.items():   # every traced code lies in its point's format
        fmt = formats[point]
        assert fmt.min_code <= codes.min() and codes.max() <= fmt.max_code, point


def test_value_ranges_are_the_trace_extremes(toptag):
    design, data = toptag
    x = data["x_test"][:300]      # more than one RANGE_CHUNK
    ev = evaluation.evaluate(design, x)
    _, trace = design.emulate(x, trace=True)
    for point, codes in trace.items():
        r = ev.ranges[point]
        assert r.max_code == np.abs(codes).max(), point
        assert r.count == codes.size and r.zeros == np.sum(codes == 0), point
        assert r.hist.sum() == codes.size - r.zeros


def test_decisions_and_agreement():
    assert evaluation.decisions(np.array([[0.2], [0.5], [0.7]])).tolist() == [0, 0, 1]
    assert evaluation.decisions(np.array([[0.1, 0.9], [0.6, 0.4]])).tolist() == [1, 0]
    assert evaluation.agreement(np.array([[0.4], [0.6]]), np.array([[0.6], [0.7]])) == (1, 2)
    with pytest.raises(ValueError, match="differ"):
        evaluation.agreement(np.zeros((2, 1)), np.zeros((3, 1)))


def test_roc_of_a_perfect_and_a_useless_score():
    labels = np.array([0, 0, 1, 1])
    assert evaluation.roc(np.array([0.1, 0.2, 0.8, 0.9]), labels)[2] == pytest.approx(1.0)
    assert evaluation.roc(np.full(4, 0.5), labels)[2] == pytest.approx(0.5)


def test_short_format():
    assert evaluation.short_format(rnnrtl.FixedFormat.parse("fixed<16,6>")) == "fixed<16,6>"
    assert evaluation.short_format(rnnrtl.FixedFormat.parse("ap_fixed<16,6>")) == "fixed<16,6,TRN,WRAP>"


def test_cycles_text():
    assert evaluation.cycles_text(None) == "—"
    assert evaluation.cycles_text(1) == "1 cycle"
    assert evaluation.cycles_text(198, 200) == "198 cycles (990 ns at 200 MHz)"


def test_evaluate_without_float_outputs_or_with_mismatching_ones(toptag):
    design, data = toptag
    ev = evaluation.evaluate(design, data["x_test"][:10], labels=data["labels"][:10], ranges=False)
    assert ev.agree is None and ev.max_abs_error is None and ev.accuracy_float is None
    assert ev.accuracy_fixed == pytest.approx(
        np.mean((ev.y_fixed[:, 0] > 0.5) == data["labels"][:10]))
    with pytest.raises(ValueError, match="do not match"):
        evaluation.evaluate(design, data["x_test"][:10], data["y_keras"][:9], ranges=False)
