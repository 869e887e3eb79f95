"""How a masked time step (:mod:`rnnrtl.masking`) travels through the hardware.

The network input carries no flag: the first recurrent layer recognises a masked step by its input
codes (every lane equal to the mask code), as the emulator does. From there the step carries a
``masked`` bit inside the beat payload (:func:`masked_beat_layout`), queued with its beat and
passed along with the job to the state write: on a masked step a recurrent layer computes as
usual (a masked step costs what any other does, so the timing models need no change) but keeps its
state (``h``, and ``c``) and emits its previous output ``h``. A recurrent layer that returns
sequences hands the bit on to the next recurrent layer; one that does not ends the mask. Both
shells do so: the static one (:mod:`rnnrtl.hw.static`: the state bank's write is skipped, the bank
read for the output beat) and the unrolled one (:mod:`rnnrtl.hw.unrolled`: a stage hands on the
state its job started with).

:func:`step_masks` gives each layer of a network its :class:`StepMask` (or ``None``). The hardware
does not carry the bit through a Dense layer: a Dense layer between the input and a recurrent layer
of a masked network is refused (:class:`~rnnrtl.errors.HardwareError`); a Dense layer after the
last recurrent layer needs no mask (it computes every step as usual).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import data, stream

from .. import ir
from ..errors import HardwareError
from .common import shape_of

__all__ = ["StepMask", "step_masks", "masked_beat_layout", "masked_beat_signature"]


def masked_beat_layout(fmt, lanes: int) -> data.StructLayout:
    """A beat (:func:`rnnrtl.hw.common.beat_layout`) with a ``masked`` flag: the step is masked."""
    return data.StructLayout({"data": data.ArrayLayout(shape_of(fmt), lanes), "last": 1,
                              "masked": 1})


def masked_beat_signature(fmt, lanes: int) -> stream.Signature:
    return stream.Signature(masked_beat_layout(fmt, lanes))


@dataclass(frozen=True)
class StepMask:
    """What a recurrent layer does with masked steps. ``code``: the layer recognises a masked
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
    docstring); :class:`HardwareError` for a Dense layer the mask would have to pass."""
    layers = network.layers
    out = [None] * len(layers)
    if network.mask_code is None:
        return out
    for index, layer in enumerate(layers):
        if isinstance(layer, ir.Dense):
            later = [l for l in layers[index + 1:] if not isinstance(l, ir.Dense)]
            if later:
                raise HardwareError(
                    f"layer {layer.name!r}: a Dense layer before the recurrent layer "
                    f"{later[0].name!r} of a masked model (Masking) has no hardware that passes the "
                    "mask on; put the recurrent layer first (the emulator runs this model)")
            return out
        following = layers[index + 1] if index + 1 < len(layers) else None
        passes = layer.return_sequences and following is not None \
            and not isinstance(following, ir.Dense)
        out[index] = StepMask(code=network.mask_code if index == 0 else None, passes=passes)
        if not layer.return_sequences:
            return out
    return out
