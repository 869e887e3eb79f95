"""Amaranth hardware generators, one concept per module.

* :mod:`rnnrtl.hw.pipelining` — :class:`~rnnrtl.hw.pipelining.Pipelining`, the register stages per
  place, decoded once from a layer's ``pipeline`` preset.
* :mod:`rnnrtl.hw.matvec_plan` (the schedule, pure integers), :mod:`rnnrtl.hw.mac` (one multiplier
  at reuse > 1) and :mod:`rnnrtl.hw.matvec` — :class:`MatVec`, an exact full-width
  ``W·x (+ b) (+ addend)`` with a reuse factor (multipliers shared over cycles) and a pipelined
  adder tree (:mod:`rnnrtl.hw.adder_tree`); optionally every product cast into an accumulator
  format first (``numerics: hls4ml``).
* :mod:`rnnrtl.hw.activation` — :class:`ActivationUnit`, a vector of full-width codes requantized
  into a fixed-point format and mapped through a ROM table, ``relu`` or ``linear``.
* :mod:`rnnrtl.hw.softmax` — :class:`SoftmaxUnit`, hls4ml's table softmax (``numerics: hls4ml``).
* :mod:`rnnrtl.hw.cell` (the interface) and :mod:`rnnrtl.hw.cells` — the LSTM, GRU and SimpleRNN
  cells (projection and loop), composed by the shells :mod:`rnnrtl.hw.static` and :mod:`rnnrtl.hw.unrolled`, each with its beat-level timing
  model beside it (:mod:`rnnrtl.hw.static_model`, :mod:`rnnrtl.hw.unrolled_model`);
  :mod:`rnnrtl.hw.dense` — the Dense layer (and its model).
* :mod:`rnnrtl.hw.sequence_buffer` — a sequence reverser and a beat queue (with their models);
  :mod:`rnnrtl.hw.bidirectional` — ``go_backwards`` layers and ``Bidirectional`` (fork, the two
  directions, their buffers, the merge) built from them and the shells.
* :mod:`rnnrtl.hw.network` — the one choice of each layer's hardware, the chain, the AXI4-Stream
  top; :mod:`rnnrtl.hw.timing` — the generic chain simulation of the timing models.
* :mod:`rnnrtl.hw.common` — beats, queues, the credit link, register helpers;
  :mod:`rnnrtl.hw.streamsim` — stream helpers for simulation testbenches.
"""

from .activation import ActivationUnit
from .matvec import MatVec
from .softmax import SoftmaxUnit

__all__ = ["MatVec", "ActivationUnit", "SoftmaxUnit"]
