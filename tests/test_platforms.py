"""rnnrtl.platforms: the named targets, how the command line offers them, and that the wheel ships
them (and the testbench) so a pip-installed rnnrtl builds for every target."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnrtl.cli import cli
from rnnrtl.platforms import TARGETS
from rnnrtl.synth.targets import ECP5RegisterPacking, Target

ROOT = Path(__file__).resolve().parent.parent


def test_targets():
    assert set(TARGETS) >= {"vu9p", "arty_a7", "ulx3s_85f"}
    for name, target in TARGETS.items():
        assert isinstance(target, Target) and target.name == name and target.description
        if target.family == "ecp5":
            assert isinstance(target.platform(), ECP5RegisterPacking)


def test_build_help_lists_targets():
    out = " ".join(CliRunner().invoke(cli, ["build", "--help"]).output.split())
    assert ", ".join(sorted(TARGETS)) in out


def test_wheel_ships_platforms_and_sim(tmp_path):
    """Build a wheel from a copy of the sources (setuptools writes build/ beside them) and check
    that every package of the source tree is in it: rnnrtl's subpackages, sim/ as rnnrtl.sim and
    platforms/ as rnnrtl.platforms."""
    for module in ("setuptools", "wheel"):    # offline: no isolated build environment
        pytest.importorskip(module, reason="building the wheel here needs setuptools and wheel")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("rnnrtl", "sim", "platforms"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("rnnrtl-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {"rnnrtl/platforms/__init__.py", "rnnrtl/platforms/ulx3s.py",
            "rnnrtl/sim/testbench.py", "rnnrtl/synth/build.py"} <= names
    packages = [p.parent.relative_to(ROOT) for p in (ROOT / "rnnrtl").rglob("__init__.py")]
    missing = [str(p) for p in packages if f"{p.as_posix()}/__init__.py" not in names]
    assert not missing, f"packages missing from the wheel (pyproject.toml [tool.setuptools]): {missing}"
