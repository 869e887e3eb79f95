"""The Radiona ULX3S (ECP5-85F) as amaranth-boards has it, with rnnrtl's register packing."""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from rnnrtl.synth.targets import ECP5RegisterPacking

__all__ = ["ULX3S85FPlatform"]


class ULX3S85FPlatform(ECP5RegisterPacking, ULX3S_85F_Platform):
    """``ULX3S_85F_Platform`` whose build moves registers into the DSP and block RAM cells
    between yosys and nextpnr (:class:`~rnnrtl.synth.targets.ECP5RegisterPacking`)."""
