"""Amaranth hardware generators, one concept per module.

* :mod:`rnnrtl.hw.matvec` — :class:`MatVec`, an exact full-width ``W·x (+ b) (+ addend)`` with a
  reuse factor (multipliers shared over cycles) and a pipelined adder tree; optionally every
  product cast into an accumulator format first (``numerics: hls4ml``).
* :mod:`rnnrtl.hw.activation` — :class:`ActivationUnit`, a vector of full-width codes requantized
  into a fixed-point format and mapped through a ROM table, ``relu`` or ``linear``.
* :mod:`rnnrtl.hw.softmax` — :class:`SoftmaxUnit`, hls4ml's table softmax (``numerics: hls4ml``).
"""

from .activation import ActivationUnit
from .matvec import MatVec
from .softmax import SoftmaxUnit

__all__ = ["MatVec", "ActivationUnit", "SoftmaxUnit"]
