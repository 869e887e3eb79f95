"""Amaranth hardware generators, one concept per module.

* :mod:`rnnrtl.hw.matvec` — :class:`MatVec`, an exact full-width ``W·x (+ b) (+ addend)`` with a
  reuse factor (multipliers shared over cycles) and a pipelined adder tree.
* :mod:`rnnrtl.hw.activation` — :class:`ActivationUnit`, a vector of full-width codes requantized
  into a fixed-point format and mapped through a ROM table, ``relu`` or ``linear``.
"""

from .activation import ActivationUnit
from .matvec import MatVec

__all__ = ["MatVec", "ActivationUnit"]
