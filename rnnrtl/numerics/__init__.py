"""Numerics profiles: the arithmetic a quantized network computes, behind one interface.

``numerics:`` in the configuration selects a profile by name (:data:`PROFILES`):

* :mod:`~rnnrtl.numerics.default` — rnnrtl's own arithmetic (docs/numerics.md);
* :mod:`~rnnrtl.numerics.hls4ml` — hls4ml 1.3's, bit for bit (docs/hls4ml.md), with its numbers in
  :mod:`~rnnrtl.numerics.hls4ml_numbers` and its configuration dicts translated by
  :mod:`~rnnrtl.numerics.hls4ml_config`;
* :mod:`~rnnrtl.numerics.hgq2` — HGQ2's quantized forward pass, bit for bit, for models read by
  :mod:`rnnrtl.hgq2_frontend` (formats from the model's trained quantizers; chosen automatically
  for such a model);
* :mod:`~rnnrtl.numerics.brevitas` — Brevitas' quantized forward pass, bit for bit, for models read
  by :mod:`rnnrtl.brevitas_frontend` (the same way);

:mod:`~rnnrtl.numerics.exact` holds what the two quantization-aware profiles share.

Each implements :class:`~rnnrtl.numerics.profile.Profile`: the precision keys and defaults the
configuration may use (read by :mod:`rnnrtl.config`), weight codes, tables and layer building (driven
by :func:`rnnrtl.quantize.quantize`). The IR a profile builds is plain data: no consumer of it asks
which profile made it.
"""

from __future__ import annotations

from ..errors import ConfigError
from .brevitas import BrevitasProfile
from .default import DefaultProfile
from .hgq2 import Hgq2Profile
from .hls4ml import Hls4mlProfile
from .profile import AUTO, FORMAT, SIZE, Choice, Option, Profile

__all__ = ["Profile", "Option", "Choice", "FORMAT", "SIZE", "AUTO", "PROFILES", "DEFAULT", "profile"]

#: Every profile, by the name ``numerics:`` selects it with.
PROFILES: dict[str, Profile] = {p.name: p for p in (DefaultProfile(), Hls4mlProfile(), Hgq2Profile(),
                                                        BrevitasProfile())}
#: The profile used when the configuration names none.
DEFAULT = "default"


def profile(name: str) -> Profile:
    """The profile called ``name``; :class:`~rnnrtl.errors.ConfigError` listing the valid names."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"numerics {name!r} is not supported; valid: {', '.join(PROFILES)}") from None
