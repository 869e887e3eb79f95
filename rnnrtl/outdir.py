"""Output folders that are written whole or not at all.

A command that writes a design (``rnnrtl convert``, ``rnnrtl demo``) names its folder with ``-o``.
The folder must be new, empty, or an earlier rnnrtl output (it carries :data:`MARKER`); an earlier
output is replaced whole, anything else is refused, so no user file is ever overwritten.
Everything is written into a fresh sibling folder first (``.<name>.rnnrtl-XXXX``) and moved into
place only when the command has succeeded; on any error the sibling is removed and the target is
left exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import FlowError

__all__ = ["MARKER", "check_output_folder", "staged_output", "is_rnnrtl_output"]

#: A file every rnnrtl output folder carries: its presence lets a later run replace the folder.
MARKER = ".rnnrtl-output"
#: Files that mark an output folder of rnnrtl releases before :data:`MARKER` existed.
_LEGACY_MARKERS = ("design.json", "report.json")


def is_rnnrtl_output(folder: Path) -> bool:
    """Whether ``folder`` was written by rnnrtl (and so may be replaced whole)."""
    folder = Path(folder)
    return (folder / MARKER).is_file() or all((folder / f).is_file() for f in _LEGACY_MARKERS)


def check_output_folder(path) -> Path:
    """``path`` as an output folder, or a :class:`~rnnrtl.errors.FlowError` saying why not.

    Refused: an empty name, an existing file, a folder that is neither empty nor an rnnrtl output
    (its first entries are named), the current directory or one of its parents (replacing them
    whole would delete the user's work), and a parent folder that cannot be written."""
    text = os.fspath(path)
    if not text.strip():
        raise FlowError("the output folder name is empty; give a new folder, e.g. -o out/model")
    target = Path(text).expanduser()
    resolved = target.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise FlowError(f"output folder {text!r} is the current directory or one of its parents; "
                        "give a new folder, e.g. -o out/model")
    if target.exists() and not target.is_dir():
        raise FlowError(f"output folder {text!r} is an existing file; give a new folder")
    if target.is_dir():
        entries = sorted(p.name for p in target.iterdir())
        if entries and not is_rnnrtl_output(target):
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise FlowError(f"output folder {text!r} is not empty and not an rnnrtl output "
                            f"(it holds {shown}); give a new or empty folder")
    parent = _existing_parent(resolved)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FlowError(f"cannot write the output folder {text!r}: {str(parent)!r} is not writable")
    return target


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    return parent


@contextmanager
def staged_output(path, *, version: str = ""):
    """Yield a fresh folder to write into; on success it replaces ``path`` whole.

    ``path`` is checked with :func:`check_output_folder` first. On any exception the staged folder
    is removed and ``path`` is untouched."""
    target = check_output_folder(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.rnnrtl-", dir=target.parent))
    try:
        yield stage
        (stage / MARKER).write_text(json.dumps({"rnnrtl_version": version}) + "\n")
        if not target.exists():
            os.replace(stage, target)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
        try:
            os.replace(stage, target)
        except BaseException:
            os.replace(old / target.name, target)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
