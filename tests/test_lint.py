"""rnnrtl.lint: the waivers keep every real problem, and each one is argued in the docs.
(The lint of generated designs on Verilator runs in tests/test_sim.py, on the designs it builds.)"""

from pathlib import Path

import pytest

from rnnrtl import lint


def test_waivers_keep_real_problems():
    W = lint.LintWarning
    found = [
        W("WIDTHEXPAND", "a.v", 3, "Operator ADD expects 42 bits on the RHS, but RHS's SIGNED generates 23 bits.", ""),
        W("WIDTHTRUNC", "a.v", 4, "Logical operator LOGNOT expects 1 bit on the LHS, but LHS's VARREF 'wait' generates 3 bits.", ""),
        W("WIDTHTRUNC", "a.v", 5, "Operator ASSIGNW expects 8 bits on the Assign RHS, but Assign RHS's VARREF 'x' generates 9 bits.", ""),
        W("ASCRANGE", "a.v", 6, "Ascending bit range vector: left < right of bit range: [-1:0]", ""),
        W("UNUSEDSIGNAL", "a.v", 6, "Signal is not driven, nor used: 'cooldown'", ""),
        W("ASCRANGE", "a.v", 7, "Ascending bit range vector: left < right of bit range: [-1:0]", ""),
        W("MULTIDRIVEN", "a.v", 8, "Signal has multiple driving blocks", ""),
    ]
    left, waived = lint.apply_waivers(found)
    assert [(w.code, w.line) for w in left] == [("WIDTHTRUNC", 5), ("ASCRANGE", 7), ("MULTIDRIVEN", 8)]
    assert waived == {"WIDTHEXPAND": 1, "WIDTHTRUNC": 1, "ASCRANGE": 1, "UNUSEDSIGNAL": 1}


def test_parse_lint_keeps_excerpts_and_unlocated_errors():
    output = ("%Warning-WIDTHEXPAND: top.v:12:7: Operator ADD expects 9 bits\n"
              "   12 | assign x = a + b;\n"
              "%Error: Internal problem\n"
              "%Error: Exiting due to 1 error(s)\n")
    found = lint.parse_lint(output)
    assert [(w.code, w.file, w.line) for w in found] == [("WIDTHEXPAND", "top.v", 12), ("OTHER", "", 0)]
    assert found[0].text.endswith("assign x = a + b;")


def test_whole_class_waivers_are_silenced_in_the_build():
    assert lint.VERILATOR_BUILD_ARGS[0] == "-Wno-fatal"
    assert {a[len("-Wno-"):] for a in lint.VERILATOR_BUILD_ARGS[1:]} == \
        {w.code for w in lint.WAIVERS if w.pattern is None}


def test_waivers_are_documented():
    doc = Path(lint.__file__).resolve().parent.parent / "docs" / "verilator-waivers.md"
    if not doc.is_file():
        pytest.skip("not a source checkout")
    text = doc.read_text()
    for waiver in lint.WAIVERS:
        assert f"`{waiver.code}`" in text, waiver.code
