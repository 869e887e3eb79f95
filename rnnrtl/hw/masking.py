"""How a masked time step (:mod:`rnnrtl.masking`) travels through the hardware.

The network input carries no flag: the network's first layer recognises a masked step by its input
codes (every lane equal to the mask code, :func:`masked_flag`), as the emulator does. From there
the step carries a ``masked`` bit inside the beat payload (:func:`rnnrtl.hw.common.beat_layout` with ``masked``), queued with
its beat and passed along with the job to the state write: on a masked step a recurrent layer
computes as usual (a masked step costs what any other does, so the timing models need no change)
but keeps its state (``h``, and ``c``) and emits its previous output ``h``. Both shells do so: the
static one (:mod:`rnnrtl.hw.static`: the state bank's write is skipped, the bank read for the output
beat) and the unrolled one (:mod:`rnnrtl.hw.unrolled`: a stage hands on the state its job started
with). A Dense layer computes a masked step as any other and passes its bit on
(:mod:`rnnrtl.hw.dense`).

:func:`step_masks` gives each layer of a network its :class:`StepMask`, or ``None`` where no
recurrent layer downstream needs the mask: the mask reaches the layers up to the first recurrent
layer with ``return_sequences=False`` (which ends it), and is carried up to the last recurrent
layer among them.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat

from .. import ir

__all__ = ["StepMask", "step_masks", "masked_flag"]


@dataclass(frozen=True)
class StepMask:
    """What a layer does with masked steps. ``code``: the layer recognises a masked
    step on its input beats (every lane equal to this code; the network's first layer), else
    ``None``: its input beats carry the ``masked`` flag. ``passes``: its output beats carry the
    flag on to the next recurrent layer."""
    code: int | None
    passes: bool

    @property
    def carried(self) -> bool:
        """Whether the input beats carry the ``masked`` flag."""
        return self.code is None


def step_masks(network: ir.Network) -> list:
    """A :class:`StepMask` (or ``None``) for each layer of ``network``, in order (module
    docstring)."""
    layers = network.layers
    out = [None] * len(layers)
    code = network.mask_code
    if code is None:
        return out
    recurrent = [i for i, layer in enumerate(layers) if not isinstance(layer, ir.Dense)]
    ends = next((i for i in recurrent if not layers[i].return_sequences), len(layers) - 1)
    needed = max((i for i in recurrent if i <= ends), default=-1)
    for index in range(needed + 1):
        out[index] = StepMask(code=code if index == 0 else None, passes=index < needed)
    return out


def masked_flag(mask: StepMask, payload, lanes: int):
    """Whether the beat ``payload`` (``data`` lanes, and ``masked`` when carried) is a masked
    step: its flag, or for the first layer every one of its ``lanes`` codes equal to the mask
    code."""
    if mask.carried:
        return payload.masked
    return Cat(payload.data[k] == mask.code for k in range(lanes)).all()
