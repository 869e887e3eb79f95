"""Targets: where a core is built, and the platform hooks a build relies on.

Contract: a :class:`Target` is data (a name, a platform factory, a vendor family, an optional
board top). The target list itself lives outside the library, in ``platforms/`` (shipped as
``rnnrtl.platforms``), which imports this module; nothing in :mod:`rnnrtl.synth` imports
``platforms``. Hooks into Amaranth platforms use its public API only: the overridable
``command_templates`` property of :class:`~amaranth.build.plat.TemplatedPlatform`, and the
``device`` / ``package`` / ``speed`` / ``family`` attributes every vendor platform has.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError
from . import ecp5_pack

__all__ = ["FAMILIES", "Target", "ECP5RegisterPacking"]

#: Vendor families a target can have: ``'xilinx'`` (a Vivado project) or ``'ecp5'`` (yosys,
#: nextpnr-ecp5 and ecppack to a bitstream).
FAMILIES = ("xilinx", "ecp5")


@dataclass(frozen=True)
class Target:
    """Where a core is built.

    ``platform`` makes a fresh Amaranth platform (an amaranth-boards class, or a class of
    ``platforms/``); ``family`` is one of :data:`FAMILIES`; ``top`` wraps the core for a board
    (``top(core, **options)`` gives the elaboratable handed to the platform), or is ``None`` to
    build the core itself out of context. An ``'ecp5'`` platform must mix in
    :class:`ECP5RegisterPacking`.

    ``clock_mhz`` is the default frequency of the core's clock when the board makes it with its
    PLL from the board's clock (an ``'ecp5'`` board target: :class:`~.ecp5_pll.ECP5PLL`, whose
    ``top`` takes a ``clock=`` option); ``None`` runs the core on the board's clock itself.
    """
    name: str
    platform: Callable
    family: str
    top: Callable | None = None
    description: str = ""
    clock_mhz: float | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"target {self.name!r}: family {self.family!r}; valid: "
                              f"{', '.join(map(repr, FAMILIES))}")
        if self.clock_mhz is not None and (self.family != "ecp5" or self.top is None):
            raise ConfigError(f"target {self.name!r}: clock_mhz (a PLL-made core clock) needs an "
                              f"'ecp5' family target with a board top; this one is "
                              f"{self.family!r}{'' if self.top else ' without a top'}")


class ECP5RegisterPacking:
    """Mix-in for an ECP5 platform (Amaranth's Trellis toolchain): its build runs
    ``python -m rnnrtl.synth.ecp5_pack <name>.json`` between yosys and nextpnr, moving fabric
    registers into the ``MULT18X18D`` and ``DP16KD`` cells (:mod:`rnnrtl.synth.ecp5_pack`).

    Use it before the board class: ``class Board(ECP5RegisterPacking, ULX3S_85F_Platform)``.
    Only the public ``command_templates`` property is overridden; other toolchains are left as
    they are.
    """

    @property
    def command_templates(self):
        templates = list(super().command_templates)
        if self.toolchain != "Trellis":
            return templates
        pack = f'"{sys.executable}" -m {ecp5_pack.__name__} {{{{name}}}}.json'
        return [templates[0], pack, *templates[1:]]     # after yosys, before nextpnr
