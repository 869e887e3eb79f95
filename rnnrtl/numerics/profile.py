"""The interface every numerics profile implements: :class:`Profile`.

A profile is one arithmetic — the numbers a quantized network computes. It declares what the
configuration may say under it (tensor keys per layer kind, defaults, scope options of its own, whether
formats may be inferred) and builds the IR: weight codes, activation tables and every layer's formats.
:mod:`rnnrtl.config` parses and resolves a configuration from these declarations alone, and
:func:`rnnrtl.quantize.quantize` drives any profile the same way; the IR a profile builds is plain data,
so the emulator and the hardware never ask which profile made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fixed import FixedFormat

__all__ = ["Profile", "Option", "Choice", "FORMAT", "SIZE", "AUTO"]

#: A format written ``auto``: inferred by the profile (only where :attr:`Profile.auto_types`).
AUTO = "auto"
#: Kinds of an :class:`Option`'s values: a fixed-point format, a table size (a power of two).
FORMAT = "format"
SIZE = "size"


@dataclass(frozen=True)
class Choice:
    """An :class:`Option` value that is one of ``values``; ``note`` is added to the error."""
    values: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Option:
    """A scope key of a profile's own (e.g. hls4ml's ``softmax``): a mapping whose keys each take a
    :data:`FORMAT`, a :data:`SIZE` or a :class:`Choice`. ``about`` completes the sentence "'<key>'
    settings …" of the error given when another profile is chosen."""
    about: str
    keys: dict = field(default_factory=dict)


class Profile:
    """One arithmetic. Subclasses set the declarations and implement the methods below.

    The driver (:func:`rnnrtl.quantize.quantize`) calls, in order: :meth:`prepare` once;
    :meth:`sublayers` per float layer; :meth:`format` for the input; and :meth:`build_layer` per
    float layer, handing it the layer's resolved configuration (:class:`rnnrtl.config.LayerConfig`),
    its schedule and a ``weights(tensor, fmt)`` function that quantizes a weight tensor with
    :meth:`weight_codes` and counts its overflows.
    """

    #: The value of ``numerics:`` that selects this profile.
    name: str = ""
    #: Tensors whose format can be set, per layer kind (``input`` included). A kind missing here is
    #: refused, the error ending with :attr:`missing_kind_note`.
    precision_keys: dict[str, tuple[str, ...]] = {}
    missing_kind_note: str = ""
    #: The format of every tensor unless the configuration sets one.
    default_precision: str = ""
    #: Tensors with a default of their own, which ``precision``'s ``default`` does not set:
    #: key -> format string, or ``None`` (the profile chooses, e.g. by activation function). A key
    #: named in the layer's scope, else at top level, still wins.
    own_precision: dict[str, str | None] = {}
    #: Entries of every activation table unless set (``None``: the configuration's defaults).
    table_size: int | None = None
    #: Whether a tensor's format may be :data:`AUTO` (inferred by this profile).
    auto_types: bool = False
    #: Scope keys of this profile's own: key -> :class:`Option`.
    options: dict[str, Option] = {}
    #: Added after "its layers" in the error for a layer name the model does not have.
    names_note: str = ""

    def translate(self, source: dict) -> dict | None:
        """``source`` translated into an rnnrtl configuration when it is another tool's
        configuration this profile reproduces (e.g. an hls4ml dict), else ``None``."""
        return None

    def prepare(self, model, config: dict) -> dict:
        """The normalised ``config`` as this profile reads it for float ``model`` (checked; it
        becomes the network's ``config``)."""
        return config

    def sublayers(self, layer) -> dict[str, str]:
        """Layers this profile configures apart from float ``layer`` although rnnrtl computes them
        in it (name -> kind, a key of :attr:`precision_keys`)."""
        return {}

    def format(self, cfg, key: str) -> FixedFormat:
        """The format of tensor ``key`` in the resolved configuration ``cfg``."""
        return cfg.fmt(key)

    def weight_codes(self, values, fmt: FixedFormat) -> tuple[np.ndarray, int]:
        """Float weights as integer codes of ``fmt``: ``(codes, values that did not fit)``."""
        raise NotImplementedError

    def table(self, function: str, in_fmt: FixedFormat, out_fmt: FixedFormat, cfg, where: str):
        """The :class:`~rnnrtl.ir.Activation` of table ``function`` from codes of ``in_fmt`` to
        ``out_fmt``, its table filled and indexed as this profile does."""
        raise NotImplementedError

    def build_layer(self, layer, cfg, *, in_fmt: FixedFormat, schedule, weights, sublayers: dict):
        """The IR layer of float ``layer`` whose input has format ``in_fmt``. ``cfg``: its resolved
        configuration; ``sublayers``: the resolved configuration of each of :meth:`sublayers`;
        ``weights(tensor, fmt)``: the :class:`~rnnrtl.ir.Weights` of ``tensor`` (``kernel``,
        ``recurrent_kernel``, ``bias``, ``recurrent_bias``) or ``None`` if the layer has none."""
        raise NotImplementedError

    def __repr__(self):
        return f"<numerics profile {self.name!r}>"
