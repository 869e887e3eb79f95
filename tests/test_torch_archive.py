"""rnnrtl.torch_archive: a .pt2 file that torch.export.load could not read without unpickling an
object or running code from it is refused first, by ``rnnrtl convert`` with exit status 2 and one
line, and torch.export.load is never called on it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, invoke  # noqa: E402
from rnnrtl.torch_archive import safe_expr  # noqa: E402
from torch_models import Boom, Net, save_pt2, seeded  # noqa: E402


@pytest.mark.parametrize("text, safe", [
    ("s77", True), ("4", True), ("4*s0 + 1", True),
    ("Symbol('s77', positive=True, integer=True)", True),
    ("Mul(Integer(4), Symbol('s77', positive=True, integer=True))", True),
    ("__import__('os').system('true')", False), ("os.system", False), ("(lambda: 1)()", False),
    ("eval('1')", False), ("Symbol.__class__", False), ("[1][0]", False), ("Symbol(", False),
])
def test_shape_expressions_checked_before_sympy(text, safe):
    assert safe_expr(text) is safe


def _rewrite(src, dst, edit):
    """Copy the .pt2 ``src`` to ``dst`` with ``edit(name, bytes) -> bytes | None`` applied to each
    member (None drops it), then add the members of ``edit.extra`` (a dict, when present)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = edit(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item.filename, data)
        for name, data in getattr(edit, "extra", {}).items():
            zout.writestr(name, data)
    return dst


def _program_edit(change):
    def edit(name, data):
        if name.endswith("models/model.json"):
            program = json.loads(data)
            change(program)
            return json.dumps(program).encode()
        return data
    return edit


def _pickled_weight(name, data):
    if name.endswith("model_weights_config.json"):
        config = json.loads(data)
        first = next(iter(config["config"].values()))
        first["use_pickle"] = True
        return json.dumps(config).encode()
    return data


def _expr(program):
    nodes = program["graph_module"]["graph"]["nodes"]
    nodes[0]["inputs"][0]["arg"] = {"as_sym_ints": [
        {"as_expr": {"expr_str": "__import__('os').system('touch x')", "hint": None}}]}


def _sample_inputs(name, data):
    if name.endswith("sample_inputs/model.pt"):
        buf = io.BytesIO()
        torch.save((Boom(),), buf)
        return buf.getvalue()
    return data


UNSAFE = {
    "pickled_weight": (_pickled_weight, "pickled or custom object"),
    "guards_code": (_program_edit(lambda p: p.update(guards_code=["print('hi')"])), "guard code"),
    "sympy_expression": (_program_edit(_expr), "shape expression"),
    "unsupported_op": (_program_edit(lambda p: p["graph_module"]["graph"]["nodes"][1].update(
        target="torch.ops.aten.conv1d.default")), "op aten.conv1d.default"),
    "sample_inputs": (_sample_inputs, "weights_only=True"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_pt2_refused_before_torch_export_load(tmp_path, monkeypatch, case):
    edit, fragment = UNSAFE[case]
    Boom.marker = str(tmp_path / "unpickled")
    src = save_pt2(seeded(Net(kind="gru")), tmp_path / "good.pt2")
    bad = _rewrite(src, tmp_path / "bad.pt2", edit)

    def no_load(*args, **kwargs):
        raise AssertionError("torch.export.load was called on a file that should be refused")
    monkeypatch.setattr(torch.export, "load", no_load)
    result = invoke("convert", bad, "-o", tmp_path / "out")
    assert_user_error(result, fragment)
    assert not (tmp_path / "unpickled").exists()


def test_extra_archive_members_refused(tmp_path):
    src = save_pt2(seeded(Net(kind="gru")), tmp_path / "good.pt2")
    root = zipfile.ZipFile(src).namelist()[0].split("/")[0]

    def edit(name, data):
        return data
    edit.extra = {f"{root}/data/aotinductor/model/model.so": b"\x7fELF"}
    bad = _rewrite(src, tmp_path / "bad.pt2", edit)
    assert_user_error(invoke("convert", bad, "-o", tmp_path / "out"),
                      "data/aotinductor/model/model.so", "refused")
