"""rnnrtl.report (and rnnrtl.plots through it): the files, their numbers against ones computed here,
the optional sections."""

import base64
import json
import os
import re
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rnnrtl  # noqa: E402
from rnnrtl import report  # noqa: E402
from conftest import anchor  # noqa: E402

FIXTURES = "tests/fixtures/hls4ml-1.3"




@pytest.fixture(scope="module")
def digits(hls4ml_dir):
    """The hls4ml-1.3 digits LSTM (softmax over 10 classes) and its data."""
    path, data = anchor("digits-lstm", hls4ml_dir)
    return rnnrtl.convert(path), data


class _WithTiming:
    """A design with hardware figures (``design.timing``), as the hardware generators provide."""

    def __init__(self, design, timing):
        self._design, self.timing = design, timing

    def __getattr__(self, name):
        return getattr(self._design, name)


def _fake_timing(design, reuse=1):
    layers = [SimpleNamespace(name=L.name, latency=5 * reuse + i, ii=reuse * (10 if L.kind != "dense" else 1),
                              cycles_per_step=reuse + 2 if L.kind != "dense" else None,
                              multipliers=max(L.units * L.in_features // reuse, 1))
              for i, L in enumerate(design.network.layers)]
    return SimpleNamespace(layers=layers, latency=sum(l.latency for l in layers),
                           ii=max(l.ii for l in layers), multipliers=sum(l.multipliers for l in layers))


def test_files_exist_and_html_embeds_every_image(toptag, tmp_path):
    design, data = toptag
    out = report.write_report(tmp_path, design, x=data["x_test"], y_float=data["y_keras"],
                              labels=data["labels"])
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert set(images) == {"plots/ranges.png", "plots/fidelity.png", "plots/roc.png",
                           "plots/hardware.png"}
    for image in images:
        assert (tmp_path / image).read_bytes().startswith(b"\x89PNG")
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(images)
    assert all(base64.b64decode(b).startswith(b"\x89PNG") for b in embedded)
    assert 'src="plots/' not in html                       # self-contained
    assert "<table>" in html and "<h2>Fidelity vs Keras float</h2>" in html
    assert {p.name for p in out["files"]} >= {"report.md", "report.html", "report.json"}
    assert json.loads((tmp_path / "report.json").read_text())["samples"] == len(data["x_test"])


def test_binary_agreement_and_accuracy_match_numbers_computed_here(toptag, tmp_path):
    design, data = toptag
    x, yk, labels = data["x_test"], data["y_keras"], data["labels"]
    report.write_report(tmp_path, design, x=x, y_float=yk, labels=labels)
    y = design.emulate(x)
    equal = int(np.sum((y[:, 0] > 0.5) == (yk[:, 0] > 0.5)))
    n = len(x)
    md = (tmp_path / "report.md").read_text()
    assert f"agree with Keras float on **{100 * equal / n:.2f} %** ({equal} of {n})" in md
    acc_fixed = np.mean((y[:, 0] > 0.5) == labels)
    acc_float = np.mean((yk[:, 0] > 0.5) == labels)
    assert f"| fixed point (emulated) | {100 * acc_fixed:.2f} % |" in md
    assert f"| Keras float | {100 * acc_float:.2f} % |" in md
    assert f"max |error| {np.abs(y - yk).max():.4g}" in md
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["agree"] == [equal, n]


def test_argmax_agreement_of_a_softmax_model(digits, tmp_path):
    design, data = digits
    x, yk = data["x_test"], data["y_keras"]
    summary = report.write_report(tmp_path, design, x=x, y_float=yk, labels=data["labels"])
    y = design.emulate(x)
    equal = int(np.sum(y.argmax(-1) == yk.argmax(-1)))
    assert summary["agree"] == [equal, len(x)]
    assert f"({equal} of {len(x)})" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "plots" / "roc.png").exists()     # ROC only for one binary output
    assert summary["accuracy_fixed"] == pytest.approx(np.mean(y.argmax(-1) == data["labels"]))


def test_without_data_only_the_model_and_configuration(toptag, tmp_path):
    design, _ = toptag
    summary = report.write_report(tmp_path, design)
    md = (tmp_path / "report.md").read_text()
    for section in ("## Model", "## Formats and value ranges per named point", "## Configuration",
                    "## Overflows"):
        assert section in md
    for section in ("## Fidelity", "## Accuracy", "## Reuse sweep"):
        assert section not in md
    assert "## Hardware" in md
    assert "samples" not in summary
    assert "| `input` | `fixed<16,6,RND,SAT>` | 0.000977 | 31.999 | — | — | — |" in md


def test_overflows_per_point_and_weight_saturation(toptag, tmp_path):
    path = os.path.join(FIXTURES, "toptag-lstm.keras")
    design = rnnrtl.convert(path, {"precision": {"default": "fixed<8,2>", "weight": "fixed<8,-1>"}})
    _, data = toptag
    summary = report.write_report(tmp_path, design, x=data["x_test"], y_float=data["y_keras"])
    assert design.overflows and design.weight_overflows        # the narrow format overflows
    assert summary["overflows"] == design.overflows
    assert summary["weight_overflows"] == design.weight_overflows
    md = (tmp_path / "report.md").read_text()
    for point, count in design.overflows.items():
        assert f"| `{point}` | `fixed<8,2,RND,SAT>` | {count} |" in md
    for tensor, count in design.weight_overflows.items():
        assert f"| `{tensor}` | {count} |" in md


def test_hardware_section_and_sweep_from_timing_objects(toptag, tmp_path):
    design, data = toptag
    x = data["x_test"][:50]
    sweep = []
    for reuse in (1, 2, 4):
        d = rnnrtl.load_design(design.save(tmp_path / f"r{reuse}")[0])  # same numbers
        sweep.append((reuse, _fake_timing(design, reuse), d))
    summary = report.write_report(tmp_path / "rep", _WithTiming(design, _fake_timing(design)), x=x,
                                  y_float=data["y_keras"][:50], sweep=sweep, clock_mhz=200)
    md = (tmp_path / "rep" / "report.md").read_text()
    t = _fake_timing(design)
    assert "## Hardware" in md
    for layer in t.layers:
        assert f"| {layer.name} | {layer.latency} | {layer.ii} |" in md
    assert f"{t.latency} cycles ({t.latency * 1e3 / 200:.4g} ns at 200 MHz)" in md
    assert (tmp_path / "rep" / "plots" / "hardware.png").is_file()
    assert (tmp_path / "rep" / "plots" / "sweep.png").is_file()
    assert [row["reuse"] for row in summary["sweep"]] == [1, 2, 4]
    assert all(row["identical_outputs"] == "yes" for row in summary["sweep"])
    assert summary["timing"]["multipliers"] == t.multipliers
