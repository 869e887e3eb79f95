"""The Virtex UltraScale+ VU9P as an out-of-context target (no board: the core's ports are ports)."""

from rnnrtl.synth.vivado import OutOfContextXilinxPlatform

__all__ = ["VU9PPlatform"]


class VU9PPlatform(OutOfContextXilinxPlatform):
    """xcvu9p-flga2104-2L-e (6,840 DSP48E2, 1,182,240 LUTs), constrained to a 200 MHz clock."""
    device = "xcvu9p"
    package = "flga2104"
    speed = "2L-e"
    clock_frequency = 200e6
